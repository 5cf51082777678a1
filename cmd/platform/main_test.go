package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noEnv(string) string { return "" }

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := runCLI(t, args...)
		require.NoError(t, err, args)
		assert.Equal(t, "platform dev\n", out, args)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"help"}} {
		out, _, err := runCLI(t, args...)
		require.NoError(t, err, args)
		assert.Contains(t, out, "topic:command", args)
		assert.Contains(t, out, "PLATFORM_API_URL", args)
		for _, cmd := range []string{"login", "whoami", "apps:create", "apps:info", "apps:destroy", "git:remote", "keys:add", "tenants:create", "members:add", "users:create", "invitations:accept", "version"} {
			assert.Contains(t, out, cmd, args)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	for args, want := range map[string]string{
		"apps:frobnicate": `unknown command "apps:frobnicate" (platform help lists every command)`,
		"config:sett":     `unknown command "config:sett"; did you mean config:get or config:set? (platform help lists every command)`,
		"lgs":             "did you mean ps or logs?",
	} {
		_, _, err := runCLI(t, args)
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), want, args)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"apps:create"}, "usage: platform apps:create NAME"},
		{[]string{"apps:create", "a", "b"}, "usage: platform apps:create NAME"},
		{[]string{"keys:add", "a", "b"}, "usage: platform keys:add [FILE]"},
		{[]string{"keys:remove"}, "usage: platform keys:remove FINGERPRINT"},
		{[]string{"git:remote"}, "usage: platform git:remote -a APP"},
		{[]string{"members:add", "bob@example.com"}, "usage: platform members:add EMAIL --tenant T --role R"},
		{[]string{"users:add", "bob@example.com"}, "usage: platform members:add EMAIL --tenant T --role R"},
		{[]string{"users:create"}, "usage: platform users:create EMAIL"},
		{[]string{"invitations:accept"}, "usage: platform invitations:accept TENANT"},
		{[]string{"invitations:revoke", "bob@example.com"}, "usage: platform invitations:revoke EMAIL --tenant T"},
		{[]string{"apps", "--bogus"}, "unknown flag: --bogus (see platform help apps)"},
		{[]string{"whoami"}, "no API URL: run platform login, or set PLATFORM_API_URL"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, tt.args...)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestAppFromRemote(t *testing.T) {
	for url, want := range map[string]string{
		"ssh://git@127.0.0.1:2222/shop.git":  "shop",
		"ssh://git@git.example.com/shop.git": "shop",
		"ssh://git@127.0.0.1:2222/shop":      "shop",
		"git@git.example.com:shop.git":       "shop",
		"https://git.example.com/shop.git/":  "shop",
	} {
		assert.Equal(t, want, appFromRemote(url), url)
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// topicCommands are the commands beyond the first ones (main_test.go's
// TestHelp has those): each must be in the help, with an example.
var topicCommands = []string{
	"config", "config:get", "config:set", "config:unset",
	"ps", "ps:scale", "ps:restart", "sizes",
	"releases", "releases:info", "releases:rollback", "builds", "builds:output", "logs",
	"domains", "domains:add", "domains:verify", "domains:remove",
	"tokens", "tokens:create", "tokens:revoke", "password:set",
	"members", "members:add", "members:role", "members:remove",
	"invitations", "invitations:accept", "invitations:decline", "invitations:revoke", "users", "users:create", "users:deactivate", "users:reactivate",
	"tenants:quota", "tenants:suspend", "tenants:unsuspend", "tenants:destroy", "audit",
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, _, err := runCLI(t, "help")
	require.NoError(t, err)
	for _, name := range topicCommands {
		assert.Regexp(t, `(?m)^  `+name+` +\S`, out, name)
		help, _, err := runCLI(t, name, "--help")
		require.NoError(t, err, name)
		assert.Contains(t, help, "Examples:\n  platform "+name, name)
	}
}

// TestAppFlag: every command that acts on an app takes -a and --app.
func TestAppFlag(t *testing.T) {
	c := &cli{getenv: noEnv}
	root := c.newRootCmd()
	for _, name := range []string{
		"config", "config:get", "config:set", "config:unset", "ps", "ps:scale", "ps:restart",
		"releases", "releases:info", "releases:rollback", "builds", "builds:output", "logs",
		"domains", "domains:add", "domains:verify", "domains:remove",
	} {
		cmd, _, err := root.Find([]string{name})
		require.NoError(t, err, name)
		f := cmd.Flags().Lookup("app")
		require.NotNil(t, f, name)
		assert.Equal(t, "a", f.Shorthand, name)
	}
}

func TestNewUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"config:get"}, "usage: platform config:get KEY"},
		{[]string{"config:set", "-a", "shop"}, "usage: platform config:set KEY=VALUE..."},
		{[]string{"config:unset"}, "usage: platform config:unset KEY..."},
		{[]string{"config:set", "A=1", "B", "-a", "shop"}, `"B" is not KEY=VALUE: give it a value, as in "B=value"`},
		{[]string{"ps", "web"}, "usage: platform ps"},
		{[]string{"ps:scale", "web", "-a", "shop"}, `"web" is not TYPE=QUANTITY, TYPE=QUANTITY:SIZE or TYPE=SIZE, as in web=2, web=2:large or worker=small`},
		{[]string{"releases:info", "v1", "v2"}, "usage: platform releases:info [vN]"},
		{[]string{"releases:rollback", "three"}, `"three" is not a release version such as v5: platform releases lists them`},
		{[]string{"builds:output", "1", "2"}, "usage: platform builds:output [ID]"},
		{[]string{"domains:add"}, "usage: platform domains:add HOST"},
		{[]string{"tokens:revoke"}, "usage: platform tokens:revoke ID"},
		{[]string{"tokens:revoke", "0"}, `"0" is not a token ID: platform tokens lists yours`},
		{[]string{"tokens:revoke", "x", "--user", "bob@example.com"}, `"x" is not a token ID: platform tokens --user bob@example.com lists theirs`},
		{[]string{"users:deactivate"}, "usage: platform users:deactivate EMAIL"},
		{[]string{"tokens:create", "--expires-in", "forever"}, `--expires-in "forever" is not a duration such as 720h (30 days)`},
		{[]string{"members:role", "bob@example.com", "--tenant", "acme"}, "usage: platform members:role EMAIL --tenant T --role R"},
		{[]string{"members:remove", "bob@example.com"}, "usage: platform members:remove EMAIL --tenant T"},
		{[]string{"members"}, "usage: platform members --tenant T"},
		{[]string{"tenants:quota"}, "usage: platform tenants:quota TENANT"},
		{[]string{"tenants:quota", "acme", "--apps", "many"}, `--apps takes a whole number, like 100, not "many" (see platform help tenants:quota)`},
		{[]string{"logs", "-n", "abc", "-a", "shop"}, `-n/--num takes a whole number, like 100, not "abc" (see platform help logs)`},
		{[]string{"tenants:suspend"}, "usage: platform tenants:suspend TENANT"},
		{[]string{"tenants:destroy", "acme"}, "this deletes tenant acme and all its apps; re-run with --confirm acme"},
		{[]string{"audit", "-n", "-2"}, "--num -2: give a number of events, or 0 for all"},
		{[]string{"logs", "-n", "-1", "-a", "shop"}, "--num -1: give a number of lines of 1 or more"},
		{[]string{"password:set", "x"}, "usage: platform password:set"},
		{[]string{"config", "-a", "shop"}, "no API URL: run platform login, or set PLATFORM_API_URL"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, tt.args...)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestWantArgs(t *testing.T) {
	for _, tt := range []struct {
		usage []string
		ok    [][]string
		bad   [][]string
	}{
		{nil, [][]string{nil}, [][]string{{"a"}}},
		{[]string{"NAME"}, [][]string{{"a"}}, [][]string{nil, {"a", "b"}}},
		{[]string{"[vN]"}, [][]string{nil, {"a"}}, [][]string{{"a", "b"}}},
		{[]string{"KEY..."}, [][]string{{"a"}, {"a", "b", "c"}}, [][]string{nil}},
		{[]string{"[TYPE=QTY...]"}, [][]string{nil, {"a"}, {"a", "b", "c"}}, nil},
	} {
		check := wantArgs(tt.usage...)
		c := &cli{getenv: noEnv}
		cmd := c.newRootCmd()
		for _, args := range tt.ok {
			assert.NoError(t, check(cmd, args), "%v %v", tt.usage, args)
		}
		for _, args := range tt.bad {
			assert.Error(t, check(cmd, args), "%v %v", tt.usage, args)
		}
	}
}

package gitreceive

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		raw     string
		want    gitCommand
		refusal string
	}{
		{raw: "git-receive-pack 'myapp.git'", want: gitCommand{op: Write, app: "myapp"}},
		{raw: "git-receive-pack '/myapp.git'", want: gitCommand{op: Write, app: "myapp"}},
		{raw: "git-upload-pack 'myapp.git'", want: gitCommand{op: Read, app: "myapp"}},
		{raw: "git-upload-pack /my-app-2.git", want: gitCommand{op: Read, app: "my-app-2"}},
		{raw: "git-upload-pack 'myapp'", want: gitCommand{op: Read, app: "myapp"}},
		{raw: "git-receive-pack '" + strings.Repeat("a", 30) + ".git'", want: gitCommand{op: Write, app: strings.Repeat("a", 30)}},
		{raw: "", refusal: msgShell},
		{raw: "  ", refusal: msgShell},
		{raw: "ls", refusal: msgCommand},
		{raw: "git-upload-archive 'myapp.git'", refusal: msgCommand},
		{raw: "git receive-pack 'myapp.git'", refusal: msgCommand},
		{raw: "sh -c 'git-receive-pack myapp.git'", refusal: msgCommand},
		{raw: "git-receive-pack", refusal: msgBadPath},
		{raw: "git-receive-pack ''", refusal: msgBadPath},
		{raw: "git-receive-pack '../x.git'", refusal: msgBadPath},
		{raw: "git-receive-pack 'x/../y.git'", refusal: msgBadPath},
		{raw: "git-receive-pack '/abs/x.git'", refusal: msgBadPath},
		{raw: "git-receive-pack '//x.git'", refusal: msgBadPath},
		{raw: "git-receive-pack 'x.git", refusal: msgBadPath},
		{raw: "git-receive-pack 'x'\\''y.git'", refusal: msgExtraArgs},
		{raw: "git-receive-pack 'myapp.git' extra", refusal: msgExtraArgs},
		{raw: "git-receive-pack myapp.git extra", refusal: msgExtraArgs},
		{raw: "git-receive-pack myapp.git;ls", refusal: msgBadPath},
		{raw: "git-receive-pack 'Bad_Name.git'", refusal: `invalid app name "Bad_Name"`},
		{raw: "git-receive-pack '1app.git'", refusal: `invalid app name "1app"`},
		{raw: "git-receive-pack 'app-.git'", refusal: `invalid app name "app-"`},
		{raw: "git-receive-pack '" + strings.Repeat("a", 31) + ".git'", refusal: "invalid app name"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseCommand(tt.raw)
			if tt.refusal != "" {
				var r refusal
				require.ErrorAs(t, err, &r)
				assert.Contains(t, err.Error(), tt.refusal)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRefusedSessions(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "shell", args: []string{"-T", "git@127.0.0.1"}, want: msgShell},
		{name: "other command", args: []string{"git@127.0.0.1", "ls"}, want: msgCommand},
		{name: "parent dir", args: []string{"git@127.0.0.1", "git-receive-pack '../x.git'"}, want: msgBadPath},
		{name: "absolute path", args: []string{"git@127.0.0.1", "git-receive-pack '/abs/x.git'"}, want: msgBadPath},
		{name: "bad app name", args: []string{"git@127.0.0.1", "git-receive-pack 'Bad_Name.git'"}, want: `invalid app name "Bad_Name"`},
		{name: "extra arguments", args: []string{"git@127.0.0.1", "git-receive-pack 'myapp.git' extra"}, want: msgExtraArgs},
		{name: "pty", args: []string{"-tt", "git@127.0.0.1", "git-receive-pack 'myapp.git'"}, want: msgPty},
		{name: "pty shell", args: []string{"-tt", "git@127.0.0.1"}, want: msgPty},
		{name: "no access", args: []string{"git@127.0.0.1", "git-upload-pack 'other.git'"}, want: msgNoAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.ssh(alice.keyPath, tt.args...)
			assert.Equal(t, 1, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, tt.want)
			assert.Empty(t, r.stdout)
		})
	}

	t.Run("subsystem", func(t *testing.T) {
		r := h.ssh(alice.keyPath, "-s", "git@127.0.0.1", "sftp")
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, "subsystem request failed")
	})
	t.Run("port forwarding", func(t *testing.T) {
		r := h.ssh(alice.keyPath, "-o", "ExitOnForwardFailure=yes", "-W", "127.0.0.1:1", "git@127.0.0.1")
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, "forwarding failed")
	})
	t.Run("environment is ignored", func(t *testing.T) {
		// OpenSSH sends LANG and LC_* by default and git sends
		// GIT_PROTOCOL: neither refuses a session nor is used.
		r := h.ssh(alice.keyPath, "-o", "SetEnv=GIT_PROTOCOL=version=2 FOO=bar", "git@127.0.0.1", "git-upload-pack 'myapp.git'")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.NotContains(t, r.stdout, "version 2")
	})
	assert.Empty(t, h.pusher.pushed())
}

package gitreceive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnknownKeyIsRefused(t *testing.T) {
	h := newHarness(t)
	h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	stranger := h.newKey("stranger")

	r := h.ssh(stranger.keyPath, "git@127.0.0.1", "git-upload-pack 'myapp.git'")
	assert.Equal(t, 255, r.code)
	assert.Contains(t, r.stderr, "Permission denied (publickey)")
	assert.Empty(t, h.pusher.authorizedCalls())

	work := h.workRepo(map[string]string{"app.txt": "v1"})
	res := h.git(work, stranger.keyPath, "push", h.url("myapp"), "main")
	require.Error(t, res.err)
	assert.Contains(t, res.stderr, "Permission denied (publickey)")
}

// TestOfferedKeyIsNotTheUser is CVE-2024-45337's scenario: the client offers
// bob's public key, which the server accepts as a candidate, cannot sign
// with it, and authenticates with its own key. The session must belong to
// the key that signed.
func TestOfferedKeyIsNotTheUser(t *testing.T) {
	h := newHarness(t)
	bob := h.newUser("bob")
	mallory := h.newUser("mallory")
	h.pusher.grant("bob", "bobapp", Write)
	h.pusher.grant("mallory", "malloryapp", Write)

	// Mallory has bob's public key but not his private key. Given the .pub
	// file as an identity, ssh offers it first, is told the server would
	// accept it, cannot sign with it and moves on to mallory's own key.
	stolen := filepath.Join(t.TempDir(), "bob_id.pub")
	pub, err := os.ReadFile(bob.keyPath + ".pub")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(stolen, pub, 0o600))

	work := h.workRepo(map[string]string{"app.txt": "v1"})
	push := func(app string) result {
		cmd := h.gitCmd(t.Context(), work, "", "push", h.url(app), "main")
		cmd.Env = h.env(stolen, mallory.keyPath)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
	}

	r := push("bobapp")
	require.Error(t, r.err)
	assert.Contains(t, r.stderr, "no such app, or no access")
	asked := h.auth.askedFingerprints()
	require.GreaterOrEqual(t, len(asked), 2)
	require.Equal(t, bob.fingerprint, asked[0], "the client must offer bob's key first")
	assert.Equal(t, mallory.fingerprint, asked[len(asked)-1])
	assert.Equal(t, []string{"mallory/bobapp/write"}, h.pusher.authorizedCalls())

	r = push("malloryapp")
	require.NoError(t, r.err, r.stderr)
	pushes := h.pusher.pushed()
	require.Len(t, pushes, 1)
	assert.Equal(t, "mallory", pushes[0].User)
	assert.Empty(t, h.remoteRefs(bob.keyPath, "bobapp"))
}

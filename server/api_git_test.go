package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/testdb"
)

// TestAPIGit checks GET /git: the git URL, and for each host key its
// fingerprint as ssh prints it and a known_hosts line that ssh's own
// known_hosts check accepts for the git URL's host and port (and no
// other).
func TestAPIGit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	hostKey, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	st, _ := testdb.Open(t)
	newServer := func(gitURL string, keys ...string) (*apiFixture, error) {
		srv, err := New(Config{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry(), GitURL: gitURL, GitHostKeys: keys}, st)
		if err != nil {
			return nil, err
		}
		return &apiFixture{srv: srv, st: st, tokens: map[string]string{}}, nil
	}
	f, err := newServer("ssh://git@git.test:2222", string(ssh.MarshalAuthorizedKey(hostKey)))
	require.NoError(t, err)
	user, err := st.CreateUser(ctx, "dev@example.com", false)
	require.NoError(t, err)
	token, _, err := st.CreateToken(ctx, user.ID, "test", nil)
	require.NoError(t, err)
	f.tokens["dev"] = token

	rec := f.call(t, "dev", http.MethodGet, "/api/v1/git", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	g := decode[api.Git](t, rec)
	assert.Equal(t, "ssh://git@git.test:2222", g.URL)
	require.Len(t, g.HostKeys, 1)
	assert.Equal(t, "ssh-ed25519", g.HostKeys[0].Type)
	assert.Equal(t, ssh.FingerprintSHA256(hostKey), g.HostKeys[0].Fingerprint)

	file := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(file, []byte(g.HostKeys[0].KnownHosts+"\n"), 0o600))
	check, err := knownhosts.New(file)
	require.NoError(t, err)
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2222}
	assert.NoError(t, check("git.test:2222", addr, hostKey), "the line trusts the key for the git host and port")
	assert.Error(t, check("git.test:22", addr, hostKey), "and for no other port")

	assert.Equal(t, http.StatusUnauthorized, f.call(t, "", http.MethodGet, "/api/v1/git", nil).Code)

	none, err := newServer("")
	require.NoError(t, err)
	none.tokens["dev"] = token
	wantError(t, none.call(t, "dev", http.MethodGet, "/api/v1/git", nil), http.StatusNotImplemented, api.CodeNotImplemented, "")

	_, err = newServer("ssh://git@git.test:2222", "not a key")
	assert.ErrorContains(t, err, "git host key")
}

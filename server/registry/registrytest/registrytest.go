// Package registrytest serves platformd's registry for tests: Start runs
// one with token auth on a loopback port of its own, over the test's
// temporary directory, until the test ends. It is for tests only.
package registrytest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/registry"
)

// Start serves a fresh registry that checks credentials with auth on a
// random loopback port, and returns it with its host:port. It stops when
// the test ends.
func Start(t testing.TB, auth *registry.Auth) (*registry.Registry, string) {
	t.Helper()
	return StartAt(t, auth, filepath.Join(t.TempDir(), "registry"))
}

// StartAt is Start with the storage under root, which several registries
// may share, as platformd's replicas share their volume.
func StartAt(t testing.TB, auth *registry.Auth, root string) (*registry.Registry, string) {
	t.Helper()
	return StartConfig(t, registry.Config{RootDir: root, Auth: auth})
}

// StartConfig is Start with cfg (its storage, its Auth), to which it adds
// a logger that discards, the listener and the token realm.
func StartConfig(t testing.TB, cfg registry.Config) (*registry.Registry, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	host := ln.Addr().String()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Realm = "http://" + host + registry.TokenPath
	r, err := registry.New(cfg)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("registry did not stop")
		}
	})
	return r, host
}

// NewAuth returns the Auth of a fresh random secret key.
func NewAuth(t testing.TB) *registry.Auth {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	auth, err := registry.NewAuth(key)
	require.NoError(t, err)
	return auth
}

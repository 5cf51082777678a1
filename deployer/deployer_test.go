package deployer

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeKubeconfig writes a kubeconfig whose only cluster is server.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	const tmpl = `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: test
  user:
    token: not-a-real-token
contexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
`
	require.NoError(t, os.WriteFile(path, fmt.Appendf(nil, tmpl, server), 0o600))
	return path
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestNew(t *testing.T) {
	t.Run("missing kubeconfig file", func(t *testing.T) {
		_, err := New(Config{Kubeconfig: filepath.Join(t.TempDir(), "nope")})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "loading kubeconfig")
	})
	t.Run("in-cluster outside a cluster", func(t *testing.T) {
		if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
			t.Skip("running inside a cluster")
		}
		_, err := New(Config{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "in-cluster")
	})
	t.Run("list of paths", func(t *testing.T) {
		path := writeKubeconfig(t, "https://"+closedPort(t))
		missing := filepath.Join(t.TempDir(), "missing")
		_, err := New(Config{Kubeconfig: missing + string(filepath.ListSeparator) + path})
		assert.NoError(t, err)
	})
}

func TestPingUnreachable(t *testing.T) {
	d, err := New(Config{Kubeconfig: writeKubeconfig(t, "https://"+closedPort(t))})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = d.Ping(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kubernetes api server")
}

// TestPingLive pings the local stack's cluster.
func TestPingLive(t *testing.T) {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KUBECONFIG is not set in CI: source .platform/env after `make up`")
		}
		t.Skip("no cluster: run `make up` and source .platform/env")
	}
	d, err := New(Config{Kubeconfig: kubeconfig})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.NoError(t, d.Ping(ctx))
}

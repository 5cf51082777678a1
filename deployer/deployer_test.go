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

	"github.com/platform-paas/platform/deploy/localstack"
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
		// What a pod's environment has, a process outside a cluster
		// lacks; the test may itself run in a pod.
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		t.Setenv("KUBERNETES_SERVICE_PORT", "")
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
		localstack.Need(t, "a Kubernetes cluster (KUBECONFIG)", "run `make up` and `. .platform/env`, or `make test`")
	}
	d, err := New(Config{Kubeconfig: kubeconfig})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.NoError(t, d.Ping(ctx))
}

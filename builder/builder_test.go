package builder

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		addr string
		ok   bool
	}{
		{name: "unix socket", addr: "unix:///run/buildkit/buildkitd.sock", ok: true},
		{name: "tcp", addr: "tcp://127.0.0.1:1234", ok: true},
		{name: "empty", addr: ""},
		{name: "no scheme", addr: "/run/buildkit/buildkitd.sock"},
		{name: "tcp without port", addr: "tcp://127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(Config{Addr: tt.addr})
			if !tt.ok {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.NoError(t, b.Close())
		})
	}
}

// TestPingUnreachable checks that a daemon that is not there is reported
// promptly rather than waited for.
func TestPingUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	b, err := New(Config{Addr: "unix://" + sock})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err = b.Ping(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listing buildkit workers")
	assert.Less(t, time.Since(start), 4*time.Second)
}

// TestPingLive pings a real BuildKit when the local stack runs one.
func TestPingLive(t *testing.T) {
	addr := os.Getenv("PLATFORM_BUILDKIT_ADDR")
	if addr == "" {
		const def = "/run/buildkit/buildkitd.sock"
		if _, err := os.Stat(def); err != nil {
			localstack.Need(t, "BuildKit", "run `make up` and `. .platform/env` (the stack runs one), or set PLATFORM_BUILDKIT_ADDR")
		}
		addr = "unix://" + def
	}
	b, err := New(Config{Addr: addr})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.NoError(t, b.Ping(ctx))
}

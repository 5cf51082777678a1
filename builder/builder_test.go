package builder

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

// TestWaitBuilderAfterARestart checks that a build waits for a BuildKit
// that is not there yet (restarting) and starts as soon as it answers,
// rather than after gRPC's reconnect delay, which grows to minutes.
func TestWaitBuilderAfterARestart(t *testing.T) {
	env := localstack.Require(t)
	target := strings.TrimPrefix(env.BuildKitAddr, "unix://")
	require.NotEqual(t, env.BuildKitAddr, target, "the stack's BuildKit listens on a unix socket")
	sock := filepath.Join(t.TempDir(), "buildkitd.sock")
	b, err := New(Config{Addr: "unix://" + sock})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Fail a few connections first, as a platformd does that started
	// before its BuildKit.
	require.Error(t, b.Ping(ctx))

	up := make(chan time.Time, 1)
	go func() {
		time.Sleep(4 * time.Second)
		l, err := net.Listen("unix", sock)
		if err != nil {
			up <- time.Time{}
			return
		}
		t.Cleanup(func() { _ = l.Close() })
		up <- time.Now()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("unix", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	var out strings.Builder
	require.NoError(t, b.waitBuilder(ctx, &out), "BuildKit answered within the test's 30 s")
	started := <-up
	require.False(t, started.IsZero(), "listening at %s", sock)
	assert.Contains(t, out.String(), "-----> Waiting for the builder (BuildKit), which does not answer yet")
}

// TestWaitBuilderGivesUp checks that a build fails with a message that
// says what happened when BuildKit does not come back.
func TestWaitBuilderGivesUp(t *testing.T) {
	b, err := New(Config{Addr: "unix://" + filepath.Join(t.TempDir(), "missing.sock")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	b.wait = 2 * time.Second
	var out strings.Builder
	err = b.waitBuilder(t.Context(), &out)
	var be *BuildError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "the builder (BuildKit) did not answer within 2s", be.Reason)
	assert.Contains(t, out.String(), "Nothing was released: the running release still serves")
}

// TestWaitedOut checks that a wait that ran out of time is told from a
// refused connection however it comes back: as the context's error, or
// as gRPC's DeadlineExceeded status when gRPC's copy of the deadline
// fires first (as on a loaded machine).
func TestWaitedOut(t *testing.T) {
	live := t.Context()
	over, cancel := context.WithTimeout(t.Context(), 0)
	defer cancel()
	<-over.Done()
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"the context's deadline", over, context.DeadlineExceeded, true},
		{"gRPC's deadline, the context not yet over", live, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true},
		{"gRPC's deadline, the context over", over, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true},
		{"refused", live, status.Error(codes.Unavailable, "connection refused"), false},
		{"another failure", live, errors.New("certificate signed by unknown authority"), false},
	} {
		assert.Equal(t, c.want, waitedOut(c.ctx, c.err), c.name)
	}
}

package builder

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
)

// TestBuildLimits runs builds that go past each of their limits on the
// local stack's BuildKit: each fails with a message naming the limit and
// its value. Memory and processes are the kernel's to enforce, in the
// app's build cgroup.
func TestBuildLimits(t *testing.T) {
	for _, tt := range []struct {
		name   string
		limits Limits
		run    string
		want   string
	}{
		{"time", Limits{Timeout: 8 * time.Second}, "sleep 300", "time limit of 8s"},
		{"log", Limits{LogBytes: 32 << 10}, "yes 0123456789 | head -c 400000", "log limit of 32 KiB"},
		{"memory", Limits{Memory: 64 << 20}, "ulimit -v 1048576; tail -n 1 /dev/zero", "limited to 64 MiB"},
		{"processes", Limits{Processes: 32}, "for i in $(seq 64); do sleep 30 & done; wait", "process limit of 32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			limits := tt.limits
			limits.CgroupRoot = "/sys/fs/cgroup"
			b, _ := newStackBuilder(t, func(c *Config) { c.Limits = limits })
			dir := t.TempDir()
			df := "FROM debian:bookworm-slim\nRUN " + tt.run + "\n"
			require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var out syncbuf.Buffer
			// A new app each run: a cached step would not run at all.
			app := "limit-" + tt.name + "-" + randomHex(t, 3)
			_, err := b.Build(ctx, Request{Tenant: testTenant, App: app, SourceDir: dir, Out: &out})
			require.Error(t, err, "output:\n%s", out.String())
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, out.String(), tt.want, "the push shows it")
			t.Logf("the error a push shows:\n%s", err)
		})
	}
}

// TestBuildRefusesEscapes pushes Dockerfiles that ask BuildKit for the
// host's network or privileges, or for a frontend of their own: each is
// refused before any step runs.
func TestBuildRefusesEscapes(t *testing.T) {
	b, _ := newStackBuilder(t)
	for _, tt := range []struct {
		name, dockerfile, want string
	}{
		{"host network", "FROM debian:bookworm-slim\nRUN --network=host true\n", "network.host is not allowed"},
		{"privileges", "FROM debian:bookworm-slim\nRUN --security=insecure true\n", "security.insecure is not allowed"},
		{"frontend", "# syntax=docker/dockerfile:1\nFROM debian:bookworm-slim\n", "frontend is pinned"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(tt.dockerfile), 0o644))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := b.Build(ctx, Request{Tenant: testTenant, App: "escape-" + randomHex(t, 3), SourceDir: dir})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

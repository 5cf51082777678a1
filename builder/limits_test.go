package builder

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimitsValidate(t *testing.T) {
	require.NoError(t, Limits{}.Validate())
	require.NoError(t, DefaultLimits.Validate())
	err := Limits{Timeout: -time.Second, LogBytes: -1, Memory: 1 << 20, CPUs: 0.01, Processes: 3}.Validate()
	require.Error(t, err)
	for _, want := range []string{"timeout must not be negative", "log limit", "at least 64 MiB", "at least 0.1", "at least 32"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Equal(t, DefaultLimits, Limits{}.withDefaults())
}

func TestLimitErrorNamesLimitAndValue(t *testing.T) {
	for _, tt := range []struct {
		err  *LimitError
		want string
	}{
		{Limits{Timeout: 90 * time.Second}.timeoutError(), "time limit of 1m30s"},
		{&LimitError{Limit: "log", Value: formatBytes(8 << 20)}, "log limit of 8 MiB"},
		{&LimitError{Limit: "memory", Value: formatBytes(2 << 30)}, "limited to 2 GiB"},
		{&LimitError{Limit: "process", Value: "512"}, "process limit of 512"},
	} {
		assert.Contains(t, tt.err.Error(), tt.want)
	}
	assert.Equal(t, "1500 bytes", formatBytes(1500))
	assert.Equal(t, "3 KiB", formatBytes(3<<10))
}

func TestLogLimiterCancelsTheBuildOnce(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var out bytes.Buffer
	w := &logLimiter{out: &out, limit: 10, cancel: cancel}
	n, err := w.Write([]byte("12345678"))
	require.NoError(t, err)
	assert.Equal(t, 8, n)
	require.NoError(t, ctx.Err())
	n, err = w.Write([]byte("abcdef"))
	require.NoError(t, err, "the renderer keeps writing until the solve ends")
	assert.Equal(t, 6, n)
	_, _ = w.Write([]byte("more"))
	assert.Equal(t, "12345678", out.String(), "nothing past the limit is shown")
	var le *LimitError
	require.True(t, errors.As(context.Cause(ctx), &le))
	assert.Equal(t, "log", le.Limit)
	assert.Equal(t, "10 bytes", le.Value)
}

// The cgroup files are written where the kernel would have them; the
// kernel's own enforcement is tested on the local stack (TestBuildLimits).
func TestPrepareCgroup(t *testing.T) {
	l := Limits{Memory: 256 << 20, CPUs: 1.5, Processes: 100}.withDefaults()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}

	t.Run("v1", func(t *testing.T) {
		l.CgroupRoot = t.TempDir()
		cg, err := l.prepareCgroup("acme", "shop")
		require.NoError(t, err)
		dir := func(ctrl string) string { return filepath.Join(l.CgroupRoot, ctrl, "platform-builds", "acme-shop") }
		assert.Equal(t, "268435456", read(filepath.Join(dir("memory"), "memory.limit_in_bytes")))
		assert.Equal(t, "100", read(filepath.Join(dir("pids"), "pids.max")))
		assert.Equal(t, "150000", read(filepath.Join(dir("cpu"), "cpu.cfs_quota_us")))
		step := &BuildError{Reason: "exit code: 137", Output: []string{"building"}}
		assert.Nil(t, cg.exceeded(l, step))
		require.NoError(t, os.WriteFile(filepath.Join(dir("memory"), "memory.failcnt"), []byte("12\n"), 0o644))
		assert.Nil(t, cg.exceeded(l, &BuildError{Reason: "exit code: 1"}), "a step that hit the limit but was not killed")
		le := cg.exceeded(l, step)
		require.NotNil(t, le)
		assert.Equal(t, "memory", le.Limit)
		assert.Equal(t, "256 MiB", le.Value)
		le = cg.exceeded(l, &BuildError{Reason: "exit code: 2", Output: []string{"sh: 1: Cannot fork"}})
		require.NotNil(t, le)
		assert.Equal(t, "process", le.Limit)
	})
	t.Run("v2", func(t *testing.T) {
		l.CgroupRoot = t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(l.CgroupRoot, "cgroup.controllers"), []byte("cpu memory pids"), 0o644))
		cg, err := l.prepareCgroup("acme", "shop")
		require.NoError(t, err)
		dir := filepath.Join(l.CgroupRoot, "platform-builds", "acme-shop")
		assert.Equal(t, "268435456", read(filepath.Join(dir, "memory.max")))
		assert.Equal(t, "150000 100000", read(filepath.Join(dir, "cpu.max")))
		assert.Equal(t, "+memory +pids +cpu", read(filepath.Join(l.CgroupRoot, "platform-builds", "cgroup.subtree_control")))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "pids.events"), []byte("max 3\n"), 0o644))
		le := cg.exceeded(l, &BuildError{Reason: "exit code: 2"})
		require.NotNil(t, le)
		assert.Equal(t, "process", le.Limit)
	})
	t.Run("none", func(t *testing.T) {
		cg, err := Limits{}.prepareCgroup("acme", "shop")
		require.NoError(t, err)
		assert.Nil(t, cg.exceeded(l, &BuildError{Output: []string{"Cannot fork"}}))
	})
}

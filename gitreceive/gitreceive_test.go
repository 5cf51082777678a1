package gitreceive

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewValidatesConfig(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	valid := func(t *testing.T) Config {
		dir := t.TempDir()
		return Config{HostKeyPath: filepath.Join(dir, "key"), ReposDir: filepath.Join(dir, "repos"), Logger: logger}
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{name: "no host key path", change: func(c *Config) { c.HostKeyPath = "" }, want: "host key path is required"},
		{name: "no repos dir", change: func(c *Config) { c.ReposDir = "" }, want: "repos dir is required"},
		{name: "negative pack limit", change: func(c *Config) { c.MaxPackBytes = -1 }, want: "max pack bytes must not be negative"},
		{name: "negative keepalive", change: func(c *Config) { c.KeepAlive = -time.Second }, want: "keepalive must not be negative"},
		{name: "no logger", change: func(c *Config) { c.Logger = nil }, want: "logger is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid(t)
			tt.change(&cfg)
			_, err := New(cfg, &fakeAuth{}, &fakePusher{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	t.Run("dependencies", func(t *testing.T) {
		_, err := New(valid(t), nil, &fakePusher{})
		assert.ErrorContains(t, err, "authenticator is required")
		_, err = New(valid(t), &fakeAuth{}, nil)
		assert.ErrorContains(t, err, "pusher is required")
	})

	t.Run("defaults", func(t *testing.T) {
		s, err := New(valid(t), &fakeAuth{}, &fakePusher{})
		require.NoError(t, err)
		assert.Equal(t, DefaultAddr, s.cfg.Addr)
		assert.Equal(t, int64(DefaultMaxPackBytes), s.cfg.MaxPackBytes)
		assert.Equal(t, DefaultKeepAlive, s.cfg.KeepAlive)
		assert.Nil(t, s.Addr())
		assert.DirExists(t, s.cfg.ReposDir)
	})
}

func TestHostKeyIsGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		HostKeyPath: filepath.Join(dir, "ssh", "host_key"),
		ReposDir:    filepath.Join(dir, "repos"),
		Logger:      slog.New(slog.DiscardHandler),
	}
	first, err := New(cfg, &fakeAuth{}, &fakePusher{})
	require.NoError(t, err)
	fi, err := os.Stat(cfg.HostKeyPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Contains(t, first.HostPublicKey(), "ssh-ed25519 ")

	second, err := New(cfg, &fakeAuth{}, &fakePusher{})
	require.NoError(t, err)
	assert.Equal(t, first.HostPublicKey(), second.HostPublicKey())

	require.NoError(t, os.WriteFile(cfg.HostKeyPath, []byte("not a key"), 0o600))
	_, err = New(cfg, &fakeAuth{}, &fakePusher{})
	assert.ErrorContains(t, err, "parsing host key")
}

func TestListenAndServeStopsWithContext(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{
		Addr:        "127.0.0.1:0",
		HostKeyPath: filepath.Join(dir, "key"),
		ReposDir:    filepath.Join(dir, "repos"),
		Logger:      slog.New(slog.DiscardHandler),
	}, &fakeAuth{}, &fakePusher{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe(ctx) }()
	require.Eventually(t, func() bool { return s.Addr() != nil }, 10*time.Second, 10*time.Millisecond)

	// A connection that never finishes its handshake does not hold up
	// shutdown.
	conn, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()

	cancel()
	select {
	case err := <-served:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
	// Closed: with a FIN, or with a reset, as a server may abort a
	// connection that never finished its handshake.
	if _, err = io.ReadAll(conn); err != nil {
		assert.ErrorIs(t, err, syscall.ECONNRESET, "the server closes the connection")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.ErrorContains(t, s.Serve(context.Background(), l), "already served")
}

func TestCheckout(t *testing.T) {
	h := &harness{t: t, home: t.TempDir()}
	work := h.workRepo(map[string]string{"README": "hi", "bin/run": "#!/bin/sh\n", "a/b/c.txt": "deep"})
	require.NoError(t, os.Chmod(filepath.Join(work, "bin/run"), 0o755))
	require.NoError(t, os.Symlink("a/b/c.txt", filepath.Join(work, "link")))
	rev := h.commit(work, nil)

	dst := t.TempDir()
	require.NoError(t, Checkout(work, rev, dst, CheckoutLimits{}))
	b, err := os.ReadFile(filepath.Join(dst, "a/b/c.txt"))
	require.NoError(t, err)
	assert.Equal(t, "deep", string(b))
	fi, err := os.Stat(filepath.Join(dst, "bin/run"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	target, err := os.Readlink(filepath.Join(dst, "link"))
	require.NoError(t, err)
	assert.Equal(t, "a/b/c.txt", target)
	assert.NoDirExists(t, filepath.Join(dst, ".git"))

	assert.ErrorContains(t, Checkout(work, "HEAD", t.TempDir(), CheckoutLimits{}), "not a full commit hash")
	assert.Error(t, Checkout(work, "0123456789012345678901234567890123456789", t.TempDir(), CheckoutLimits{}))
}

func TestCheckoutLimits(t *testing.T) {
	h := &harness{t: t, home: t.TempDir()}
	// 50 files of 1 KiB: a pack of a few hundred bytes, since the blobs
	// are one.
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("f%02d", i)] = strings.Repeat("x", 1024)
	}
	work := h.workRepo(files)
	rev := h.mustGit(work, "", "rev-parse", "HEAD")

	for _, tt := range []struct {
		lim  CheckoutLimits
		want string
	}{
		{CheckoutLimits{MaxFiles: 49}, "more files than the limit of 49 files"},
		{CheckoutLimits{MaxBytes: 40 << 10}, "add up to more than the limit of 40 KiB"},
	} {
		dst := t.TempDir()
		err := Checkout(work, rev, dst, tt.lim)
		var le *CheckoutLimitError
		require.ErrorAs(t, err, &le)
		assert.Contains(t, err.Error(), tt.want)
		entries, err := os.ReadDir(dst)
		require.NoError(t, err)
		assert.Empty(t, entries, "nothing is written past a limit")
	}
	require.NoError(t, Checkout(work, rev, t.TempDir(), CheckoutLimits{MaxFiles: 50, MaxBytes: 50 << 10}))
}

func TestSafeTreePath(t *testing.T) {
	for p, want := range map[string]bool{
		"a.txt": true, "dir/a.txt": true, ".github/x.yml": true, ".gitignore": true,
		"": false, "/etc/passwd": false, "../x": false, "a/../../x": false, "a//b": false,
		".git/config": false, "sub/.GIT/hooks": false, `a\b`: false, "./a": false,
	} {
		assert.Equal(t, want, safeTreePath(p), p)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/gitreceive"
)

// TestPushPastCheckoutLimit pushes a commit whose tree is past the
// checkout limits: the push is refused with the limit and its value named,
// before anything is built (the pipeline is never called).
func TestPushPastCheckoutLimit(t *testing.T) {
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	// One blob, many names: a pack of a few KiB that checks out 2 MiB.
	blob := bytes.Repeat([]byte("x"), 64<<10)
	for i := range 32 {
		require.NoError(t, os.WriteFile(filepath.Join(repo, fmt.Sprintf("f%02d", i)), blob, 0o644))
	}
	git("add", "-A")
	git("commit", "-q", "-m", "big")
	rev := git("rev-parse", "HEAD")

	for _, tt := range []struct {
		limits gitreceive.CheckoutLimits
		want   string
	}{
		{gitreceive.CheckoutLimits{MaxBytes: 1 << 20}, "more than the limit of 1 MiB"},
		{gitreceive.CheckoutLimits{MaxFiles: 10}, "more files than the limit of 10 files"},
	} {
		p := gitPusher{p: nil, limits: tt.limits, log: slog.New(slog.DiscardHandler)}
		err := p.Push(context.Background(), gitreceive.PushRequest{App: "big", RepoDir: filepath.Join(repo, ".git"), NewRev: rev}, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.want)
		assert.Contains(t, err.Error(), "ask the platform's operator to raise the limit")
	}
}

package gitreceive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPushDeploysAndCloneFetchWork(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)

	// Push checks out the revision, as the pipeline will.
	checkedOut := map[string]string{}
	h.pusher.setPush(func(_ context.Context, req PushRequest, out io.Writer) error {
		dst := t.TempDir()
		if err := Checkout(req.RepoDir, req.NewRev, dst, CheckoutLimits{}); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dst, "app.txt"))
		if err != nil {
			return err
		}
		checkedOut[req.NewRev] = string(b)
		fmt.Fprintf(out, "building %.7s\n", req.NewRev)
		return nil
	})

	work := h.workRepo(map[string]string{"app.txt": "v1"})
	first := h.mustGit(work, "", "rev-parse", "HEAD")
	h.mustGit(work, "", "remote", "add", "platform", h.url("myapp"))
	r := h.git(work, alice.keyPath, "push", "platform", "main")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stderr, "remote: building "+first[:7])
	assert.Contains(t, r.stderr, "* [new branch]      main -> main")

	pushes := h.pusher.pushed()
	require.Len(t, pushes, 1)
	assert.Equal(t, PushRequest{
		User:    "alice",
		App:     "myapp",
		RepoDir: filepath.Join(h.reposDir, "myapp.git"),
		Ref:     "refs/heads/main",
		OldRev:  "",
		NewRev:  first,
	}, pushes[0])
	assert.Equal(t, "v1", checkedOut[first])
	assert.Equal(t, map[string]string{"HEAD": first, "refs/heads/main": first}, h.remoteRefs(alice.keyPath, "myapp"))

	// A second push sends only what is new, and names the old revision.
	second := h.commit(work, map[string]string{"app.txt": "v2"})
	r = h.git(work, alice.keyPath, "push", "platform", "main")
	require.NoError(t, r.err, r.stderr)
	pushes = h.pusher.pushed()
	require.Len(t, pushes, 2)
	assert.Equal(t, first, pushes[1].OldRev)
	assert.Equal(t, second, pushes[1].NewRev)
	assert.Equal(t, "v2", checkedOut[second])

	// Clone, then fetch a later push into the clone (which negotiates).
	clone := filepath.Join(t.TempDir(), "clone")
	r = h.git(t.TempDir(), alice.keyPath, "clone", h.url("myapp"), clone)
	require.NoError(t, r.err, r.stderr)
	b, err := os.ReadFile(filepath.Join(clone, "app.txt"))
	require.NoError(t, err)
	assert.Equal(t, "v2", string(b))
	assert.Equal(t, "main", h.mustGit(clone, "", "rev-parse", "--abbrev-ref", "HEAD"))

	third := h.commit(work, map[string]string{"app.txt": "v3", "lib/x.txt": "x"})
	h.mustGit(work, alice.keyPath, "push", "-q", "platform", "main")
	r = h.git(clone, alice.keyPath, "pull", "-q", "--ff-only")
	require.NoError(t, r.err, r.stderr)
	assert.Equal(t, third, h.mustGit(clone, "", "rev-parse", "HEAD"))
	h.mustGit(clone, "", "fsck", "--strict")
}

func TestPushRejectedByPusherLeavesBranch(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	first := h.mustGit(work, "", "rev-parse", "HEAD")
	h.mustGit(work, alice.keyPath, "push", "-q", h.url("myapp"), "main")

	h.pusher.setPush(func(_ context.Context, _ PushRequest, out io.Writer) error {
		fmt.Fprintln(out, "detecting stack")
		return errors.New("build failed: no Dockerfile found\ninternal detail")
	})
	h.commit(work, map[string]string{"app.txt": "v2"})
	r := h.git(work, alice.keyPath, "push", h.url("myapp"), "main")
	require.Error(t, r.err)
	assert.Contains(t, r.stderr, "remote: detecting stack")
	assert.Contains(t, r.stderr, "remote: ! rejected: build failed: no Dockerfile found")
	assert.Contains(t, r.stderr, "! [remote rejected] main -> main (build failed: no Dockerfile found)")
	assert.NotContains(t, r.stderr, "internal detail")
	assert.Equal(t, first, h.remoteRefs(alice.keyPath, "myapp")["refs/heads/main"])

	// The refused push left no pack behind: only the first push's remains,
	// however many times the push is refused.
	packs := func() []string {
		m, err := filepath.Glob(filepath.Join(h.reposDir, "myapp.git", "objects", "pack", "*"))
		require.NoError(t, err)
		return m
	}
	kept := packs()
	require.Len(t, kept, 2, "the first push's .pack and .idx")
	for i := range 3 {
		h.commit(work, map[string]string{"app.txt": fmt.Sprint("v", 3+i)})
		require.Error(t, h.git(work, alice.keyPath, "push", h.url("myapp"), "main").err)
	}
	assert.Equal(t, kept, packs())
}

func TestPushOtherBranchOrDeleteIsRefused(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	h.mustGit(work, "", "checkout", "-q", "-b", "feature")
	h.commit(work, map[string]string{"app.txt": "feature"})

	r := h.git(work, alice.keyPath, "push", h.url("myapp"), "feature")
	require.Error(t, r.err)
	assert.Contains(t, r.stderr, "remote: ! rejected: branch feature is not deployed; push to main: git push platform feature:main")
	assert.Contains(t, r.stderr, "! [remote rejected] feature -> feature (only main or master is deployed)")
	assert.Empty(t, h.pusher.pushed())
	assert.Empty(t, h.remoteRefs(alice.keyPath, "myapp"))

	r = h.git(work, alice.keyPath, "push", h.url("myapp"), "HEAD:refs/tags/v1")
	require.Error(t, r.err)
	assert.Contains(t, r.stderr, "remote: ! rejected: tag v1 is not deployed; push to main: git push platform HEAD:main")

	// The suggested command works.
	h.mustGit(work, alice.keyPath, "push", "-q", h.url("myapp"), "feature:main")
	require.Len(t, h.pusher.pushed(), 1)

	// Deleting: git does not even ask, since the server does not offer it.
	r = h.git(work, alice.keyPath, "push", h.url("myapp"), ":main")
	require.Error(t, r.err)
	assert.Contains(t, r.stderr, "does not support deleting refs")
	assert.Contains(t, h.remoteRefs(alice.keyPath, "myapp"), "refs/heads/main")
}

func TestAccessIsCheckedPerAppAndOp(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	reader := h.newUser("reader")
	outsider := h.newUser("outsider")
	h.pusher.grant("alice", "myapp", Write)
	h.pusher.grant("reader", "myapp", Read)
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	h.mustGit(work, alice.keyPath, "push", "-q", h.url("myapp"), "main")

	// A reader can clone but not push, and is told why (a Refusal).
	r := h.git(t.TempDir(), reader.keyPath, "clone", "-q", h.url("myapp"), "clone")
	require.NoError(t, r.err, r.stderr)
	h.commit(work, map[string]string{"app.txt": "v2"})
	r = h.git(work, reader.keyPath, "push", h.url("myapp"), "main")
	require.Error(t, r.err)
	assert.Contains(t, r.stderr, "reader may read myapp but not push to it")
	assert.NotContains(t, r.stderr, "no such app")

	// Somebody else's app and an app that does not exist look the same.
	for _, app := range []string{"myapp", "nosuchapp"} {
		r = h.git(work, outsider.keyPath, "push", h.url(app), "main")
		require.Error(t, r.err)
		assert.Contains(t, r.stderr, "no such app, or no access", app)
		r = h.git(t.TempDir(), outsider.keyPath, "clone", h.url(app), "clone")
		require.Error(t, r.err)
		assert.Contains(t, r.stderr, "no such app, or no access", app)
	}
	assert.Len(t, h.pusher.pushed(), 1)
	_, err := os.Stat(filepath.Join(h.reposDir, "nosuchapp.git"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestCloneOfAppNeverPushed(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "fresh", Read)
	r := h.git(t.TempDir(), alice.keyPath, "clone", h.url("fresh"), "clone")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stderr, "empty repository")
	_, err := os.Stat(filepath.Join(h.reposDir, "fresh.git"))
	assert.ErrorIs(t, err, os.ErrNotExist, "reading must not create the repository")
}

func TestOversizedPushIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name:  "one large object",
			files: map[string]string{"big.bin": randomText(64 << 10)},
			want:  "an object in the push exceeds the 4 KiB limit",
		},
		{
			name:  "many small objects",
			files: manyFiles(40, 900),
			want:  "push exceeds the 4 KiB limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxPackBytes = 4 << 10 })
			alice := h.newUser("alice")
			h.pusher.grant("alice", "myapp", Write)
			work := h.workRepo(tt.files)
			r := h.git(work, alice.keyPath, "push", h.url("myapp"), "main")
			require.Error(t, r.err)
			assert.Contains(t, r.stderr, "remote: ! rejected: "+tt.want)
			assert.Empty(t, h.pusher.pushed())
			assert.Empty(t, h.remoteRefs(alice.keyPath, "myapp"))
			leftovers, err := filepath.Glob(filepath.Join(h.reposDir, "myapp.git", "objects", "pack", "tmp_*"))
			require.NoError(t, err)
			assert.Empty(t, leftovers)
		})
	}
}

func randomText(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func manyFiles(n, size int) map[string]string {
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("f%02d.txt", i)] = randomText(size)
	}
	return files
}

func TestPushOutputIsLive(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	seen := make(chan struct{})
	h.pusher.setPush(func(ctx context.Context, _ PushRequest, out io.Writer) error {
		fmt.Fprintln(out, "step one")
		select {
		case <-seen:
		case <-time.After(30 * time.Second):
			return errors.New("the client never saw step one")
		}
		fmt.Fprintln(out, "step two")
		return nil
	})
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	cmd := h.gitCmd(context.Background(), work, alice.keyPath, "push", h.url("myapp"), "main")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := watchLines(stderr)
	lines.waitFor(t, "remote: step one", 30*time.Second)
	close(seen)
	lines.waitFor(t, "remote: step two", 30*time.Second)
	out := lines.text()
	require.NoError(t, cmd.Wait(), out)
	assert.Contains(t, out, "main -> main")
}

func TestQuietPushIsKeptAlive(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.KeepAlive = 50 * time.Millisecond })
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	h.pusher.setPush(func(ctx context.Context, _ PushRequest, out io.Writer) error {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
		fmt.Fprintln(out, "done after a quiet second")
		return nil
	})
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	r := h.git(work, alice.keyPath, "push", h.url("myapp"), "main")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stderr, "remote: done after a quiet second")
}

func TestKilledClientCancelsPush(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	cancelled := make(chan error, 1)
	h.pusher.setPush(func(ctx context.Context, _ PushRequest, out io.Writer) error {
		fmt.Fprintln(out, "building")
		select {
		case <-ctx.Done():
			cancelled <- ctx.Err()
			return ctx.Err()
		case <-time.After(time.Minute):
			cancelled <- nil
			return nil
		}
	})
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	cmd := h.gitCmd(context.Background(), work, alice.keyPath, "push", h.url("myapp"), "main")
	// Its own process group, as a terminal's foreground job is: Ctrl-C
	// or kill reaches git and ssh alike.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := watchLines(stderr)
	lines.waitFor(t, "remote: building", 30*time.Second)
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL))
	_ = cmd.Wait()

	select {
	case err := <-cancelled:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("Push's context was not cancelled after the client was killed")
	}
	assert.Empty(t, h.remoteRefs(alice.keyPath, "myapp"))
}

func TestShutdownCancelsPushAndReturns(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	started := make(chan struct{})
	h.pusher.setPush(func(ctx context.Context, _ PushRequest, out io.Writer) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	done := make(chan result, 1)
	go func() { done <- h.git(work, alice.keyPath, "push", h.url("myapp"), "main") }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("push did not start")
	}
	h.stop()
	r := <-done
	assert.Error(t, r.err)
	_, err := os.Stat(filepath.Join(h.reposDir, "myapp.git", "refs", "heads", "main"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestShutdownLetsAPushFinishWithinTheDrain(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Drain = time.Minute })
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	started, finish := make(chan struct{}), make(chan struct{})
	h.pusher.setPush(func(ctx context.Context, _ PushRequest, out io.Writer) error {
		close(started)
		select {
		case <-finish:
			fmt.Fprintln(out, "released")
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	done := make(chan result, 1)
	go func() { done <- h.git(work, alice.keyPath, "push", h.url("myapp"), "main") }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("push did not start")
	}
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()

	// Draining, the server takes no new connection...
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", h.port))
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, 20*time.Millisecond, "the server still takes connections while draining")
	select {
	case <-stopped:
		t.Fatal("Serve returned with a push in flight and the drain not over")
	default:
	}
	// ...and the push in flight completes.
	close(finish)
	r := <-done
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stderr, "remote: released")
	<-stopped
	_, err := os.Stat(filepath.Join(h.reposDir, "myapp.git", "refs", "heads", "main"))
	assert.NoError(t, err, "the drained push updated main")
}

func TestShutdownTellsAPushStoppedAtTheDrainsEnd(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Drain = 200 * time.Millisecond })
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	started := make(chan struct{})
	h.pusher.setPush(func(ctx context.Context, _ PushRequest, out io.Writer) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	done := make(chan result, 1)
	go func() { done <- h.git(work, alice.keyPath, "push", h.url("myapp"), "main") }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("push did not start")
	}
	h.stop()
	r := <-done
	require.Error(t, r.err)
	assert.Contains(t, r.stderr, "the platform restarted before this push was released")
	assert.Contains(t, r.stderr, "push again")
	_, err := os.Stat(filepath.Join(h.reposDir, "myapp.git", "refs", "heads", "main"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestPushOptionsReachThePusher: the receiver advertises push options, so
// `git push -o verbose` works, and hands them to Push in order; the pack
// that follows them is read whole.
func TestPushOptionsReachThePusher(t *testing.T) {
	h := newHarness(t)
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)

	work := h.workRepo(map[string]string{"app.txt": "v1"})
	h.mustGit(work, "", "remote", "add", "platform", h.url("myapp"))
	r := h.git(work, alice.keyPath, "push", "-o", "verbose", "-o", "note=two words", "platform", "main")
	require.NoError(t, r.err, r.stderr)

	second := h.commit(work, map[string]string{"app.txt": "v2"})
	r = h.git(work, alice.keyPath, "push", "platform", "main")
	require.NoError(t, r.err, r.stderr)

	pushes := h.pusher.pushed()
	require.Len(t, pushes, 2)
	assert.Equal(t, []string{"verbose", "note=two words"}, pushes[0].Options)
	assert.Empty(t, pushes[1].Options, "a push without -o has none")
	assert.Equal(t, second, pushes[1].NewRev)
	assert.Equal(t, second, h.remoteRefs(alice.keyPath, "myapp")["refs/heads/main"])
}

package gitreceive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"
)

// fakeAuth is a key registry: authorized key → user.
type fakeAuth struct {
	mu    sync.Mutex
	users map[string]string
	// asked lists the fingerprints UserForKey was called with.
	asked []string
}

func (a *fakeAuth) UserForKey(_ context.Context, key, fingerprint string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, fingerprint)
	user, ok := a.users[key]
	if !ok {
		return "", ErrUnknownKey
	}
	return user, nil
}

func (a *fakeAuth) askedFingerprints() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.asked...)
}

// fakePusher grants access from a table and deploys with a function.
type fakePusher struct {
	mu     sync.Mutex
	access map[string]Op // "user/app" → the most it may do
	push   func(ctx context.Context, req PushRequest, out io.Writer) error
	// authorized lists "user/app/op" for every Authorize call.
	authorized []string
	pushes     []PushRequest
}

func (p *fakePusher) Authorize(_ context.Context, user, app string, op Op) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.authorized = append(p.authorized, user+"/"+app+"/"+op.String())
	got, ok := p.access[user+"/"+app]
	switch {
	case ok && got < op:
		// One who sees the app is told why not.
		return &Refusal{Message: fmt.Sprintf("%s may read %s but not push to it", user, app)}
	case got < op:
		return fmt.Errorf("user %s has no %s access to %s", user, op, app)
	}
	return nil
}

func (p *fakePusher) Push(ctx context.Context, req PushRequest, out io.Writer) error {
	p.mu.Lock()
	p.pushes = append(p.pushes, req)
	push := p.push
	p.mu.Unlock()
	if push == nil {
		fmt.Fprintf(out, "deploying %.7s\n", req.NewRev)
		return nil
	}
	return push(ctx, req, out)
}

func (p *fakePusher) grant(user, app string, op Op) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.access[user+"/"+app] = op
}

func (p *fakePusher) setPush(f func(ctx context.Context, req PushRequest, out io.Writer) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.push = f
}

func (p *fakePusher) pushed() []PushRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PushRequest(nil), p.pushes...)
}

func (p *fakePusher) authorizedCalls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.authorized...)
}

// harness is a running Server with fake dependencies, and real git and ssh
// clients pointed at it.
type harness struct {
	t        *testing.T
	srv      *Server
	auth     *fakeAuth
	pusher   *fakePusher
	reposDir string
	home     string
	port     int
	cancel   context.CancelFunc
	served   chan error
}

func newHarness(t *testing.T, configure ...func(*Config)) *harness {
	t.Helper()
	for _, bin := range []string{"git", "ssh", "ssh-keygen"} {
		_, err := exec.LookPath(bin)
		require.NoError(t, err, "the tests need %s", bin)
	}
	dir := t.TempDir()
	h := &harness{
		t:        t,
		auth:     &fakeAuth{users: map[string]string{}},
		pusher:   &fakePusher{access: map[string]Op{}},
		reposDir: filepath.Join(dir, "repos"),
		home:     filepath.Join(dir, "home"),
	}
	require.NoError(t, os.MkdirAll(h.home, 0o700))
	cfg := Config{
		HostKeyPath: filepath.Join(dir, "hostkey"),
		ReposDir:    h.reposDir,
		Logger:      slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := New(cfg, h.auth, h.pusher)
	require.NoError(t, err)
	h.srv = srv

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.port = l.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.served = make(chan error, 1)
	go func() { h.served <- srv.Serve(ctx, l) }()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the server down and waits for Serve to return.
func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.served:
		require.NoError(h.t, err)
		h.served <- err // keep it for a second stop
	case <-time.After(30 * time.Second):
		h.t.Error("Serve did not return after its context was cancelled")
	}
}

// testLog sends the server's log to the test's log, until the test ends.
type testLog struct {
	t  *testing.T
	mu sync.Mutex
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// user is an SSH identity known to the fake Authenticator.
type user struct {
	name        string
	keyPath     string
	fingerprint string
	authorized  string
}

// newKey makes a key pair with ssh-keygen, not registered anywhere.
func (h *harness) newKey(name string) user {
	h.t.Helper()
	dir := filepath.Join(h.t.TempDir(), name)
	require.NoError(h.t, os.MkdirAll(dir, 0o700))
	path := filepath.Join(dir, "id_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput()
	require.NoError(h.t, err, "ssh-keygen: %s", out)
	pub, err := os.ReadFile(path + ".pub")
	require.NoError(h.t, err)
	key, _, _, _, err := gossh.ParseAuthorizedKey(pub)
	require.NoError(h.t, err)
	return user{name: name, keyPath: path, fingerprint: gossh.FingerprintSHA256(key), authorized: authorizedKey(key)}
}

// newUser makes a key pair and registers it for the user name.
func (h *harness) newUser(name string) user {
	u := h.newKey(name)
	h.auth.mu.Lock()
	h.auth.users[u.authorized] = name
	h.auth.mu.Unlock()
	return u
}

func (h *harness) url(app string) string {
	return fmt.Sprintf("ssh://git@127.0.0.1:%d/%s.git", h.port, app)
}

// sshCommand is what git runs to reach the server, identified by identities
// (tried in order).
func sshCommand(identities ...string) string {
	parts := []string{"ssh", "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"}
	for _, id := range identities {
		if id != "" {
			parts = append(parts, "-i", id)
		}
	}
	return strings.Join(parts, " ")
}

func (h *harness) env(identities ...string) []string {
	return append(os.Environ(),
		"HOME="+h.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_SSH_COMMAND="+sshCommand(identities...),
		"LC_ALL=C",
	)
}

// gitCmd prepares git in dir as the owner of key.
func (h *harness) gitCmd(ctx context.Context, dir string, key string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = h.env(key)
	return cmd
}

type result struct {
	stdout, stderr string
	err            error
}

// git runs git in dir as the owner of key.
func (h *harness) git(dir, key string, args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := h.gitCmd(ctx, dir, key, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustGit runs git and fails the test if it fails.
func (h *harness) mustGit(dir, key string, args ...string) string {
	h.t.Helper()
	r := h.git(dir, key, args...)
	require.NoError(h.t, r.err, "git %s:\n%s", strings.Join(args, " "), r.stderr)
	return strings.TrimSpace(r.stdout)
}

// workRepo makes a local repository on main with one commit.
func (h *harness) workRepo(files map[string]string) string {
	h.t.Helper()
	dir := h.t.TempDir()
	h.mustGit(dir, "", "init", "-q", "-b", "main")
	h.commit(dir, files)
	return dir
}

// commit writes files and commits them, returning the new commit.
func (h *harness) commit(dir string, files map[string]string) string {
	h.t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(h.t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(h.t, os.WriteFile(p, []byte(content), 0o644))
	}
	h.mustGit(dir, "", "add", "-A")
	h.mustGit(dir, "", "commit", "-q", "-m", fmt.Sprintf("commit %d", time.Now().UnixNano()))
	return h.mustGit(dir, "", "rev-parse", "HEAD")
}

// remoteRefs returns the server's refs as git ls-remote sees them.
func (h *harness) remoteRefs(key, app string) map[string]string {
	h.t.Helper()
	out := h.mustGit(h.t.TempDir(), key, "ls-remote", h.url(app))
	refs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if hash, name, ok := strings.Cut(line, "\t"); ok {
			refs[name] = hash
		}
	}
	return refs
}

// sshResult is the outcome of running ssh against the server.
type sshResult struct {
	stdout, stderr string
	code           int
}

// ssh runs the ssh client against the server as the owner of key.
func (h *harness) ssh(key string, args ...string) sshResult {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := strings.Fields(sshCommand(key))
	full := append(base[1:], "-p", fmt.Sprint(h.port))
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "ssh", full...)
	cmd.Env = h.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		require.True(h.t, errors.As(err, &exit), "running ssh: %v", err)
		code = exit.ExitCode()
	}
	return sshResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// lineWatcher reads a stream of lines (split at \n or \r, as git's
// "remote:" output can be) and lets a test wait for one.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func watchLines(r io.Reader) *lineWatcher {
	w := &lineWatcher{added: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(r)
		sc.Split(splitLines)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
			select {
			case w.added <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// waitFor waits until a line contains text.
func (w *lineWatcher) waitFor(t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			if strings.Contains(l, text) {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
		select {
		case <-w.added:
		case <-w.done:
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, l := range w.lines {
				if strings.Contains(l, text) {
					return
				}
			}
			t.Fatalf("stream ended without %q; got:\n%s", text, strings.Join(w.lines, "\n"))
		case <-deadline:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("no %q within %s; got:\n%s", text, timeout, strings.Join(w.lines, "\n"))
		}
	}
}

func (w *lineWatcher) text() string {
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

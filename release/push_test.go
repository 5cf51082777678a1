package release_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/release/releasetest"
	"github.com/platform-paas/platform/server/store"
)

// TestPushGoApp pushes the Go sample with real git and ssh clients: it is
// built, released as v1 and answers through the router; a push of code that
// does not compile is then rejected with the compiler's error, the branch
// stays where it was, and v1 keeps answering. The push shows a line per
// build step, each event once, and the commands it chose; the build's log
// has the same headers and every line; `git push -o verbose` shows every
// line too.
func TestPushGoApp(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	app := s.CreateApp(t, "go")
	dir := s.Repo(t, "go", app.Name)

	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "remote: -----> Building "+app.Name)
	assert.Contains(t, out, "Released v1")

	// git pads each remote line with spaces, to clear what a terminal
	// showed there.
	out = trailingSpaceRE.ReplaceAllString(out, "")
	// Quiet by default: one line per build step with its time.
	assert.Regexp(t, `(?m)^remote: #\d+ \[build \d+/\d+\] RUN .*go build.* \(\d+\.\d+s\)\s*$`, out)
	assert.NotRegexp(t, `(?m)^remote: #\d+ (DONE|CACHED)`, out, "no step's own lines")
	assert.NotContains(t, out, "[internal]")
	// The commands chosen, and why.
	assert.Contains(t, out, "remote: -----> Process types and their commands\n")
	assert.Contains(t, out, "remote:        web: hello  (Procfile)\n")
	assert.Contains(t, out, "remote:        worker: worker  (Procfile)\n")
	// Each event once; nothing of the worker, scaled to 0.
	assert.Equal(t, 1, strings.Count(out, "Releasing v1"), out)
	assert.Equal(t, 1, strings.Count(out, "Released v1"), out)
	assert.Regexp(t, `remote: -----> Released v1 in [0-9hms.]+ — http://`+app.Name+`\.`, out)
	assert.NotContains(t, out, "0/0")
	assert.Contains(t, out, "remote: -----> Releasing v1: web=1 worker=0\n")
	// The build's log, which builds:output shows, has the same headers
	// and every line of every step.
	firstBuilds, err := s.Store.ListBuilds(context.Background(), app.ID, store.ListOptions{Limit: 1})
	require.NoError(t, err)
	require.Len(t, firstBuilds, 1)
	firstLog, err := s.Store.BuildLog(context.Background(), firstBuilds[0].ID)
	require.NoError(t, err)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "remote: -----> Releasing") {
			break
		}
		if h, ok := strings.CutPrefix(l, "remote: "); ok && (strings.HasPrefix(h, "----->") || strings.HasPrefix(h, "       ")) {
			assert.Contains(t, firstLog, strings.TrimRight(h, " ")+"\n", "the build's log has the push's header")
		}
	}
	assert.Regexp(t, `(?m)^#\d+ DONE \d+\.\d+s$`, firstLog)

	status, body := s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "hello from go")

	rel, err := s.Store.LatestSucceededRelease(context.Background(), app.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Version)
	head := strings.TrimSpace(s.Git(t, dir, "rev-parse", "HEAD"))
	assert.Equal(t, head, rel.CommitSHA)

	// A commit that does not compile.
	broken, err := os.ReadFile(filepath.Join("..", "builder", "testdata", "apps", "broken-go", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), broken, 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "broken")
	out, err = s.Push(dir)
	require.Error(t, err, "a push that does not build fails:\n%s", out)
	assert.Contains(t, out, "[remote rejected]")
	assert.Contains(t, out, "undefined: undefinedGreeting", "the compiler's error reaches the push")
	remote := s.Git(t, dir, "ls-remote", "platform", "refs/heads/main")
	assert.Contains(t, remote, head, "the branch is unchanged")

	status, body = s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "hello from go", "v1 still answers")
	builds, err := s.Store.ListBuilds(context.Background(), app.ID, store.ListOptions{Limit: 10})
	require.NoError(t, err)
	require.Len(t, builds, 2)
	assert.Equal(t, store.BuildFailed, builds[0].Status)
	assert.Equal(t, store.BuildSucceeded, builds[1].Status)
	log, err := s.Store.BuildLog(context.Background(), builds[0].ID)
	require.NoError(t, err)
	assert.Contains(t, log, "undefinedGreeting", "the failed build's log is kept")
	assert.Contains(t, out, fmt.Sprintf("The build's whole output: platform builds:output %d -a %s (or push again with git push -o verbose)", builds[0].ID, app.Name),
		"the push says where the whole output is")
	assert.NotContains(t, log, "The build's whole output:", "the build's own log has no pointer to itself")

	// An option the platform does not know is refused, before any build.
	bad, err := s.GitCmd(dir, "push", "-o", "debug", "platform", "main").CombinedOutput()
	require.Error(t, err, "%s", bad)
	assert.Contains(t, string(bad), `unknown push option "debug": the platform takes -o verbose`)
	assert.NotContains(t, string(bad), "-----> Building")

	// Fixed, and pushed with -o verbose: every line of every step.
	good, err := os.ReadFile(filepath.Join("..", "builder", "testdata", "apps", "go", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(strings.ReplaceAll(string(good), "hello from go", "hello again from go")), 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "fixed")
	verbose, err := s.GitCmd(dir, "push", "-o", "verbose", "platform", "main").CombinedOutput()
	require.NoError(t, err, "%s", verbose)
	verbose = trailingSpaceRE.ReplaceAll(verbose, nil)
	assert.Regexp(t, `(?m)^remote: #\d+ DONE \d+\.\d+s\s*$`, string(verbose))
	assert.Contains(t, string(verbose), "[internal] load build definition")
	assert.Contains(t, string(verbose), "remote:        web: hello  (Procfile)")
	assert.Equal(t, 1, strings.Count(string(verbose), "Released v2"), "%s", verbose)
}

// trailingSpaceRE matches the spaces at the ends of lines.
var trailingSpaceRE = regexp.MustCompile(`(?m)[ \t]+$`)

// TestPushSampleApps pushes the sample app of every other stack: each is
// detected, built, released and answers through the router with its own
// response.
func TestPushSampleApps(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	for _, tc := range []struct {
		sample string
		want   []string // in the push output
		body   string   // in the app's answer
	}{
		{sample: "node", want: []string{"Released v1"}, body: "hello from node"},
		{sample: "python", want: []string{"Released v1", "release phase: nothing to migrate"}, body: "hello from python"},
		{sample: "static", want: []string{"Released v1"}, body: "Static sample"},
		{sample: "dockerfile", want: []string{"Released v1"}, body: "hello from a Dockerfile"},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			t.Parallel()
			app := s.CreateApp(t, tc.sample)
			dir := s.Repo(t, tc.sample, app.Name)
			out, err := s.Push(dir)
			require.NoError(t, err, "push output:\n%s", out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			status, body := s.Get(t, app.Name, "/")
			assert.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, tc.body)
		})
	}
}

// TestPushZeroDowntime pushes a new version of a running app while a steady
// stream of requests goes through the router: every request succeeds, and
// the answers switch from the old version to the new.
func TestPushZeroDowntime(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	app := s.CreateApp(t, "zd")
	dir := s.Repo(t, "go", app.Name)
	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)

	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(main, []byte(strings.Replace(string(src), "hello from go", "hello from go, v2", 1)), 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "v2")

	type result struct {
		status int
		body   string
	}
	var (
		results []result
		mu      sync.Mutex
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	// About 200 requests a second from 4 workers, for as long as the push
	// takes and about a second more (200 answers); bounded by the test's
	// own deadline.
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for n := 0; n < 5000; n++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					status, body := s.Get(t, app.Name, "/")
					mu.Lock()
					results = append(results, result{status, body})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}()
	out, err = s.Push(dir)
	answered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(results)
	}
	pushed := answered()
	assert.Eventually(t, func() bool {
		select {
		case <-done: // the workers ran out of requests
			return true
		default:
			return answered() >= pushed+200
		}
	}, time.Minute, 20*time.Millisecond, "answers after the push")
	close(stop)
	<-done
	require.NoError(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "Released v2")

	var bad, old, new int
	for _, r := range results {
		switch {
		case r.status != http.StatusOK:
			bad++
			t.Logf("failed request: %d %s", r.status, r.body)
		case strings.Contains(r.body, "v2"):
			new++
		default:
			old++
		}
	}
	t.Logf("%d requests during the roll: %d old, %d new, %d failed", len(results), old, new, bad)
	assert.Zero(t, bad, "no request fails during the roll")
	assert.Positive(t, old, "the old version answered while the new one built and rolled")
	assert.Positive(t, new, "the new version answers after the roll")
	last := results[len(results)-1]
	assert.Contains(t, last.body, "v2", "the last answer is the new version's")
}

// TestPushInterruptedLeavesNoLock kills a push's git client in the middle
// of its build: the deploy lock is released, and the next push goes
// through at once.
func TestPushInterruptedLeavesNoLock(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	app := s.CreateApp(t, "intr")
	dir := s.Repo(t, "go", app.Name)

	cmd := s.GitCmd(dir, "push", "platform", "main")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "-----> Building") {
		n, err := stderr.Read(buf)
		require.NoError(t, err, "push ended before building:\n%s", seen.String())
		seen.Write(buf[:n])
	}
	// Ctrl-C on the terminal: the whole process group (git and ssh).
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
	_ = cmd.Wait()

	start := time.Now()
	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.NotContains(t, out, "waiting for the deploy", "the interrupted push left no lock behind")
	assert.Contains(t, out, "Released v1")
	t.Logf("next push released in %s", time.Since(start).Round(time.Millisecond))

	builds, err := s.Store.ListBuilds(context.Background(), app.ID, store.ListOptions{Limit: 10})
	require.NoError(t, err)
	require.Len(t, builds, 2)
	assert.Equal(t, store.BuildCancelled, builds[1].Status, "the interrupted build is recorded as cancelled")
}

// TestPushRefusals covers the pipeline's refusals end to end: a viewer may
// not push, an app in another tenant is not there for a member, a tree with
// nothing to build is rejected with what was looked for, and a suspended
// tenant's apps take no deploys. Each leaves no build, release or branch.
func TestPushRefusals(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	ctx := context.Background()
	app := s.CreateApp(t, "ref")

	// A second user, with a key of their own.
	dir := t.TempDir()
	priv := filepath.Join(dir, "id_ed25519")
	keygen, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", priv).CombinedOutput()
	require.NoError(t, err, "%s", keygen)
	pub, err := os.ReadFile(priv + ".pub")
	require.NoError(t, err)
	user, err := s.Store.CreateUser(ctx, fmt.Sprintf("viewer-%s@platform.test", s.Tenant.Name), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Store.DeleteUser(context.Background(), user.ID) })
	_, err = s.Store.AddSSHKey(ctx, user.ID, "viewer", string(pub))
	require.NoError(t, err)
	other := s.As(user, priv)

	repo := other.Repo(t, "go", app.Name)
	out, err := other.Push(repo)
	require.Error(t, err)
	assert.Contains(t, out, "no such app, or no access", "not a member")

	require.NoError(t, s.Store.AddMember(ctx, s.Tenant.ID, user.ID, store.Viewer))
	out, err = other.Push(repo)
	require.Error(t, err)
	ask, err := s.Store.AskAnOwner(ctx, s.Tenant, store.Member)
	require.NoError(t, err)
	assert.Contains(t, out, "you are a viewer of tenant "+s.Tenant.Name+": viewers cannot deploy "+app.Name+"; "+ask,
		"a viewer, who sees the app, is told why they may not push")

	// Nothing to build: the message lists what was looked for.
	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "README.md"), []byte("no app here\n"), 0o644))
	s.Git(t, empty, "init", "-q", "-b", "main")
	s.Git(t, empty, "add", "-A")
	s.Git(t, empty, "commit", "-q", "-m", "nothing")
	s.Git(t, empty, "remote", "add", "platform", s.Env.GitURL+"/"+app.Name+".git")
	out, err = s.Push(empty)
	require.Error(t, err)
	assert.Contains(t, out, "[remote rejected]")
	assert.Contains(t, out, "go.mod", "the message says what was looked for")
	assert.Contains(t, out, "package.json")

	// A suspended tenant takes no deploys.
	_, err = s.Store.SuspendTenant(ctx, s.Tenant.ID, true)
	require.NoError(t, err)
	out, err = s.Push(s.Repo(t, "go", app.Name))
	require.Error(t, err)
	assert.Contains(t, out, "suspended")

	remote := s.Git(t, empty, "ls-remote", "platform")
	assert.NotContains(t, remote, "refs/heads/main", "no push moved the branch")
	rels, err := s.Store.ListReleases(ctx, app.ID, store.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, rels, "no release was recorded")
	builds, err := s.Store.ListBuilds(ctx, app.ID, store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, builds, 1, "only the build of the empty tree ran")
	assert.Equal(t, store.BuildFailed, builds[0].Status)
}

// TestPushBadRelease pushes releases that must not replace a good one: a
// web process that exits at start, and a release command that fails. Each
// push fails with the app's own output, v1 keeps answering, and the
// releases record the failures.
func TestPushBadRelease(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	ctx := context.Background()
	app := s.CreateApp(t, "bad")
	dir := s.Repo(t, "go", app.Name)
	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)

	// v2: the web process dies at start.
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(t, err)
	crashing := strings.Replace(string(src), "func main() {", "func main() {\n\tlog.Fatal(\"boom: cannot start without DATABASE\")", 1)
	require.NoError(t, os.WriteFile(main, []byte(crashing), 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "crash at start")
	out, err = s.Push(dir)
	require.Error(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "boom: cannot start without DATABASE", "the app's own error line reaches the push")
	assert.Contains(t, out, "v1 is still running")
	code, body := s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "hello from go")

	// v3: a release command that fails blocks the rollout.
	require.NoError(t, os.WriteFile(main, src, 0o644))
	procfile := filepath.Join(dir, "Procfile")
	pf, err := os.ReadFile(procfile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(procfile, append(pf, []byte("release: echo migrating the schema; echo migration 42 failed >&2; exit 3\n")...), 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "failing release phase")
	out, err = s.Push(dir)
	require.Error(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "migrating the schema", "the release command's output streams to the push")
	assert.Contains(t, out, "migration 42 failed")
	code, body = s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "hello from go")

	rels, err := s.Store.ListReleases(ctx, app.ID, store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, rels, 3)
	assert.Equal(t, store.ReleaseFailed, rels[0].Status, "v3")
	assert.Equal(t, store.ReleaseFailed, rels[1].Status, "v2")
	assert.Contains(t, rels[1].StatusReason, "crash")
	assert.Equal(t, store.ReleaseSucceeded, rels[2].Status, "v1")
}

// TestConcurrentPushes pushes two different commits on top of v1 to one app
// at the same time: one is released as v2, the other is refused with a
// clear message and leaves nothing behind, and the releases stay numbered
// without a gap.
func TestConcurrentPushes(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	ctx := context.Background()
	app := s.CreateApp(t, "conc")
	a := s.Repo(t, "go", app.Name)
	out, err := s.Push(a)
	require.NoError(t, err, "push output:\n%s", out)

	b := t.TempDir()
	s.Git(t, b, "clone", "-q", s.Env.GitURL+"/"+app.Name+".git", ".")
	s.Git(t, b, "remote", "rename", "origin", "platform")
	for i, dir := range []string{a, b} {
		main := filepath.Join(dir, "main.go")
		src, err := os.ReadFile(main)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(main, []byte(strings.Replace(string(src), "hello from go", fmt.Sprintf("hello from go, writer %d", i), 1)), 0o644))
		s.Git(t, dir, "commit", "-q", "-am", fmt.Sprintf("writer %d", i))
	}

	type pushed struct {
		out string
		err error
	}
	results := make(chan pushed, 2)
	for _, dir := range []string{a, b} {
		go func() {
			out, err := s.Push(dir)
			results <- pushed{out, err}
		}()
	}
	var ok, refused []string
	for range 2 {
		r := <-results
		if r.err == nil {
			ok = append(ok, r.out)
		} else {
			refused = append(refused, r.out)
		}
	}
	require.Len(t, ok, 1, "one push wins: ok=%v refused=%v", ok, refused)
	require.Len(t, refused, 1, "the other is refused")
	assert.Contains(t, ok[0], "Released v2")
	t.Logf("the refused push:\n%s", refused[0])
	assert.Regexp(t, `rejected|fetch first|non-fast-forward`, refused[0], "the refused push says why")

	rels, err := s.Store.ListReleases(ctx, app.ID, store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, rels, 2, "v1 and v2, nothing else")
	assert.Equal(t, 2, rels[0].Version)
	assert.Equal(t, store.ReleaseSucceeded, rels[0].Status)
	code, body := s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "writer", "the winner's version answers")
}

// TestPushWithoutWeb pushes an app whose Procfile has no web type, and
// whose stack has no default one (two commands under cmd/): the push says
// it gets no HTTP requests and how to serve them, and the router answers
// its host with the 503 of an app with no running web processes, not as
// an unknown host; a web type added later serves.
func TestPushWithoutWeb(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	app := s.CreateApp(t, "noweb")
	dir := s.Repo(t, "go", app.Name)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "cmd", "hello"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(dir, "main.go"), filepath.Join(dir, "cmd", "hello", "main.go")))
	procfile := filepath.Join(dir, "Procfile")
	require.NoError(t, os.WriteFile(procfile, []byte("worker: worker\n"), 0o644))
	s.Git(t, dir, "add", "-A")
	s.Git(t, dir, "commit", "-q", "-m", "a worker alone")
	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.Contains(t, out, `No web process type: the app gets no HTTP requests, and its URL answers 503; add a line "web: <command>" to the Procfile to serve HTTP on $PORT`)
	require.Eventually(t, func() bool {
		code, body := s.Get(t, app.Name, "/")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "no running web processes")
	}, time.Minute, 100*time.Millisecond, "the app's host answers 503 App not running, not 404 No app here")

	require.NoError(t, os.WriteFile(procfile, []byte("web: hello\nworker: worker\n"), 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "a web type")
	out, err = s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.NotContains(t, out, "No web process type")
	code, body := s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "hello from go")
}

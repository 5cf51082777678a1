package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/store"
)

// stackTenant is a tenant with an app on the running local stack, pushed to
// as the stack's admin with a key made for the test.
type stackTenant struct {
	env    localstack.Env
	st     *store.Store
	tenant store.Tenant
	user   store.User
	sshKey string // private key file
}

// newStackTenant makes a tenant on the local stack for one test and removes
// it, its apps and its namespace afterwards. Until the API can create
// tenants and register keys, it writes them through the store.
func newStackTenant(t testing.TB) *stackTenant {
	t.Helper()
	env := localstack.Require(t)
	ctx := context.Background()
	keyFile := os.Getenv("PLATFORM_SECRET_KEY_FILE")
	require.NotEmpty(t, keyFile, "PLATFORM_SECRET_KEY_FILE (written to .platform/env by make up)")
	b64, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	require.NoError(t, err)
	st, err := store.Open(ctx, store.Config{DatabaseURL: env.DatabaseURL, Key: key})
	require.NoError(t, err)
	t.Cleanup(st.Close)

	user, err := st.UserByToken(ctx, env.Token)
	require.NoError(t, err)
	tenant, err := st.CreateTenant(ctx, fmt.Sprintf("e2e%06x", rand.Uint32()&0xffffff), store.DefaultQuota())
	require.NoError(t, err)

	dir := t.TempDir()
	priv := filepath.Join(dir, "id_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f", priv).CombinedOutput()
	require.NoError(t, err, "%s", out)
	pub, err := os.ReadFile(priv + ".pub")
	require.NoError(t, err)
	k, err := st.AddSSHKey(ctx, user.ID, "e2e-"+tenant.Name, string(pub))
	require.NoError(t, err)

	t.Cleanup(func() {
		ctx := context.Background()
		_ = st.RemoveSSHKey(ctx, user.ID, k.ID)
		_ = st.DeleteTenant(ctx, tenant.ID)
		if dep, err := deployer.New(deployer.Config{Kubeconfig: env.Kubeconfig}); err == nil {
			_ = dep.DeleteTenant(ctx, tenant.Name)
		}
	})
	return &stackTenant{env: env, st: st, tenant: tenant, user: user, sshKey: priv}
}

// createApp creates an app in the tenant.
func (s *stackTenant) createApp(t testing.TB, prefix string) store.App {
	t.Helper()
	app, err := s.st.CreateApp(context.Background(), s.tenant.ID, fmt.Sprintf("%s-%s", prefix, s.tenant.Name))
	require.NoError(t, err)
	return app
}

// repo makes a git work tree holding a copy of the sample app dir, with one
// commit and the platform remote of app.
func (s *stackTenant) repo(t testing.TB, sample, app string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("..", "builder", "testdata", "apps", sample))))
	s.git(t, dir, "init", "-q", "-b", "main")
	s.git(t, dir, "add", "-A")
	s.git(t, dir, "commit", "-q", "-m", "first")
	s.git(t, dir, "remote", "add", "platform", s.env.GitURL+"/"+app+".git")
	return dir
}

func (s *stackTenant) gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@platform.test",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@platform.test",
		"GIT_SSH_COMMAND=ssh -i "+s.sshKey+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
	)
	return cmd
}

func (s *stackTenant) git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := s.gitCmd(dir, args...).CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return string(out)
}

// push runs git push platform main and returns its output and error.
func (s *stackTenant) push(dir string) (string, error) {
	out, err := s.gitCmd(dir, "push", "platform", "main").CombinedOutput()
	return string(out), err
}

// get fetches path from app through the router, by host name.
func (s *stackTenant) get(t testing.TB, app, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.env.RouterURL+path, nil)
	require.NoError(t, err)
	req.Host = app + "." + s.env.AppsDomain
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestPushGoApp pushes the Go sample with real git and ssh clients: it is
// built, released as v1 and answers through the router; a push of code that
// does not compile is then rejected with the compiler's error, the branch
// stays where it was, and v1 keeps answering.
func TestPushGoApp(t *testing.T) {
	s := newStackTenant(t)
	app := s.createApp(t, "go")
	dir := s.repo(t, "go", app.Name)

	out, err := s.push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "remote: -----> Building "+app.Name)
	assert.Contains(t, out, "Released v1")

	status, body := s.get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "hello from go")

	rel, err := s.st.LatestSucceededRelease(context.Background(), app.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Version)
	head := strings.TrimSpace(s.git(t, dir, "rev-parse", "HEAD"))
	assert.Equal(t, head, rel.CommitSHA)

	// A commit that does not compile.
	broken, err := os.ReadFile(filepath.Join("..", "builder", "testdata", "apps", "broken-go", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), broken, 0o644))
	s.git(t, dir, "commit", "-q", "-am", "broken")
	out, err = s.push(dir)
	require.Error(t, err, "a push that does not build fails:\n%s", out)
	assert.Contains(t, out, "[remote rejected]")
	assert.Contains(t, out, "undefined: undefinedGreeting", "the compiler's error reaches the push")
	remote := s.git(t, dir, "ls-remote", "platform", "refs/heads/main")
	assert.Contains(t, remote, head, "the branch is unchanged")

	status, body = s.get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "hello from go", "v1 still answers")
	builds, err := s.st.ListBuilds(context.Background(), app.ID, store.ListOptions{Limit: 10})
	require.NoError(t, err)
	require.Len(t, builds, 2)
	assert.Equal(t, store.BuildFailed, builds[0].Status)
	assert.Equal(t, store.BuildSucceeded, builds[1].Status)
	log, err := s.st.BuildLog(context.Background(), builds[0].ID)
	require.NoError(t, err)
	assert.Contains(t, log, "undefinedGreeting", "the failed build's log is kept")
}

// TestPushSampleApps pushes the sample app of every other stack: each is
// detected, built, released and answers through the router with its own
// response.
func TestPushSampleApps(t *testing.T) {
	s := newStackTenant(t)
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
			app := s.createApp(t, tc.sample)
			dir := s.repo(t, tc.sample, app.Name)
			out, err := s.push(dir)
			require.NoError(t, err, "push output:\n%s", out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			status, body := s.get(t, app.Name, "/")
			assert.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, tc.body)
		})
	}
}

// TestPushZeroDowntime pushes a new version of a running app while a steady
// stream of requests goes through the router: every request succeeds, and
// the answers switch from the old version to the new.
func TestPushZeroDowntime(t *testing.T) {
	s := newStackTenant(t)
	app := s.createApp(t, "zd")
	dir := s.repo(t, "go", app.Name)
	out, err := s.push(dir)
	require.NoError(t, err, "push output:\n%s", out)

	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(main, []byte(strings.Replace(string(src), "hello from go", "hello from go, v2", 1)), 0o644))
	s.git(t, dir, "commit", "-q", "-am", "v2")

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
	// takes and one second more; bounded by the test's own deadline.
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
					status, body := s.get(t, app.Name, "/")
					mu.Lock()
					results = append(results, result{status, body})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}()
	out, err = s.push(dir)
	time.Sleep(time.Second)
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
	s := newStackTenant(t)
	app := s.createApp(t, "intr")
	dir := s.repo(t, "go", app.Name)

	cmd := s.gitCmd(dir, "push", "platform", "main")
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
	out, err := s.push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.NotContains(t, out, "waiting for the deploy", "the interrupted push left no lock behind")
	assert.Contains(t, out, "Released v1")
	t.Logf("next push released in %s", time.Since(start).Round(time.Millisecond))

	builds, err := s.st.ListBuilds(context.Background(), app.ID, store.ListOptions{Limit: 10})
	require.NoError(t, err)
	require.Len(t, builds, 2)
	assert.Equal(t, store.BuildCancelled, builds[1].Status, "the interrupted build is recorded as cancelled")
}

// TestPushRefusals covers the pipeline's refusals end to end: a viewer may
// not push, an app in another tenant is not there for a member, a tree with
// nothing to build is rejected with what was looked for, and a suspended
// tenant's apps take no deploys. Each leaves no build, release or branch.
func TestPushRefusals(t *testing.T) {
	s := newStackTenant(t)
	ctx := context.Background()
	app := s.createApp(t, "ref")

	// A second user, with a key of their own.
	dir := t.TempDir()
	priv := filepath.Join(dir, "id_ed25519")
	keygen, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", priv).CombinedOutput()
	require.NoError(t, err, "%s", keygen)
	pub, err := os.ReadFile(priv + ".pub")
	require.NoError(t, err)
	user, err := s.st.CreateUser(ctx, fmt.Sprintf("viewer-%s@platform.test", s.tenant.Name), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.st.DeleteUser(context.Background(), user.ID) })
	_, err = s.st.AddSSHKey(ctx, user.ID, "viewer", string(pub))
	require.NoError(t, err)
	other := &stackTenant{env: s.env, st: s.st, tenant: s.tenant, user: user, sshKey: priv}

	repo := other.repo(t, "go", app.Name)
	out, err := other.push(repo)
	require.Error(t, err)
	assert.Contains(t, out, "no such app, or no access", "not a member")

	require.NoError(t, s.st.AddMember(ctx, s.tenant.ID, user.ID, store.Viewer))
	out, err = other.push(repo)
	require.Error(t, err)
	assert.Contains(t, out, "no such app, or no access", "a viewer may not push")

	// Nothing to build: the message lists what was looked for.
	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "README.md"), []byte("no app here\n"), 0o644))
	s.git(t, empty, "init", "-q", "-b", "main")
	s.git(t, empty, "add", "-A")
	s.git(t, empty, "commit", "-q", "-m", "nothing")
	s.git(t, empty, "remote", "add", "platform", s.env.GitURL+"/"+app.Name+".git")
	out, err = s.push(empty)
	require.Error(t, err)
	assert.Contains(t, out, "[remote rejected]")
	assert.Contains(t, out, "go.mod", "the message says what was looked for")
	assert.Contains(t, out, "package.json")

	// A suspended tenant takes no deploys.
	_, err = s.st.SuspendTenant(ctx, s.tenant.ID, true)
	require.NoError(t, err)
	out, err = s.push(s.repo(t, "go", app.Name))
	require.Error(t, err)
	assert.Contains(t, out, "suspended")

	remote := s.git(t, empty, "ls-remote", "platform")
	assert.NotContains(t, remote, "refs/heads/main", "no push moved the branch")
	rels, err := s.st.ListReleases(ctx, app.ID, store.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, rels, "no release was recorded")
	builds, err := s.st.ListBuilds(ctx, app.ID, store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, builds, 1, "only the build of the empty tree ran")
	assert.Equal(t, store.BuildFailed, builds[0].Status)
}

// TestPushBadRelease pushes releases that must not replace a good one: a
// web process that exits at start, and a release command that fails. Each
// push fails with the app's own output, v1 keeps answering, and the
// releases record the failures.
func TestPushBadRelease(t *testing.T) {
	s := newStackTenant(t)
	ctx := context.Background()
	app := s.createApp(t, "bad")
	dir := s.repo(t, "go", app.Name)
	out, err := s.push(dir)
	require.NoError(t, err, "push output:\n%s", out)

	// v2: the web process dies at start.
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(t, err)
	crashing := strings.Replace(string(src), "func main() {", "func main() {\n\tlog.Fatal(\"boom: cannot start without DATABASE\")", 1)
	require.NoError(t, os.WriteFile(main, []byte(crashing), 0o644))
	s.git(t, dir, "commit", "-q", "-am", "crash at start")
	out, err = s.push(dir)
	require.Error(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "boom: cannot start without DATABASE", "the app's own error line reaches the push")
	assert.Contains(t, out, "v1 is still running")
	code, body := s.get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "hello from go")

	// v3: a release command that fails blocks the rollout.
	require.NoError(t, os.WriteFile(main, src, 0o644))
	procfile := filepath.Join(dir, "Procfile")
	pf, err := os.ReadFile(procfile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(procfile, append(pf, []byte("release: echo migrating the schema; echo migration 42 failed >&2; exit 3\n")...), 0o644))
	s.git(t, dir, "commit", "-q", "-am", "failing release phase")
	out, err = s.push(dir)
	require.Error(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "migrating the schema", "the release command's output streams to the push")
	assert.Contains(t, out, "migration 42 failed")
	code, body = s.get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "hello from go")

	rels, err := s.st.ListReleases(ctx, app.ID, store.ListOptions{})
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
	s := newStackTenant(t)
	ctx := context.Background()
	app := s.createApp(t, "conc")
	a := s.repo(t, "go", app.Name)
	out, err := s.push(a)
	require.NoError(t, err, "push output:\n%s", out)

	b := t.TempDir()
	s.git(t, b, "clone", "-q", s.env.GitURL+"/"+app.Name+".git", ".")
	s.git(t, b, "remote", "rename", "origin", "platform")
	for i, dir := range []string{a, b} {
		main := filepath.Join(dir, "main.go")
		src, err := os.ReadFile(main)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(main, []byte(strings.Replace(string(src), "hello from go", fmt.Sprintf("hello from go, writer %d", i), 1)), 0o644))
		s.git(t, dir, "commit", "-q", "-am", fmt.Sprintf("writer %d", i))
	}

	type pushed struct {
		out string
		err error
	}
	results := make(chan pushed, 2)
	for _, dir := range []string{a, b} {
		go func() {
			out, err := s.push(dir)
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

	rels, err := s.st.ListReleases(ctx, app.ID, store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, rels, 2, "v1 and v2, nothing else")
	assert.Equal(t, 2, rels[0].Version)
	assert.Equal(t, store.ReleaseSucceeded, rels[0].Status)
	code, body := s.get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "writer", "the winner's version answers")
}

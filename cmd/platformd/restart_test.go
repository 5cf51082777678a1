package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/testdb"
)

// TestRestartMidRollout is the restart check with real processes:
// a platformd binary, started as a subprocess with a database, data
// directory and ports of its own on the local stack's Kubernetes, BuildKit
// and registry, is SIGKILLed while it rolls out v2 of an app pushed with
// real git and ssh (a web process that takes 20 s to listen), then started
// again. The app must end on one consistent release: no release left
// pending or deploying (v2 failed as interrupted, or succeeded), every
// Deployment of the app annotated with the latest succeeded release, every
// pod running its image, and the router answering with its body. A third
// push then goes through, so no deploy lock was left behind.
func TestRestartMidRollout(t *testing.T) {
	stack := localstack.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	began := time.Now()
	mark := func(what string) { t.Logf("%7.1fs %s", time.Since(began).Seconds(), what) }

	bin := filepath.Join(t.TempDir(), "platformd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	mark("platformd built")

	dbURL := testdb.Empty(t) // dropped last: cleanups run in reverse
	kube, err := kubeClient(stack.Kubeconfig, "platformd-test")
	require.NoError(t, err)
	// The stack's secret key: the credentials this platformd mints for
	// its builds and pods are then the stack's registry's.
	keyFile := os.Getenv("PLATFORM_SECRET_KEY_FILE")
	require.NotEmpty(t, keyFile, "PLATFORM_SECRET_KEY_FILE (written to .platform/env by make up)")
	rawKey, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	key := strings.TrimSpace(string(rawKey))

	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	httpAddr, gitAddr, routerAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	d := &daemon{
		bin: bin,
		args: []string{
			"--data-dir=" + dataDir,
			"--database-url=" + dbURL,
			"--kubeconfig=" + stack.Kubeconfig,
			"--buildkit-addr=" + stack.BuildKitAddr,
			"--http-addr=" + httpAddr,
			"--metrics-addr=" + freeAddr(t),
			// The stack's registry, not an embedded one of its own.
			"--registry-addr=off",
			"--image-registry=" + stack.Registry,
			"--image-registry-auth=platform",
			"--stack-images-registry=" + stack.Registry,
			"--git-addr=" + gitAddr,
			"--router-addr=" + routerAddr,
			"--apps-domain=" + stack.AppsDomain,
			"--shutdown-timeout=5s",
		},
		// Only what this platformd is meant to read: .platform/env's
		// variables (DATABASE_URL, PLATFORM_SECRET_KEY_FILE, ...) belong
		// to the stack's own platformd. The key goes in the environment,
		// not on a command line anyone can read.
		env: []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + os.Getenv("HOME"),
			"TMPDIR=" + tmp, // push checkouts a SIGKILL leaves behind
			"PLATFORM_SECRET_KEY=" + key,
		},
		logPath: filepath.Join(tmp, "platformd.log"),
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("stopping platformd: %v", err)
		}
		if t.Failed() {
			t.Logf("platformd's log (both runs), last lines:\n%s", tail(d.logPath, 60))
		}
	})
	d.start(t)
	d.waitReady(ctx, t, "http://"+httpAddr)
	mark("platformd ready")

	token, err := os.ReadFile(filepath.Join(dataDir, adminTokenFile))
	require.NoError(t, err)
	client, err := api.NewClient(api.ClientConfig{URL: "http://" + httpAddr, Token: strings.TrimSpace(string(token)), UserAgent: "restart-test"})
	require.NoError(t, err)

	tenant := fmt.Sprintf("rst%06x", mrand.Uint32()&0xffffff)
	_, err = client.CreateTenant(ctx, api.CreateTenantRequest{Name: tenant})
	require.NoError(t, err)
	ns := "t-" + tenant
	t.Cleanup(func() {
		err := kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		if err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	})
	app := "slow-" + tenant
	_, err = client.CreateApp(ctx, api.CreateAppRequest{Name: app, Tenant: tenant})
	require.NoError(t, err)

	priv := filepath.Join(tmp, "id_ed25519")
	out, err = exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "restart-test", "-f", priv).CombinedOutput()
	require.NoError(t, err, "%s", out)
	pub, err := os.ReadFile(priv + ".pub")
	require.NoError(t, err)
	_, err = client.AddSSHKey(ctx, api.AddSSHKeyRequest{Name: "restart-test", PublicKey: string(pub)})
	require.NoError(t, err)

	repo := newRepo(t, priv, filepath.Join("..", "..", "builder", "testdata", "apps", "go"), "ssh://git@"+gitAddr+"/"+app+".git")
	host := app + "." + stack.AppsDomain
	bodies := map[int]string{1: "hello from go", 2: "hello from go, v2", 3: "hello from go, v3"}

	// v1.
	pushOut, err := repo.push(ctx, nil)
	require.NoError(t, err, "push of v1:\n%s", pushOut)
	require.Contains(t, pushOut, "Released v1")
	waitBody(ctx, t, "http://"+routerAddr, host, bodies[1])
	mark("v1 serves")

	// v2: a web process that listens only after 20 s, so its rollout is
	// slow, not failing.
	repo.writeVersion(t, bodies[1], bodies[2], "web: sleep 20 && exec hello\nworker: worker\n")
	repo.git(t, "commit", "-q", "-am", "v2, slow to start")
	releasing := make(chan struct{})
	pushed := make(chan error, 1)
	var v2Out syncbuf.Buffer
	go func() {
		_, err := repo.push(ctx, &pushWatch{out: &v2Out, line: "Releasing v2", seen: releasing})
		pushed <- err
	}()
	select {
	case <-releasing:
	case err := <-pushed:
		t.Fatalf("the push of v2 ended before releasing: %v\n%s", err, v2Out.String())
	case <-ctx.Done():
		t.Fatalf("no Releasing v2 in the push:\n%s", v2Out.String())
	}
	mark("push says Releasing v2")
	// Kill once the cluster has v2's Deployments: the rollout has begun
	// and cannot be done, since v2's web pods listen 20 s from now.
	web := app + "-web"
	require.Eventually(t, func() bool {
		dep, err := kube.AppsV1().Deployments(ns).Get(ctx, web, metav1.GetOptions{})
		return err == nil && dep.Annotations["platform.io/release"] == "2"
	}, time.Minute, 50*time.Millisecond, "the web Deployment gets v2\npush:\n%s", &v2Out)
	dep, err := kube.AppsV1().Deployments(ns).Get(ctx, web, metav1.GetOptions{})
	require.NoError(t, err)
	d.kill(t)
	killedAt := time.Now()
	mark(fmt.Sprintf("platformd SIGKILLed mid-rollout (web Deployment at generation %d; status of generation %d: %d replicas, %d updated, %d available)",
		dep.Generation, dep.Status.ObservedGeneration, dep.Status.Replicas, dep.Status.UpdatedReplicas, dep.Status.AvailableReplicas))
	select {
	case err := <-pushed:
		assert.Error(t, err, "the push of v2 fails with its platformd")
	case <-time.After(time.Minute):
		t.Fatalf("the push did not end within a minute of the kill:\n%s", v2Out.String())
	}
	assert.NotContains(t, v2Out.String(), "Released v2")

	// The same platformd again: same database, data directory and ports.
	d.start(t)
	d.waitReady(ctx, t, "http://"+httpAddr)
	mark("platformd restarted and ready")

	// Until it has reconciled, the app may be anywhere between v1 and v2.
	settled := func(within time.Duration) consistency {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			st := observe(ctx, t, client, kube, ns, app, "http://"+routerAddr, host)
			if st.problem == "" && st.body == bodies[st.current.Version] {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("the app did not settle on one release within %v: %s; answer %q\nreleases: %s\npods: %s",
					within, st.problem, st.body, st.describe(), localstack.PodReport(kube, ns))
			}
			time.Sleep(time.Second)
		}
	}
	st := settled(4 * time.Minute)
	mark(fmt.Sprintf("consistent on v%d, %.1fs after the kill", st.current.Version, time.Since(killedAt).Seconds()))

	require.GreaterOrEqual(t, len(st.releases), 2, st.describe())
	v1, v2 := st.releases[1], st.releases[2]
	assert.Equal(t, "succeeded", v1.Status, st.describe())
	switch v2.Status {
	case "failed":
		assert.Contains(t, v2.StatusReason, "interrupted", "v2 failed for being interrupted")
		assert.Equal(t, 1, st.current.Version, "back on v1")
	case "succeeded":
		assert.Equal(t, 2, st.current.Version, "the restart finished v2")
	default:
		t.Errorf("v2 is %s: %s", v2.Status, st.describe())
	}
	t.Logf("v2: %s %q; running v%d", v2.Status, v2.StatusReason, st.current.Version)

	// v3: no lock left behind.
	repo.writeVersion(t, bodies[2], bodies[3], "web: hello\nworker: worker\n")
	repo.git(t, "commit", "-q", "-am", "v3")
	pushOut, err = repo.push(ctx, nil)
	require.NoError(t, err, "push of v3:\n%s", pushOut)
	assert.Contains(t, pushOut, "Released v3")
	waitBody(ctx, t, "http://"+routerAddr, host, bodies[3])
	mark("v3 serves")
	// The pods of v1 take a moment to go.
	st = settled(2 * time.Minute)
	assert.Equal(t, 3, st.current.Version, st.describe())
	mark("consistent on v3")
}

// consistency is what observe saw of an app.
type consistency struct {
	releases map[int]api.Release
	current  api.Release // the latest succeeded release
	body     string      // the app's answer through the router
	problem  string      // why the app is not on one release; "" if it is
}

func (c consistency) describe() string {
	var vs []int
	for v := range c.releases {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	var b strings.Builder
	for _, v := range vs {
		r := c.releases[v]
		fmt.Fprintf(&b, "\n  v%d %s %q %s", v, r.Status, r.StatusReason, r.Image)
	}
	return b.String()
}

// observe looks at the app's releases, Deployments, pods and answer.
func observe(ctx context.Context, t *testing.T, client *api.Client, kube kubernetes.Interface, ns, app, routerURL, host string) consistency {
	t.Helper()
	c := consistency{releases: map[int]api.Release{}}
	page, err := client.ListReleases(ctx, app, api.ListOptions{Limit: 50})
	require.NoError(t, err, "listing the releases of %s", app)
	for _, r := range page.Items {
		c.releases[r.Version] = r
		if r.Status != "succeeded" && r.Status != "failed" && c.problem == "" {
			c.problem = fmt.Sprintf("v%d is %s", r.Version, r.Status)
		}
		if r.Status == "succeeded" && r.Version > c.current.Version {
			c.current = r
		}
	}
	_, c.body, _ = getHost(ctx, routerURL+"/", host)
	c.body = strings.TrimSpace(c.body)
	if c.problem != "" {
		return c
	}
	if c.current.Version == 0 {
		c.problem = "no succeeded release"
		return c
	}
	want := strconv.Itoa(c.current.Version)

	sel := metav1.ListOptions{LabelSelector: "platform.io/app=" + app}
	deps, err := kube.AppsV1().Deployments(ns).List(ctx, sel)
	require.NoError(t, err)
	if len(deps.Items) == 0 {
		c.problem = "no Deployments"
		return c
	}
	for _, d := range deps.Items {
		s := d.Status
		switch {
		case d.Annotations["platform.io/release"] != want:
			c.problem = fmt.Sprintf("Deployment %s is at release %q, not %s", d.Name, d.Annotations["platform.io/release"], want)
		case d.Spec.Template.Spec.Containers[0].Image != c.current.Image:
			c.problem = fmt.Sprintf("Deployment %s runs image %s", d.Name, d.Spec.Template.Spec.Containers[0].Image)
		case s.ObservedGeneration < d.Generation || s.Replicas != *d.Spec.Replicas ||
			s.UpdatedReplicas != *d.Spec.Replicas || s.AvailableReplicas != *d.Spec.Replicas:
			c.problem = fmt.Sprintf("Deployment %s is rolling out: %+v", d.Name, s)
		}
		if c.problem != "" {
			return c
		}
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, sel)
	require.NoError(t, err)
	for _, p := range pods.Items {
		if img := p.Spec.Containers[0].Image; img != c.current.Image {
			c.problem = fmt.Sprintf("pod %s runs %s", p.Name, img)
			return c
		}
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodRunning {
			c.problem = fmt.Sprintf("pod %s is %s", p.Name, p.Status.Phase)
			return c
		}
	}
	return c
}

// waitBody waits up to a minute for the app at host to answer want.
func waitBody(ctx context.Context, t *testing.T, routerURL, host, want string) {
	t.Helper()
	var (
		code int
		body string
		err  error
	)
	for range 240 {
		code, body, err = getHost(ctx, routerURL+"/", host)
		if err == nil && code == http.StatusOK && strings.TrimSpace(body) == want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %q: %d %v %.300s", host, want, code, err, body)
}

// daemon is a platformd subprocess that can be started again after it
// stopped, with the same arguments.
type daemon struct {
	bin     string
	args    []string
	env     []string
	logPath string // the output of every start, appended

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

func (d *daemon) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	defer f.Close() // the child has its own descriptor
	fmt.Fprintf(f, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(d.bin, d.args...)
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	d.cmd, d.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(d.exited)
	}()
}

// waitReady waits for /readyz to answer 200, failing if the process
// exits first.
func (d *daemon) waitReady(ctx context.Context, t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-d.exited:
			t.Fatalf("platformd exited while starting: %v\n%s", d.cmd.ProcessState, tail(d.logPath, 40))
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("platformd not ready after 2m: %s\n%s", body, tail(d.logPath, 40))
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("platformd not serving after 2m: %v\n%s", err, tail(d.logPath, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill SIGKILLs the process, by its pid, and waits for it.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGKILL))
	<-d.exited
}

// stop asks the process to stop with SIGTERM and kills it if it has not
// within 30 s. A process already gone is fine.
func (d *daemon) stop() error {
	if d.cmd == nil {
		return nil
	}
	select {
	case <-d.exited:
		return nil
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-d.exited:
		if !d.cmd.ProcessState.Success() {
			return fmt.Errorf("platformd exited with %v after SIGTERM", d.cmd.ProcessState)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.exited
		return errors.New("platformd did not stop within 30s of SIGTERM; killed")
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// repo is a git work tree with a platform remote, pushed to over ssh with
// a key of its own.
type repo struct {
	dir    string
	sshKey string
}

func newRepo(t *testing.T, sshKey, sample, remote string) *repo {
	t.Helper()
	r := &repo{dir: t.TempDir(), sshKey: sshKey}
	require.NoError(t, os.CopyFS(r.dir, os.DirFS(sample)))
	r.git(t, "init", "-q", "-b", "main")
	r.git(t, "add", "-A")
	r.git(t, "commit", "-q", "-m", "first")
	r.git(t, "remote", "add", "platform", remote)
	return r
}

func (r *repo) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=restart-test", "GIT_AUTHOR_EMAIL=restart-test@platform.test",
		"GIT_COMMITTER_NAME=restart-test", "GIT_COMMITTER_EMAIL=restart-test@platform.test",
		"GIT_SSH_COMMAND=ssh -i "+r.sshKey+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
	)
	return cmd
}

func (r *repo) git(t *testing.T, args ...string) {
	t.Helper()
	out, err := r.cmd(context.Background(), args...).CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
}

// writeVersion replaces the sample's answer and its Procfile.
func (r *repo) writeVersion(t *testing.T, oldBody, newBody, procfile string) {
	t.Helper()
	main := filepath.Join(r.dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(t, err)
	require.Contains(t, string(src), `"`+oldBody+`"`)
	require.NoError(t, os.WriteFile(main, bytes.Replace(src, []byte(`"`+oldBody+`"`), []byte(`"`+newBody+`"`), 1), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(r.dir, "Procfile"), []byte(procfile), 0o644))
}

// pushWatch follows a push's output as it comes: every line goes to out,
// and seen is closed at the first line containing line.
type pushWatch struct {
	out  io.Writer
	line string
	seen chan struct{}
}

// push runs git push platform main and returns its output. With w, the
// output is also followed line by line while the push runs.
func (r *repo) push(ctx context.Context, w *pushWatch) (string, error) {
	cmd := r.cmd(ctx, "push", "platform", "main")
	if w == nil {
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var (
		all  bytes.Buffer
		once sync.Once
		read = make(chan struct{})
	)
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Split(scanLinesOrCR)
		for sc.Scan() {
			line := sc.Text()
			all.WriteString(line + "\n")
			_, _ = io.WriteString(w.out, line+"\n")
			if strings.Contains(line, w.line) {
				once.Do(func() { close(w.seen) })
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-read
	return all.String(), err
}

// scanLinesOrCR splits at \n or \r: git's progress lines end in \r.
func scanLinesOrCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

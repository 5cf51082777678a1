package helm_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/server/api"
)

// release is the Helm release the install test makes.
const release = "p"

// installed is a platform the chart installed on the local cluster.
type installed struct {
	t          *testing.T
	kube       kubernetes.Interface
	ns         string
	nodeIP     string
	registry   string // host:port of its registry (a node port)
	apiURL     string
	gitURL     string
	routerURL  string
	routerTLS  string // host:port of the router's HTTPS
	appsDomain string
	adminToken string
	secretKey  []byte
}

// TestInstallOnTheLocalCluster installs the chart into a fresh namespace
// of the local cluster, with the platformd image `make up` built and a
// database of its own on the machine's Postgres; makes a tenant and a
// user through the installed API; pushes apps through the installed SSH
// endpoint and gets their answers through the installed router; takes
// down a platformd pod mid-push, a router pod under load and the BuildKit
// pod mid-build; rolls platformd with helm upgrade under a stream of API
// requests; and uninstalls, leaving nothing in the cluster.
func TestInstallOnTheLocalCluster(t *testing.T) {
	env := localstack.Require(t)
	helm := tool(t, "helm")
	vars := map[string]string{}
	for _, v := range []string{"PLATFORM_IMAGE", "PLATFORM_NODE_IP", "PLATFORM_INSTALL_REGISTRY", "PLATFORM_INSTALL_DATABASE_ADDR"} {
		vars[v] = os.Getenv(v)
		if vars[v] == "" {
			localstack.Need(t, v, "run make up, which writes it to .platform/env, and source .platform/env")
		}
	}
	kube := localstack.Kube(t, env)
	ns := fmt.Sprintf("install-%06x", rand.Uint32()&0xffffff)
	p := &installed{t: t, kube: kube, ns: ns, nodeIP: vars["PLATFORM_NODE_IP"], registry: vars["PLATFORM_INSTALL_REGISTRY"], appsDomain: ns + ".test"}
	prefix := "i" + ns[len(ns)-6:] + "-"

	ctx := context.Background()
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			t.Logf("pods of the install:\n%s", localstack.PodReport(kube, ns))
			_, _ = run(t, nil, helm, "uninstall", release, "-n", ns, "--wait", "--timeout", "5m")
		}
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	// The platform's own images (platformd, BuildKit) come from the stack's
	// registry, with its credential.
	localstack.CreatePullSecret(ctx, t, kube, env, ns)
	dbURL := p.database(env, vars["PLATFORM_INSTALL_DATABASE_ADDR"])

	image := vars["PLATFORM_IMAGE"]
	colon := strings.LastIndex(image, ":")
	require.Positive(t, colon, "PLATFORM_IMAGE %q has no tag", image)
	_, regPort, err := net.SplitHostPort(p.registry)
	require.NoError(t, err)
	started := time.Now()
	_, err = run(t, nil, helm, "install", release, chart, "-n", ns, "--wait", "--timeout", "10m",
		"--set", "image.repository="+image[:colon], "--set", "image.tag="+image[colon+1:],
		"--set", "imagePullSecrets[0].name="+localstack.PullSecretName,
		"--set", "appsDomain="+p.appsDomain,
		"--set", "database.url="+dbURL,
		"--set", "registry.host="+p.registry, "--set", "registry.insecure=true",
		"--set", "registry.service.nodePort="+regPort,
		"--set", "registry.stackImages="+p.registry,
		// Another platform (the local stack's) serves class "platform"
		// and namespaces t-*.
		"--set", "ingressClass.name="+ns, "--set", "namespacePrefix="+prefix,
		"--set", "domainVerification=off",
		"--set", "platformd.service.type=NodePort", "--set", "platformd.ssh.service.type=NodePort",
		"--set", "platformd.ssh.publicURL="+p.gitPublicURL(),
		"--set", "router.service.type=NodePort",
		"--set", "buildkit.image="+env.Registry+"/platform/buildkitd:bookworm",
		// Sized for a 2-core machine that runs the other tests too.
		"--set", "platformd.resources.requests.cpu=50m", "--set", "platformd.resources.requests.memory=64Mi",
		"--set", "router.resources.requests.cpu=50m", "--set", "router.resources.requests.memory=32Mi",
		"--set", "buildkit.resources.requests.cpu=100m", "--set", "buildkit.resources.requests.memory=128Mi",
		"--set", "data.size=2Gi", "--set", "buildkit.cache.size=4Gi",
		// Its apps share the node with the stack's and the other tests'.
		"--set", "cpuRequestPercent=25",
	)
	require.NoError(t, err, "helm install")
	for _, c := range []string{"platformd", "router", "buildkit"} {
		p.waitReady(c)
	}
	p.discover(env)
	// Ready pods are not yet reachable node ports: kube-proxy programs
	// them once it sees the endpoints, which can lag under load.
	for _, addr := range []string{p.registry, strings.TrimPrefix(p.apiURL, "http://"), strings.TrimPrefix(p.gitURL, "ssh://git@"), strings.TrimPrefix(p.routerURL, "http://"), p.routerTLS} {
		require.Eventually(t, func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = c.Close()
			}
			return err == nil
		}, 2*time.Minute, 250*time.Millisecond, "node port %s never took a connection", addr)
	}
	t.Logf("installed and ready in %s", time.Since(started).Round(time.Second))

	// The operator's step before the first build: the stacks' images go
	// into the platform's registry (registry.stackImages).
	env.CopyImages(t, p.registry, p.secretKey, "platform/stack-go:bookworm", "platform/run:bookworm")

	admin := p.client(p.adminToken)
	dev := p.newDeveloper(admin)

	var static, slow string
	t.Run("push", func(t *testing.T) {
		static = dev.createApp(t, "static")
		dir := dev.repo(t, static, func(dir string) {
			require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "builder", "testdata", "apps", "static"))))
		})
		out, err := dev.push(dir, "", nil)
		require.NoError(t, err, "push through the installed SSH endpoint:\n%s", out)
		assert.Contains(t, out, "-----> Released v1")
		code, body := p.get(static, "/")
		assert.Equal(t, http.StatusOK, code, body)
		assert.Contains(t, body, "Static sample")
	})
	if t.Failed() {
		return
	}

	// The HA checks push an app whose build has a step that runs a while.
	slow = dev.createApp(t, "slow")
	slowDir := dev.repo(t, slow, func(dir string) { p.writeSlowApp(t, dir, "first") })
	out, err := dev.push(slowDir, "", nil)
	require.NoError(t, err, "first push of the slow app:\n%s", out)

	t.Run("platformd pod deleted mid-push", func(t *testing.T) {
		p.writeSlowApp(t, slowDir, "second")
		dev.commit(t, slowDir, "second")
		stream := p.apiStream(admin)
		pushStart := time.Now()
		var deleted string
		out, err := dev.push(slowDir, "compiling assets", func() {
			deleted = p.deletePlatformdServing(dev.fingerprint, pushStart)
		})
		figures := stream.stop()
		require.NotEmpty(t, deleted, "no platformd pod was deleted:\n%s", out)
		outcome := "completed"
		if err != nil {
			outcome = "rejected"
			// Rejected, with a message that says what happened and
			// what to do.
			assert.Regexp(t, `(?i)shut(ting)? ?down|restart|try again|push again`, out)
		} else {
			assert.Contains(t, out, "-----> Released v")
		}
		t.Logf("platformd pod %s deleted mid-push: the push %s; API stream: %s\n%s", deleted, outcome, figures, out)
		p.logFigure("platformd pod deleted mid-push", fmt.Sprintf("push %s; API requests %s", outcome, figures))
		assert.Zero(t, figures.failed, "API requests failed even after a retry: %v", figures.errors)

		// The next push works: no lock is left held.
		p.waitReady("platformd")
		p.writeSlowApp(t, slowDir, "third")
		dev.commit(t, slowDir, "third")
		before := time.Now()
		out, err = dev.push(slowDir, "", nil)
		require.NoError(t, err, "the push after the deletion:\n%s", out)
		t.Logf("the next push took %s", time.Since(before).Round(time.Second))
		code, body := p.get(slow, "/")
		assert.Equal(t, http.StatusOK, code, body)
		assert.Contains(t, body, "third")
	})

	t.Run("router pod deleted under load", func(t *testing.T) {
		load := p.routerStream(static)
		load.waitSent(200)
		pods := p.pods("router")
		require.Len(t, pods, 2, "two router pods")
		require.NoError(t, p.kube.CoreV1().Pods(p.ns).Delete(context.Background(), pods[0], metav1.DeleteOptions{}))
		p.waitGone(pods[0])
		sentAtGone := load.sent.Load()
		load.waitSent(sentAtGone + 200)
		figures := load.stop()
		t.Logf("router pod %s deleted under load: %s", pods[0], figures)
		p.logFigure("router pod deleted under load", "requests "+figures.String())
		assert.Zero(t, figures.failed, "requests failed even after a retry: %v", figures.errors)
		p.waitReady("router")
	})

	t.Run("BuildKit pod deleted mid-build", func(t *testing.T) {
		p.writeSlowApp(t, slowDir, "fourth")
		dev.commit(t, slowDir, "fourth")
		var deleted string
		out, err := dev.push(slowDir, "compiling assets", func() {
			pods := p.pods("buildkit")
			if len(pods) == 1 {
				// At once, as when its node goes: BuildKit given time
				// would finish the build.
				deleted = pods[0]
				_ = p.kube.CoreV1().Pods(p.ns).Delete(context.Background(), deleted, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
			}
		})
		require.NotEmpty(t, deleted, "no BuildKit pod was deleted:\n%s", out)
		require.Error(t, err, "a build whose BuildKit went cannot succeed:\n%s", out)
		assert.Contains(t, out, "-----> Build failed")
		assert.Contains(t, out, "lost the connection to the builder (BuildKit)")
		t.Logf("BuildKit pod deleted mid-build; the push said:\n%s", out)
		p.logFigure("BuildKit pod deleted mid-build", "push rejected: "+lastLines(out, 2))

		p.waitReady("buildkit")
		out, err = dev.push(slowDir, "", nil)
		require.NoError(t, err, "the push after BuildKit came back:\n%s", out)
		code, body := p.get(slow, "/")
		assert.Equal(t, http.StatusOK, code, body)
		assert.Contains(t, body, "fourth")
	})

	t.Run("helm upgrade rolls platformd", func(t *testing.T) {
		stream := p.apiStream(admin)
		stream.waitSent(50)
		_, err := run(t, nil, helm, "upgrade", release, chart, "-n", ns, "--reuse-values", "--wait", "--timeout", "5m",
			"--set", "platformd.env.PLATFORM_LOG_LEVEL=debug")
		figures := stream.stop()
		require.NoError(t, err, "helm upgrade")
		t.Logf("helm upgrade under an API stream: %s", figures)
		p.logFigure("helm upgrade (platformd rolled)", "API requests "+figures.String())
		assert.Zero(t, figures.failed, "API requests failed even after a retry: %v", figures.errors)
		code, _ := p.get(static, "/")
		assert.Equal(t, http.StatusOK, code)
	})

	// Last before uninstalling: once the static app's host has a
	// certificate, plain HTTP to it is redirected.
	t.Run("HTTPS with an Ingress's spec.tls", func(t *testing.T) {
		p.assertHTTPS(t, prefix+dev.tenant, static)
	})

	t.Run("uninstall leaves nothing", func(t *testing.T) {
		tenantNS := prefix + dev.tenant
		_, err := p.kube.CoreV1().Namespaces().Get(context.Background(), tenantNS, metav1.GetOptions{})
		require.NoError(t, err, "the tenant's namespace exists before uninstalling")
		out, err := run(t, nil, helm, "uninstall", release, "-n", ns, "--wait", "--timeout", "10m")
		require.NoError(t, err, "helm uninstall: %s", out)
		uninstalled = true
		p.assertNothingLeft(tenantNS, prefix)
	})
}

// database makes the install's own database on the machine's Postgres
// (the stack's server) and offers it to the installed platformd pods, and
// to nothing else, at addr, a port on the node that pods may reach. It
// returns the URL platformd connects with.
func (p *installed) database(env localstack.Env, addr string) string {
	t := p.t
	ctx := context.Background()
	u, err := url.Parse(env.DatabaseURL)
	require.NoError(t, err)
	db := "platform_" + strings.ReplaceAll(p.ns, "-", "_")
	conn, err := pgx.Connect(ctx, env.DatabaseURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
		assert.NoError(t, err, "dropping the install's database")
		_ = conn.Close(context.Background())
	})

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "listening at %s to offer the database to the install's pods (does another process hold it?)", addr)
	t.Cleanup(func() { _ = ln.Close() })
	server := u.Host
	if u.Port() == "" {
		server = net.JoinHostPort(u.Hostname(), "5432")
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forwardDatabase(c, server)
		}
	}()
	inst := *u
	inst.Host, inst.Path = addr, "/"+db
	return inst.String()
}

// forwardDatabase joins c to the database server if c comes from one of
// the install's platformd pods, and closes it otherwise: the machine's
// Postgres trusts whoever connects.
func (p *installed) forwardDatabase(c net.Conn, server string) {
	defer c.Close()
	ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	// A pod that just started may connect before its status names its IP.
	ok := false
	for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); {
		pods, err := p.kube.CoreV1().Pods(p.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=platformd"})
		if err == nil {
			for _, pod := range pods.Items {
				for _, pip := range pod.Status.PodIPs {
					ok = ok || pip.IP == ip
				}
			}
		}
		if !ok {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !ok {
		return
	}
	s, err := net.Dial("tcp", server)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
}

// discover reads the installed platform's node ports and the secrets the
// chart made.
func (p *installed) discover(env localstack.Env) {
	t := p.t
	ctx := context.Background()
	nodePort := func(svc, port string) string {
		s, err := p.kube.CoreV1().Services(p.ns).Get(ctx, release+"-"+svc, metav1.GetOptions{})
		require.NoError(t, err)
		for _, sp := range s.Spec.Ports {
			if sp.Name == port {
				return strconv.Itoa(int(sp.NodePort))
			}
		}
		t.Fatalf("service %s has no port %s", svc, port)
		return ""
	}
	p.apiURL = "http://" + net.JoinHostPort(p.nodeIP, nodePort("api", "http"))
	p.gitURL = "ssh://git@" + net.JoinHostPort(p.nodeIP, nodePort("git", "ssh"))
	p.routerURL = "http://" + net.JoinHostPort(p.nodeIP, nodePort("router", "http"))
	p.routerTLS = net.JoinHostPort(p.nodeIP, nodePort("router", "https"))
	sec, err := p.kube.CoreV1().Secrets(p.ns).Get(ctx, release+"-secrets", metav1.GetOptions{})
	require.NoError(t, err)
	p.adminToken = string(sec.Data["admin-token"])
	p.secretKey, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(sec.Data["secret-key"])))
	require.NoError(t, err)
}

func (p *installed) client(token string) *api.Client {
	c, err := api.NewClient(api.ClientConfig{URL: p.apiURL, Token: token, UserAgent: "install-test"})
	require.NoError(p.t, err)
	return c
}

// developer is a user the admin made through the installed API, owner of
// a tenant, who pushes with an SSH key of their own.
type developer struct {
	p      *installed
	email  string
	tenant string
	api    *api.Client
	sshKey string
	// fingerprint is the SSH key's, as platformd logs it.
	fingerprint string
}

func (p *installed) newDeveloper(admin *api.Client) *developer {
	t := p.t
	ctx := context.Background()
	tenant, err := admin.CreateTenant(ctx, api.CreateTenantRequest{Name: "acme"})
	require.NoError(t, err, "creating a tenant through the installed API")
	email := "dev@" + p.appsDomain
	user, err := admin.CreateUser(ctx, api.CreateUserRequest{Email: email})
	require.NoError(t, err, "creating a user through the installed API")
	_, err = admin.AddMember(ctx, tenant.Name, api.AddMemberRequest{Email: email, Role: "owner"})
	require.NoError(t, err)
	d := &developer{p: p, email: email, tenant: tenant.Name, api: p.client(user.InitialToken)}

	d.sshKey = filepath.Join(t.TempDir(), "id_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", d.sshKey).CombinedOutput()
	require.NoError(t, err, "%s", out)
	pub, err := os.ReadFile(d.sshKey + ".pub")
	require.NoError(t, err)
	_, err = d.api.AddSSHKey(ctx, api.AddSSHKeyRequest{Name: "laptop", PublicKey: string(pub)})
	require.NoError(t, err)
	key, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	require.NoError(t, err)
	d.fingerprint = ssh.FingerprintSHA256(key)
	return d
}

func (d *developer) createApp(t *testing.T, prefix string) string {
	app, err := d.api.CreateApp(context.Background(), api.CreateAppRequest{Name: prefix + "-" + d.tenant, Tenant: d.tenant})
	require.NoError(t, err)
	// The remote users are given names platformd.ssh.publicURL, not the
	// address the pod listens on.
	assert.Equal(t, d.p.gitPublicURL()+"/"+app.Name+".git", app.GitURL)
	return app.Name
}

// gitPublicURL is the install's platformd.ssh.publicURL: a name, as an
// operator would give the ssh Service's load balancer. The test pushes to
// the node port it finds instead.
func (p *installed) gitPublicURL() string {
	return "ssh://git@git." + p.appsDomain + ":2222"
}

func (d *developer) git(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL="+d.email,
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL="+d.email,
		"GIT_SSH_COMMAND=ssh -i "+d.sshKey+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
	)
	return cmd
}

// repo makes a work tree that fill fills, with one commit and the remote
// platform of app.
func (d *developer) repo(t *testing.T, app string, fill func(dir string)) string {
	dir := t.TempDir()
	fill(dir)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"remote", "add", "platform", d.p.gitURL + "/" + app + ".git"}} {
		out, err := d.git(dir, args...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	d.commit(t, dir, "first")
	return dir
}

func (d *developer) commit(t *testing.T, dir, msg string) {
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", msg}} {
		out, err := d.git(dir, args...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
}

// push runs git push platform main; when a line of its output holds
// marker, it calls at once, while the push goes on. It returns the whole
// output.
func (d *developer) push(dir, marker string, at func()) (string, error) {
	args := []string{"push", "platform", "main"}
	if marker != "" {
		// A build step's own output is shown as it runs only with -o
		// verbose; by default a step is one line once it has ended,
		// which is too late to act in the middle of it.
		args = append(args, "-o", "verbose")
	}
	cmd := d.git(dir, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Split(scanLines)
		called := false
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if marker != "" && !called && strings.Contains(line, marker) {
				called = true
				at()
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-scanned
	return out.String(), err
}

// scanLines splits at \n and at \r (git's progress lines end in \r).
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// writeSlowApp writes a Dockerfile app, a small Go web server that answers
// with words, whose build has a step that runs a while (as an asset
// compilation does) and prints "compiling assets" when it starts.
func (p *installed) writeSlowApp(t *testing.T, dir, words string) {
	dockerfile := fmt.Sprintf(`FROM %[1]s/platform/stack-go:bookworm AS build
WORKDIR /src
COPY main.go words.txt ./
RUN --mount=type=cache,target=/root/.cache/go-build GOTOOLCHAIN=local CGO_ENABLED=0 go build -o /srv/web main.go
RUN echo "compiling assets" && sleep 20 && cp words.txt /srv/words.txt

FROM %[1]s/platform/run:bookworm
COPY --from=build /srv /srv
USER 1000
CMD ["/srv/web"]
`, p.registry)
	main := `package main

import (
	"net/http"
	"os"
)

func main() {
	words, err := os.ReadFile("/srv/words.txt")
	if err != nil {
		panic(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write(words) })
	panic(http.ListenAndServe(":"+os.Getenv("PORT"), nil))
}
`
	for f, s := range map[string]string{"Dockerfile": dockerfile, "main.go": main, "words.txt": words + "\n"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644))
	}
}

// get fetches path from app through the installed router, retrying
// briefly while a new release takes over.
func (p *installed) get(app, path string) (int, string) {
	var code int
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		code, body = p.getOnce(app, path)
		if code == http.StatusOK {
			break
		}
	}
	return code, body
}

func (p *installed) getOnce(app, path string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, p.routerURL+path, nil)
	require.NoError(p.t, err)
	req.Host = app + "." + p.appsDomain
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pods are the names of the install's pods of component, running and not
// being deleted.
func (p *installed) pods(component string) []string {
	list, err := p.kube.CoreV1().Pods(p.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=" + component})
	require.NoError(p.t, err)
	var names []string
	for _, pod := range list.Items {
		if pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning {
			names = append(names, pod.Name)
		}
	}
	return names
}

// deletePlatformdServing deletes the platformd pod that took the push
// that began at since: the one whose log says it authenticated the key of
// fingerprint since then (pushes here run one at a time). It returns the
// pod's name, or "" if no pod says so.
func (p *installed) deletePlatformdServing(fingerprint string, since time.Time) string {
	st := metav1.NewTime(since.Add(-time.Second))
	for range 20 {
		for _, pod := range p.pods("platformd") {
			b, err := p.kube.CoreV1().Pods(p.ns).GetLogs(pod, &corev1.PodLogOptions{SinceTime: &st}).DoRaw(context.Background())
			if err != nil || !strings.Contains(string(b), "ssh key authenticated") || !strings.Contains(string(b), fingerprint) {
				continue
			}
			if err := p.kube.CoreV1().Pods(p.ns).Delete(context.Background(), pod, metav1.DeleteOptions{}); err != nil {
				return ""
			}
			return pod
		}
		time.Sleep(250 * time.Millisecond)
	}
	return ""
}

// waitGone waits until pod is gone.
func (p *installed) waitGone(pod string) {
	require.Eventually(p.t, func() bool {
		_, err := p.kube.CoreV1().Pods(p.ns).Get(context.Background(), pod, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 2*time.Minute, 250*time.Millisecond, "pod %s is not gone", pod)
}

// waitReady waits until every pod component wants is ready again.
func (p *installed) waitReady(component string) {
	require.Eventually(p.t, func() bool {
		list, err := p.kube.CoreV1().Pods(p.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=" + component})
		if err != nil {
			return false
		}
		want := map[string]int{"platformd": 2, "router": 2, "buildkit": 1}[component]
		ready := 0
		for _, pod := range list.Items {
			if pod.DeletionTimestamp != nil {
				return false
			}
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == want
	}, 3*time.Minute, 500*time.Millisecond, "the %s pods are not all ready:\n%s", component, localstack.PodReport(p.kube, p.ns))
}

// stream sends one request after another until stopped, retrying a failed
// one once, as a client retries an idempotent request.
type stream struct {
	sent, retried, failed atomic.Int64
	mu                    sync.Mutex
	errs                  []string
	stopc                 chan struct{}
	done                  chan struct{}
	t                     *testing.T
}

// figures are what a stream saw.
type figures struct {
	sent, retried, failed int64
	errors                []string
}

func (f figures) String() string {
	return fmt.Sprintf("%d sent, %d failed once and succeeded on retry, %d failed after a retry", f.sent, f.retried, f.failed)
}

func (p *installed) newStream(do func(ctx context.Context) error) *stream {
	s := &stream{stopc: make(chan struct{}), done: make(chan struct{}), t: p.t}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stopc:
				return
			default:
			}
			s.sent.Add(1)
			once := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return do(ctx)
			}
			if err := once(); err != nil {
				time.Sleep(100 * time.Millisecond)
				if err2 := once(); err2 != nil {
					s.failed.Add(1)
					s.mu.Lock()
					if len(s.errs) < 10 {
						s.errs = append(s.errs, err.Error()+"; then "+err2.Error())
					}
					s.mu.Unlock()
				} else {
					s.retried.Add(1)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return s
}

// waitSent waits until n requests were sent.
func (s *stream) waitSent(n int64) {
	require.Eventually(s.t, func() bool { return s.sent.Load() >= n }, 3*time.Minute, 50*time.Millisecond, "the stream sent %d of %d requests", s.sent.Load(), n)
}

func (s *stream) stop() figures {
	close(s.stopc)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return figures{sent: s.sent.Load(), retried: s.retried.Load(), failed: s.failed.Load(), errors: s.errs}
}

// apiStream reads the admin's account through the installed API, over
// and over.
func (p *installed) apiStream(c *api.Client) *stream {
	return p.newStream(func(ctx context.Context) error {
		_, err := c.Account(ctx)
		return err
	})
}

// routerStream gets app's page through the installed router, over and
// over; anything but a 200 is a failure.
func (p *installed) routerStream(app string) *stream {
	return p.newStream(func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.routerURL+"/", nil)
		if err != nil {
			return err
		}
		req.Host = app + "." + p.appsDomain
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// logFigure appends a line to the file named by PLATFORM_HA_FIGURES, when
// set: the figures BENCHMARKS.md reports come from there.
func (p *installed) logFigure(what, figure string) {
	f := os.Getenv("PLATFORM_HA_FIGURES")
	if f == "" {
		return
	}
	fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Logf("writing figures: %v", err)
		return
	}
	defer fh.Close()
	fmt.Fprintf(fh, "%s: %s\n", what, figure)
}

// lastLines is the last n non-empty lines of s, joined by " / ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// assertNothingLeft checks that the install left nothing in the cluster:
// its namespace holds only what the test made, the tenants' namespaces
// are gone, and no cluster-wide object or volume of it remains.
func (p *installed) assertNothingLeft(tenantNS, prefix string) {
	t := p.t
	ctx := context.Background()
	_, err := p.kube.CoreV1().Namespaces().Get(ctx, tenantNS, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the tenant's namespace %s is gone (%v)", tenantNS, err)
	nss, err := p.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, ns := range nss.Items {
		assert.False(t, strings.HasPrefix(ns.Name, prefix), "namespace %s of the platform is left", ns.Name)
	}

	instance := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release + ",app.kubernetes.io/part-of=platform"}
	check := func(kind string, n int, err error) {
		t.Helper()
		require.NoError(t, err, "listing %s", kind)
		assert.Zero(t, n, "%s of the install are left", kind)
	}
	// Pods go once their grace period is over, after Helm returns.
	assert.Eventually(t, func() bool {
		pods, err := p.kube.CoreV1().Pods(p.ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	}, 2*time.Minute, time.Second, "pods of the install are left:\n%s", localstack.PodReport(p.kube, p.ns))
	svcs, err := p.kube.CoreV1().Services(p.ns).List(ctx, metav1.ListOptions{})
	check("services", len(svcs.Items), err)
	pvcs, err := p.kube.CoreV1().PersistentVolumeClaims(p.ns).List(ctx, metav1.ListOptions{})
	check("volume claims", len(pvcs.Items), err)
	cms, err := p.kube.CoreV1().ConfigMaps(p.ns).List(ctx, instance)
	check("config maps", len(cms.Items), err)
	secrets, err := p.kube.CoreV1().Secrets(p.ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, s := range secrets.Items {
		assert.Equal(t, localstack.PullSecretName, s.Name, "only the test's pull secret is left")
	}
	deps, err := p.kube.AppsV1().Deployments(p.ns).List(ctx, metav1.ListOptions{})
	check("deployments", len(deps.Items), err)
	sts, err := p.kube.AppsV1().StatefulSets(p.ns).List(ctx, metav1.ListOptions{})
	check("statefulsets", len(sts.Items), err)
	jobs, err := p.kube.BatchV1().Jobs(p.ns).List(ctx, metav1.ListOptions{})
	check("jobs", len(jobs.Items), err)
	pols, err := p.kube.NetworkingV1().NetworkPolicies(p.ns).List(ctx, metav1.ListOptions{})
	check("network policies", len(pols.Items), err)
	pdbs, err := p.kube.PolicyV1().PodDisruptionBudgets(p.ns).List(ctx, metav1.ListOptions{})
	check("disruption budgets", len(pdbs.Items), err)

	_, err = p.kube.NetworkingV1().IngressClasses().Get(ctx, p.ns, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the IngressClass %s is gone (%v)", p.ns, err)
	crs, err := p.kube.RbacV1().ClusterRoles().List(ctx, instance)
	require.NoError(t, err)
	for _, cr := range crs.Items {
		assert.NotContains(t, cr.Name, p.ns, "cluster role %s is left", cr.Name)
	}
	crbs, err := p.kube.RbacV1().ClusterRoleBindings().List(ctx, instance)
	require.NoError(t, err)
	for _, b := range crbs.Items {
		assert.NotContains(t, b.Name, p.ns, "cluster role binding %s is left", b.Name)
	}
	// The volumes go with their claims (the class reclaims by deleting).
	require.Eventually(t, func() bool {
		pvs, err := p.kube.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, pv := range pvs.Items {
			if pv.Spec.ClaimRef != nil && (pv.Spec.ClaimRef.Namespace == p.ns || strings.HasPrefix(pv.Spec.ClaimRef.Namespace, prefix)) {
				return false
			}
		}
		return true
	}, 2*time.Minute, time.Second, "volumes of the install are left")
}

// assertHTTPS gives app's host a certificate, as an operator or
// cert-manager does: a kubernetes.io/tls Secret and an Ingress that names
// it in spec.tls, in the app's namespace; and gets the app through the
// installed router's HTTPS port, verifying the certificate.
func (p *installed) assertHTTPS(t *testing.T, ns, app string) {
	ctx := context.Background()
	host := app + "." + p.appsDomain
	ca := localstack.NewCA(t)
	secret := ca.TLSSecret(t, ns, app+"-tls", 4242, host)
	secret.ResourceVersion = ""
	_, err := p.kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{})
	require.NoError(t, err)
	class := p.ns
	prefix := networkingv1.PathTypePrefix
	_, err = p.kube.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: app + "-tls"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: app + "-tls"}},
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: app + "-web", Port: networkingv1.ServiceBackendPort{Name: "http"}}}}},
			}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", p.routerTLS)
		},
	}}
	defer client.CloseIdleConnections()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res, err := client.Get("https://" + host + "/")
		if !assert.NoError(c, err) {
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		assert.Equal(c, http.StatusOK, res.StatusCode)
		assert.Contains(c, string(b), "Static sample")
		assert.Equal(c, int64(4242), res.TLS.PeerCertificates[0].SerialNumber.Int64())
	}, time.Minute, 500*time.Millisecond, "HTTPS to %s through the installed router", host)

	// Plain HTTP to the host now goes to HTTPS.
	req, err := http.NewRequest(http.MethodGet, p.routerURL+"/page?x=1", nil)
	require.NoError(t, err)
	req.Host = host
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusPermanentRedirect, res.StatusCode)
	assert.Equal(t, "https://"+host+"/page?x=1", res.Header.Get("Location"))
}

package compose_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/platform-paas/platform/deploy/localstack"
)

// root is the repository's root, where docker-compose.yml is.
const root = "../.."

// TestDockerCompose does what README.md's "Try it with Docker" tells a
// person to: with a .env made from .env.example, `docker-compose up -d
// --build` with the local stack's Kubernetes as the cluster, log in with
// the token the welcome service wrote, create a tenant and an app, git
// push the Go sample app through the compose SSH port and get its answer
// through the compose router; then `docker-compose down -v` leaves no
// container, volume or network of the project.
//
// No public registry is reachable here, so the base images are the stack
// registry's stand-ins for the public ones (the same contents, made by
// make up), the Go stage gets modules from this machine's module cache,
// and the language stacks' images are copied into the compose registry,
// as an operator of a machine without Docker Hub would do.
func TestDockerCompose(t *testing.T) {
	env := localstack.Require(t)
	const dockerHow = "run deploy/local/docker.sh (make test does): it installs Debian's docker.io and docker-compose, starts dockerd and prints the DOCKER_HOST to export"
	compose := lookPath(t, "docker-compose", dockerHow)
	docker := lookPath(t, "docker", dockerHow)
	lookPath(t, "git", "apt-get install git")
	lookPath(t, "ssh", "apt-get install openssh-client")
	lookPath(t, "ssh-keygen", "apt-get install openssh-client")
	dockerCIDR := os.Getenv("PLATFORM_DOCKER_CIDR")
	if dockerCIDR == "" {
		localstack.Need(t, "PLATFORM_DOCKER_CIDR", "run make up, which writes it to .platform/env, and source .platform/env")
	}
	if out, err := exec.Command(docker, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		localstack.Need(t, "a Docker engine", dockerHow+"; docker version said: "+strings.TrimSpace(string(out)))
	}
	kube := localstack.Kube(t, env)

	tmp := t.TempDir()
	suffix := randomHex(t, 3)
	project := "composetest" + suffix
	c := &stack{t: t, compose: compose, docker: docker, project: project, tmp: tmp}
	c.dockerConfig(env)
	c.machineOverride()

	// The .env a person makes: .env.example with the two secrets filled
	// in. Besides, this machine's substitutes for what a laptop pulls, and
	// the settings of a second platform on a cluster that has one.
	secretKey := make([]byte, 32)
	_, err := rand.Read(secretKey)
	require.NoError(t, err)
	modProxy := c.moduleProxy()
	c.outDir = filepath.Join(tmp, "out")
	kubeconfig := flatKubeconfig(t, env.Kubeconfig, filepath.Join(tmp, "kubeconfig"))
	prefix := "c" + suffix + "-"
	defaults := readEnvFile(t, filepath.Join(root, ".env.example"))
	c.writeEnv(map[string]string{
		"PLATFORM_SECRET_KEY":  base64.StdEncoding.EncodeToString(secretKey),
		"PLATFORM_DB_PASSWORD": randomHex(t, 16),
		"KUBECONFIG_FILE":      kubeconfig,
		"PLATFORM_OUT_DIR":     c.outDir,
		// The router's connections to the pods come from its container's
		// address, as the stack's NetworkPolicy enforcer sees them.
		"PLATFORM_ROUTER_CIDRS":          dockerCIDR,
		"PLATFORM_INGRESS_CLASS":         project,
		"PLATFORM_NAMESPACE_PREFIX":      prefix,
		"BUILD_CA_FILE":                  env.BuildCAFile,
		"POSTGRES_IMAGE":                 env.Registry + "/platform/postgres:bookworm",
		"BUILDKIT_IMAGE":                 env.Registry + "/platform/buildkitd:bookworm",
		"GO_IMAGE":                       env.Registry + "/platform/stack-go:bookworm",
		"DEBIAN_IMAGE":                   env.Registry + "/library/debian:bookworm-slim",
		"GO_MODULE_PROXY":                modProxy,
		"PLATFORM_STACK_IMAGES_REGISTRY": "127.0.0.1:" + defaults["PLATFORM_REGISTRY_PORT"],
	})
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.run("logs", "--no-color", "--tail=40")
			t.Logf("docker-compose logs:\n%s", out)
		}
		if !c.down {
			_, _ = c.run("down", "-v", "--remove-orphans")
		}
		removeClusterObjects(kube, prefix, project)
	})

	started := time.Now()
	out, err := c.run("up", "-d", "--build")
	require.NoError(t, err, "docker-compose up -d --build:\n%s", lastLines(out, 60))
	t.Logf("docker-compose up -d --build: %s", time.Since(started).Round(time.Second))
	for _, svc := range []string{"postgres", "buildkit", "platformd"} {
		assert.Equal(t, "healthy", c.health(svc), "%s's health", svc)
	}

	// The welcome service prints how to log in and writes platform.env.
	envFile := filepath.Join(c.outDir, "platform.env")
	require.Eventually(t, func() bool {
		_, err := os.Stat(envFile)
		return err == nil
	}, 2*time.Minute, 250*time.Millisecond, "the welcome service never wrote %s", envFile)
	welcome, err := c.run("logs", "--no-color", "welcome")
	require.NoError(t, err)
	login := readEnvFile(t, envFile)
	assert.Contains(t, welcome, "platform login --api-url "+login["PLATFORM_API_URL"]+" --token "+login["PLATFORM_TOKEN"])
	assert.Equal(t, "http://127.0.0.1:"+c.env["PLATFORM_API_PORT"], login["PLATFORM_API_URL"])
	assert.Equal(t, "ssh://git@127.0.0.1:"+c.env["PLATFORM_GIT_PORT"], login["PLATFORM_GIT_URL"])
	assert.Equal(t, "http://127.0.0.1:"+c.env["PLATFORM_ROUTER_PORT"], login["PLATFORM_ROUTER_URL"])
	assert.Regexp(t, `^plt_[0-9A-Za-z]{32,}$`, login["PLATFORM_TOKEN"])

	env.CopyImages(t, "127.0.0.1:"+c.env["PLATFORM_REGISTRY_PORT"], secretKey, "platform/stack-go:bookworm", "platform/run:bookworm")

	// The README's first deploy, with the CLI of this checkout.
	home := filepath.Join(tmp, "home")
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	cli := filepath.Join(tmp, "platform")
	build := exec.Command("go", "build", "-o", cli, "./cmd/platform")
	build.Dir = root
	out2, err := build.CombinedOutput()
	require.NoError(t, err, "building the CLI: %s", out2)
	user := &person{t: t, home: home, cli: cli}
	user.run(cli, "login", "--api-url", login["PLATFORM_API_URL"], "--token", login["PLATFORM_TOKEN"])
	user.run(cli, "tenants:create", "acme")
	user.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(home, ".ssh", "id_ed25519"))
	user.run(cli, "keys:add", filepath.Join(home, ".ssh", "id_ed25519.pub"))
	knownHosts := user.run(cli, "ssh-keyscan")
	assert.Contains(t, knownHosts, "[127.0.0.1]:"+c.env["PLATFORM_GIT_PORT"]+" ssh-ed25519 ")
	require.NoError(t, os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(knownHosts), 0o600))

	app := "hello"
	user.dir = filepath.Join(tmp, app)
	require.NoError(t, os.CopyFS(user.dir, os.DirFS(filepath.Join(root, "builder", "testdata", "apps", "go"))))
	user.run("git", "init", "-q", "-b", "main")
	user.run("git", "add", "-A")
	user.run("git", "commit", "-qm", "first")
	created := user.run(cli, "apps:create", app, "--tenant", "acme")
	remoteURL := strings.TrimSpace(user.run("git", "remote", "get-url", "platform"))
	assert.Equal(t, login["PLATFORM_GIT_URL"]+"/"+app+".git", remoteURL, "apps:create said:\n%s", created)
	pushed := user.run("git", "push", "platform", "main")
	t.Logf("git push through the compose SSH port:\n%s", lastLines(pushed, 12))
	appURL := "http://" + app + "." + c.env["PLATFORM_APPS_DOMAIN"] + ":" + c.env["PLATFORM_ROUTER_PORT"]
	assert.Regexp(t, `-----> Released v1 in \S+ — `+regexp.QuoteMeta(appURL), pushed)
	assert.Contains(t, pushed, "127.0.0.1:"+c.env["PLATFORM_REGISTRY_PORT"]+"/acme/"+app+"@sha256:", "the image went to the compose registry")

	// The app answers through the compose router, by its host name (names
	// under localhost are this machine).
	code, body := getApp(t, login["PLATFORM_ROUTER_URL"], app+"."+c.env["PLATFORM_APPS_DOMAIN"])
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "hello from go")

	out, err = c.run("down", "-v")
	require.NoError(t, err, "docker-compose down -v:\n%s", out)
	c.down = true
	label := "label=com.docker.compose.project=" + project
	for _, what := range [][]string{{"ps", "-a"}, {"volume", "ls"}, {"network", "ls"}} {
		args := append(what, "-q", "--filter", label)
		left, err := exec.Command(docker, args...).CombinedOutput()
		require.NoError(t, err, "docker %v: %s", args, left)
		assert.Empty(t, strings.TrimSpace(string(left)), "docker %v after down -v", what)
	}
}

// stack is one docker-compose project of the test.
type stack struct {
	t               *testing.T
	compose, docker string
	project, tmp    string
	envFile, outDir string
	override        string
	dockerConfigDir string
	env             map[string]string // the .env, as written
	down            bool
}

// run runs docker-compose with the project's .env, in a clean
// environment as a person's shell would be: none of the local stack's
// variables, which compose would take over .env's.
func (c *stack) run(args ...string) (string, error) {
	cmd := exec.Command(c.compose, append([]string{"--env-file", c.envFile, "-p", c.project, "--ansi", "never",
		"-f", "docker-compose.yml", "-f", c.override}, args...)...)
	cmd.Dir = root
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.tmp,
		"DOCKER_HOST=" + os.Getenv("DOCKER_HOST"),
		"DOCKER_CONFIG=" + c.dockerConfigDir,
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// machineOverride writes the one change this machine needs to the
// compose file: its root lacks CAP_SYS_RESOURCE, which a privileged
// container asks for, so BuildKit gets every other capability, no
// seccomp or AppArmor profile, and the host's cgroups instead.
func (c *stack) machineOverride() {
	c.override = filepath.Join(c.tmp, "override.yml")
	require.NoError(c.t, os.WriteFile(c.override, []byte(`services:
  buildkit:
    privileged: false
    cap_add: [ALL]
    cap_drop: [SYS_RESOURCE]
    security_opt: [seccomp=unconfined, apparmor=unconfined]
    volumes: ["/sys/fs/cgroup:/sys/fs/cgroup"]
`), 0o600))
}

// dockerConfig gives the Docker client the stack registry's credential,
// for the base images it serves.
func (c *stack) dockerConfig(env localstack.Env) {
	c.dockerConfigDir = filepath.Join(c.tmp, "docker")
	require.NoError(c.t, os.MkdirAll(c.dockerConfigDir, 0o700))
	cfg := map[string]any{"auths": map[string]any{
		env.Registry: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(localstack.RegistryUser + ":" + env.RegistryCredential))},
	}}
	b, err := json.Marshal(cfg)
	require.NoError(c.t, err)
	require.NoError(c.t, os.WriteFile(filepath.Join(c.dockerConfigDir, "config.json"), b, 0o600))
}

// writeEnv writes the project's .env: .env.example with set's values.
func (c *stack) writeEnv(set map[string]string) {
	t := c.t
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	require.NoError(t, err)
	c.env = map[string]string{}
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(example)))
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, "=")
		if ok && !strings.HasPrefix(line, "#") {
			if nv, found := set[k]; found {
				v = nv
				delete(set, k)
			}
			c.env[k] = v
			line = k + "=" + v
		}
		b.WriteString(line + "\n")
	}
	require.Empty(t, set, ".env.example has no such settings")
	c.envFile = filepath.Join(c.tmp, "env")
	require.NoError(t, os.WriteFile(c.envFile, []byte(b.String()), 0o600))
}

// health is the health of service's container, as Docker tells it.
func (c *stack) health(service string) string {
	id, err := c.run("ps", "-q", service)
	require.NoError(c.t, err, "%s", id)
	out, err := exec.Command(c.docker, "inspect", "--format", "{{.State.Health.Status}}", strings.TrimSpace(id)).CombinedOutput()
	require.NoError(c.t, err, "%s", out)
	return strings.TrimSpace(string(out))
}

// moduleProxy serves this machine's Go module cache as a module proxy on
// the address of Docker's default bridge, where the builds of the compose
// file's images reach it: the Go stage builds platformd from the modules
// this machine has, without the internet. It returns the proxy's URL.
func (c *stack) moduleProxy() string {
	t := c.t
	gw, err := exec.Command(c.docker, "network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}").CombinedOutput()
	require.NoError(t, err, "%s", gw)
	modCache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	require.NoError(t, err)
	// The image's build downloads every module of go.mod, and this
	// machine's builds fetched only those they compiled: the rest (such as
	// the modules of other systems) come into the cache first.
	out, err := exec.Command("go", "mod", "download").CombinedOutput()
	require.NoError(t, err, "go mod download: %s", out)
	ln, err := net.Listen("tcp", net.JoinHostPort(strings.TrimSpace(string(gw)), "0"))
	require.NoError(t, err, "listening on Docker's bridge")
	srv := &http.Server{
		Handler:           http.FileServer(http.Dir(filepath.Join(strings.TrimSpace(string(modCache)), "cache", "download"))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// person runs commands as the README's reader would: in dir, with home
// as HOME (the CLI's login, the SSH key and known_hosts) and nothing of
// the local stack's environment.
type person struct {
	t    *testing.T
	home string
	cli  string
	dir  string
}

func (p *person) run(bin string, args ...string) string {
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + p.home,
		"GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		// ssh reads ~/.ssh from the account's home, not from HOME.
		"GIT_SSH_COMMAND=ssh -o BatchMode=yes -o IdentitiesOnly=yes -i " + filepath.Join(p.home, ".ssh", "id_ed25519") +
			" -o UserKnownHostsFile=" + filepath.Join(p.home, ".ssh", "known_hosts"),
	}
	out, err := cmd.CombinedOutput()
	require.NoError(p.t, err, "%s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), out)
	return string(out)
}

// getApp fetches / of host through the router at routerURL, until it
// answers 200 or a minute has passed: the router learns of a new
// release's endpoints a moment after Kubernetes calls them ready.
func getApp(t *testing.T, routerURL, host string) (int, string) {
	var code int
	var body string
	require.Eventually(t, func() bool {
		req, err := http.NewRequest(http.MethodGet, routerURL+"/", nil)
		require.NoError(t, err)
		req.Host = host
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			code, body = 0, err.Error()
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		code, body = res.StatusCode, string(b)
		return code == http.StatusOK
	}, time.Minute, 250*time.Millisecond, "the app never answered 200 through the compose router")
	return code, body
}

// flatKubeconfig writes the kubeconfig at path with its certificates
// inline, as a container that mounts it alone needs, and returns out.
func flatKubeconfig(t *testing.T, path, out string) string {
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	require.NoError(t, clientcmdapi.FlattenConfig(cfg))
	require.NoError(t, clientcmd.WriteToFile(*cfg, out))
	return out
}

// removeClusterObjects removes what the compose platform made in the
// cluster: its tenants' namespaces and its IngressClass.
func removeClusterObjects(kube kubernetes.Interface, prefix, class string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, prefix) {
				_ = kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
			}
		}
	}
	if err := kube.NetworkingV1().IngressClasses().Delete(ctx, class, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		fmt.Fprintf(os.Stderr, "removing IngressClass %s: %v\n", class, err)
	}
}

func readEnvFile(t *testing.T, path string) map[string]string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	vars := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	return vars
}

// lookPath finds bin on PATH, or stops the test as localstack.Need does,
// saying how to have it.
func lookPath(t *testing.T, bin, how string) string {
	p, err := exec.LookPath(bin)
	if err != nil {
		localstack.Need(t, bin, how)
	}
	return p
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

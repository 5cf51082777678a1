package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
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

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/server/api"
)

// The end-to-end test of the CLI: the built `platform` binary, real git and
// OpenSSH, against the local stack's platformd, Kubernetes and router. It
// does what a new developer does after an admin sets them up.

// greeterApp is a Go app that answers with its GREETING config var and the
// pod that answered, and logs every request.
var greeterApp = map[string]string{
	"go.mod": "module greeter\n\ngo 1.22\n",
	"main.go": `package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("greeter served %s", r.URL.Path)
		fmt.Fprintf(w, "GREETING=%s pod=%s release=%s\n", os.Getenv("GREETING"), host, os.Getenv("PLATFORM_RELEASE"))
	})
	log.Printf("greeter listening on :%s", os.Getenv("PORT"))
	log.Fatal(http.ListenAndServe(":"+os.Getenv("PORT"), nil))
}
`,
}

// cliUser runs the built CLI as one user, in one working directory.
type cliUser struct {
	bin, dir string
	env      []string
}

func (u *cliUser) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.bin, args...)
	cmd.Dir = u.dir
	cmd.Env = u.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (u *cliUser) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := u.run(t, args...)
	require.NoError(t, err, "platform %s:\n%s", strings.Join(args, " "), out)
	return out
}

func (u *cliUser) json(t *testing.T, v any, args ...string) {
	t.Helper()
	cmd := exec.Command(u.bin, append(args, "--json")...)
	cmd.Dir, cmd.Env = u.dir, u.env
	out, err := cmd.Output()
	require.NoError(t, err, "platform %s --json", strings.Join(args, " "))
	require.NoError(t, json.Unmarshal(out, v), "%s", out)
}

func TestCLIEndToEnd(t *testing.T) {
	stack := localstack.Require(t)
	ctx := context.Background()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "platform")
	built, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", built)

	baseEnv := func(home, token string) []string {
		env := []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
			"PLATFORM_API_URL=" + stack.APIURL,
			"GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com", "GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		}
		if token != "" {
			env = append(env, "PLATFORM_TOKEN="+token)
		}
		return env
	}
	adminHome := filepath.Join(tmp, "admin")
	require.NoError(t, os.MkdirAll(adminHome, 0o700))
	admin := &cliUser{bin: bin, dir: adminHome, env: baseEnv(adminHome, stack.Token)}

	// The admin makes a tenant and a developer, who gets a token, and
	// adds them to the tenant.
	tenant := fmt.Sprintf("cli%06x", rand.Uint32()&0xffffff)
	admin.must(t, "tenants:create", tenant)
	t.Cleanup(func() {
		if out, err := admin.run(t, "tenants:destroy", tenant, "--confirm", tenant); err != nil {
			t.Logf("removing tenant %s: %v\n%s", tenant, err, out)
		}
	})
	email := "dev-" + tenant + "@example.com"
	out := admin.must(t, "users:create", email)
	token := regexp.MustCompile(`plt_[A-Za-z0-9]+`).FindString(out)
	require.NotEmpty(t, token, "users:create hands over the new user's token:\n%s", out)
	admin.must(t, "members:add", email, "--tenant", tenant, "--role", "member")

	// The developer logs in with it, adds a key, creates an app in a
	// checkout and pushes.
	devHome := filepath.Join(tmp, "dev")
	src := filepath.Join(tmp, "greeter")
	require.NoError(t, os.MkdirAll(filepath.Join(devHome, ".ssh"), 0o700))
	require.NoError(t, os.MkdirAll(src, 0o755))
	dev := &cliUser{bin: bin, dir: src, env: baseEnv(devHome, "")}
	dev.must(t, "login", "--token", token)
	assert.Contains(t, dev.must(t, "whoami"), email)
	key := filepath.Join(devHome, ".ssh", "id_ed25519")
	out2, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", key).CombinedOutput()
	require.NoError(t, err, "%s", out2)
	dev.env = append(dev.env, "GIT_SSH_COMMAND=ssh -i "+key+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
	dev.must(t, "keys:add", key+".pub")

	for name, data := range greeterApp {
		require.NoError(t, os.WriteFile(filepath.Join(src, name), []byte(data), 0o644))
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = src, dev.env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return string(out)
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "greeter")
	app := "greet-" + tenant
	dev.must(t, "apps:create", app, "--tenant", tenant)
	assert.Contains(t, git("remote", "-v"), app+".git", "apps:create adds the platform remote")
	out = git("push", "platform", "main")
	require.Contains(t, out, "Released v1")

	get := func() string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.RouterURL+"/", nil)
		require.NoError(t, err)
		req.Host = app + "." + stack.AppsDomain
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		return string(b)
	}
	assert.Contains(t, get(), "GREETING= ")

	// config:set: the app shows the value as soon as the command returns.
	// The app comes from the checkout's platform remote.
	out = dev.must(t, "config:set", "GREETING=hi there")
	assert.Contains(t, out, "v2")
	assert.Contains(t, get(), "GREETING=hi there ")
	assert.Equal(t, "hi there\n", dev.must(t, "config:get", "GREETING"))

	// ps:scale web=3: three ready processes, and the router spreads
	// requests across them.
	dev.must(t, "ps:scale", "web=3")
	client, err := api.NewClient(api.ClientConfig{URL: stack.APIURL, Token: token})
	require.NoError(t, err)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		f, err := client.GetFormation(ctx, app)
		require.NoError(t, err)
		if len(f.Items) == 1 && f.Items[0].Ready == 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "web never had 3 ready processes: %+v", f)
		time.Sleep(500 * time.Millisecond)
	}
	// Ready in Kubernetes comes a moment before the router has the new
	// endpoints: requests go on until each process has answered one.
	pods := map[string]bool{}
	podRE := regexp.MustCompile(`pod=(\S+)`)
	for until := time.Now().Add(time.Minute); len(pods) < 3 && time.Now().Before(until); {
		pods[podRE.FindStringSubmatch(get())[1]] = true
	}
	assert.Len(t, pods, 3, "requests reached every web process")
	var dynos api.Dynos
	dev.json(t, &dynos, "ps")
	up := 0
	for _, d := range dynos.Items {
		if d.State == "up" {
			up++
			assert.Equal(t, "web", d.Type)
		}
	}
	assert.Equal(t, 3, up, "ps shows three web processes up: %+v", dynos.Items)

	// releases lists the deploy and the config change; a rollback restores
	// v1's config (and image) and is listed as well.
	out = dev.must(t, "releases")
	assert.Contains(t, out, "Deploy ")
	assert.Contains(t, out, "Set GREETING config vars")
	out = dev.must(t, "releases:rollback")
	assert.Contains(t, out, "v3")
	assert.Contains(t, get(), "GREETING= ")
	var rels api.Page[api.Release]
	dev.json(t, &rels, "releases")
	require.Len(t, rels.Items, 3)
	assert.Equal(t, "Rollback to v1", rels.Items[0].Description)
	assert.True(t, rels.Items[0].Current)
	assert.Equal(t, rels.Items[2].Image, rels.Items[0].Image, "v1's image again")

	// logs shows the app's own lines, with their process names.
	deadline = time.Now().Add(time.Minute)
	for {
		out = dev.must(t, "logs", "-n", "200")
		if strings.Contains(out, "greeter served /") {
			break
		}
		require.True(t, time.Now().Before(deadline), "logs never showed the app's output:\n%s", out)
		time.Sleep(time.Second)
	}
	assert.Regexp(t, `app\[web\.\d+\]: .*greeter served /`, out)

	// An error is one line that says what to do, with a non-zero exit.
	out, err = dev.run(t, "config:set", "PORT=1")
	require.Error(t, err)
	var errLines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "platform: ") {
			errLines = append(errLines, l)
		}
	}
	require.Len(t, errLines, 1, "%s", out)
	assert.Contains(t, errLines[0], "reserved")
	assert.NotContains(t, out, "goroutine", "no stack traces")

	// config:unset: a release without the var, live when the command returns.
	dev.must(t, "config:set", "GREETING=short-lived")
	assert.Contains(t, get(), "GREETING=short-lived ")
	dev.must(t, "config:unset", "GREETING")
	assert.Contains(t, get(), "GREETING= ")
	assert.NotContains(t, dev.must(t, "config"), "GREETING")

	// ps:restart: every web process is replaced by a new one, and the app
	// keeps answering. It returns once the new ones are ready; the router
	// takes the old ones out a moment later.
	assert.Regexp(t, `ready in \d+\.\ds`, dev.must(t, "ps:restart", "web"))
	require.Eventually(t, func() bool {
		for range 10 {
			if pods[regexp.MustCompile(`pod=(\S+)`).FindStringSubmatch(get())[1]] {
				return false
			}
		}
		return true
	}, 2*time.Minute, 250*time.Millisecond, "requests still reach processes from before the restart")

	// domains:add: the app answers on a host name of the developer's at
	// once; domains:remove stops that.
	status := func(host string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.RouterURL+"/", nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	domain := "www." + app + ".example.com"
	dev.must(t, "domains:add", domain)
	assert.Contains(t, dev.must(t, "domains"), domain)
	require.Eventually(t, func() bool { return status(domain) == http.StatusOK }, time.Minute, 100*time.Millisecond,
		"the app never answered on %s", domain)
	dev.must(t, "domains:remove", domain)
	require.Eventually(t, func() bool { return status(domain) == http.StatusNotFound }, time.Minute, 100*time.Millisecond,
		"%s was still routed after domains:remove", domain)

	// logs -t follows the app's output until interrupted.
	tail := exec.Command(bin, "logs", "-t")
	tail.Dir, tail.Env = dev.dir, dev.env
	stdout, err := tail.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, tail.Start())
	seen := make(chan bool, 1) // whether the followed request's line came
	go func() {
		var buf []byte
		chunk := make([]byte, 1024)
		for {
			n, err := stdout.Read(chunk)
			buf = append(buf, chunk[:n]...)
			if strings.Contains(string(buf), "greeter served /followed") {
				seen <- true
				return
			}
			if err != nil {
				seen <- false
				return
			}
		}
	}()
	followed := false
	for deadline := time.Now().Add(time.Minute); !followed && time.Now().Before(deadline); {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.RouterURL+"/followed", nil)
		require.NoError(t, err)
		req.Host = app + "." + stack.AppsDomain
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		select {
		case ok := <-seen:
			require.True(t, ok, "logs -t ended before the app's line came")
			followed = true
		case <-time.After(500 * time.Millisecond):
		}
	}
	assert.True(t, followed, "logs -t never showed the request made while it followed")
	require.NoError(t, tail.Process.Signal(os.Interrupt))
	assert.NoError(t, tail.Wait(), "logs -t ends cleanly on Ctrl-C")

	// A suspended tenant's apps stop and its developers cannot change them;
	// lifting the suspension brings the app back as it was.
	admin.must(t, "tenants:suspend", tenant)
	deadline = time.Now().Add(time.Minute)
	for {
		f, err := client.GetFormation(ctx, app)
		require.NoError(t, err)
		if f.Items[0].Ready == 0 {
			assert.Equal(t, 3, f.Items[0].Quantity, "the formation is kept")
			break
		}
		require.True(t, time.Now().Before(deadline), "the suspended app kept running: %+v", f)
		time.Sleep(500 * time.Millisecond)
	}
	_, err = dev.run(t, "config:set", "GREETING=again")
	require.Error(t, err)
	admin.must(t, "tenants:unsuspend", tenant)
	assert.Contains(t, get(), "GREETING= ", "unsuspending applies the running release again")

	// apps:destroy: the app and its route are gone.
	admin.must(t, "apps:destroy", "-a", app, "--confirm", app)
	assert.Equal(t, http.StatusNotFound, status(app+"."+stack.AppsDomain))
	_, err = dev.run(t, "releases", "-a", app)
	assert.Error(t, err, "a destroyed app has no releases")
}

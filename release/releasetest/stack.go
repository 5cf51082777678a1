// Package releasetest is the test kit of package release and of the
// packages that call it: a fake deployer (Deployer) for tests that make
// releases without Kubernetes, and a tenant on the running local stack
// (StackTenant) for tests that push with real git and ssh clients. It is
// for tests only: nothing else may import it.
package releasetest

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
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// StackTenant is a tenant on the running local stack, whose apps a test
// pushes to as the stack's admin with a key made for the test.
type StackTenant struct {
	Env    localstack.Env
	Store  *store.Store // the stack's database
	Tenant store.Tenant
	User   store.User // the stack's admin
	sshKey string     // private key file
}

// NewStackTenant makes a tenant on the local stack for one test and removes
// it, its apps and its namespace afterwards. Until the API can create
// tenants and register keys, it writes them through the store.
func NewStackTenant(t testing.TB) *StackTenant {
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
	return &StackTenant{Env: env, Store: st, Tenant: tenant, User: user, sshKey: priv}
}

// As returns the tenant as another user sees it, pushing with the private
// key in the file sshKey.
func (s *StackTenant) As(user store.User, sshKey string) *StackTenant {
	other := *s
	other.User, other.sshKey = user, sshKey
	return &other
}

// PullCredentials gives a deployer made by a test what platformd gives
// its own: a registry credential for the tenant's pods. A deployer without
// one writes pods that pull anonymously, which the stack's registry
// refuses once the kubelet checks who may use an image it already has.
func (s *StackTenant) PullCredentials() deployer.PullCredentials {
	return stackPullCredentials{s.Env}
}

type stackPullCredentials struct{ env localstack.Env }

func (c stackPullCredentials) PullCredential(string) (deployer.RegistryCredential, error) {
	return deployer.RegistryCredential{Registry: c.env.Registry, Username: localstack.RegistryUser, Password: c.env.RegistryCredential}, nil
}

// CreateApp creates an app in the tenant.
func (s *StackTenant) CreateApp(t testing.TB, prefix string) store.App {
	t.Helper()
	app, err := s.Store.CreateApp(context.Background(), s.Tenant.ID, fmt.Sprintf("%s-%s", prefix, s.Tenant.Name))
	require.NoError(t, err)
	return app
}

// Repo makes a git work tree holding a copy of the sample app dir (one of
// builder/testdata/apps), with one commit and the platform remote of app.
func (s *StackTenant) Repo(t testing.TB, sample, app string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join(moduleDir(t), "builder", "testdata", "apps", sample))))
	s.Git(t, dir, "init", "-q", "-b", "main")
	s.Git(t, dir, "add", "-A")
	s.Git(t, dir, "commit", "-q", "-m", "first")
	s.Git(t, dir, "remote", "add", "platform", s.Env.GitURL+"/"+app+".git")
	return dir
}

// GitCmd is the git command args in dir, as the test's user and over ssh
// with the tenant's key.
func (s *StackTenant) GitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@platform.test",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@platform.test",
		"GIT_SSH_COMMAND=ssh -i "+s.sshKey+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
	)
	return cmd
}

// Git runs git args in dir, failing the test if it fails, and returns its
// output.
func (s *StackTenant) Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := s.GitCmd(dir, args...).CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return string(out)
}

// Push runs git push platform main and returns its output and error.
func (s *StackTenant) Push(dir string) (string, error) {
	out, err := s.GitCmd(dir, "push", "platform", "main").CombinedOutput()
	return string(out), err
}

// Get fetches path from app through the router, by host name.
func (s *StackTenant) Get(t testing.TB, app, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.Env.RouterURL+path, nil)
	require.NoError(t, err)
	req.Host = app + "." + s.Env.AppsDomain
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// moduleDir is the root of the module, found from the test's directory
// (the directory of the package under test).
func moduleDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
}

// SetConfig sets config vars of app through the API, as `platform
// config:set` does, and returns the release it made.
func (s *StackTenant) SetConfig(t testing.TB, app string, vars map[string]string) api.Release {
	t.Helper()
	c, err := api.NewClient(api.ClientConfig{URL: s.Env.APIURL, Token: s.Env.Token, UserAgent: "e2e"})
	require.NoError(t, err)
	req := api.UpdateConfigRequest{Vars: map[string]*string{}}
	for k, v := range vars {
		req.Vars[k] = &v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := c.UpdateConfig(ctx, app, req)
	require.NoError(t, err)
	return ch.Release
}

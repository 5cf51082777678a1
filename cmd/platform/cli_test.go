package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
	"github.com/platform-paas/platform/server/testdb"
)

const testGitURL = "ssh://git@127.0.0.1:2222"

// apiEnv is platformd's real API handler on a database of its own, served
// over HTTP, with an admin and a tenant acme; and a user's environment
// (HOME, XDG_CONFIG_HOME, a working directory) for the CLI to run in.
type apiEnv struct {
	url        string
	remover    *fakeRemover
	dns        *fakeDNS
	st         *store.Store
	adminToken string
	env        map[string]string
	dir        string // the working directory
	stdin      string
	// hostKey is the git server's host key line, as GET /git gives it,
	// and its fingerprint.
	hostKey, hostKeyFP string
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	st, _ := testdb.Open(t)
	remover := &fakeRemover{}
	dns := &fakeDNS{txt: map[string][]string{}}
	hostKey, hostKeyFP := newKey(t, "")
	srv, err := server.New(server.Config{
		GitHostKeys: []string{hostKey},
		Remover:     remover,
		Resolver:    dns,
		Logger:      slog.New(slog.DiscardHandler),
		Metrics:     prometheus.NewRegistry(),
		GitURL:      testGitURL,
		WebURL:      func(app string) string { return "http://" + app + ".localhost:7880" },
	}, st)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	admin, err := st.CreateUser(ctx, "admin@example.com", true)
	require.NoError(t, err)
	token, _, err := st.CreateToken(ctx, admin.ID, "test", nil)
	require.NoError(t, err)
	_, err = st.CreateTenant(ctx, "acme", store.DefaultQuota())
	require.NoError(t, err)

	home := t.TempDir()
	return &apiEnv{
		url:        ts.URL,
		remover:    remover,
		dns:        dns,
		st:         st,
		adminToken: token,
		hostKey:    strings.TrimSpace(hostKey),
		hostKeyFP:  hostKeyFP,
		env:        map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "xdg")},
		dir:        t.TempDir(),
	}
}

// fakeDNS answers the TXT lookups that verify custom domains: the
// server's resolver, a one-method interface of its own (server's tests
// check it against a real resolver and DNS server).
type fakeDNS struct {
	mu  sync.Mutex
	txt map[string][]string
}

var _ server.TXTResolver = (*fakeDNS)(nil)

func (f *fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) set(name string, values ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txt[name] = values
}

// fakeRemover stands for what platformd removes of a destroyed app.
type fakeRemover struct {
	mu      sync.Mutex
	removed []string
}

// RemoveTenant records the tenant as "tenant/".
func (f *fakeRemover) RemoveTenant(_ context.Context, tenant string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, tenant+"/")
	return nil
}

func (f *fakeRemover) RemoveApp(_ context.Context, tenant, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, tenant+"/"+app)
	return nil
}

// loggedIn sets PLATFORM_API_URL and PLATFORM_TOKEN to the admin's.
func (e *apiEnv) loggedIn() *apiEnv {
	e.env["PLATFORM_API_URL"] = e.url
	e.env["PLATFORM_TOKEN"] = e.adminToken
	return e
}

// run runs the CLI in e and returns its stdout, stderr and error.
func (e *apiEnv) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{
		getenv: func(k string) string { return e.env[k] },
		stdin:  strings.NewReader(e.stdin),
		stdout: &stdout,
		stderr: &stderr,
		dir:    e.dir,
	}
	err := c.execute(context.Background(), args)
	if err != nil {
		assert.NotContains(t, err.Error(), "\n", "errors are one line")
	}
	return stdout.String(), stderr.String(), err
}

// ok runs the CLI and requires it to succeed; it returns stdout.
func (e *apiEnv) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := e.run(t, args...)
	require.NoError(t, err, "platform %s\nstderr: %s", strings.Join(args, " "), errOut)
	return out
}

// git runs git in dir.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

func TestLoginWritesPrivateConfig(t *testing.T) {
	e := newAPIEnv(t)

	out, errOut, err := e.run(t, "login", "--api-url", e.url+"/", "--token", e.adminToken)
	require.NoError(t, err, errOut)
	assert.Equal(t, "Logged in as admin@example.com\n", out)

	path := filepath.Join(e.env["XDG_CONFIG_HOME"], "platform", "config.json")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the file holds a token")
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	var cf configFile
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cf))
	assert.Equal(t, configFile{APIURL: e.url, Token: e.adminToken}, cf, "the URL without its trailing slash")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")

	// Later commands read the file, and whoami says so.
	out, errOut, err = e.run(t, "whoami")
	require.NoError(t, err)
	assert.Equal(t, "admin@example.com (platform admin)\n", out)
	assert.Equal(t, "token from your saved login ("+path+")\n", errOut)

	// The environment beats the file, and whoami says that too.
	e.env["PLATFORM_TOKEN"] = e.adminToken
	_, errOut, err = e.run(t, "whoami")
	require.NoError(t, err)
	assert.Equal(t, "token from the environment (PLATFORM_TOKEN), which wins over a saved login\n", errOut)
	e.env["PLATFORM_TOKEN"] = "plt_revoked"
	_, _, err = e.run(t, "whoami")
	assert.EqualError(t, err, "invalid or expired token: run platform login")
	delete(e.env, "PLATFORM_TOKEN")

	out = e.ok(t, "logout")
	assert.Equal(t, "Logged out: removed "+path+"\n", out)
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, _, err = e.run(t, "whoami")
	assert.EqualError(t, err, "no API URL: run platform login, or set PLATFORM_API_URL")
	assert.Equal(t, "Not logged in\n", e.ok(t, "logout"))
}

func TestLoginAsks(t *testing.T) {
	e := newAPIEnv(t)
	delete(e.env, "XDG_CONFIG_HOME")
	e.stdin = e.url + "\n" + e.adminToken + "\n"
	out, errOut, err := e.run(t, "login")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Logged in as admin@example.com\n", out)
	assert.Contains(t, errOut, "API URL: ")
	assert.Contains(t, errOut, "API token: ")
	fi, err := os.Stat(filepath.Join(e.env["HOME"], ".config", "platform", "config.json"))
	require.NoError(t, err, "without XDG_CONFIG_HOME, under ~/.config")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// The saved URL is offered; an empty answer takes it.
	e.stdin = "\n" + e.adminToken + "\n"
	_, errOut, err = e.run(t, "login")
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, "API URL ["+e.url+"]: ")
}

func TestLoginRefusals(t *testing.T) {
	e := newAPIEnv(t)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"a bad token", []string{"login", "--api-url", e.url, "--token", "plt_nope"}, "", "the API at " + e.url + " refused that token: check it and run platform login again"},
		{"a bad URL", []string{"login", "--api-url", "127.0.0.1:7800", "--token", "x"}, "", `API URL "127.0.0.1:7800" is not an http:// or https:// URL such as http://127.0.0.1:7800`},
		{"no token typed", []string{"login", "--api-url", e.url}, "\n", "no API token given: type it when asked, or pass --token"},
		{"nothing typed", []string{"login"}, "", "no API URL given: type it when asked, or pass --api-url"},
		{"nothing listening", []string{"login", "--api-url", "http://127.0.0.1:1", "--token", "plt_x"}, "", "reaching the API at http://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.stdin = tt.stdin
			_, _, err := e.run(t, tt.args...)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			_, err = os.Stat(filepath.Join(e.env["XDG_CONFIG_HOME"], "platform", "config.json"))
			assert.ErrorIs(t, err, os.ErrNotExist, "nothing saved")
		})
	}
}

func TestWhoami(t *testing.T) {
	e := newAPIEnv(t).loggedIn()
	ctx := context.Background()
	acme, err := e.st.GetTenant(ctx, "acme")
	require.NoError(t, err)
	u, err := e.st.CreateUser(ctx, "dev@example.com", false)
	require.NoError(t, err)
	require.NoError(t, e.st.AddMember(ctx, acme.ID, u.ID, store.Member))
	token, _, err := e.st.CreateToken(ctx, u.ID, "test", nil)
	require.NoError(t, err)
	e.env["PLATFORM_TOKEN"] = token

	assert.Equal(t, "dev@example.com\n  member of tenant acme\n", e.ok(t, "whoami"))

	var acct api.Account
	require.NoError(t, json.Unmarshal([]byte(e.ok(t, "whoami", "--json")), &acct))
	assert.Equal(t, "dev@example.com", acct.Email)
	assert.Equal(t, []api.Membership{{Tenant: "acme", Role: "member"}}, acct.Memberships)
}

func TestAppsCreateAddsTheRemote(t *testing.T) {
	e := newAPIEnv(t).loggedIn()
	git(t, e.dir, "init", "-q")

	out, errOut, err := e.run(t, "apps:create", "shop", "--tenant", "acme")
	require.NoError(t, err, errOut)
	assert.Equal(t, "http://shop.localhost:7880 | ssh://git@127.0.0.1:2222/shop.git\n", out)
	assert.Contains(t, errOut, "Creating app shop... done")
	assert.Contains(t, errOut, "Git remote platform added: ssh://git@127.0.0.1:2222/shop.git")
	assert.Equal(t, testGitURL+"/shop.git", git(t, e.dir, "remote", "get-url", "platform"))

	// The remote names the app for commands without -a, in subdirectories
	// too.
	sub := filepath.Join(e.dir, "src")
	require.NoError(t, os.Mkdir(sub, 0o755))
	e.dir = sub
	out = e.ok(t, "apps:info")
	assert.Contains(t, out, "=== shop\n")
	assert.Contains(t, out, "Tenant:  acme\n")
	assert.Contains(t, out, "Git URL: ssh://git@127.0.0.1:2222/shop.git\n")
	assert.Contains(t, out, "Release: none yet: git push platform main\n")

	var app api.App
	require.NoError(t, json.Unmarshal([]byte(e.ok(t, "apps:info", "--json")), &app))
	assert.Equal(t, "shop", app.Name)
	assert.Equal(t, "acme", app.Tenant)

	// Outside a git repository there is no remote to add, and -a is needed.
	e.dir = t.TempDir()
	out, errOut, err = e.run(t, "apps:create", "blog", "--tenant", "acme")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "blog.git")
	assert.NotContains(t, errOut, "Git remote")
	_, _, err = e.run(t, "apps:info")
	assert.EqualError(t, err, `no app given: pass -a APP, or run this in a git repository with a "platform" remote (platform git:remote -a APP adds one)`)
	assert.Contains(t, e.ok(t, "apps:info", "-a", "blog"), "=== blog\n")

	out = e.ok(t, "apps")
	assert.Contains(t, out, "NAME  TENANT  WEB URL\n")
	assert.Contains(t, out, "shop  acme    http://shop.localhost:7880\n")
	var apps []api.App
	require.NoError(t, json.Unmarshal([]byte(e.ok(t, "apps", "--json")), &apps))
	require.Len(t, apps, 2)
	assert.Equal(t, "shop", apps[0].Name)
	assert.Equal(t, "blog", apps[1].Name)

	_, _, err = e.run(t, "apps:create", "shop", "--tenant", "acme")
	assert.EqualError(t, err, `app name "shop" is already taken`)
	_, _, err = e.run(t, "apps:info", "-a", "nope")
	assert.EqualError(t, err, "no such app, or no access")
}

// TestHostKeyTrust checks that apps:create, git:remote and keys:add tell
// a user whose known_hosts does not trust the git server's host key its
// fingerprint and how to trust it, that ssh-keyscan prints the
// known_hosts line to do so, and that once it is trusted they say nothing.
func TestHostKeyTrust(t *testing.T) {
	e := newAPIEnv(t).loggedIn()
	note := "The git server's host key is " + e.hostKeyFP + " (ssh-ed25519). To trust it before your first push:\n  platform ssh-keyscan >> ~/.ssh/known_hosts\n"
	git(t, e.dir, "init", "-q")

	_, errOut, err := e.run(t, "apps:create", "shop", "--tenant", "acme")
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, note)
	_, errOut, err = e.run(t, "git:remote", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, note)
	sshDir := filepath.Join(e.env["HOME"], ".ssh")
	require.NoError(t, os.Mkdir(sshDir, 0o700))
	key, _ := newKey(t, "me@laptop")
	keyFile := filepath.Join(t.TempDir(), "id.pub")
	require.NoError(t, os.WriteFile(keyFile, []byte(key), 0o644))
	_, errOut, err = e.run(t, "keys:add", keyFile)
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, note)

	line := e.ok(t, "ssh-keyscan")
	assert.Equal(t, "[127.0.0.1]:2222 "+e.hostKey+"\n", line, "the git URL's host and port, as ssh writes them")
	// Another host's entry and then the platform's, as a user appends it.
	other, _ := newKey(t, "")
	require.NoError(t, os.WriteFile(filepath.Join(sshDir, "known_hosts"), []byte("github.example "+other+"\n"+line), 0o600))

	_, errOut, err = e.run(t, "apps:create", "blog", "--tenant", "acme", "--no-remote")
	require.NoError(t, err, errOut)
	assert.NotContains(t, errOut, "host key", "a trusted key needs no note")
	_, errOut, err = e.run(t, "git:remote", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.NotContains(t, errOut, "host key")
}

func TestGitRemote(t *testing.T) {
	e := newAPIEnv(t).loggedIn()
	e.ok(t, "apps:create", "shop", "--tenant", "acme")

	_, _, err := e.run(t, "git:remote", "-a", "shop")
	assert.EqualError(t, err, "not inside a git repository: run git init, or cd into your app's repository")

	git(t, e.dir, "init", "-q")
	git(t, e.dir, "remote", "add", "platform", "ssh://git@elsewhere/old.git")
	_, errOut, err := e.run(t, "git:remote", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, "Git remote platform changed from ssh://git@elsewhere/old.git to ssh://git@127.0.0.1:2222/shop.git")
	assert.Equal(t, testGitURL+"/shop.git", git(t, e.dir, "remote", "get-url", "platform"))

	_, errOut, err = e.run(t, "git:remote", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, "Git remote platform is already ssh://git@127.0.0.1:2222/shop.git")

	_, _, err = e.run(t, "git:remote", "-a", "nope")
	assert.EqualError(t, err, "no such app, or no access")
}

func TestKeys(t *testing.T) {
	e := newAPIEnv(t).loggedIn()
	sshDir := filepath.Join(e.env["HOME"], ".ssh")
	require.NoError(t, os.Mkdir(sshDir, 0o700))

	_, _, err := e.run(t, "keys:add")
	assert.EqualError(t, err, "no ~/.ssh/id_ed25519.pub or ~/.ssh/id_rsa.pub: make a key with ssh-keygen -t ed25519, or pass the .pub file")

	line, fp := newKey(t, "me@laptop")
	require.NoError(t, os.WriteFile(filepath.Join(sshDir, "id_ed25519.pub"), []byte(line+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(sshDir, "id_ed25519"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600))

	out, errOut, err := e.run(t, "keys:add")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Added SSH key "+fp+" (me@laptop)\n", out)
	assert.Contains(t, errOut, "Uploading "+filepath.Join(sshDir, "id_ed25519.pub")+"... done")

	other, otherFP := newKey(t, "ci")
	otherPath := filepath.Join(t.TempDir(), "ci.pub")
	require.NoError(t, os.WriteFile(otherPath, []byte(other), 0o644))
	assert.Equal(t, "Added SSH key "+otherFP+" (deploy)\n", e.ok(t, "keys:add", otherPath, "--name", "deploy"))

	_, _, err = e.run(t, "keys:add", filepath.Join(sshDir, "id_ed25519"))
	assert.ErrorContains(t, err, "id_ed25519 is a private key: give the public one")
	_, _, err = e.run(t, "keys:add", otherPath)
	assert.EqualError(t, err, "SSH key "+otherFP+" is already registered")

	out = e.ok(t, "keys")
	assert.Contains(t, out, "FINGERPRINT")
	assert.Contains(t, out, fp+"  ssh-ed25519  me@laptop")
	var keys []api.SSHKey
	require.NoError(t, json.Unmarshal([]byte(e.ok(t, "keys", "--json")), &keys))
	require.Len(t, keys, 2)
	assert.Equal(t, "deploy", keys[1].Name)

	_, errOut, err = e.run(t, "keys:remove", otherFP)
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, "Removing SSH key "+otherFP+"... done")
	_, _, err = e.run(t, "keys:remove", otherFP)
	assert.EqualError(t, err, "you have no SSH key "+otherFP+": platform keys lists yours")
	require.NoError(t, json.Unmarshal([]byte(e.ok(t, "keys", "--json")), &keys))
	assert.Len(t, keys, 1)
}

func TestTenantsAndUsers(t *testing.T) {
	e := newAPIEnv(t).loggedIn()

	out := e.ok(t, "tenants:create", "globex", "--max-apps", "3", "--max-size", "large")
	assert.Equal(t, "Tenant globex: up to 3 apps, 20 processes, size large\n", out)
	var ts []api.Tenant
	require.NoError(t, json.Unmarshal([]byte(e.ok(t, "tenants", "--json")), &ts))
	require.Len(t, ts, 2)
	assert.Equal(t, "globex", ts[1].Name)
	assert.Contains(t, e.ok(t, "tenants"), "globex  3         20             large     active")

	e.ok(t, "users:create", "bob@example.com")
	e.ok(t, "users:create", "eve@example.com")
	_, errOut, err := e.run(t, "members:add", "bob@example.com", "--tenant", "globex", "--role", "owner")
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, "Adding bob@example.com to tenant globex as owner... done")
	e.ok(t, "members:add", "eve@example.com", "--tenant", "globex")
	var ms []api.Member
	require.NoError(t, json.Unmarshal([]byte(e.ok(t, "users", "--tenant", "globex", "--json")), &ms))
	require.Len(t, ms, 2)
	assert.Equal(t, "bob@example.com", ms[0].Email)
	assert.Equal(t, "owner", ms[0].Role)
	assert.Equal(t, "member", ms[1].Role, "the default role")

	_, _, err = e.run(t, "members:add", "bob@example.com", "--tenant", "globex", "--role", "admin")
	assert.EqualError(t, err, `role "admin" cannot be held in a tenant: use owner, member or viewer`)

	// A member cannot create tenants.
	bob, err := e.st.GetUserByEmail(context.Background(), "bob@example.com")
	require.NoError(t, err)
	e.env["PLATFORM_TOKEN"], _, err = e.st.CreateToken(context.Background(), bob.ID, "test", nil)
	require.NoError(t, err)
	_, _, err = e.run(t, "tenants:create", "mine")
	assert.EqualError(t, err, "only platform admins can create tenants")
	_, _, err = e.run(t, "tenants")
	assert.EqualError(t, err, "only platform admins can list tenants")
	_, _, err = e.run(t, "users:create", "mallory@example.com")
	assert.EqualError(t, err, "only platform admins can create users")
	// ... but, as the tenant's owner, can manage its members, and invite
	// an address that has no account.
	out = e.ok(t, "members:add", "carol@example.com", "--tenant", "globex", "--role", "viewer")
	assert.Equal(t, "invited carol@example.com: they accept with `platform invitations:accept globex` after signing in\n", out)
}

// TestBinaryErrors runs the built binary: an error is one line on stderr
// and a non-zero exit.
func TestBinaryErrors(t *testing.T) {
	e := newAPIEnv(t)
	bin := filepath.Join(t.TempDir(), "platform")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command(bin, "apps")
	cmd.Env = []string{"HOME=" + e.env["HOME"], "PLATFORM_API_URL=" + e.url, "PLATFORM_TOKEN=plt_wrong"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Empty(t, stdout.String())
	assert.Equal(t, "platform: invalid or expired token: run platform login\n", stderr.String())
}

// newKey returns a fresh ed25519 public key line with comment, and its
// fingerprint.
func newKey(t *testing.T, comment string) (string, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment, ssh.FingerprintSHA256(sshPub)
}

func TestAppsDestroy(t *testing.T) {
	e := newAPIEnv(t).loggedIn()
	e.ok(t, "apps:create", "shop", "--tenant", "acme", "--no-remote")

	_, _, err := e.run(t, "apps:destroy", "-a", "shop")
	require.EqualError(t, err, "this deletes shop and everything it runs; re-run with --confirm shop")
	_, _, err = e.run(t, "apps:destroy", "-a", "shop", "--confirm", "shoe")
	require.EqualError(t, err, "--confirm shoe does not match the app shop; re-run with --confirm shop")
	_, err = e.st.GetApp(context.Background(), "shop")
	require.NoError(t, err, "refused: the app is kept")
	assert.Empty(t, e.remover.removed)

	out, errOut, err := e.run(t, "apps:destroy", "-a", "shop", "--confirm", "shop")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "Destroying shop... done\n", errOut)
	assert.Equal(t, []string{"acme/shop"}, e.remover.removed)
	_, err = e.st.GetApp(context.Background(), "shop")
	assert.ErrorIs(t, err, store.ErrNotFound)

	_, _, err = e.run(t, "apps:destroy", "-a", "shop", "--confirm", "shop")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such app")
}

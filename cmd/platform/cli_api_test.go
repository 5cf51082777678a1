package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// Tests of commands against platformd's real API on Postgres (see
// harness_test.go).

// stampRE matches what cli.stamp prints in UTC.
const stampRE = `\d{4}-\d\d-\d\d \d\d:\d\d UTC`

// stampOf is what cli.stamp prints for t in UTC.
func stampOf(t time.Time) string { return t.UTC().Format(stampLayout) }

// newApp creates app in tenant acme and returns it.
func (h *harness) newApp(t *testing.T, name string) store.App {
	t.Helper()
	h.ok(t, "apps:create", name, "--tenant", "acme", "--no-remote")
	app, err := h.st.GetApp(context.Background(), name)
	require.NoError(t, err)
	h.requests()
	return app
}

func TestConfigShow(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	app := h.newApp(t, "shop")

	out, errOut, err := h.run(t, "config", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "=== shop Config Vars\n", out)
	assert.Equal(t, "shop has no config vars: set some with platform config:set KEY=VALUE\n", errOut)

	// Names the platform or Kubernetes sets are refused, saying which.
	_, _, err = h.run(t, "config:set", "KUBERNETES_SERVICE_HOST=10.0.0.1", "-a", "shop")
	assert.EqualError(t, err, "config var KUBERNETES_SERVICE_HOST is set by the platform and cannot be changed: PORT, DYNO and names starting with PLATFORM_ or KUBERNETES_ are reserved")
	h.requests()

	_, err = h.st.SetConfig(ctx, app.ID, map[string]string{
		"GREETING":     "hello world",
		"DATABASE_URL": "postgres://db/shop?sslmode=require",
		"MOTD":         "line one\nline two",
		"EMPTY":        "",
	})
	require.NoError(t, err)
	h.requests()
	assert.Equal(t, []string{
		"=== shop Config Vars",
		"DATABASE_URL: postgres://db/shop?sslmode=require",
		"EMPTY:",
		"GREETING:     hello world",
		"MOTD:         line one",
		"              line two",
	}, lines(h.ok(t, "config", "-a", "shop")))
	assert.Equal(t, []string{"GET /api/v1/apps/shop/config"}, h.requests())

	assert.Equal(t, []string{
		"DATABASE_URL='postgres://db/shop?sslmode=require'",
		"EMPTY=''",
		"GREETING='hello world'",
		"MOTD='line one",
		"line two'",
	}, lines(h.ok(t, "config", "-a", "shop", "--shell")))

	var cfg api.ConfigVars
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "config", "-a", "shop", "--json")), &cfg))
	assert.Equal(t, "hello world", cfg.Vars["GREETING"])
	assert.Len(t, cfg.Vars, 4)

	// config:get prints the value as it is; without -a, the app is the
	// checkout's platform remote's.
	git(t, h.dir, "init", "-q")
	git(t, h.dir, "remote", "add", "platform", testGitURL+"/shop.git")
	h.requests()
	assert.Equal(t, "hello world\n", h.ok(t, "config:get", "GREETING"))
	assert.Equal(t, "line one\nline two\n", h.ok(t, "config:get", "MOTD"))
	assert.Equal(t, []string{"GET /api/v1/apps/shop/config", "GET /api/v1/apps/shop/config"}, h.requests())
	out, errOut, err = h.run(t, "config:get", "NOPE")
	require.NoError(t, err, "an unset var is an empty line, as on Heroku")
	assert.Equal(t, "\n", out)
	assert.Equal(t, "shop has no config var NOPE\n", errOut)

	// Without -a and outside a checkout, the error says what to do.
	h.dir = t.TempDir()
	_, _, err = h.run(t, "config")
	assert.EqualError(t, err, `no app given: pass -a APP, or run this in a git repository with a "platform" remote (platform git:remote -a APP adds one)`)
	_, _, err = h.run(t, "config:get", "GREETING", "-a", "nope")
	assert.EqualError(t, err, "no such app, or no access")

	// Viewers may not read values.
	viewer := h.userToken(t, "viewer@example.com", store.Viewer)
	h.env["PLATFORM_TOKEN"] = viewer
	_, _, err = h.run(t, "config", "-a", "shop")
	assert.EqualError(t, err, "viewers cannot read config values; ask an owner of tenant acme for the member role")
}

// userToken creates a user with role in tenant acme and returns a token
// of theirs.
func (h *harness) userToken(t *testing.T, email string, role store.Role) string {
	t.Helper()
	ctx := context.Background()
	acme, err := h.st.GetTenant(ctx, "acme")
	require.NoError(t, err)
	u, err := h.st.CreateUser(ctx, email, false)
	require.NoError(t, err)
	require.NoError(t, h.st.AddMember(ctx, acme.ID, u.ID, role))
	token, _, err := h.st.CreateToken(ctx, u.ID, "test", nil)
	require.NoError(t, err)
	return token
}

func TestSizes(t *testing.T) {
	h := newHarness(t)
	assert.Equal(t, []string{
		"NAME      CPU         CPU LIMIT  MEMORY    MEMORY LIMIT",
		"small     0.1 cores   0.5 cores  256 MiB   256 MiB",
		"standard  0.25 cores  1 core     512 MiB   512 MiB",
		"large     0.5 cores   2 cores    1024 MiB  1024 MiB",
	}, lines(h.ok(t, "sizes")))
	var sizes api.Sizes
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "sizes", "--json")), &sizes))
	require.Len(t, sizes.Items, 3)
	assert.Equal(t, api.Size{Name: "large", CPURequestMillicores: 500, CPULimitMillicores: 2000, MemoryRequestMiB: 1024, MemoryLimitMiB: 1024}, sizes.Items[2])
	assert.Equal(t, []string{"GET /api/v1/sizes", "GET /api/v1/sizes"}, h.requests())
}

const (
	commit1 = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	commit2 = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
	digest1 = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func TestReleasesAndBuilds(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	app := h.newApp(t, "shop")
	admin, err := h.st.GetUserByEmail(ctx, "admin@example.com")
	require.NoError(t, err)

	// Nothing pushed yet.
	out, errOut, err := h.run(t, "releases", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "shop has no releases yet: git push platform main makes the first\n", errOut)
	_, _, err = h.run(t, "releases:info", "-a", "shop")
	assert.EqualError(t, err, "shop has no releases yet: git push platform main makes the first")
	_, _, err = h.run(t, "builds:output", "-a", "shop")
	assert.EqualError(t, err, "shop has no builds yet: git push platform main makes the first")
	assert.Equal(t, "{\n  \"items\": []\n}\n", h.ok(t, "releases", "-a", "shop", "--json"))
	h.requests()

	// Build 1 succeeds and is released as v1; build 2 fails; v2 sets
	// config; v3's rollout fails.
	b1, err := h.st.CreateBuild(ctx, app.ID, commit1, admin)
	require.NoError(t, err)
	require.NoError(t, h.st.AppendBuildLog(ctx, b1.ID, "-----> Go app detected\n-----> Build succeeded\n"))
	b1, err = h.st.FinishBuild(ctx, b1.ID, store.BuildResult{Status: store.BuildSucceeded, Stack: "go", ImageRef: "registry.test/shop@" + digest1, ImageDigest: digest1})
	require.NoError(t, err)
	b2, err := h.st.CreateBuild(ctx, app.ID, commit2, admin)
	require.NoError(t, err)
	require.NoError(t, h.st.AppendBuildLog(ctx, b2.ID, "-----> Go app detected\nmain.go:3: syntax error\n"))
	b2, err = h.st.FinishBuild(ctx, b2.ID, store.BuildResult{Status: store.BuildFailed, Stack: "go", Error: "go build failed"})
	require.NoError(t, err)
	v1 := h.release(t, store.NewRelease{AppID: app.ID, BuildID: &b1.ID, ImageRef: "registry.test/shop@" + digest1, ImageDigest: digest1,
		CommitSHA: commit1, Description: "Deploy 1a2b3c4", Author: admin,
		Formation: []store.Process{{Type: "web", Quantity: 2, Size: store.SizeStandard, Command: "./shop"}}}, store.ReleaseSucceeded, "")
	v2 := h.release(t, store.NewRelease{AppID: app.ID, BuildID: &b1.ID, ImageRef: "registry.test/shop@" + digest1, ImageDigest: digest1,
		CommitSHA: commit1, Description: "Set GREETING config vars", Author: admin, Config: map[string]string{"GREETING": "hi", "A": "1"}}, store.ReleaseSucceeded, "")
	v3 := h.release(t, store.NewRelease{AppID: app.ID, BuildID: &b1.ID, ImageRef: "registry.test/shop@" + digest1, ImageDigest: digest1,
		CommitSHA: commit1, Description: "Set PORT config vars", Author: admin}, store.ReleaseFailed, "web did not become ready in 5m0s\nsecond line")
	h.requests()

	assert.Equal(t, []string{
		"=== shop Releases - Current: v2",
		"v3  Set PORT config vars      admin@example.com  " + stampOf(v3.CreatedAt) + "  failed (web did not become ready in 5m0s)",
		"v2  Set GREETING config vars  admin@example.com  " + stampOf(v2.CreatedAt) + "  current",
		"v1  Deploy 1a2b3c4            admin@example.com  " + stampOf(v1.CreatedAt) + "  succeeded",
	}, lines(h.ok(t, "releases", "-a", "shop")))
	assert.Equal(t, []string{
		"=== shop Releases",
		"v3  Set PORT config vars  admin@example.com  " + stampOf(v3.CreatedAt) + "  failed (web did not become ready in 5m0s)",
	}, lines(h.ok(t, "releases", "-a", "shop", "-n", "1")))
	var rels api.Page[api.Release]
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "releases", "-a", "shop", "--json")), &rels))
	require.Len(t, rels.Items, 3)
	assert.True(t, rels.Items[1].Current)
	assert.Equal(t, []string{
		"GET /api/v1/apps/shop/releases?limit=15",
		"GET /api/v1/apps/shop/releases?limit=1",
		"GET /api/v1/apps/shop/releases?limit=15",
	}, h.requests())

	got := lines(h.ok(t, "releases:info", "v1", "-a", "shop"))
	require.Len(t, got, 10)
	assert.Regexp(t, `^When: +`+regexp.QuoteMeta(stampOf(v1.CreatedAt))+` \(~ \d+s ago\)$`, got[3])
	got[3] = "When: ..."
	assert.Equal(t, []string{
		"=== Release v1",
		"Change:    Deploy 1a2b3c4",
		"By:        admin@example.com",
		"When: ...",
		"Status:    succeeded",
		"Finished:  " + stampOf(*v1.FinishedAt),
		"Commit:    " + commit1,
		"Build:     " + strconv.FormatInt(b1.ID, 10),
		"Image:     registry.test/shop@" + digest1,
		"Formation: web=2:standard",
	}, got)
	out = h.ok(t, "releases:info", "2", "-a", "shop")
	assert.Contains(t, out, "Status:      succeeded (current)\n")
	assert.Contains(t, out, "Config vars: A, GREETING\n")
	out = h.ok(t, "releases:info", "-a", "shop")
	assert.Contains(t, out, "=== Release v3\n")
	assert.Contains(t, out, "\nStatus:   failed: web did not become ready in 5m0s\n          second line\n")
	var rel api.Release
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "releases:info", "v3", "-a", "shop", "--json")), &rel))
	assert.Equal(t, "failed", rel.Status)
	assert.Equal(t, []string{
		"GET /api/v1/apps/shop/releases/1",
		"GET /api/v1/apps/shop/releases/2",
		"GET /api/v1/apps/shop/releases?limit=1",
		"GET /api/v1/apps/shop/releases/3",
	}, h.requests())
	_, _, err = h.run(t, "releases:info", "v9", "-a", "shop")
	assert.EqualError(t, err, "shop has no release v9")
	_, _, err = h.run(t, "releases:info", "latest", "-a", "shop")
	assert.EqualError(t, err, `"latest" is not a release version such as v5: platform releases lists them`)

	// Builds, newest first.
	got = lines(h.ok(t, "builds", "-a", "shop"))
	require.Len(t, got, 4)
	assert.Equal(t, "=== shop Builds", got[0])
	assert.Regexp(t, `^ID +STATUS +COMMIT +BY +STACK +CREATED +TOOK$`, got[1])
	assert.Regexp(t, `^`+strconv.FormatInt(b2.ID, 10)+` +failed +9f8e7d6 +admin@example.com +go +`+stampRE+` +\d+s$`, got[2])
	assert.Regexp(t, `^`+strconv.FormatInt(b1.ID, 10)+` +succeeded +1a2b3c4 +admin@example.com +go +`+stampRE+` +\d+s$`, got[3])
	var builds api.Page[api.Build]
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "builds", "-a", "shop", "--json", "-n", "0")), &builds))
	require.Len(t, builds.Items, 2)
	assert.Equal(t, "go build failed", builds.Items[0].Error)
	h.requests()

	assert.Equal(t, "-----> Go app detected\nmain.go:3: syntax error\n", h.ok(t, "builds:output", "-a", "shop"))
	assert.Equal(t, "-----> Go app detected\n-----> Build succeeded\n", h.ok(t, "builds:output", strconv.FormatInt(b1.ID, 10), "-a", "shop"))
	assert.Equal(t, []string{
		"GET /api/v1/apps/shop/builds?limit=1",
		"GET /api/v1/apps/shop/builds/" + strconv.FormatInt(b2.ID, 10) + "/log",
		"GET /api/v1/apps/shop/builds/" + strconv.FormatInt(b1.ID, 10) + "/log",
	}, h.requests())
	_, _, err = h.run(t, "builds:output", "99999", "-a", "shop")
	assert.EqualError(t, err, "shop has no build 99999")
	_, _, err = h.run(t, "builds:output", "#1", "-a", "shop")
	assert.EqualError(t, err, `"#1" is not a build ID: platform builds lists them`)
}

// release records a release and sets its status.
func (h *harness) release(t *testing.T, nr store.NewRelease, status store.ReleaseStatus, reason string) store.Release {
	t.Helper()
	ctx := context.Background()
	rel, err := h.st.CreateRelease(ctx, nr)
	require.NoError(t, err)
	rel, err = h.st.SetReleaseStatus(ctx, nr.AppID, rel.Version, status, reason)
	require.NoError(t, err)
	return rel
}

func TestDomains(t *testing.T) {
	h := newHarness(t)
	h.newApp(t, "shop")

	out, errOut, err := h.run(t, "domains", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "=== shop Custom Domains\n", out)
	assert.Equal(t, "shop has no custom domains: add one with platform domains:add HOST\n", errOut)
	h.requests()

	out, errOut, err = h.run(t, "domains:add", "WWW.Example.com", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	m := regexp.MustCompile(`^Adding WWW\.Example\.com to shop\.\.\. done\n` +
		`www\.example\.com is not routed until you show it is yours: create a DNS TXT record _platform-challenge\.www\.example\.com with the value (\S+), then run platform domains:verify www\.example\.com\n` +
		`This platform's apps answer on this machine \(shop\.localhost\): to reach www\.example\.com through it, point the name at 127\.0\.0\.1 \(a line in /etc/hosts\)\n$`).FindStringSubmatch(errOut)
	require.NotNil(t, m, errOut)
	token := m[1]
	assert.Equal(t, []string{
		`POST /api/v1/apps/shop/domains {"host":"WWW.Example.com"}`,
		"GET /api/v1/apps/shop",
	}, h.requests())
	h.ok(t, "domains:add", "shop.example.org", "-a", "shop")

	// Pending domains, with the records that verify them.
	got := lines(h.ok(t, "domains", "-a", "shop"))
	require.Len(t, got, 8)
	assert.Equal(t, "=== shop Custom Domains", got[0])
	assert.Equal(t, "DOMAIN            STATUS   DNS TARGET (CNAME)  ADDED", got[1])
	assert.Regexp(t, `^shop\.example\.org  pending  shop\.localhost +`+stampRE+`$`, got[2])
	assert.Regexp(t, `^www\.example\.com   pending  shop\.localhost +`+stampRE+`$`, got[3])
	assert.Equal(t, "=== DNS records that verify the pending domains", got[4])
	assert.Regexp(t, `^NAME +TYPE +VALUE$`, got[5])
	assert.Regexp(t, `^_platform-challenge\.shop\.example\.org +TXT +platform-domain-\S+$`, got[6])
	assert.Equal(t, "_platform-challenge.www.example.com   TXT   "+token, got[7])

	// Verifying: refused until the record is there, saying what to do.
	_, errOut, err = h.run(t, "domains:verify", "www.example.com", "-a", "shop")
	assert.EqualError(t, err, "www.example.com is not verified: DNS has no TXT record _platform-challenge.www.example.com. Create a TXT record _platform-challenge.www.example.com with the value "+
		token+", wait for it to show in DNS, and run platform domains:verify www.example.com again")
	assert.Equal(t, "Verifying www.example.com for shop... failed\n", errOut)
	h.dns.set("_platform-challenge.www.example.com", token)
	h.requests()
	out, errOut, err = h.run(t, "domains:verify", "www.example.com", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Verifying www.example.com for shop... done\n", errOut)
	assert.Equal(t, "www.example.com is verified: shop answers on it\n", out)
	assert.Equal(t, []string{"POST /api/v1/apps/shop/domains/www.example.com/verify"}, h.requests())
	assert.Regexp(t, `(?m)^www\.example\.com +verified +shop\.localhost `, h.ok(t, "domains", "-a", "shop"))

	var ds api.Page[api.Domain]
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "domains", "-a", "shop", "--json")), &ds))
	require.Len(t, ds.Items, 2)
	assert.Equal(t, api.DomainPending, ds.Items[0].Status)
	assert.Equal(t, api.DomainVerified, ds.Items[1].Status)
	h.requests()

	_, _, err = h.run(t, "domains:add", "shop.example.org", "-a", "shop")
	assert.EqualError(t, err, "shop.example.org is added to shop already: platform domains -a shop shows it")
	_, _, err = h.run(t, "domains:add", "10.0.0.1", "-a", "shop")
	assert.EqualError(t, err, "10.0.0.1 is an IP address: add a host name of yours, such as www.example.com, whose DNS points at the platform")

	_, errOut, err = h.run(t, "domains:remove", "www.example.com", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Removing www.example.com from shop... done\n", errOut)
	assert.Contains(t, h.requests(), "DELETE /api/v1/apps/shop/domains/www.example.com")
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "domains", "-a", "shop", "--json")), &ds))
	assert.Equal(t, "shop.example.org", ds.Items[0].Host)
	assert.Len(t, ds.Items, 1)
	_, _, err = h.run(t, "domains:remove", "www.example.com", "-a", "shop")
	require.Error(t, err)
}

func TestTokens(t *testing.T) {
	h := newHarness(t)

	out, errOut, err := h.run(t, "tokens:create", "--name", "ci", "--expires-in", "720h")
	require.NoError(t, err, errOut)
	token := strings.TrimSpace(out)
	assert.Regexp(t, `^plt_\S+$`, token, "only the token, on stdout")
	reqs := h.requests()
	assert.Equal(t, []string{`POST /api/v1/account/tokens {"name":"ci","expires_in":"720h"}`}, reqs)
	assert.Regexp(t, `^Token (\d+) \(ci\) made; it expires `+stampRE+`\. It is shown only this once: keep it somewhere safe\. platform tokens:revoke \d+ revokes it\.\n$`, errOut)
	id := regexp.MustCompile(`^Token (\d+)`).FindStringSubmatch(errOut)[1]

	// The new token works.
	admin := h.env["PLATFORM_TOKEN"]
	h.env["PLATFORM_TOKEN"] = token
	assert.Equal(t, "admin@example.com (platform admin)\n", h.ok(t, "whoami"))
	h.env["PLATFORM_TOKEN"] = admin

	got := lines(h.ok(t, "tokens"))
	require.Len(t, got, 3)
	assert.Regexp(t, `^ID +NAME +CREATED +LAST USED +EXPIRES$`, got[0])
	assert.Regexp(t, `^`+id+` +ci +`+stampRE+` +(`+stampRE+`|never) +`+stampRE+`$`, got[1], "newest first")
	assert.Regexp(t, `^\d+ +test +`+stampRE+` +(`+stampRE+`|never) +never$`, got[2])
	var toks api.Page[api.Token]
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "tokens", "--json")), &toks))
	require.Len(t, toks.Items, 2)
	assert.Equal(t, "ci", toks.Items[0].Name)
	h.requests()

	_, errOut, err = h.run(t, "tokens:revoke", id)
	require.NoError(t, err, errOut)
	assert.Equal(t, "Revoking token "+id+"... done\n", errOut)
	assert.Equal(t, []string{"DELETE /api/v1/account/tokens/" + id}, h.requests())
	h.env["PLATFORM_TOKEN"] = token
	_, _, err = h.run(t, "whoami")
	assert.EqualError(t, err, "invalid or expired token: run platform login")
	h.env["PLATFORM_TOKEN"] = admin
	_, _, err = h.run(t, "tokens:revoke", id)
	assert.EqualError(t, err, "you have no API token "+id+": platform tokens lists yours")

	// The default name, a lifetime the API refuses, and one that is not a
	// duration at all.
	out = h.ok(t, "tokens:create")
	assert.Regexp(t, `^plt_\S+\n$`, out)
	h.requests()
	_, _, err = h.run(t, "tokens:create", "--expires-in", "10m")
	assert.EqualError(t, err, "expires_in must be a duration from 1h to 8760h (a year), such as 720h, or left out for a token that never expires")
	_, _, err = h.run(t, "tokens:create", "--expires-in", "30d")
	assert.EqualError(t, err, `--expires-in "30d" is not a duration such as 720h (30 days)`)
	_, _, err = h.run(t, "tokens:revoke", "ci")
	assert.EqualError(t, err, `"ci" is not a token ID: platform tokens lists yours`)
	assert.Equal(t, []string{`POST /api/v1/account/tokens {"name":"cli","expires_in":"10m"}`}, h.requests())
}

func TestPasswordAndLoginWithEmail(t *testing.T) {
	h := newHarness(t)

	// The first password needs no current one; stdin that is not a
	// terminal gives it on one line.
	h.stdin = "correct horse battery\n"
	out, errOut, err := h.run(t, "password:set")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "New password: Password set: use it on the dashboard, and with platform login --email\n", errOut)
	assert.Equal(t, []string{`PUT /api/v1/account/password {"password":"correct horse battery"}`}, h.requests())

	// Log in with it: a new token is saved.
	delete(h.env, "PLATFORM_TOKEN")
	delete(h.env, "PLATFORM_API_URL")
	h.stdin = "correct horse battery\n"
	out, errOut, err = h.run(t, "login", "--api-url", h.url, "--email", "admin@example.com")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Logged in as admin@example.com\n", out)
	assert.Contains(t, errOut, "Password: ")
	assert.Equal(t, []string{`POST /api/v1/login {"email":"admin@example.com","password":"correct horse battery"}`}, h.requests())
	b, err := os.ReadFile(filepath.Join(h.env["XDG_CONFIG_HOME"], "platform", "config.json"))
	require.NoError(t, err)
	var cf configFile
	require.NoError(t, json.Unmarshal(b, &cf))
	assert.Equal(t, h.url, cf.APIURL)
	assert.NotEqual(t, h.adminToken, cf.Token, "a token of its own")
	assert.Equal(t, "admin@example.com (platform admin)\n", h.ok(t, "whoami"))
	assert.Regexp(t, `\n\d+ +cli +`, h.ok(t, "tokens"), "named cli by the API")
	h.requests()

	// The API URL asked for, then the password, one a line.
	h.stdin = h.url + "\ncorrect horse battery\n"
	out, errOut, err = h.run(t, "login", "--email", "admin@example.com")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Logged in as admin@example.com\n", out)
	h.requests()

	h.stdin = "wrong password here\n"
	_, _, err = h.run(t, "login", "--api-url", h.url, "--email", "admin@example.com")
	assert.EqualError(t, err, "the API at "+h.url+" refused that e-mail address and password: check them and run platform login again, or log in with a token (platform login --token)")
	h.requests()

	// Changing it asks for the current one, from the next line.
	h.stdin = "a new password 2\ncorrect horse battery\n"
	_, errOut, err = h.run(t, "password:set")
	require.NoError(t, err, errOut)
	assert.Equal(t, "New password: Current password: Password set: use it on the dashboard, and with platform login --email\n", errOut)
	assert.Equal(t, []string{
		`PUT /api/v1/account/password {"password":"a new password 2"}`,
		`PUT /api/v1/account/password {"current":"correct horse battery","password":"a new password 2"}`,
	}, h.requests())
	h.stdin = "a third password\nnot the current one\n"
	_, _, err = h.run(t, "password:set")
	assert.EqualError(t, err, "that is not your current password: run platform password:set again")
	h.stdin = "a third password\n"
	_, _, err = h.run(t, "password:set")
	assert.EqualError(t, err, "no current password given: type it when asked")
	h.stdin = "short\n"
	_, _, err = h.run(t, "password:set")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at least")
	h.stdin = ""
	_, _, err = h.run(t, "password:set")
	assert.EqualError(t, err, "no new password given: type it when asked")
}

func TestMembersAndInvitations(t *testing.T) {
	h := newHarness(t)

	// Only an admin makes accounts; the first token is printed for them to
	// hand over.
	out, errOut, err := h.run(t, "users:create", "carol@example.com")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Creating user carol@example.com... done\n", errOut)
	m := regexp.MustCompile(`^Give carol@example\.com this token, valid for 7 days; they run: platform login --api-url (\S+) --token (plt_\S+)\n$`).FindStringSubmatch(out)
	require.NotNil(t, m, "%q", out)
	assert.Equal(t, h.url, m[1])
	assert.Equal(t, []string{`POST /api/v1/users {"email":"carol@example.com"}`}, h.requests())
	carol := &harness{apiEnv: &apiEnv{url: h.url, env: map[string]string{"HOME": t.TempDir()}, dir: t.TempDir()}}
	out = carol.ok(t, "login", "--api-url", m[1], "--token", m[2])
	assert.Equal(t, "Logged in as carol@example.com\n", out)

	// A user the platform knows is a member at once.
	out, errOut, err = h.run(t, "members:add", "carol@example.com", "--tenant", "acme", "--role", "owner")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "Adding carol@example.com to tenant acme as owner... done\n", errOut)
	assert.Equal(t, "carol@example.com\n  owner of tenant acme\n", carol.ok(t, "whoami"))
	h.requests()

	// An address with no account is invited, by an owner too; no token is
	// handed to anyone.
	carol.env["PLATFORM_API_URL"] = h.url
	out = carol.ok(t, "members:add", "dave@example.com", "--tenant", "acme", "--role", "member")
	assert.Equal(t, "invited dave@example.com: they accept with `platform invitations:accept acme` after signing in\n", out)
	assert.NotContains(t, out, "plt_")
	got := lines(carol.ok(t, "invitations", "--tenant", "acme"))
	require.Len(t, got, 2)
	assert.Regexp(t, `^TENANT +EMAIL +ROLE +INVITED BY +EXPIRES$`, got[0])
	assert.Regexp(t, `^acme +dave@example\.com +member +carol@example\.com +\S+`, got[1])

	// dave signs in once an admin has made his account, and accepts.
	out = h.ok(t, "users:create", "dave@example.com")
	token := regexp.MustCompile(`plt_\S+`).FindString(out)
	dave := &harness{apiEnv: &apiEnv{url: h.url, env: map[string]string{"HOME": t.TempDir(), "PLATFORM_API_URL": h.url, "PLATFORM_TOKEN": token}, dir: t.TempDir()}}
	assert.Regexp(t, `(?m)^acme +dave@example\.com +member +carol@example\.com `, dave.ok(t, "invitations"))
	_, _, err = dave.run(t, "invitations:accept", "globex")
	assert.EqualError(t, err, "you have no pending invitation to tenant globex: platform invitations lists yours")
	out, errOut, err = dave.run(t, "invitations:accept", "acme")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Accepting the invitation to tenant acme... done\n", errOut)
	assert.Equal(t, "You are a member of tenant acme now\n", out)
	assert.Equal(t, "dave@example.com\n  member of tenant acme\n", dave.ok(t, "whoami"))
	_, errOut, err = dave.run(t, "invitations")
	require.NoError(t, err)
	assert.Equal(t, "You have no pending invitations\n", errOut)

	// Declined and revoked invitations.
	h.ok(t, "tenants:create", "globex")
	h.ok(t, "members:add", "dave@example.com", "--tenant", "globex", "--role", "viewer")
	out = h.ok(t, "members:add", "erin@example.com", "--tenant", "globex")
	assert.Contains(t, out, "invited erin@example.com")
	_, errOut, err = h.run(t, "invitations:revoke", "erin@example.com", "--tenant", "globex")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Revoking the invitation of erin@example.com to tenant globex... done\n", errOut)
	_, _, err = h.run(t, "invitations:revoke", "erin@example.com", "--tenant", "globex")
	assert.EqualError(t, err, "tenant globex has no pending invitation of erin@example.com: platform invitations --tenant globex lists them")
	h.ok(t, "members:add", "fay@example.com", "--tenant", "globex")
	fayToken := regexp.MustCompile(`plt_\S+`).FindString(h.ok(t, "users:create", "fay@example.com"))
	fay := &harness{apiEnv: &apiEnv{url: h.url, env: map[string]string{"HOME": t.TempDir(), "PLATFORM_API_URL": h.url, "PLATFORM_TOKEN": fayToken}, dir: t.TempDir()}}
	_, errOut, err = fay.run(t, "invitations:decline", "globex")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Declining the invitation to tenant globex... done\n", errOut)
	assert.Equal(t, "fay@example.com\n", fay.ok(t, "whoami"))

	// Roles change; the last owner stays one.
	h.requests()
	_, errOut, err = h.run(t, "members:role", "carol@example.com", "--tenant", "acme", "--role", "viewer")
	assert.EqualError(t, err, "tenant acme would have no owner: make someone else owner first")
	assert.Equal(t, "Making carol@example.com viewer of tenant acme... failed\n", errOut)
	h.ok(t, "members:role", "dave@example.com", "--tenant", "acme", "--role", "owner")
	h.requests()
	_, errOut, err = h.run(t, "users:role", "carol@example.com", "--tenant", "acme", "--role", "viewer")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Making carol@example.com viewer of tenant acme... done\n", errOut)
	assert.Equal(t, []string{`PATCH /api/v1/tenants/acme/members/carol@example.com {"role":"viewer"}`}, h.requests())
	assert.Regexp(t, `(?m)^carol@example\.com +viewer `, h.ok(t, "members", "--tenant", "acme"))
	assert.Regexp(t, `(?m)^carol@example\.com +active +viewer of acme `, h.ok(t, "users"))

	_, errOut, err = h.run(t, "members:remove", "carol@example.com", "--tenant", "acme")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Removing carol@example.com from tenant acme... done\n", errOut)
	assert.Contains(t, h.requests(), "DELETE /api/v1/tenants/acme/members/carol@example.com")
	assert.NotContains(t, h.ok(t, "users", "--tenant", "acme"), "carol@")
	_, _, err = h.run(t, "members:remove", "carol@example.com", "--tenant", "acme")
	assert.EqualError(t, err, "carol@example.com is not a member of tenant acme")
	_, _, err = h.run(t, "members:role", "dave@example.com", "--tenant", "globex", "--role", "admin")
	assert.EqualError(t, err, `role "admin" cannot be held in a tenant: use owner, member or viewer`)
}

func TestUsersDeactivateAndTokens(t *testing.T) {
	h := newHarness(t)
	token := regexp.MustCompile(`plt_\S+`).FindString(h.ok(t, "users:create", "bob@example.com"))
	h.ok(t, "members:add", "bob@example.com", "--tenant", "acme")
	bob := &harness{apiEnv: &apiEnv{url: h.url, env: map[string]string{"HOME": t.TempDir(), "PLATFORM_API_URL": h.url, "PLATFORM_TOKEN": token}, dir: t.TempDir()}}
	bob.ok(t, "apps")
	h.requests()

	_, errOut, err := h.run(t, "users:deactivate", "bob@example.com")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Deactivating bob@example.com... done\n", errOut)
	assert.Equal(t, []string{`PATCH /api/v1/users/bob@example.com {"deactivated":true}`}, h.requests())
	_, _, err = bob.run(t, "apps")
	assert.EqualError(t, err, "your account is deactivated: ask a platform admin to reactivate it")
	assert.Regexp(t, `(?m)^bob@example\.com +deactivated \S+ \S+ \S+ +member of acme `, h.ok(t, "users"))
	_, _, err = h.run(t, "users:deactivate", "admin@example.com")
	assert.EqualError(t, err, "you cannot deactivate your own account: ask another platform admin")
	_, _, err = h.run(t, "users:deactivate", "nobody@example.com")
	assert.EqualError(t, err, "there is no user nobody@example.com: platform users lists them")

	_, errOut, err = h.run(t, "users:reactivate", "bob@example.com")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Reactivating bob@example.com... done\n", errOut)
	bob.ok(t, "apps")
	assert.Regexp(t, `(?m)^bob@example\.com +active +member of acme `, h.ok(t, "users"))

	// An admin lists and revokes a user's tokens.
	got := lines(h.ok(t, "tokens", "--user", "bob@example.com"))
	require.Len(t, got, 2)
	m := regexp.MustCompile(`^(\d+) +initial `).FindStringSubmatch(got[1])
	require.NotNil(t, m, got[1])
	h.requests()
	_, errOut, err = h.run(t, "tokens:revoke", m[1], "--user", "bob@example.com")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Revoking token "+m[1]+" of bob@example.com... done\n", errOut)
	assert.Equal(t, []string{"DELETE /api/v1/users/bob@example.com/tokens/" + m[1]}, h.requests())
	_, _, err = bob.run(t, "apps")
	assert.EqualError(t, err, "invalid or expired token: run platform login")
	_, _, err = h.run(t, "tokens:revoke", m[1], "--user", "bob@example.com")
	assert.EqualError(t, err, "bob@example.com has no API token "+m[1]+": platform tokens --user bob@example.com lists theirs")
}

func TestTenantsQuotaAndDestroy(t *testing.T) {
	h := newHarness(t)
	assert.Equal(t, []string{
		"=== acme Quota",
		"Apps:      10",
		"Processes: 20",
		"Max size:  standard",
	}, lines(h.ok(t, "tenants:quota", "acme")))
	var tenant api.Tenant
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "tenants:quota", "acme", "--json")), &tenant))
	assert.Equal(t, api.Quota{MaxApps: 10, MaxProcesses: 20, MaxSize: "standard"}, tenant.Quota)
	assert.Equal(t, []string{"GET /api/v1/tenants/acme", "GET /api/v1/tenants/acme"}, h.requests())
	_, _, err := h.run(t, "tenants:quota", "nope")
	assert.EqualError(t, err, `there is no tenant "nope"`)

	h.ok(t, "tenants:create", "globex")
	h.ok(t, "apps:create", "blog", "--tenant", "globex", "--no-remote")
	h.requests()
	_, _, err = h.run(t, "tenants:destroy", "globex")
	assert.EqualError(t, err, "this deletes tenant globex and all its apps; re-run with --confirm globex")
	_, _, err = h.run(t, "tenants:destroy", "globex", "--confirm", "acme")
	assert.EqualError(t, err, "--confirm acme does not match the tenant globex; re-run with --confirm globex")
	assert.Empty(t, h.requests())

	out, errOut, err := h.run(t, "tenants:destroy", "globex", "--confirm", "globex")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "Destroying tenant globex and its apps... done\n", errOut)
	assert.Equal(t, []string{`DELETE /api/v1/tenants/globex {"confirm":"globex"}`}, h.requests())
	_, err = h.st.GetApp(context.Background(), "blog")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, _, err = h.run(t, "tenants:quota", "globex")
	assert.EqualError(t, err, `there is no tenant "globex"`)
}

func TestAudit(t *testing.T) {
	h := newHarness(t)
	h.ok(t, "apps:create", "shop", "--tenant", "acme", "--no-remote")
	h.ok(t, "users:create", "bob@example.com")
	h.ok(t, "members:add", "bob@example.com", "--tenant", "acme", "--role", "viewer")
	h.requests()

	got := lines(h.ok(t, "audit", "-n", "2"))
	require.Len(t, got, 3)
	assert.Regexp(t, `^TIME +ACTOR +ACTION +TENANT +APP +TARGET +FROM +DETAILS$`, got[0])
	assert.Regexp(t, `^`+stampRE+` +admin@example\.com +member\.add +acme +bob@example\.com +127\.0\.0\.1 +role=viewer$`, got[1], "newest first")
	assert.Regexp(t, `^`+stampRE+` +admin@example\.com +user\.create +bob@example\.com +127\.0\.0\.1 +admin=false expires_at=\S+ token_id=\d+ token_name=initial$`, got[2])
	assert.Equal(t, []string{"GET /api/v1/audit?limit=2"}, h.requests())

	var events api.Page[api.AuditEvent]
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "audit", "--app", "shop", "--action", "app.", "--json")), &events))
	require.Len(t, events.Items, 1)
	assert.Equal(t, "app.create", events.Items[0].Action)
	assert.Equal(t, "shop", events.Items[0].App)
	assert.Equal(t, []string{"GET /api/v1/audit?action=app.&app=shop&limit=50"}, h.requests())

	out, errOut, err := h.run(t, "audit", "--actor", "nobody@example.com")
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.Equal(t, "No audit events match\n", errOut)

	// A viewer may not read it.
	h.env["PLATFORM_TOKEN"] = h.userToken(t, "val@example.com", store.Viewer)
	_, _, err = h.run(t, "audit")
	assert.EqualError(t, err, "only platform admins and tenant owners can read the audit log")
}

// TestDeployerEndpointsNeedADeployer holds why the commands in
// cli_fake_test.go are tested against a fake: platformd without a
// deployer, as newAPIEnv starts it, answers their endpoints 501, and the
// CLI passes its message on, on one line. When the fixture gets a deployer
// (a fake of server.AppOps, say), this fails: move those tests here.
func TestDeployerEndpointsNeedADeployer(t *testing.T) {
	h := newHarness(t)
	h.newApp(t, "shop")
	const (
		noReleases = "this platformd cannot make releases: it was started without a deployer"
		noOps      = "this platformd cannot reach running apps: it was started without a deployer"
	)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"config:set", "GREETING=hi", "-a", "shop"}, noReleases},
		{[]string{"config:unset", "GREETING", "-a", "shop"}, noReleases},
		{[]string{"releases:rollback", "-a", "shop"}, noReleases},
		{[]string{"ps", "-a", "shop"}, noOps},
		{[]string{"ps:scale", "web=2", "-a", "shop"}, noOps},
		{[]string{"ps:restart", "-a", "shop"}, noOps},
		{[]string{"logs", "-a", "shop"}, noOps},
		{[]string{"tenants:quota", "acme", "--apps", "5"}, "this platformd cannot change quotas: it was started without Kubernetes"},
		{[]string{"tenants:suspend", "acme"}, "this platformd cannot suspend tenants: it was started without Kubernetes"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := h.run(t, tt.args...)
			assert.EqualError(t, err, tt.want)
		})
	}
}

package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/release/releasetest"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// newReleaseFixture is the API fixture with a server that makes releases
// and runs them on a fake deployer, and shop deployed once (v1) with a web
// and a worker process type.
func newReleaseFixture(t *testing.T) (*apiFixture, *releasetest.Deployer) {
	t.Helper()
	f, dep := newUnbuiltFixture(t)
	f.deploy(t, dep, "aaaa", map[string]string{"web": "./web", "worker": "./worker"})
	return f, dep
}

// newUnbuiltFixture is newReleaseFixture before shop's first build.
func newUnbuiltFixture(t *testing.T) (*apiFixture, *releasetest.Deployer) {
	t.Helper()
	return newUnbuiltFixtureWith(t, func(*Config) {})
}

// newUnbuiltFixtureWith is newUnbuiltFixture with a server configured by
// configure as well.
func newUnbuiltFixtureWith(t *testing.T, configure func(*Config)) (*apiFixture, *releasetest.Deployer) {
	t.Helper()
	f := newAPIFixture(t)
	dep := releasetest.NewDeployer()
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	rels, err := release.NewReleases(release.ReleasesConfig{Logger: log, AppURL: func(app string) string { return "http://" + app + ".apps.test" }}, f.st, dep)
	require.NoError(t, err)
	cfg := Config{
		Logger: log, Metrics: prometheus.NewRegistry(), GitURL: testGitURL,
		WebURL:   func(app string) string { return "http://" + app + ".apps.test" },
		Releases: rels, Ops: dep, AppsDomain: "apps.test",
		APILock: release.LockConfig{Wait: 2 * time.Second, Poll: 50 * time.Millisecond},
	}
	configure(&cfg)
	f.srv, err = New(cfg, f.st)
	require.NoError(t, err)
	return f, dep
}

// deploy releases shop as a push of an image would.
func (f *apiFixture) deploy(t *testing.T, dep *releasetest.Deployer, image string, procs map[string]string) store.Release {
	t.Helper()
	return f.deployWithRelease(t, image, procs, "")
}

// deployWithRelease is deploy for an image whose Procfile has a release
// command.
func (f *apiFixture) deployWithRelease(t *testing.T, image string, procs map[string]string, releaseCommand string) store.Release {
	t.Helper()
	require.NoError(t, f.release(t, image, procs, releaseCommand))
	rel, err := f.st.LatestSucceededRelease(context.Background(), f.shop.ID)
	require.NoError(t, err)
	return rel
}

// release builds and releases shop as a push of an image would, and
// returns the release's error.
func (f *apiFixture) release(t *testing.T, image string, procs map[string]string, releaseCommand string) error {
	t.Helper()
	ctx := context.Background()
	b, err := f.st.CreateBuild(ctx, f.shop.ID, strings.Repeat(image[:1], 40), f.users["member"])
	require.NoError(t, err)
	_, err = f.st.MarkBuildRunning(ctx, b.ID)
	require.NoError(t, err)
	digest := "sha256:" + strings.Repeat(image[:1], 64)
	b, err = f.st.FinishBuild(ctx, b.ID, store.BuildResult{Status: store.BuildSucceeded, Stack: "go",
		ImageRef: "registry.test/acme/shop@" + digest, ImageDigest: digest})
	require.NoError(t, err)
	return f.srv.releases.ReleaseBuild(ctx, release.BuiltImage{App: f.shop, Tenant: f.acme, User: f.users["member"], Build: b,
		ImageRef: b.ImageRef, Digest: digest, Processes: procs, ReleaseCommand: releaseCommand}, io.Discard)
}

func (f *apiFixture) config(t *testing.T) map[string]string {
	t.Helper()
	c, err := f.st.GetConfig(context.Background(), f.shop.ID)
	require.NoError(t, err)
	return c
}

func str(s string) *string { return &s }

func TestAPIConfig(t *testing.T) {
	f, dep := newReleaseFixture(t)
	path := "/api/v1/apps/shop/config"
	set := func(vars map[string]*string) api.UpdateConfigRequest { return api.UpdateConfigRequest{Vars: vars} }

	rec := f.call(t, "member", http.MethodPatch, path, set(map[string]*string{"GREETING": str("hi"), "DATABASE_URL": str("postgres://db/x")}))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	ch := decode[api.ConfigChange](t, rec)
	assert.Equal(t, []string{"DATABASE_URL", "GREETING"}, ch.Keys)
	assert.Equal(t, 2, ch.Release.Version)
	assert.Equal(t, "succeeded", ch.Release.Status)
	assert.True(t, ch.Release.Current)
	assert.Equal(t, "Set DATABASE_URL, GREETING config vars", ch.Release.Description)
	assert.Equal(t, "member@example.com", ch.Release.Author)
	assert.Equal(t, map[string]string{"GREETING": "hi", "DATABASE_URL": "postgres://db/x"}, dep.Last().Config, "the release ran with the new config")
	assert.Equal(t, 2, dep.Last().Version)
	assert.Equal(t, "registry.test/acme/shop@sha256:"+strings.Repeat("a", 64), dep.Last().Image, "and the running image")

	got := decode[api.ConfigVars](t, f.call(t, "owner", http.MethodGet, path, nil))
	assert.Equal(t, map[string]string{"GREETING": "hi", "DATABASE_URL": "postgres://db/x"}, got.Vars)
	msg := wantError(t, f.call(t, "viewer", http.MethodGet, path, nil), http.StatusForbidden, api.CodeForbidden, "")
	assert.Contains(t, msg, "viewers cannot read config values")
	wantError(t, f.call(t, "outsider", http.MethodGet, path, nil), http.StatusNotFound, api.CodeNotFound, "")

	// Unset and set in one release.
	rec = f.call(t, "owner", http.MethodPatch, path, set(map[string]*string{"GREETING": nil, "MODE": str("a=b=c")}))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	ch = decode[api.ConfigChange](t, rec)
	assert.Equal(t, "Set MODE and unset GREETING config vars", ch.Release.Description)
	assert.Equal(t, map[string]string{"MODE": "a=b=c", "DATABASE_URL": "postgres://db/x"}, f.config(t))

	// Refusals change nothing.
	before := len(dep.Applied)
	wantError(t, f.call(t, "viewer", http.MethodPatch, path, set(map[string]*string{"A": str("1")})), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "outsider", http.MethodPatch, path, set(map[string]*string{"A": str("1")})), http.StatusNotFound, api.CodeNotFound, "")
	wantError(t, f.call(t, "member", http.MethodPatch, path, set(nil)), http.StatusBadRequest, api.CodeInvalid, "vars")
	msg = wantError(t, f.call(t, "member", http.MethodPatch, path, set(map[string]*string{"PORT": str("80")})), http.StatusBadRequest, api.CodeInvalid, "vars.PORT")
	assert.Contains(t, msg, "set by the platform")
	wantError(t, f.call(t, "member", http.MethodPatch, path, set(map[string]*string{"PLATFORM_APP": str("x")})), http.StatusBadRequest, api.CodeInvalid, "vars.PLATFORM_APP")
	wantError(t, f.call(t, "member", http.MethodPatch, path, set(map[string]*string{"1BAD": str("x")})), http.StatusBadRequest, api.CodeInvalid, "vars.1BAD")
	wantError(t, f.call(t, "member", http.MethodPatch, path, `{"vars": {"A": 1}}`), http.StatusBadRequest, api.CodeInvalid, "vars")
	wantError(t, f.call(t, "member", http.MethodPatch, path, `{"vars": {"A": "1"}, "extra": true}`), http.StatusBadRequest, api.CodeInvalid, "extra")
	msg = wantError(t, f.call(t, "member", http.MethodPatch, path, set(map[string]*string{"BIG": str(strings.Repeat("x", 33<<10))})), http.StatusBadRequest, api.CodeInvalid, "")
	assert.Contains(t, msg, "too long")
	big := map[string]*string{}
	for i := range 3 {
		big[fmt.Sprintf("BIG%d", i)] = str(strings.Repeat("x", 30<<10))
	}
	msg = wantError(t, f.call(t, "member", http.MethodPatch, path, set(big)), http.StatusBadRequest, api.CodeInvalid, "")
	assert.Contains(t, msg, "the limit is 65536")
	assert.Equal(t, before, len(dep.Applied), "no refused change was rolled out")
	assert.Equal(t, map[string]string{"MODE": "a=b=c", "DATABASE_URL": "postgres://db/x"}, f.config(t))

	// A release that fails to roll out is kept, failed, and its change undone.
	dep.Fail = func(rel deployer.Release) error {
		if rel.Config["CRASH"] != "" {
			return fmt.Errorf("exited with code 1")
		}
		return nil
	}
	msg = wantError(t, f.call(t, "member", http.MethodPatch, path, set(map[string]*string{"CRASH": str("yes"), "MODE": nil})), http.StatusUnprocessableEntity, api.CodeReleaseFailed, "")
	assert.Contains(t, msg, "v4 failed: release v4 failed: web: crash loop")
	assert.Contains(t, msg, "the config change was undone")
	assert.Equal(t, map[string]string{"MODE": "a=b=c", "DATABASE_URL": "postgres://db/x"}, f.config(t))
	rel := decode[api.Release](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/releases/v4", nil))
	assert.Equal(t, "failed", rel.Status)
	assert.Equal(t, []string{"CRASH", "DATABASE_URL"}, rel.ConfigKeys, "names only")
	cur := decode[api.App](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop", nil))
	assert.Equal(t, 4, cur.Release.Version)

	ev := f.audits(t, "config.update")
	require.Len(t, ev, 3)
	assert.Equal(t, "CRASH,MODE", ev[2].Target)
	assert.Equal(t, false, ev[2].Details["succeeded"])
	assert.NotContains(t, fmt.Sprint(ev), "postgres://db/x", "audit events hold no values")

	// A suspended tenant's apps cannot change.
	_, err := f.st.SuspendTenant(context.Background(), f.acme.ID, true)
	require.NoError(t, err)
	wantError(t, f.call(t, "member", http.MethodPatch, path, set(map[string]*string{"A": str("1")})), http.StatusForbidden, api.CodeForbidden, "")
}

func TestAPIConfigBeforeFirstDeploy(t *testing.T) {
	f := newAPIFixture(t)
	dep := releasetest.NewDeployer()
	rels, err := release.NewReleases(release.ReleasesConfig{Logger: slog.New(slog.DiscardHandler), AppURL: func(string) string { return "" }}, f.st, dep)
	require.NoError(t, err)
	f.srv.releases = rels
	rec := f.call(t, "member", http.MethodPatch, "/api/v1/apps/shop/config", api.UpdateConfigRequest{Vars: map[string]*string{"A": str("1")}})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	ch := decode[api.ConfigChange](t, rec)
	assert.Equal(t, 1, ch.Release.Version)
	assert.Equal(t, "succeeded", ch.Release.Status)
	assert.Empty(t, ch.Release.Image)
	assert.Empty(t, dep.Applied, "nothing runs before the first build")
}

func TestAPIScale(t *testing.T) {
	f, dep := newReleaseFixture(t)
	path := "/api/v1/apps/shop/formation"
	scale := func(ups ...api.ProcessUpdate) api.ScaleRequest { return api.ScaleRequest{Updates: ups} }
	n := func(i int) *int { return &i }

	fm := decode[api.Formation](t, f.call(t, "viewer", http.MethodGet, path, nil))
	require.Len(t, fm.Items, 2)
	assert.Equal(t, api.Process{Type: "web", Quantity: 1, Size: "standard", Command: "./web", Ready: 1, Release: 1}, fm.Items[0])
	assert.Equal(t, api.Process{Type: "worker", Quantity: 0, Size: "standard", Command: "./worker", Ready: 0, Release: 1}, fm.Items[1])

	rec := f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Quantity: n(3)}, api.ProcessUpdate{Type: "worker", Quantity: n(1), Size: str("small")}))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	fm = decode[api.Formation](t, rec)
	assert.Equal(t, 3, fm.Items[0].Quantity)
	assert.Equal(t, 3, fm.Items[0].Ready)
	assert.Equal(t, "small", fm.Items[1].Size)
	assert.Equal(t, []string{"web=3:", "worker=1:small"}, dep.Scaled)
	rels, err := f.st.ListReleases(context.Background(), f.shop.ID, store.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, rels, 1, "scaling makes no release")
	assert.Equal(t, "web=3 worker=1:small", f.audits(t, "formation.scale")[0].Target)

	// Refusals scale nothing.
	dep.Scaled = nil
	msg := wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Quantity: n(30)})), http.StatusForbidden, api.CodeQuotaExceeded, "")
	assert.Contains(t, msg, "at most 20 processes")
	msg = wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Size: str("large")})), http.StatusForbidden, api.CodeQuotaExceeded, "")
	assert.Contains(t, msg, "up to size standard")
	wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Size: str("huge")})), http.StatusBadRequest, api.CodeInvalid, "updates[0].size")
	wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Quantity: n(-1)})), http.StatusBadRequest, api.CodeInvalid, "updates[0].quantity")
	wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Quantity: n(1001)})), http.StatusBadRequest, api.CodeInvalid, "updates[0].quantity")
	wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "Web!", Quantity: n(1)})), http.StatusBadRequest, api.CodeInvalid, "updates[0].type")
	wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web"})), http.StatusBadRequest, api.CodeInvalid, "updates[0]")
	wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Quantity: n(1)}, api.ProcessUpdate{Type: "web", Quantity: n(2)})), http.StatusBadRequest, api.CodeInvalid, "updates[1].type")
	wantError(t, f.call(t, "member", http.MethodPatch, path, scale()), http.StatusBadRequest, api.CodeInvalid, "updates")
	wantError(t, f.call(t, "member", http.MethodPatch, path, `{"updates": [{"type": "web", "quantity": "3"}]}`), http.StatusBadRequest, api.CodeInvalid, "updates.quantity")
	msg = wantError(t, f.call(t, "member", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "clock", Quantity: n(1)})), http.StatusNotFound, api.CodeNotFound, "")
	assert.Contains(t, msg, "declares web, worker")
	wantError(t, f.call(t, "viewer", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Quantity: n(1)})), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "outsider", http.MethodPatch, path, scale(api.ProcessUpdate{Type: "web", Quantity: n(1)})), http.StatusNotFound, api.CodeNotFound, "")
	assert.Empty(t, dep.Scaled)
	procs, err := f.st.ListFormation(context.Background(), f.shop.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, procs[0].Quantity)

	// The next release carries the scale.
	f.deploy(t, dep, "bbbb", map[string]string{"web": "./web2"})
	last := dep.Last()
	require.Len(t, last.Processes, 1)
	assert.Equal(t, deployer.Process{Type: "web", Command: "./web2", Quantity: 3, Size: "standard"}, last.Processes[0])

	// ps lists the processes.
	dynos := decode[api.Dynos](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/ps", nil))
	require.Len(t, dynos.Items, 3)
	assert.Equal(t, "web.1", dynos.Items[0].Name)
	assert.Equal(t, "up", dynos.Items[0].State)
	assert.Equal(t, 2, dynos.Items[0].Release)

	// Restart.
	rec = f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/ps/restart", api.RestartRequest{Type: "web"})
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	rec = f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/ps/restart", nil)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"web", ""}, dep.Restarted)
	wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/ps/restart", api.RestartRequest{Type: "clock"}), http.StatusNotFound, api.CodeNotFound, "")
	wantError(t, f.call(t, "viewer", http.MethodPost, "/api/v1/apps/shop/ps/restart", nil), http.StatusForbidden, api.CodeForbidden, "")
	assert.Len(t, f.audits(t, "ps.restart"), 2)
}

func TestAPIReleasesAndRollback(t *testing.T) {
	f, dep := newReleaseFixture(t)
	ctx := context.Background()
	setConfig := func(k, v string) {
		rec := f.call(t, "member", http.MethodPatch, "/api/v1/apps/shop/config", api.UpdateConfigRequest{Vars: map[string]*string{k: &v}})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	setConfig("GREETING", "one")                                  // v2
	f.deploy(t, dep, "bbbb", map[string]string{"web": "./web-b"}) // v3, worker gone
	setConfig("GREETING", "two")                                  // v4
	dep.Fail = func(rel deployer.Release) error { return fmt.Errorf("exited with code 3") }
	rec := f.call(t, "member", http.MethodPatch, "/api/v1/apps/shop/config", api.UpdateConfigRequest{Vars: map[string]*string{"X": str("1")}}) // v5 failed
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	dep.Fail = nil

	page := decode[api.Page[api.Release]](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/releases?limit=2", nil))
	require.Len(t, page.Items, 2)
	assert.Equal(t, []int{5, 4}, []int{page.Items[0].Version, page.Items[1].Version})
	assert.Equal(t, "failed", page.Items[0].Status)
	assert.True(t, page.Items[1].Current)
	assert.Equal(t, "4", page.NextAfter)
	page = decode[api.Page[api.Release]](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/releases?limit=10&after=4", nil))
	assert.Equal(t, []string{"Deploy bbbbbbb", "Set GREETING config vars", "Deploy aaaaaaa"},
		[]string{page.Items[0].Description, page.Items[1].Description, page.Items[2].Description})
	assert.Empty(t, page.NextAfter)

	// Refusals make no release.
	msg := wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 5}), http.StatusConflict, api.CodeConflict, "")
	assert.Equal(t, "cannot roll back: v5 is failed: only a release that succeeded can be rolled back to", msg)
	msg = wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 4}), http.StatusConflict, api.CodeConflict, "")
	assert.Equal(t, "cannot roll back: v4 is the running release", msg)
	msg = wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 99}), http.StatusNotFound, api.CodeNotFound, "")
	assert.Equal(t, "cannot roll back: shop has no release v99", msg)
	wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: -1}), http.StatusBadRequest, api.CodeInvalid, "rollback_to")
	wantError(t, f.call(t, "viewer", http.MethodPost, "/api/v1/apps/shop/releases", nil), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "outsider", http.MethodPost, "/api/v1/apps/shop/releases", nil), http.StatusNotFound, api.CodeNotFound, "")
	n, err := f.st.ListReleases(ctx, f.shop.ID, store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, n, 5)

	// No version: the succeeded release before the running one (v3), with
	// its image and config, and today's scale.
	_, err = f.st.ScaleFormation(ctx, f.shop.ID, []store.ProcessScale{{Type: "web", Quantity: new(2)}})
	require.NoError(t, err)
	rec = f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", nil)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	rel := decode[api.Release](t, rec)
	assert.Equal(t, 6, rel.Version)
	assert.Equal(t, "Rollback to v3", rel.Description)
	assert.Equal(t, "succeeded", rel.Status)
	assert.Equal(t, map[string]string{"GREETING": "one"}, dep.Last().Config)
	assert.Equal(t, map[string]string{"GREETING": "one"}, f.config(t), "the config is v3's again")
	assert.Contains(t, dep.Last().Image, strings.Repeat("b", 64))
	assert.Equal(t, []deployer.Process{{Type: "web", Command: "./web-b", Quantity: 2, Size: "standard"}}, dep.Last().Processes)

	// To v1: image a, no config, and the worker type back at its old scale.
	rec = f.call(t, "owner", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 1})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "Rollback to v1", decode[api.Release](t, rec).Description)
	assert.Empty(t, f.config(t))
	assert.Contains(t, dep.Last().Image, strings.Repeat("a", 64))
	procs, err := f.st.ListFormation(ctx, f.shop.ID)
	require.NoError(t, err)
	assert.Equal(t, []store.Process{{Type: "web", Quantity: 2, Size: "standard", Command: "./web"}, {Type: "worker", Quantity: 0, Size: "standard", Command: "./worker"}}, procs)

	// A failed rollback puts config and formation back.
	dep.Fail = func(deployer.Release) error { return fmt.Errorf("exited with code 3") }
	wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 4}), http.StatusUnprocessableEntity, api.CodeReleaseFailed, "")
	assert.Empty(t, f.config(t))
	procs2, err := f.st.ListFormation(ctx, f.shop.ID)
	require.NoError(t, err)
	assert.Equal(t, procs, procs2)
	assert.Len(t, f.audits(t, "release.rollback"), 3)

	wantError(t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/releases/vx", nil), http.StatusBadRequest, api.CodeInvalid, "version")
	wantError(t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/releases/42", nil), http.StatusNotFound, api.CodeNotFound, "")
	wantError(t, f.call(t, "outsider", http.MethodGet, "/api/v1/apps/shop/releases", nil), http.StatusNotFound, api.CodeNotFound, "")
}

// TestAPIReleasePhaseOnConfigAndRollback: like a deploy, a config change
// and a rollback run the release command of the image they run, with the
// new config, before any process changes; re-applying a release (a domain
// added) does not.
func TestAPIReleasePhaseOnConfigAndRollback(t *testing.T) {
	f, dep := newReleaseFixture(t) // v1: image a, no release command
	ctx := context.Background()
	v2 := f.deployWithRelease(t, "bbbb", map[string]string{"web": "./web"}, "./migrate --all")
	assert.Equal(t, "./migrate --all", v2.ReleaseCommand)
	assert.Equal(t, "./migrate --all", dep.Last().ReleaseCommand)

	rec := f.call(t, "member", http.MethodPatch, "/api/v1/apps/shop/config", api.UpdateConfigRequest{Vars: map[string]*string{"DATABASE_URL": str("postgres://db/new")}})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "./migrate --all", dep.Last().ReleaseCommand, "v3 runs v2's release command")
	assert.Equal(t, map[string]string{"DATABASE_URL": "postgres://db/new"}, dep.Last().Config, "with the new config")
	v3, err := f.st.GetRelease(ctx, f.shop.ID, 3)
	require.NoError(t, err)
	assert.Equal(t, "./migrate --all", v3.ReleaseCommand)

	// A failing release phase fails the config change and puts the config
	// back, as a failed rollout does.
	dep.Fail = func(rel deployer.Release) error {
		if rel.ReleaseCommand != "" {
			return errors.New("release command exited with code 1")
		}
		return nil
	}
	wantError(t, f.call(t, "member", http.MethodPatch, "/api/v1/apps/shop/config", api.UpdateConfigRequest{Vars: map[string]*string{"X": str("1")}}),
		http.StatusUnprocessableEntity, api.CodeReleaseFailed, "")
	assert.Equal(t, map[string]string{"DATABASE_URL": "postgres://db/new"}, f.config(t))

	// Rollback to v1: v1 had no release command, so none runs.
	rec = f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 1})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Empty(t, dep.Last().ReleaseCommand)
	assert.Contains(t, dep.Last().Image, strings.Repeat("a", 64))
	dep.Fail = nil

	// Rollback to v3: v3's release command runs with v3's config.
	rec = f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 3})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "./migrate --all", dep.Last().ReleaseCommand)
	assert.Equal(t, map[string]string{"DATABASE_URL": "postgres://db/new"}, dep.Last().Config)
	assert.Contains(t, dep.Last().Image, strings.Repeat("b", 64))

	// Re-applying the running release to route a domain runs nothing.
	f.srv.skipDomainVerification = true // routed at once
	rec = f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/domains", api.AddDomainRequest{Host: "www.example.test"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, 6, dep.Last().Version)
	assert.Empty(t, dep.Last().ReleaseCommand)
}

func TestAPIBuilds(t *testing.T) {
	f, _ := newReleaseFixture(t)
	ctx := context.Background()
	b, err := f.st.CreateBuild(ctx, f.shop.ID, strings.Repeat("c", 40), f.users["owner"])
	require.NoError(t, err)
	require.NoError(t, f.st.AppendBuildLog(ctx, b.ID, "-----> Go app detected\nundefined: x\n"))
	_, err = f.st.FinishBuild(ctx, b.ID, store.BuildResult{Status: store.BuildFailed, Stack: "go", Error: "go build failed"})
	require.NoError(t, err)

	page := decode[api.Page[api.Build]](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/builds", nil))
	require.Len(t, page.Items, 2)
	assert.Equal(t, b.ID, page.Items[0].ID)
	assert.Equal(t, "failed", page.Items[0].Status)
	assert.Equal(t, "go build failed", page.Items[0].Error)
	assert.Equal(t, "owner@example.com", page.Items[0].Author)
	assert.Equal(t, "succeeded", page.Items[1].Status)

	one := decode[api.Build](t, f.call(t, "viewer", http.MethodGet, fmt.Sprintf("/api/v1/apps/shop/builds/%d", b.ID), nil))
	assert.Equal(t, strings.Repeat("c", 40), one.Commit)
	rec := f.call(t, "viewer", http.MethodGet, fmt.Sprintf("/api/v1/apps/shop/builds/%d/log", b.ID), nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, "-----> Go app detected\nundefined: x\n", rec.Body.String())

	// Another app's build is not found through this one.
	other, err := f.st.GetApp(ctx, "rivalapp")
	require.NoError(t, err)
	ob, err := f.st.CreateBuild(ctx, other.ID, strings.Repeat("d", 40), f.users["outsider"])
	require.NoError(t, err)
	wantError(t, f.call(t, "owner", http.MethodGet, fmt.Sprintf("/api/v1/apps/shop/builds/%d", ob.ID), nil), http.StatusNotFound, api.CodeNotFound, "")
	wantError(t, f.call(t, "owner", http.MethodGet, fmt.Sprintf("/api/v1/apps/shop/builds/%d/log", ob.ID), nil), http.StatusNotFound, api.CodeNotFound, "")
	wantError(t, f.call(t, "owner", http.MethodGet, "/api/v1/apps/shop/builds/abc", nil), http.StatusBadRequest, api.CodeInvalid, "id")
	wantError(t, f.call(t, "outsider", http.MethodGet, "/api/v1/apps/shop/builds", nil), http.StatusNotFound, api.CodeNotFound, "")
}

func TestAPILogs(t *testing.T) {
	f, dep := newReleaseFixture(t)
	dep.LogText = "2026-11-25T10:00:01.000000+00:00 app[web.1]: one\n" +
		"2026-11-25T10:00:02.000000+00:00 app[worker.1]: two\n" +
		"2026-11-25T10:00:03.000000+00:00 app[web.1]: three\n"
	rec := f.call(t, "member", http.MethodGet, "/api/v1/apps/shop/logs?lines=2", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, "2026-11-25T10:00:02.000000+00:00 app[worker.1]: two\n2026-11-25T10:00:03.000000+00:00 app[web.1]: three\n", rec.Body.String())
	rec = f.call(t, "member", http.MethodGet, "/api/v1/apps/shop/logs?process=web", nil)
	assert.Equal(t, 2, strings.Count(rec.Body.String(), "app[web.1]"))
	assert.NotContains(t, rec.Body.String(), "worker")

	wantError(t, f.call(t, "member", http.MethodGet, "/api/v1/apps/shop/logs?lines=0", nil), http.StatusBadRequest, api.CodeInvalid, "lines")
	wantError(t, f.call(t, "member", http.MethodGet, "/api/v1/apps/shop/logs?lines=x", nil), http.StatusBadRequest, api.CodeInvalid, "lines")
	wantError(t, f.call(t, "member", http.MethodGet, "/api/v1/apps/shop/logs?process=Web!", nil), http.StatusBadRequest, api.CodeInvalid, "process")
	wantError(t, f.call(t, "member", http.MethodGet, "/api/v1/apps/shop/logs?follow=perhaps", nil), http.StatusBadRequest, api.CodeInvalid, "follow")
	wantError(t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop/logs", nil), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "outsider", http.MethodGet, "/api/v1/apps/shop/logs", nil), http.StatusNotFound, api.CodeNotFound, "")

	// Following streams each line as it comes, until the client leaves.
	dep.Followed = make(chan struct{})
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/v1/apps/shop/logs?follow=true&lines=1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.tokens["member"])
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	defer func() {
		select {
		case <-dep.Followed:
		default:
			close(dep.Followed)
		}
	}()
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, line, "three")
	line, err = r.ReadString('\n')
	require.NoError(t, err, "the followed line arrives while the stream is open")
	assert.Contains(t, line, "followed line")
	close(dep.Followed)
	_, err = r.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF)
}

// TestAPIDomainsUnverified: with verification skipped (a local stack),
// a domain is routed as soon as it is added.
func TestAPIDomainsUnverified(t *testing.T) {
	f, dep := newUnbuiltFixtureWith(t, func(c *Config) { c.SkipDomainVerification = true })
	f.deploy(t, dep, "aaaa", map[string]string{"web": "./web", "worker": "./worker"})
	path := "/api/v1/apps/shop/domains"
	rec := f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{Host: "WWW.Example.com."})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	d := decode[api.Domain](t, rec)
	assert.Equal(t, "www.example.com", d.Host)
	assert.Equal(t, api.DomainVerified, d.Status)
	assert.Nil(t, d.Verification)
	assert.Equal(t, []string{"www.example.com"}, dep.Last().Domains, "routed at once")
	assert.Equal(t, 1, dep.Last().Version, "by applying the running release again")

	page := decode[api.Page[api.Domain]](t, f.call(t, "viewer", http.MethodGet, path, nil))
	require.Len(t, page.Items, 1)

	applied := len(dep.Applied)
	msg := wantError(t, f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{Host: "www.example.com"}), http.StatusConflict, api.CodeConflict, "host")
	assert.Equal(t, "www.example.com is added to shop already: platform domains -a shop shows it", msg)
	wantError(t, f.call(t, "member", http.MethodDelete, path+"/nope.example.com", nil), http.StatusNotFound, api.CodeNotFound, "")
	assert.Equal(t, applied, len(dep.Applied))

	rec = f.call(t, "member", http.MethodDelete, path+"/www.example.com", nil)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Empty(t, dep.Last().Domains)
	assert.Len(t, f.audits(t, "domain.add"), 1)
	assert.Len(t, f.audits(t, "domain.remove"), 1)

	// A domain that cannot be routed is not kept.
	dep.Fail = func(deployer.Release) error { return fmt.Errorf("apiserver down") }
	rec = f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{Host: "shop.example.com"})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	page = decode[api.Page[api.Domain]](t, f.call(t, "viewer", http.MethodGet, path, nil))
	assert.Empty(t, page.Items)
}

// TestAPIDomainRefusals: what can never be an app's custom domain, and
// who may not add one; each refusal says what to do instead and changes
// nothing.
func TestAPIDomainRefusals(t *testing.T) {
	f, dep := newUnbuiltFixtureWith(t, func(c *Config) {
		c.SkipDomainVerification = true
		c.ReservedHosts = []string{"Platform.Example.NET.", "git.example.net"}
	})
	f.deploy(t, dep, "aaaa", map[string]string{"web": "./web"})
	path := "/api/v1/apps/shop/domains"
	applied, before := len(dep.Applied), f.auditCount(t)
	for _, tt := range []struct {
		host, msg string
	}{
		{"192.0.2.10", "192.0.2.10 is an IP address: add a host name of yours, such as www.example.com, whose DNS points at the platform"},
		{"10.0.0.1.", "10.0.0.1 is an IP address"},
		{"2001:db8::1", "2001:db8::1 is an IP address"},
		{"[2001:db8::1]", "2001:db8::1 is an IP address"},
		{"[::ffff:127.0.0.1]", "is an IP address"},
		{"127.1", "127.1 is an IP address, not a host name"},
		{"www.0x7f", "www.0x7f is an IP address, not a host name"},
		{"platform.example.net", "platform.example.net is the platform's own host name: add a host name of yours, such as www.example.com"},
		{"GIT.example.net", "git.example.net is the platform's own host name"},
		{"apps.test", "apps.test is under apps.test, whose names the platform gives to apps (shop answers on shop.apps.test already)"},
		{"other.apps.test", "other.apps.test is under apps.test"},
		{"a.b.apps.test", "a.b.apps.test is under apps.test"},
		{"shop.localhost", "shop.localhost names this machine, not a site"},
		{"localhost", "is invalid"},
		{"not a host", "is invalid: use a host name such as www.example.com"},
	} {
		msg := wantError(t, f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{Host: tt.host}), http.StatusBadRequest, api.CodeInvalid, "host")
		assert.Contains(t, msg, tt.msg, tt.host)
	}
	wantError(t, f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{}), http.StatusBadRequest, api.CodeInvalid, "host")
	wantError(t, f.call(t, "viewer", http.MethodPost, path, api.AddDomainRequest{Host: "a.example.com"}), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "outsider", http.MethodPost, path, api.AddDomainRequest{Host: "a.example.com"}), http.StatusNotFound, api.CodeNotFound, "")

	// Another tenant's app holds the domain: refused without saying who.
	rival, err := f.st.GetApp(context.Background(), "rivalapp")
	require.NoError(t, err)
	_, err = f.st.AddDomain(context.Background(), rival.ID, "taken.example.com", true)
	require.NoError(t, err)
	msg := wantError(t, f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{Host: "Taken.Example.com"}), http.StatusConflict, api.CodeConflict, "host")
	assert.Equal(t, "taken.example.com is in use by another app on the platform: if the domain is yours, remove it from that app first, or ask a platform admin", msg)
	assert.NotContains(t, msg, "rival")

	// A suspended tenant adds nothing.
	_, err = f.st.SuspendTenant(context.Background(), f.acme.ID, true)
	require.NoError(t, err)
	msg = wantError(t, f.call(t, "owner", http.MethodPost, path, api.AddDomainRequest{Host: "www.example.com"}), http.StatusForbidden, api.CodeForbidden, "")
	assert.Equal(t, "tenant acme is suspended: its apps cannot get domains until a platform admin lifts the suspension", msg)

	assert.Equal(t, applied, len(dep.Applied), "nothing was routed")
	assert.Equal(t, before, f.auditCount(t), "nothing refused is audited")
	ds, err := f.st.ListDomains(context.Background(), f.shop.ID)
	require.NoError(t, err)
	assert.Empty(t, ds)
}

// TestAPIDomainVerification: a domain waits, unrouted, for the TXT record
// the API names, which a real resolver finds on a DNS server of the
// test's; only then is it routed.
func TestAPIDomainVerification(t *testing.T) {
	dns := newDNSServer(t)
	f, dep := newUnbuiltFixtureWith(t, func(c *Config) { c.Resolver = dns.resolver() })
	f.deploy(t, dep, "aaaa", map[string]string{"web": "./web"})
	path := "/api/v1/apps/shop/domains"
	applied := len(dep.Applied)

	rec := f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{Host: "www.example.com"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	d := decode[api.Domain](t, rec)
	assert.Equal(t, api.DomainPending, d.Status)
	require.NotNil(t, d.Verification)
	assert.Equal(t, "TXT", d.Verification.Type)
	assert.Equal(t, "_platform-challenge.www.example.com", d.Verification.Name)
	token := d.Verification.Value
	require.NotEmpty(t, token)
	assert.Equal(t, applied, len(dep.Applied), "not routed while pending")
	page := decode[api.Page[api.Domain]](t, f.call(t, "viewer", http.MethodGet, path, nil))
	require.Len(t, page.Items, 1)
	assert.Equal(t, d, page.Items[0], "the listing shows the record to create")

	// Another tenant claiming it first blocks nobody.
	rival, err := f.st.GetApp(context.Background(), "rivalapp")
	require.NoError(t, err)
	_, err = f.st.AddDomain(context.Background(), rival.ID, "www.example.com", false)
	require.NoError(t, err)

	verify := path + "/www.example.com/verify"
	msg := wantError(t, f.call(t, "member", http.MethodPost, verify, nil), http.StatusConflict, api.CodeNotVerified, "host")
	assert.Equal(t, "www.example.com is not verified: DNS has no TXT record _platform-challenge.www.example.com. Create a TXT record _platform-challenge.www.example.com with the value "+
		token+", wait for it to show in DNS, and run platform domains:verify www.example.com again", msg)
	dns.setTXT("_platform-challenge.www.example.com", "something else")
	msg = wantError(t, f.call(t, "member", http.MethodPost, verify, nil), http.StatusConflict, api.CodeNotVerified, "host")
	assert.Contains(t, msg, `the TXT records of _platform-challenge.www.example.com hold ["something else"], not the token`)
	assert.Equal(t, applied, len(dep.Applied))
	wantError(t, f.call(t, "viewer", http.MethodPost, verify, nil), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "member", http.MethodPost, path+"/nope.example.com/verify", nil), http.StatusNotFound, api.CodeNotFound, "")

	dns.setTXT("_platform-challenge.www.example.com", "something else", token)
	rec = f.call(t, "member", http.MethodPost, verify, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	d = decode[api.Domain](t, rec)
	assert.Equal(t, api.DomainVerified, d.Status)
	assert.Nil(t, d.Verification)
	assert.Equal(t, []string{"www.example.com"}, dep.Last().Domains, "routed once verified")
	require.Len(t, f.audits(t, "domain.verify"), 1)
	rec = f.call(t, "member", http.MethodPost, verify, nil)
	require.Equal(t, http.StatusOK, rec.Code, "again: as it is")
	assert.Len(t, f.audits(t, "domain.verify"), 1)

	// The other tenant's claim can no longer be verified, whatever its DNS
	// says, and it cannot be added again.
	wantError(t, f.call(t, "outsider", http.MethodPost, "/api/v1/apps/rivalapp/domains/www.example.com/verify", nil), http.StatusConflict, api.CodeNotVerified, "host")
	dns.setTXT("_platform-challenge.www.example.com", token)
	_, err = f.st.VerifyDomain(context.Background(), rival.ID, "www.example.com")
	assert.ErrorIs(t, err, store.ErrConflict)

	// A verification whose routing fails is taken back.
	rec = f.call(t, "member", http.MethodPost, path, api.AddDomainRequest{Host: "api.example.com"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	dns.setTXT("_platform-challenge.api.example.com", decode[api.Domain](t, rec).Verification.Value)
	dep.Fail = func(deployer.Release) error { return fmt.Errorf("apiserver down") }
	rec = f.call(t, "member", http.MethodPost, path+"/api.example.com/verify", nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	routed, err := f.st.ListRoutedDomains(context.Background(), f.shop.ID)
	require.NoError(t, err)
	require.Len(t, routed, 1)
	assert.Equal(t, "www.example.com", routed[0].Host)
}

func TestAPISizes(t *testing.T) {
	f := newAPIFixture(t)
	s := decode[api.Sizes](t, f.call(t, "viewer", http.MethodGet, "/api/v1/sizes", nil))
	require.Len(t, s.Items, 3)
	assert.Equal(t, []string{"small", "standard", "large"}, []string{s.Items[0].Name, s.Items[1].Name, s.Items[2].Name})
	assert.Positive(t, s.Items[0].MemoryLimitMiB)
	assert.Less(t, s.Items[0].MemoryLimitMiB, s.Items[2].MemoryLimitMiB)
}

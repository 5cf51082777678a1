package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// The edges of an app's release history: releases without an image (config
// changes before any build) are a normal state, and every path that reads
// the running release handles them. The fake deployer refuses what the
// real one refuses, an invalid previous release included.

// setVar sets (or, with v nil, unsets) one config var of shop through the
// API as member and returns the response's release.
func (f *apiFixture) setVar(t *testing.T, k string, v *string) api.Release {
	t.Helper()
	rec := f.call(t, "member", http.MethodPatch, "/api/v1/apps/shop/config", api.UpdateConfigRequest{Vars: map[string]*string{k: v}})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return decode[api.ConfigChange](t, rec).Release
}

func TestFirstBuildAfterConfigChange(t *testing.T) {
	f, dep := newUnbuiltFixture(t)
	v1 := f.setVar(t, "DATABASE_URL", str("postgres://db/shop"))
	assert.Equal(t, 1, v1.Version)
	assert.Empty(t, v1.Image)

	rel := f.deploy(t, dep, "aaaa", map[string]string{"web": "./web"})
	assert.Equal(t, 2, rel.Version)
	assert.Equal(t, store.ReleaseSucceeded, rel.Status)
	require.Len(t, dep.Applied, 1)
	assert.Equal(t, map[string]string{"DATABASE_URL": "postgres://db/shop"}, dep.Last().Config, "the first build runs with the config set before it")
	assert.Nil(t, dep.Prevs[0], "a config change before the first build runs nothing, so there is no previous release")

	// Later pushes and config changes roll from v2.
	rel = f.deploy(t, dep, "bbbb", map[string]string{"web": "./web"})
	assert.Equal(t, 3, rel.Version)
	require.NotNil(t, dep.Prevs[1])
	assert.Equal(t, 2, dep.Prevs[1].Version)
	v4 := f.setVar(t, "GREETING", str("hi"))
	assert.Equal(t, "succeeded", v4.Status)
	assert.Contains(t, v4.Image, strings.Repeat("b", 64))
	assert.Equal(t, 3, dep.Prevs[2].Version)

	// Reconcile at start applies the running release, not the config-only v1.
	require.NoError(t, f.srv.releases.Reconcile(context.Background(), f.shop, f.acme))
	assert.Equal(t, 4, dep.Last().Version)
}

func TestUnsetLastVarBeforeFirstBuild(t *testing.T) {
	f, dep := newUnbuiltFixture(t)
	f.setVar(t, "A", str("1"))
	v2 := f.setVar(t, "A", nil)
	assert.Equal(t, 2, v2.Version)
	assert.Equal(t, "succeeded", v2.Status)
	assert.Empty(t, v2.ConfigKeys)
	assert.Empty(t, f.config(t))
	assert.Empty(t, dep.Applied, "nothing runs before the first build")

	rel := f.deploy(t, dep, "aaaa", map[string]string{"web": "./web"})
	assert.Equal(t, 3, rel.Version)
	assert.Empty(t, dep.Last().Config)
	assert.Nil(t, dep.Prevs[0])
}

func TestAppWhoseOnlyReleasesFailed(t *testing.T) {
	f, dep := newUnbuiltFixture(t)
	dep.Fail = func(deployer.Release) error { return errors.New("exited with code 3") }
	require.Error(t, f.release(t, "aaaa", map[string]string{"web": "./web"}, "")) // v1 failed
	dep.Fail = nil

	v2 := f.setVar(t, "A", str("1"))
	assert.Equal(t, "succeeded", v2.Status)
	assert.Empty(t, v2.Image, "v1 never ran, so the config change has no image to run")
	assert.Len(t, dep.Applied, 1, "the config change runs nothing")

	// Nothing to roll back to: v1 failed, v2 ran no build.
	msg := wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", nil), http.StatusConflict, api.CodeConflict, "")
	assert.Equal(t, "cannot roll back: shop has not run a build yet (git push to deploy one)", msg)

	rel := f.deploy(t, dep, "bbbb", map[string]string{"web": "./web"})
	assert.Equal(t, 3, rel.Version)
	assert.Nil(t, dep.Prevs[1], "the failed v1 is not the previous release")
	assert.Equal(t, map[string]string{"A": "1"}, dep.Last().Config)

	msg = wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 1}), http.StatusConflict, api.CodeConflict, "")
	assert.Equal(t, "cannot roll back: v1 is failed: only a release that succeeded can be rolled back to", msg)
}

func TestRollbackToConfigOnlyRelease(t *testing.T) {
	f, dep := newUnbuiltFixture(t)
	f.setVar(t, "A", str("1"))                                  // v1, no image
	f.deploy(t, dep, "aaaa", map[string]string{"web": "./web"}) // v2

	msg := wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", api.RollbackRequest{RollbackTo: 1}), http.StatusConflict, api.CodeConflict, "")
	assert.Equal(t, "cannot roll back: v1 ran no build (a config change made before the first push); roll back to a release that ran one", msg)
	msg = wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps/shop/releases", nil), http.StatusConflict, api.CodeConflict, "")
	assert.Equal(t, "cannot roll back: shop has no succeeded release before v2", msg)
	rels, err := f.st.ListReleases(context.Background(), f.shop.ID, store.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, rels, 2, "a refused rollback makes no release")
	assert.Len(t, dep.Applied, 1)
}

package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/release/releasetest"
	"github.com/platform-paas/platform/server/store"
)

// TestDestroyApp destroys a running app through the API: its processes,
// routes, images and repository are gone, and an app created again under
// the same name starts clean at v1.
func TestDestroyApp(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	ctx := context.Background()
	app := s.CreateApp(t, "gone")
	dir := s.Repo(t, "go", app.Name)
	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	rel, err := s.Store.LatestSucceededRelease(ctx, app.ID)
	require.NoError(t, err)

	destroy := func(confirm string) int {
		req, err := http.NewRequest(http.MethodDelete, s.Env.APIURL+"/api/v1/apps/"+app.Name,
			strings.NewReader(fmt.Sprintf(`{"confirm": %q}`, confirm)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.Env.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusBadRequest, destroy("not-"+app.Name), "the name must be typed")
	code, _ := s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, "a refused destroy changes nothing")

	code = destroy(app.Name)
	require.Less(t, code, 300, "destroy answers %d", code)

	_, err = s.Store.GetApp(ctx, app.Name)
	assert.ErrorIs(t, err, store.ErrNotFound)
	dep, err := deployer.New(deployer.Config{Kubeconfig: s.Env.Kubeconfig})
	require.NoError(t, err)
	status, err := dep.Status(ctx, s.Tenant.Name, app.Name)
	require.NoError(t, err)
	assert.Empty(t, status, "no process of the app is left")
	code, _ = s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusNotFound, code, "the router no longer routes to it")
	repo, digest, ok := strings.Cut(strings.TrimPrefix(rel.ImageRef, s.Env.Registry+"/"), "@")
	require.True(t, ok, rel.ImageRef)
	req, err := http.NewRequest(http.MethodHead, "http://"+s.Env.Registry+"/v2/"+repo+"/manifests/"+digest, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := (&http.Client{Transport: s.Env.RegistryTransport(t, "repository:"+repo+":pull")}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the app's image is no longer served")

	// The same name again: a clean app, whose config set before its first
	// push is v1 and whose first push is v2; nothing of the destroyed app's
	// history (releases, repository, running release) is taken for its own.
	again, err := s.Store.CreateApp(ctx, s.Tenant.ID, app.Name)
	require.NoError(t, err)
	assert.Zero(t, again.LastVersion)
	cfg := s.SetConfig(t, app.Name, map[string]string{"GREETING": "again"})
	assert.Equal(t, 1, cfg.Version)
	out, err = s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "Released v2")
	assert.Contains(t, out, "[new branch]", "the repository started empty")
	code, _ = s.Get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code)
}

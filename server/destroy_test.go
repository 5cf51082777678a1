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
	"github.com/platform-paas/platform/server/store"
)

// TestDestroyApp destroys a running app through the API: its processes,
// routes, images and repository are gone, and an app created again under
// the same name starts clean at v1.
func TestDestroyApp(t *testing.T) {
	s := newStackTenant(t)
	ctx := context.Background()
	app := s.createApp(t, "gone")
	dir := s.repo(t, "go", app.Name)
	out, err := s.push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	rel, err := s.st.LatestSucceededRelease(ctx, app.ID)
	require.NoError(t, err)

	destroy := func(confirm string) int {
		req, err := http.NewRequest(http.MethodDelete, s.env.APIURL+"/api/v1/apps/"+app.Name,
			strings.NewReader(fmt.Sprintf(`{"confirm": %q}`, confirm)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.env.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusBadRequest, destroy("not-"+app.Name), "the name must be typed")
	code, _ := s.get(t, app.Name, "/")
	assert.Equal(t, http.StatusOK, code, "a refused destroy changes nothing")

	code = destroy(app.Name)
	require.Less(t, code, 300, "destroy answers %d", code)

	_, err = s.st.GetApp(ctx, app.Name)
	assert.ErrorIs(t, err, store.ErrNotFound)
	dep, err := deployer.New(deployer.Config{Kubeconfig: s.env.Kubeconfig})
	require.NoError(t, err)
	status, err := dep.Status(ctx, s.tenant.Name, app.Name)
	require.NoError(t, err)
	assert.Empty(t, status, "no process of the app is left")
	code, _ = s.get(t, app.Name, "/")
	assert.Equal(t, http.StatusNotFound, code, "the router no longer routes to it")
	repo, digest, ok := strings.Cut(strings.TrimPrefix(rel.ImageRef, s.env.Registry+"/"), "@")
	require.True(t, ok, rel.ImageRef)
	req, err := http.NewRequest(http.MethodHead, "http://"+s.env.Registry+"/v2/"+repo+"/manifests/"+digest, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the app's image is no longer served")

	// The same name again: a clean app, whose first push is v1.
	again, err := s.st.CreateApp(ctx, s.tenant.ID, app.Name)
	require.NoError(t, err)
	assert.Zero(t, again.LastVersion)
	out, err = s.push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "Released v1")
	assert.Contains(t, out, "[new branch]", "the repository started empty")
}

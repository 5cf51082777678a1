package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/gitreceive"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/release/releasetest"
	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
	"github.com/platform-paas/platform/server/testdb"
)

// noBuilder is a pipeline's builder that nothing here calls.
type noBuilder struct{}

func (noBuilder) Build(context.Context, builder.Request) (builder.Result, error) {
	return builder.Result{}, errors.New("no builds in this test")
}

const deactivationKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl dev@laptop"

// TestDeactivationEndsEveryCredential wires the API and the git
// receiver's key check as platformd does, on one database: once an admin
// deactivates a user, their API token, their dashboard session and their
// SSH key (the gitAuth the receiver calls, and the per-command check of a
// connection already open) are refused at once.
func TestDeactivationEndsEveryCredential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testdb.Open(t)
	log := slog.New(slog.DiscardHandler)
	srv, err := server.New(server.Config{Logger: log, Metrics: prometheus.NewRegistry()}, st)
	require.NoError(t, err)
	rels, err := release.NewReleases(release.ReleasesConfig{Logger: log, AppURL: func(app string) string { return "http://" + app }}, st, releasetest.NewDeployer())
	require.NoError(t, err)
	pipeline, err := release.NewPipeline(release.PipelineConfig{Logger: log}, st, noBuilder{}, rels)
	require.NoError(t, err)
	auth := gitAuth{pipeline}

	admin, err := st.CreateUser(ctx, "admin@example.com", true)
	require.NoError(t, err)
	adminToken, _, err := st.CreateToken(ctx, admin.ID, "test", nil)
	require.NoError(t, err)
	tenant, err := st.CreateTenant(ctx, "acme", store.DefaultQuota())
	require.NoError(t, err)
	_, err = st.CreateApp(ctx, tenant.ID, "shop")
	require.NoError(t, err)
	dev, err := st.CreateUser(ctx, "dev@example.com", false)
	require.NoError(t, err)
	require.NoError(t, st.AddMember(ctx, tenant.ID, dev.ID, store.Member))
	devToken, _, err := st.CreateToken(ctx, dev.ID, "cli", nil)
	require.NoError(t, err)
	key, err := st.AddSSHKey(ctx, dev.ID, "laptop", deactivationKey)
	require.NoError(t, err)

	call := func(method, path, token string, cookie *http.Cookie, body any) *httptest.ResponseRecorder {
		t.Helper()
		var b []byte
		if body != nil {
			var merr error
			b, merr = json.Marshal(body)
			require.NoError(t, merr)
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(b))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	rec := call(http.MethodPost, "/session", "", nil, map[string]string{"token": devToken})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "platform_session" {
			session = c
		}
	}
	require.NotNil(t, session)

	// Before: every credential signs in.
	require.Equal(t, http.StatusOK, call(http.MethodGet, "/api/v1/apps", devToken, nil, nil).Code)
	require.Equal(t, http.StatusOK, call(http.MethodGet, "/session", "", session, nil).Code)
	userID, err := auth.UserForKey(ctx, deactivationKey, key.Fingerprint)
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(dev.ID, 10), userID)
	require.NoError(t, pipeline.Authorize(ctx, userID, "shop", true))

	rec = call(http.MethodPatch, "/api/v1/users/dev@example.com", adminToken, nil, api.UpdateUserRequest{Deactivated: new(true)})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	// After: none does.
	rec = call(http.MethodGet, "/api/v1/apps", devToken, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	var body api.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, api.CodeDeactivated, body.Error.Code)
	assert.Equal(t, "your account is deactivated: ask a platform admin to reactivate it", body.Error.Message)
	assert.Equal(t, http.StatusUnauthorized, call(http.MethodGet, "/session", "", session, nil).Code)
	_, err = auth.UserForKey(ctx, deactivationKey, key.Fingerprint)
	assert.ErrorIs(t, err, gitreceive.ErrUnknownKey, "the git receiver refuses the key")
	assert.ErrorIs(t, err, store.ErrDeactivated, "and its log says why")
	assert.ErrorIs(t, pipeline.Authorize(ctx, userID, "shop", true), release.ErrNoAccess, "a connection opened before is refused its next command")

	// Reactivated, the token and the key work again.
	rec = call(http.MethodPatch, "/api/v1/users/dev@example.com", adminToken, nil, api.UpdateUserRequest{Deactivated: new(false)})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/api/v1/apps", devToken, nil, nil).Code)
	_, err = auth.UserForKey(ctx, deactivationKey, key.Fingerprint)
	assert.NoError(t, err)
}

func TestPushOptions(t *testing.T) {
	verbose, err := pushOptions(nil)
	require.NoError(t, err)
	assert.False(t, verbose)
	verbose, err = pushOptions([]string{"verbose"})
	require.NoError(t, err)
	assert.True(t, verbose)
	_, err = pushOptions([]string{"verbose", "debug"})
	assert.EqualError(t, err, `unknown push option "debug": the platform takes -o verbose (the build's whole output); push again without it`)
}

package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// fakeRemover records the apps it is asked to remove and fails with err.
type fakeRemover struct {
	mu     sync.Mutex
	calls  []string
	err    error
	during func() // called inside RemoveApp
}

// RemoveTenant records the tenant as "tenant/" and fails with err.
func (f *fakeRemover) RemoveTenant(_ context.Context, tenant string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, tenant+"/")
	return f.err
}

func (f *fakeRemover) RemoveApp(_ context.Context, tenant, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, tenant+"/"+app)
	if f.during != nil {
		f.during()
	}
	return f.err
}

func TestAPIDestroyApp(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	rm := &fakeRemover{}
	f.srv.remover = rm
	confirm := api.DestroyAppRequest{Confirm: "shop"}

	// Refusals remove nothing.
	msg := wantError(t, f.call(t, "owner", http.MethodDelete, "/api/v1/apps/shop", nil), http.StatusBadRequest, api.CodeInvalid, "confirm")
	assert.Equal(t, "type the app's name to confirm: platform apps:destroy --confirm shop", msg)
	wantError(t, f.call(t, "owner", http.MethodDelete, "/api/v1/apps/shop", api.DestroyAppRequest{Confirm: "shoe"}), http.StatusBadRequest, api.CodeInvalid, "confirm")
	wantError(t, f.call(t, "owner", http.MethodDelete, "/api/v1/apps/shop", map[string]string{}), http.StatusBadRequest, api.CodeInvalid, "confirm")
	wantError(t, f.call(t, "member", http.MethodDelete, "/api/v1/apps/shop", confirm), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "viewer", http.MethodDelete, "/api/v1/apps/shop", confirm), http.StatusForbidden, api.CodeForbidden, "")
	msg = wantError(t, f.call(t, "outsider", http.MethodDelete, "/api/v1/apps/shop", confirm), http.StatusNotFound, api.CodeNotFound, "")
	assert.Equal(t, release.ErrNoAccess.Error(), msg)
	wantError(t, f.call(t, "owner", http.MethodDelete, "/api/v1/apps/rivalapp", api.DestroyAppRequest{Confirm: "rivalapp"}), http.StatusNotFound, api.CodeNotFound, "")
	wantError(t, f.call(t, "", http.MethodDelete, "/api/v1/apps/shop", confirm), http.StatusUnauthorized, api.CodeUnauthorized, "")
	assert.Empty(t, rm.calls)

	// A failed removal keeps the app, to be destroyed again.
	rm.err = errors.Join(errors.New("deleting its build cache: buildkit is down"), errors.New("deleting its images: disk on fire"))
	msg = wantError(t, f.call(t, "owner", http.MethodDelete, "/api/v1/apps/shop", confirm), http.StatusInternalServerError, api.CodeInternal, "")
	assert.Contains(t, msg, "buildkit is down; deleting its images: disk on fire")
	_, err := f.st.GetApp(ctx, "shop")
	require.NoError(t, err, "the app is kept")
	assert.Empty(t, f.audits(t, "app.destroy"))

	// The owner destroys it, under its deploy lock.
	rm.err = nil
	rm.calls = nil
	rm.during = func() {
		l, err := f.st.DeployLock(ctx, f.shop.ID)
		if assert.NoError(t, err, "the deploy lock is held") {
			assert.Contains(t, l.Description, "destroy of shop by owner@example.com")
		}
	}
	rec := f.call(t, "owner", http.MethodDelete, "/api/v1/apps/shop", confirm)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, api.DestroyedApp{Name: "shop", Destroyed: true}, decode[api.DestroyedApp](t, rec))
	assert.Equal(t, []string{"acme/shop"}, rm.calls)
	_, err = f.st.GetApp(ctx, "shop")
	assert.ErrorIs(t, err, store.ErrNotFound)
	events := f.audits(t, "app.destroy")
	require.Len(t, events, 1)
	assert.Equal(t, "shop", events[0].AppName)
	assert.Equal(t, f.users["owner"].ID, *events[0].ActorID)
	require.NotNil(t, events[0].TenantID)
	assert.Equal(t, f.acme.ID, *events[0].TenantID)
	wantError(t, f.call(t, "owner", http.MethodDelete, "/api/v1/apps/shop", confirm), http.StatusNotFound, api.CodeNotFound, "")

	// A platform admin may destroy any app.
	rm.during = nil
	rec = f.call(t, "admin", http.MethodDelete, "/api/v1/apps/rivalapp", api.DestroyAppRequest{Confirm: "rivalapp"})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"acme/shop", "rival/rivalapp"}, rm.calls)
}

func TestAPIDestroyAppWithoutRemover(t *testing.T) {
	f := newAPIFixture(t)
	rec := f.call(t, "owner", http.MethodDelete, "/api/v1/apps/shop", api.DestroyAppRequest{Confirm: "shop"})
	wantError(t, rec, http.StatusNotImplemented, api.CodeNotImplemented, "")
	_, err := f.st.GetApp(context.Background(), "shop")
	assert.NoError(t, err)
}

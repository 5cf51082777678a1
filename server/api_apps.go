package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// appView is what the API says about an app, without its release.
func (s *Server) appView(a store.App) api.App {
	v := api.App{Name: a.Name, Tenant: a.TenantName, CreatedAt: a.CreatedAt}
	if s.gitURL != "" {
		v.GitURL = s.gitURL + "/" + a.Name + ".git"
	}
	if s.webURL != nil {
		v.WebURL = s.webURL(a.Name)
	}
	return v
}

// appFor returns the app named name if the user holds at least min in its
// tenant. A user with no role there is told that there is no such app, as
// for an app that does not exist.
func (s *Server) appFor(ctx context.Context, u store.User, name string, min store.Role) (store.App, error) {
	app, err := s.st.GetApp(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.App{}, errNoApp
	}
	if err != nil {
		return store.App{}, err
	}
	role, err := s.st.RoleOf(ctx, u.ID, app.TenantID)
	if errors.Is(err, store.ErrNotFound) {
		return store.App{}, errNoApp
	}
	if err != nil {
		return store.App{}, err
	}
	if !role.AtLeast(min) {
		return store.App{}, forbidden("you are a %s of tenant %s: this needs the %s role", role, app.TenantName, min)
	}
	return app, nil
}

// listApps lists the apps of the user's tenants (an admin's: every app),
// by creation: GET /apps. The cursor is the app's ID.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request) error {
	return listPageByID(w, r, func(o store.ListOptions) ([]store.App, error) {
		u := userFrom(r.Context())
		if u.IsAdmin {
			return s.st.ListApps(r.Context(), o)
		}
		ms, err := s.st.ListMemberships(r.Context(), u.ID)
		if err != nil {
			return nil, err
		}
		// Each tenant's first page after the cursor, merged: the first
		// o.Limit of the union are what was asked for.
		var apps []store.App
		for _, m := range ms {
			as, err := s.st.ListAppsForTenant(r.Context(), m.TenantID, o)
			if err != nil {
				return nil, err
			}
			apps = append(apps, as...)
		}
		slices.SortFunc(apps, func(a, b store.App) int { return cmp.Compare(a.ID, b.ID) })
		return apps, nil
	}, s.appView, func(a store.App) int64 { return a.ID })
}

// createApp creates an app in a tenant where the user is at least a
// member: POST /apps.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateAppRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("name", req.Name); err != nil {
		return err
	}
	if err := store.ValidateAppName(req.Name); err != nil {
		return invalidField("name", err)
	}
	u := userFrom(r.Context())
	tenantName := req.Tenant
	if tenantName == "" {
		var err error
		if tenantName, err = s.onlyTenant(r.Context(), u, req.Name); err != nil {
			return err
		}
	}
	t, err := s.tenantFor(r.Context(), u, tenantName, store.Member, "creating apps")
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		withField := *ae
		withField.Field = "tenant"
		return &withField
	}
	if err != nil {
		return err
	}
	if t.Suspended() {
		return forbidden("tenant %s is suspended: no apps can be created until a platform admin lifts the suspension", t.Name)
	}

	var app store.App
	err = s.st.InTx(r.Context(), func(tx *store.Store) error {
		var err error
		app, err = tx.CreateApp(r.Context(), t.ID, req.Name)
		if err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:   "app.create",
			TenantID: &t.ID,
			AppName:  app.Name,
			Target:   app.Name,
		})
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", api.Version+"/apps/"+app.Name)
	writeJSON(w, http.StatusCreated, s.appView(app))
	return nil
}

// onlyTenant is the tenant of a user who is a member of exactly one, for
// the new app named app. Anyone else is told what to do.
func (s *Server) onlyTenant(ctx context.Context, u store.User, app string) (string, error) {
	ms, err := s.st.ListMemberships(ctx, u.ID)
	if err != nil {
		return "", err
	}
	switch len(ms) {
	case 1:
		return ms[0].TenantName, nil
	case 0:
		if u.IsAdmin {
			return "", s.adminNeedsTenant(ctx, app)
		}
		return "", invalid("tenant", "tenant is required: you are not a member of any tenant yet; ask a platform admin to add you to one")
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.TenantName
	}
	return "", invalid("tenant", "tenant is required: you are a member of %s", strings.Join(names, ", "))
}

// adminNeedsTenant tells a platform admin who is in no tenant how to make
// the app: in a tenant they name, or one they create first.
func (s *Server) adminNeedsTenant(ctx context.Context, app string) error {
	const few = 5
	ts, err := s.st.ListTenants(ctx, store.ListOptions{Limit: few + 1})
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return invalid("tenant", "tenant is required: there are no tenants yet; create one with platform tenants:create NAME, then platform apps:create %s --tenant NAME", app)
	}
	names := make([]string, 0, few)
	for i, t := range ts {
		if i == few {
			names = append(names, "...")
			break
		}
		names = append(names, t.Name)
	}
	return invalid("tenant", "tenant is required: you are in no tenant; name one with platform apps:create %s --tenant NAME (tenants: %s), or create one with platform tenants:create NAME", app, strings.Join(names, ", "))
}

// getApp shows an app and its newest release: GET /apps/{app}.
func (s *Server) getApp(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	v := s.appView(app)
	rels, err := s.st.ListReleases(r.Context(), app.ID, store.ListOptions{Limit: 1})
	if err != nil {
		return err
	}
	if len(rels) > 0 {
		rel := rels[0]
		v.Release = &api.ReleaseSummary{
			Version:      rel.Version,
			Status:       string(rel.Status),
			StatusReason: rel.StatusReason,
			Description:  rel.Description,
			Commit:       rel.CommitSHA,
			CreatedAt:    rel.CreatedAt,
			FinishedAt:   rel.FinishedAt,
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// destroyApp deletes an app and everything it has: DELETE /apps/{app},
// for the owners of its tenant and platform admins. The body must confirm
// the app's name. It holds the app's deploy lock, so it does not race a
// push. What runs outside the store goes first; if any of it fails the app
// stays in the store, so the destroy can be run again.
func (s *Server) destroyApp(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	app, err := s.appFor(ctx, u, urlParam(r, "app"), store.Owner)
	if err != nil {
		return err
	}
	var req api.DestroyAppRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if req.Confirm != app.Name {
		return invalid("confirm", "type the app's name to confirm: platform apps:destroy --confirm %s", app.Name)
	}
	if s.remover == nil {
		return &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
			Message: "this platformd cannot destroy apps: it was started without what removes them"}
	}

	lctx, unlock, err := release.LockApp(ctx, s.st, release.LockConfig{}, s.log, app.ID, "destroy of "+app.Name+" by "+u.Email, io.Discard)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.remover.RemoveApp(lctx, app.TenantName, app.Name); err != nil {
		// The owner is told which steps failed (the remover's errors
		// name the step and what it worked on), so they know what a
		// retry faces.
		s.log.ErrorContext(ctx, "destroying app", "app", app.Name, "tenant", app.TenantName,
			"request_id", requestIDFrom(ctx), "err", err)
		return &apiError{Status: http.StatusInternalServerError, Code: api.CodeInternal,
			Message: fmt.Sprintf("destroying %s failed, and it is kept so that the destroy can be run again: %s",
				app.Name, strings.ReplaceAll(err.Error(), "\n", "; "))}
	}
	err = s.st.InTx(lctx, func(tx *store.Store) error {
		if err := tx.DeleteApp(lctx, app.ID); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:   "app.destroy",
			TenantID: &app.TenantID,
			AppName:  app.Name,
			Target:   app.Name,
		})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.DestroyedApp{Name: app.Name, Destroyed: true})
	return nil
}

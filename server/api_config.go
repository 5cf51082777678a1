package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

var errNoReleases = &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
	Message: "this platformd cannot make releases: it was started without a deployer"}

// appAndTenant returns the request's app ({app}) if the user holds at
// least min in its tenant, and that tenant.
func (s *Server) appAndTenant(r *http.Request, min store.Role) (store.App, store.Tenant, error) {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), min)
	if err != nil {
		return store.App{}, store.Tenant{}, err
	}
	t, err := s.st.GetTenantByID(r.Context(), app.TenantID)
	if err != nil {
		return store.App{}, store.Tenant{}, err
	}
	return app, t, nil
}

// lockForAPI takes the app's deploy lock for an API change, so that it
// does not interleave with a push or another change; what says what the
// change is, for whoever waits behind it.
func (s *Server) lockForAPI(r *http.Request, app store.App, what string) (context.Context, func(), error) {
	u := userFrom(r.Context())
	ctx, unlock, err := release.LockApp(r.Context(), s.st, s.apiLock, s.log, app.ID, what+" of "+app.Name+" by "+u.Email, io.Discard)
	if err != nil {
		if r.Context().Err() != nil {
			return nil, nil, err
		}
		return nil, nil, &apiError{Status: http.StatusConflict, Code: api.CodeConflict, Message: err.Error()}
	}
	return ctx, unlock, nil
}

// releaseFailed is what the client is told of a release whose rollout
// failed: the reason, and that nothing changed for the app's users.
func releaseFailed(rel store.Release, err error, undone string) *apiError {
	reason := rel.StatusReason
	if reason == "" {
		reason = err.Error()
	}
	return &apiError{Status: http.StatusUnprocessableEntity, Code: api.CodeReleaseFailed,
		Message: fmt.Sprintf("v%d failed: %s; the running release keeps serving and %s", rel.Version, release.ShortReason(reason), undone)}
}

// getConfig shows an app's config vars: GET /apps/{app}/config. Viewers
// may see that an app has config, never its values.
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	if _, err := s.appFor(r.Context(), userFrom(r.Context()), app.Name, store.Member); err != nil {
		return forbidden("viewers cannot read config values; ask an owner of tenant %s for the member role", app.TenantName)
	}
	vars, err := s.st.GetConfig(r.Context(), app.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ConfigVars{Vars: vars})
	return nil
}

// updateConfig sets and unsets config vars and rolls out the release that
// makes: PATCH /apps/{app}/config. It answers once the release runs; if
// the rollout fails, the change is undone and the release is kept, failed.
func (s *Server) updateConfig(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	var req api.UpdateConfigRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Vars) == 0 {
		return invalid("vars", "vars must name at least one config var: {\"vars\": {\"KEY\": \"value\"}} sets, {\"KEY\": null} unsets")
	}
	change := release.ConfigChange{Set: map[string]string{}}
	for k, v := range req.Vars {
		if err := store.ValidateConfigKey(k); err != nil {
			return invalidField("vars."+k, err)
		}
		if v == nil {
			change.Unset = append(change.Unset, k)
		} else {
			change.Set[k] = *v
		}
	}
	if tenant.Suspended() {
		return forbidden("tenant %s is suspended: its apps cannot be changed until a platform admin lifts the suspension", tenant.Name)
	}
	if s.releases == nil {
		return errNoReleases
	}
	ctx, unlock, err := s.lockForAPI(r, app, "config change")
	if err != nil {
		return err
	}
	defer unlock()

	var out bytes.Buffer
	rel, err := s.releases.ReleaseConfig(ctx, app, tenant, userFrom(ctx), change, &out)
	if rel.Version == 0 {
		if err != nil {
			return err
		}
	}
	if aerr := s.st.InTx(context.WithoutCancel(ctx), func(tx *store.Store) error {
		return s.audit(r, tx, store.AuditEvent{
			Action:   "config.update",
			TenantID: &tenant.ID,
			AppName:  app.Name,
			Target:   strings.Join(change.Keys(), ","),
			Details:  map[string]any{"release": rel.Version, "set": sortedKeys(change.Set), "unset": change.Unset, "succeeded": err == nil},
		})
	}); aerr != nil {
		return aerr
	}
	if err != nil {
		return releaseFailed(rel, err, "the config change was undone")
	}
	writeJSON(w, http.StatusOK, api.ConfigChange{Keys: change.Keys(), Release: releaseView(rel, rel.Version)})
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// listSizes lists the process sizes: GET /sizes.
func (s *Server) listSizes(w http.ResponseWriter, r *http.Request) error {
	var out api.Sizes
	for _, sz := range store.Sizes() {
		out.Items = append(out.Items, api.Size{
			Name:                 string(sz.Name),
			CPURequestMillicores: int(sz.CPURequestMillis),
			CPULimitMillicores:   int(sz.CPULimitMillis),
			MemoryRequestMiB:     int(sz.MemoryRequestBytes >> 20),
			MemoryLimitMiB:       int(sz.MemoryLimitBytes >> 20),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

var errNoOps = &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
	Message: "this platformd cannot reach running apps: it was started without a deployer"}

// formationView is the app's formation with what runs of it now.
func (s *Server) formationView(r *http.Request, app store.App, tenant store.Tenant, procs []store.Process) (api.Formation, error) {
	var status []deployer.ProcessStatus
	if s.ops != nil {
		var err error
		status, err = s.ops.Status(r.Context(), tenant.Name, app.Name)
		if err != nil && !errors.Is(err, deployer.ErrNotFound) {
			return api.Formation{}, fmt.Errorf("reading the status of %s: %w", app.Name, err)
		}
	}
	f := api.Formation{Items: make([]api.Process, 0, len(procs))}
	for _, p := range procs {
		v := api.Process{Type: p.Type, Quantity: p.Quantity, Size: string(p.Size), Command: p.Command}
		if i := slices.IndexFunc(status, func(st deployer.ProcessStatus) bool { return st.Type == p.Type }); i >= 0 {
			v.Ready, v.Release = status[i].Ready, status[i].Release
		}
		f.Items = append(f.Items, v)
	}
	return f, nil
}

// getFormation shows an app's process types, their scale and how many of
// their processes are ready: GET /apps/{app}/formation.
func (s *Server) getFormation(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Viewer)
	if err != nil {
		return err
	}
	procs, err := s.st.ListFormation(r.Context(), app.ID)
	if err != nil {
		return err
	}
	f, err := s.formationView(r, app, tenant, procs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

// scaleFormation changes quantities and sizes of process types at once,
// within the tenant's quota, without a release: PATCH
// /apps/{app}/formation. It answers once Kubernetes has the new scale, not
// once the processes are ready (GET formation shows that).
func (s *Server) scaleFormation(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	var req api.ScaleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Updates) == 0 {
		return invalid("updates", `updates must name at least one process type: {"updates": [{"type": "web", "quantity": 2}]}`)
	}
	changes := make([]store.ProcessScale, 0, len(req.Updates))
	seen := map[string]bool{}
	for i, u := range req.Updates {
		field := fmt.Sprintf("updates[%d]", i)
		if err := store.ValidateProcessType(u.Type); err != nil {
			return invalidField(field+".type", err)
		}
		if seen[u.Type] {
			return invalid(field+".type", "process type %s is listed twice", u.Type)
		}
		seen[u.Type] = true
		if u.Quantity == nil && u.Size == nil {
			return invalid(field, "give %s a quantity, a size or both", u.Type)
		}
		c := store.ProcessScale{Type: u.Type, Quantity: u.Quantity}
		if u.Quantity != nil && (*u.Quantity < 0 || *u.Quantity > 1000) {
			return invalid(field+".quantity", "quantity of %s must be 0 to %d (the tenant's quota may allow fewer)", u.Type, 1000)
		}
		if u.Size != nil {
			sz, err := store.ParseSize(*u.Size)
			if err != nil {
				return invalidField(field+".size", err)
			}
			c.Size = sz
		}
		changes = append(changes, c)
	}
	if tenant.Suspended() {
		return forbidden("tenant %s is suspended: its apps run nothing until a platform admin lifts the suspension", tenant.Name)
	}
	if s.ops == nil {
		return errNoOps
	}
	ctx, unlock, err := s.lockForAPI(r, app, "scaling")
	if err != nil {
		return err
	}
	defer unlock()

	before, err := s.st.ListFormation(ctx, app.ID)
	if err != nil {
		return err
	}
	for _, c := range changes {
		if !slices.ContainsFunc(before, func(p store.Process) bool { return p.Type == c.Type }) {
			return notFound("%s has no %s process type: its Procfile declares %s", app.Name, c.Type, processTypes(before))
		}
	}
	after, err := s.st.ScaleFormation(ctx, app.ID, changes)
	if err != nil {
		return err
	}
	running, err := s.currentVersion(ctx, app)
	if err != nil {
		return err
	}
	if running > 0 {
		for _, c := range changes {
			q := -1
			if c.Quantity != nil {
				q = *c.Quantity
			}
			if err := s.ops.Scale(ctx, tenant.Name, app.Name, c.Type, q, string(c.Size)); err != nil {
				// Put the formation back, so that what is recorded is what runs.
				if _, rerr := s.st.ReplaceFormation(ctx, app.ID, before); rerr != nil {
					s.log.ErrorContext(ctx, "restoring formation after a failed scale", "app", app.Name, "err", rerr)
				}
				for _, p := range before {
					_ = s.ops.Scale(ctx, tenant.Name, app.Name, p.Type, p.Quantity, string(p.Size))
				}
				if errors.Is(err, deployer.ErrQuota) {
					return &apiError{Status: http.StatusForbidden, Code: api.CodeQuotaExceeded, Message: err.Error()}
				}
				return fmt.Errorf("scaling %s of %s: %w", c.Type, app.Name, err)
			}
		}
	}
	details := map[string]any{}
	for _, c := range changes {
		d := map[string]any{}
		if c.Quantity != nil {
			d["quantity"] = *c.Quantity
		}
		if c.Size != "" {
			d["size"] = string(c.Size)
		}
		details[c.Type] = d
	}
	if err := s.st.InTx(ctx, func(tx *store.Store) error {
		return s.audit(r, tx, store.AuditEvent{
			Action: "formation.scale", TenantID: &tenant.ID, AppName: app.Name,
			Target: scaleSummary(changes), Details: details,
		})
	}); err != nil {
		return err
	}
	f, err := s.formationView(r, app, tenant, after)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

func processTypes(procs []store.Process) string {
	if len(procs) == 0 {
		return "none (push the app first)"
	}
	s := ""
	for i, p := range procs {
		if i > 0 {
			s += ", "
		}
		s += p.Type
	}
	return s
}

// scaleSummary words changes as ps:scale takes them: "web=3:large worker=0".
func scaleSummary(changes []store.ProcessScale) string {
	s := ""
	for i, c := range changes {
		if i > 0 {
			s += " "
		}
		s += c.Type + "="
		if c.Quantity != nil {
			s += fmt.Sprint(*c.Quantity)
			if c.Size != "" {
				s += ":"
			}
		}
		s += string(c.Size)
	}
	return s
}

// listDynos lists an app's processes: GET /apps/{app}/ps.
func (s *Server) listDynos(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Viewer)
	if err != nil {
		return err
	}
	if s.ops == nil {
		return errNoOps
	}
	status, err := s.ops.Status(r.Context(), tenant.Name, app.Name)
	if err != nil && !errors.Is(err, deployer.ErrNotFound) {
		return fmt.Errorf("reading the status of %s: %w", app.Name, err)
	}
	out := api.Dynos{Items: []api.Dyno{}}
	for _, st := range status {
		for _, d := range st.Dynos {
			out.Items = append(out.Items, api.Dyno{
				Name: d.Name, Type: st.Type, State: d.State, Reason: d.Reason, Release: d.Release,
				Size: st.Size, Command: st.Command, Restarts: d.Restarts, Since: d.Started,
			})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// restartDynos replaces an app's processes of one type, or all of them,
// one by one as a deploy does: POST /apps/{app}/ps/restart.
func (s *Server) restartDynos(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	var req api.RestartRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if req.Type != "" {
		if err := store.ValidateProcessType(req.Type); err != nil {
			return invalidField("type", err)
		}
	}
	if s.ops == nil {
		return errNoOps
	}
	ctx, unlock, err := s.lockForAPI(r, app, "restart")
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.ops.Restart(ctx, tenant.Name, app.Name, req.Type, !req.NoWait); err != nil {
		if errors.Is(err, deployer.ErrNotFound) {
			if req.Type == "" {
				return notFound("%s runs no processes: push it first", app.Name)
			}
			return notFound("%s runs no %s processes", app.Name, req.Type)
		}
		return fmt.Errorf("restarting %s: %w", app.Name, err)
	}
	target := req.Type
	if target == "" {
		target = "all"
	}
	if err := s.st.InTx(ctx, func(tx *store.Store) error {
		return s.audit(r, tx, store.AuditEvent{Action: "ps.restart", TenantID: &tenant.ID, AppName: app.Name, Target: target})
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

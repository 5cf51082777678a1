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
	"sync"
	"time"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// appConcurrency bounds how many of a tenant's apps are suspended,
// resumed or removed at once.
const appConcurrency = 4

// suspendTimeout bounds the stopping or starting of a tenant's apps,
// which goes on if the client hangs up.
const suspendTimeout = 30 * time.Minute

// updateTenant changes a tenant's quota, its suspension, or both:
// PATCH /tenants/{tenant} (admins).
//
// A quota is refused (409) below what the tenant uses now: fewer apps than
// it has, fewer processes than its formations add up to, a size smaller
// than one it runs. Lowering it would not stop what runs but would make
// the tenant's next deploy, restart or unsuspension fail; the admin scales
// the apps down first, which makes the cut explicit. A new quota is
// recorded, then applied to the tenant's namespace.
//
// Suspending scales every app of the tenant to zero in Kubernetes, keeping
// their formations in the store; lifting the suspension runs each app's
// latest succeeded release again with them. Either is done app by app
// under the app's deploy lock, and goes on if the client hangs up. Both
// are safe to repeat: repeating one that failed half-way completes it.
func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx), "change tenants"); err != nil {
		return err
	}
	name := urlParam(r, "tenant")
	t, err := s.st.GetTenant(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("there is no tenant %q", name)
	}
	if err != nil {
		return err
	}
	var req api.UpdateTenantRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Quota == nil && req.Suspended == nil {
		return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalid,
			Message: "nothing to change: give a quota, suspended, or both"}
	}
	var q store.Quota
	if req.Quota != nil {
		if q, err = quotaOver(t.Quota, req.Quota); err != nil {
			return err
		}
		if s.tenants == nil {
			return &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
				Message: "this platformd cannot change quotas: it was started without Kubernetes"}
		}
	}
	if req.Suspended != nil && s.releases == nil {
		return &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
			Message: "this platformd cannot suspend tenants: it was started without Kubernetes"}
	}

	if req.Quota != nil {
		if t, err = s.changeQuota(r, t, q); err != nil {
			return err
		}
	}
	if req.Suspended != nil {
		if t, err = s.setSuspended(r, t, *req.Suspended); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, tenantView(t))
	return nil
}

// changeQuota records quota q of tenant t, if the tenant's use fits in it,
// and applies it to Kubernetes.
func (s *Server) changeQuota(r *http.Request, t store.Tenant, q store.Quota) (store.Tenant, error) {
	ctx := r.Context()
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockTenant(ctx, t.ID)
		if err != nil {
			return err
		}
		use, err := tx.TenantUsage(ctx, t.ID)
		if err != nil {
			return err
		}
		if err := quotaFits(cur.Name, q, use); err != nil {
			return err
		}
		t = cur
		if cur.Quota == q {
			return nil // again: only Kubernetes may need it
		}
		if t, err = tx.UpdateTenantQuota(ctx, t.ID, q); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:   "tenant.quota",
			TenantID: &t.ID,
			Target:   t.Name,
			Details: map[string]any{
				"max_apps": q.MaxApps, "max_processes": q.MaxProcesses, "max_size": string(q.MaxSize),
				"previous": map[string]any{
					"max_apps": cur.Quota.MaxApps, "max_processes": cur.Quota.MaxProcesses, "max_size": string(cur.Quota.MaxSize),
				},
			},
		})
	})
	if err != nil {
		return store.Tenant{}, err
	}
	err = s.tenants.EnsureTenant(ctx, t.Name, deployer.TenantQuota{MaxProcesses: q.MaxProcesses, MaxSize: string(q.MaxSize)})
	if err != nil {
		s.log.ErrorContext(ctx, "applying tenant quota", "tenant", t.Name, "request_id", requestIDFrom(ctx), "err", err)
		return store.Tenant{}, &apiError{Status: http.StatusInternalServerError, Code: api.CodeInternal,
			Message: fmt.Sprintf("the new quota of tenant %s is recorded, but applying it in Kubernetes failed (%v): run the same command again",
				t.Name, err)}
	}
	return t, nil
}

// quotaFits refuses a quota below what the tenant uses.
func quotaFits(tenant string, q store.Quota, use store.TenantUsage) error {
	var why []string
	field := ""
	if q.MaxApps < use.Apps {
		why = append(why, fmt.Sprintf("it has %d apps, more than max_apps %d: destroy some first", use.Apps, q.MaxApps))
		field = cmp.Or(field, "quota.max_apps")
	}
	if q.MaxProcesses < use.Processes {
		why = append(why, fmt.Sprintf("its apps are scaled to %d processes, more than max_processes %d: scale them down first", use.Processes, q.MaxProcesses))
		field = cmp.Or(field, "quota.max_processes")
	}
	if use.MaxSize != "" && !use.MaxSize.AtMost(q.MaxSize) {
		why = append(why, fmt.Sprintf("it runs %s processes, larger than max_size %s: resize them first", use.MaxSize, q.MaxSize))
		field = cmp.Or(field, "quota.max_size")
	}
	if len(why) == 0 {
		return nil
	}
	return &apiError{Status: http.StatusConflict, Code: api.CodeConflict, Field: field,
		Message: fmt.Sprintf("tenant %s uses more than that quota: %s", tenant, strings.Join(why, "; "))}
}

// setSuspended suspends tenant t or lifts its suspension, and makes every
// app of it follow.
func (s *Server) setSuspended(r *http.Request, t store.Tenant, suspend bool) (store.Tenant, error) {
	ctx := r.Context()
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockTenant(ctx, t.ID)
		if err != nil {
			return err
		}
		if t, err = tx.SuspendTenant(ctx, t.ID, suspend); err != nil {
			return err
		}
		if cur.Suspended() == suspend {
			return nil // again: only Kubernetes may need it
		}
		action := "tenant.unsuspend"
		if suspend {
			action = "tenant.suspend"
		}
		return s.audit(r, tx, store.AuditEvent{Action: action, TenantID: &t.ID, Target: t.Name})
	})
	if err != nil {
		return store.Tenant{}, err
	}

	// A suspension half applied leaves apps running: it goes on if the
	// client hangs up.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), suspendTimeout)
	defer cancel()
	apps, err := s.allApps(wctx, t.ID)
	if err != nil {
		return store.Tenant{}, err
	}
	what := "suspension"
	if !suspend {
		what = "end of the suspension"
	}
	err = s.eachApp(wctx, apps, what+" of tenant "+t.Name+" by "+userFrom(ctx).Email, func(lctx context.Context, app store.App) error {
		// Read under the lock: of two admins suspending and resuming
		// at once, the last to hold each app's lock applies the
		// tenant's state as it is.
		now, err := s.st.GetTenantByID(lctx, t.ID)
		if err != nil {
			return err
		}
		return s.releases.Reapply(lctx, app, now)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "applying tenant suspension", "tenant", t.Name, "suspended", suspend,
			"request_id", requestIDFrom(ctx), "err", err)
		state := "suspended, but stopping"
		if !suspend {
			state = "no longer suspended, but starting"
		}
		return store.Tenant{}, &apiError{Status: http.StatusInternalServerError, Code: api.CodeInternal,
			Message: fmt.Sprintf("tenant %s is %s some of its apps failed (%s): run the same command again",
				t.Name, state, oneLine(err))}
	}
	return t, nil
}

// deleteTenant deletes a tenant with all its apps: DELETE /tenants/{tenant}
// (admins). The body must confirm the tenant's name. The tenant is
// suspended first, so that no app is created or pushed meanwhile; then
// each app is destroyed as DELETE /apps/{app} does, then the tenant's
// namespace, then the tenant. If a step fails the tenant is kept,
// suspended, with what is left, so that the delete can be run again.
func (s *Server) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if err := requireAdmin(u, "delete tenants"); err != nil {
		return err
	}
	name := urlParam(r, "tenant")
	t, err := s.st.GetTenant(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("there is no tenant %q", name)
	}
	if err != nil {
		return err
	}
	var req api.DeleteTenantRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if req.Confirm != t.Name {
		return invalid("confirm", "type the tenant's name to confirm: platform tenants:destroy %s --confirm %s", t.Name, t.Name)
	}
	if s.remover == nil {
		return &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
			Message: "this platformd cannot delete tenants: it was started without what removes their apps"}
	}

	err = s.st.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockTenant(ctx, t.ID)
		if err != nil || cur.Suspended() {
			return err
		}
		if _, err := tx.SuspendTenant(ctx, t.ID, true); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "tenant.suspend", TenantID: &t.ID, Target: t.Name,
			Details: map[string]any{"reason": "delete"}})
	})
	if err != nil {
		return err
	}
	failed := func(err error) error {
		s.log.ErrorContext(ctx, "deleting tenant", "tenant", t.Name, "request_id", requestIDFrom(ctx), "err", err)
		return &apiError{Status: http.StatusInternalServerError, Code: api.CodeInternal,
			Message: fmt.Sprintf("deleting tenant %s failed, and it is kept, suspended, so that the delete can be run again: %s",
				t.Name, oneLine(err))}
	}
	var destroyed []string
	var mu sync.Mutex
	// An app created just before the suspension may show up after the
	// first pass: look again until there is none.
	for range 3 {
		apps, err := s.allApps(ctx, t.ID)
		if err != nil {
			return err
		}
		if len(apps) == 0 {
			break
		}
		err = s.eachApp(ctx, apps, "delete of tenant "+t.Name+" by "+u.Email, func(lctx context.Context, app store.App) error {
			if err := s.remover.RemoveApp(lctx, t.Name, app.Name); err != nil {
				return err
			}
			err := s.st.InTx(lctx, func(tx *store.Store) error {
				if err := tx.DeleteApp(lctx, app.ID); err != nil {
					return err
				}
				return s.audit(r, tx, store.AuditEvent{Action: "app.destroy", TenantID: &t.ID, AppName: app.Name,
					Target: app.Name, Details: map[string]any{"reason": "tenant delete"}})
			})
			if err == nil {
				mu.Lock()
				destroyed = append(destroyed, app.Name)
				mu.Unlock()
			}
			return err
		})
		if err != nil {
			return failed(err)
		}
	}
	if err := s.remover.RemoveTenant(ctx, t.Name); err != nil {
		return failed(fmt.Errorf("removing its namespace: %w", err))
	}
	slices.Sort(destroyed)
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.DeleteTenant(ctx, t.ID); err != nil {
			return err
		}
		// The tenant's row is gone: the event keeps its name only.
		return s.audit(r, tx, store.AuditEvent{Action: "tenant.delete", TenantName: t.Name, Target: t.Name,
			Details: map[string]any{"apps": destroyed}})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// allApps returns every app of the tenant, by creation.
func (s *Server) allApps(ctx context.Context, tenantID int64) ([]store.App, error) {
	var all []store.App
	opts := store.ListOptions{Limit: store.MaxListLimit}
	for {
		apps, err := s.st.ListAppsForTenant(ctx, tenantID, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, apps...)
		if len(apps) < opts.Limit {
			return all, nil
		}
		opts.After = apps[len(apps)-1].ID
	}
}

// eachApp runs fn for each app, a few at a time, each under the app's
// deploy lock (described as what), and returns the errors of those that
// failed, each naming its app.
func (s *Server) eachApp(ctx context.Context, apps []store.App, what string, fn func(ctx context.Context, app store.App) error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, appConcurrency)
	)
	for _, app := range apps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := func() error {
				lctx, unlock, err := release.LockApp(ctx, s.st, s.apiLock, s.log, app.ID, what, io.Discard)
				if err != nil {
					return err
				}
				defer unlock()
				return fn(lctx, app)
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", app.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// oneLine puts a joined error on one line, for a message.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// lastOwner refuses a change that would leave tenant with no owner.
func lastOwner(tenant string) error {
	return &apiError{Status: http.StatusConflict, Code: api.CodeConflict,
		Message: fmt.Sprintf("tenant %s would have no owner: make someone else owner first", tenant)}
}

// memberChange finds the member of tenant t with the address email and
// runs change on it in a transaction that holds the tenant, with the
// number of the tenant's owners: the last-owner rule holds against
// concurrent changes.
func (s *Server) memberChange(ctx context.Context, t store.Tenant, email string, change func(tx *store.Store, m store.Membership, owners int) error) error {
	return s.st.InTx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockTenant(ctx, t.ID); err != nil {
			return err
		}
		ms, err := tx.ListMembers(ctx, t.ID)
		if err != nil {
			return err
		}
		owners := 0
		for _, m := range ms {
			if m.Role == store.Owner {
				owners++
			}
		}
		i := slices.IndexFunc(ms, func(m store.Membership) bool { return strings.EqualFold(m.UserEmail, strings.TrimSpace(email)) })
		if i < 0 {
			return notFound("%s is not a member of tenant %s", email, t.Name)
		}
		return change(tx, ms[i], owners)
	})
}

// setMemberRole changes a member's role: PATCH /tenants/{tenant}/members/{email}
// (admins and the tenant's owners). The last owner cannot stop being one.
func (s *Server) setMemberRole(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := s.tenantFor(ctx, userFrom(ctx), urlParam(r, "tenant"), store.Owner, "changing roles")
	if err != nil {
		return err
	}
	var req api.SetRoleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	role, err := store.ParseRole(req.Role)
	if err != nil {
		return invalidField("role", err)
	}
	var out store.Membership
	err = s.memberChange(ctx, t, urlParam(r, "email"), func(tx *store.Store, m store.Membership, owners int) error {
		out = m
		if m.Role == role {
			return nil
		}
		if m.Role == store.Owner && owners == 1 {
			return lastOwner(t.Name)
		}
		if err := tx.SetMemberRole(ctx, t.ID, m.UserID, role); err != nil {
			return err
		}
		out.Role = role
		return s.audit(r, tx, store.AuditEvent{
			Action:   "member.role",
			TenantID: &t.ID,
			Target:   m.UserEmail,
			Details:  map[string]any{"role": string(role), "previous": string(m.Role)},
		})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, memberView(out))
	return nil
}

// removeMember takes a user out of a tenant: DELETE /tenants/{tenant}/members/{email}
// (admins and the tenant's owners). The last owner cannot be removed.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := s.tenantFor(ctx, userFrom(ctx), urlParam(r, "tenant"), store.Owner, "removing members")
	if err != nil {
		return err
	}
	err = s.memberChange(ctx, t, urlParam(r, "email"), func(tx *store.Store, m store.Membership, owners int) error {
		if m.Role == store.Owner && owners == 1 {
			return lastOwner(t.Name)
		}
		if err := tx.RemoveMember(ctx, t.ID, m.UserID); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:   "member.remove",
			TenantID: &t.ID,
			Target:   m.UserEmail,
			Details:  map[string]any{"role": string(m.Role)},
		})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

func tenantView(t store.Tenant) api.Tenant {
	return api.Tenant{
		Name: t.Name,
		Quota: api.Quota{
			MaxApps:      t.Quota.MaxApps,
			MaxProcesses: t.Quota.MaxProcesses,
			MaxSize:      string(t.Quota.MaxSize),
		},
		SuspendedAt: t.SuspendedAt,
		CreatedAt:   t.CreatedAt,
	}
}

func memberView(m store.Membership) api.Member {
	return api.Member{Email: m.UserEmail, Role: string(m.Role), CreatedAt: m.CreatedAt}
}

// requireAdmin refuses users who are not platform administrators.
func requireAdmin(u store.User, what string) error {
	if !u.IsAdmin {
		return forbidden("only platform admins can %s", what)
	}
	return nil
}

// tenantFor returns the tenant named name if the user holds at least need
// in it; doing says what for ("adding members"). To a user with no role
// there, a tenant that exists and one that does not look the same.
func (s *Server) tenantFor(ctx context.Context, u store.User, name string, need store.Role, doing string) (store.Tenant, error) {
	t, err := s.st.GetTenant(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if u.IsAdmin {
			return store.Tenant{}, notFound("there is no tenant %q", name)
		}
		return store.Tenant{}, notFound("no such tenant %q, or no access", name)
	}
	if err != nil {
		return store.Tenant{}, err
	}
	role, err := s.st.RoleOf(ctx, u.ID, t.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Tenant{}, notFound("no such tenant %q, or no access", name)
	}
	if err != nil {
		return store.Tenant{}, err
	}
	if !role.AtLeast(need) {
		ask, err := s.st.AskAnOwner(ctx, t, "")
		if err != nil {
			return store.Tenant{}, err
		}
		return store.Tenant{}, forbidden("you are a %s of tenant %s: %s needs the %s role; %s", role, t.Name, doing, need, ask)
	}
	return t, nil
}

// listTenants lists every tenant, by creation: GET /tenants (admins).
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(userFrom(r.Context()), "list tenants"); err != nil {
		return err
	}
	return listPageByID(w, r, func(o store.ListOptions) ([]store.Tenant, error) {
		return s.st.ListTenants(r.Context(), o)
	}, tenantView, func(t store.Tenant) int64 { return t.ID })
}

// createTenant creates a tenant: POST /tenants (admins).
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(userFrom(r.Context()), "create tenants"); err != nil {
		return err
	}
	var req api.CreateTenantRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("name", req.Name); err != nil {
		return err
	}
	q, err := quotaFrom(req.Quota)
	if err != nil {
		return err
	}
	var t store.Tenant
	err = s.st.InTx(r.Context(), func(tx *store.Store) error {
		var err error
		// The quota is checked above, so the store refuses only the name.
		t, err = tx.CreateTenant(r.Context(), req.Name, q)
		if err != nil {
			return invalidField("name", err)
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:   "tenant.create",
			TenantID: &t.ID,
			Target:   t.Name,
			Details: map[string]any{
				"max_apps": q.MaxApps, "max_processes": q.MaxProcesses, "max_size": string(q.MaxSize),
			},
		})
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", api.Version+"/tenants/"+t.Name)
	writeJSON(w, http.StatusCreated, tenantView(t))
	return nil
}

// quotaFrom is the default quota with what req sets.
func quotaFrom(req *api.QuotaRequest) (store.Quota, error) {
	return quotaOver(store.DefaultQuota(), req)
}

// quotaOver is quota q with what req sets.
func quotaOver(q store.Quota, req *api.QuotaRequest) (store.Quota, error) {
	if req == nil {
		return q, nil
	}
	if req.MaxApps != nil {
		if *req.MaxApps < 0 {
			return q, invalid("quota.max_apps", "quota.max_apps must not be negative")
		}
		q.MaxApps = *req.MaxApps
	}
	if req.MaxProcesses != nil {
		if *req.MaxProcesses < 0 {
			return q, invalid("quota.max_processes", "quota.max_processes must not be negative")
		}
		q.MaxProcesses = *req.MaxProcesses
	}
	if req.MaxSize != nil {
		size, err := store.ParseSize(*req.MaxSize)
		if err != nil {
			return q, invalidField("quota.max_size", err)
		}
		q.MaxSize = size
	}
	return q, nil
}

// getTenant shows one tenant, with its quota: GET /tenants/{tenant}, for
// admins and anyone with a role in it.
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r.Context(), userFrom(r.Context()), urlParam(r, "tenant"), store.Viewer, "reading it")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantView(t))
	return nil
}

// listMembers lists a tenant's members by e-mail address:
// GET /tenants/{tenant}/members (admins and the tenant's owners). The
// cursor is the last e-mail address.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r.Context(), userFrom(r.Context()), urlParam(r, "tenant"), store.Owner, "listing its members")
	if err != nil {
		return err
	}
	return listPage(w, r, func(after string, _ int) ([]store.Membership, error) {
		ms, err := s.st.ListMembers(r.Context(), t.ID)
		if err != nil {
			return nil, err
		}
		// The page starts after the cursor's member, in the store's order
		// (which is the database's collation, not byte order); if that
		// member has left since, after the first address beyond it in byte
		// order.
		i := 0
		if after != "" {
			i = slices.IndexFunc(ms, func(m store.Membership) bool { return strings.EqualFold(m.UserEmail, after) }) + 1
			if i == 0 {
				for i < len(ms) && strings.ToLower(ms[i].UserEmail) <= strings.ToLower(after) {
					i++
				}
			}
		}
		return ms[i:], nil
	}, memberView, func(m store.Membership) string { return m.UserEmail })
}

// addMember gives a user a role in a tenant: POST /tenants/{tenant}/members
// (admins and the tenant's owners). An address that is no user's is
// invited instead: nobody but an admin makes accounts, and nothing that
// signs in as someone is handed to whoever added them. The invitee
// accepts once an admin has made their account and they have signed in
// (POST /account/invitations/{id}/accept).
func (s *Server) addMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := s.tenantFor(ctx, userFrom(ctx), urlParam(r, "tenant"), store.Owner, "adding members")
	if err != nil {
		return err
	}
	var req api.AddMemberRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("email", req.Email); err != nil {
		return err
	}
	role, err := store.ParseRole(req.Role)
	if err != nil {
		return invalidField("role", err)
	}
	var added api.AddedMember
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		user, err := tx.GetUserByEmail(ctx, req.Email)
		if errors.Is(err, store.ErrNotFound) {
			inv, err := s.invite(r, tx, t, req.Email, role)
			added.Invitation = &inv
			return err
		}
		if err != nil {
			return err
		}
		err = tx.AddMember(ctx, t.ID, user.ID, role)
		if errors.Is(err, store.ErrConflict) {
			return &apiError{Status: http.StatusConflict, Code: api.CodeConflict,
				Message: user.Email + " is already a member of tenant " + t.Name}
		}
		if err != nil {
			return err
		}
		// An invitation made before the account was is moot now.
		if _, err := tx.DeleteInvitationsOf(ctx, t.ID, user.Email); err != nil {
			return err
		}
		ms, err := tx.ListMembers(ctx, t.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.UserID == user.ID {
				added.Member = new(memberView(m))
			}
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:   "member.add",
			TenantID: &t.ID,
			Target:   user.Email,
			Details:  map[string]any{"role": string(role)},
		})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, added)
	return nil
}

package server

import (
	"net/http"
	"strings"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

func auditView(e store.AuditEvent) api.AuditEvent {
	return api.AuditEvent{
		ID:         e.ID,
		At:         e.At,
		Actor:      e.ActorEmail,
		Tenant:     e.TenantName,
		App:        e.AppName,
		Action:     e.Action,
		Target:     e.Target,
		Details:    e.Details,
		RemoteAddr: e.RemoteAddr,
	}
}

// listAudit lists audit events, newest first: GET /audit. The cursor is
// the event's ID. Filters: tenant, app, actor (an e-mail address) and
// action (an action, or a prefix ending in ".").
//
// Platform admins see every event; their tenant filter is by name, so it
// finds the events of a deleted tenant too. A tenant's owners see the
// events recorded in that tenant (this tenant, not an earlier one of the
// same name), and name it with tenant unless they own exactly one.
// Members and viewers may not read the audit log.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	return listPageByID(w, r, func(o store.ListOptions) ([]store.AuditEvent, error) {
		f, err := s.auditFilter(r)
		if err != nil {
			return nil, err
		}
		f.ListOptions = o
		events, err := s.st.ListAudit(r.Context(), f)
		if err != nil {
			return nil, invalidField("action", err)
		}
		return events, nil
	}, auditView, func(e store.AuditEvent) int64 { return e.ID })
}

// auditFilter is the filter of an audit log request, limited to what the
// request's user may read.
func (s *Server) auditFilter(r *http.Request) (store.AuditFilter, error) {
	ctx := r.Context()
	u := userFrom(ctx)
	q := r.URL.Query()
	f := store.AuditFilter{
		AppName:    q.Get("app"),
		ActorEmail: q.Get("actor"),
		Action:     q.Get("action"),
	}
	tenant := q.Get("tenant")
	if u.IsAdmin {
		f.TenantName = tenant
		return f, nil
	}
	if tenant == "" {
		var err error
		if tenant, err = s.onlyOwnedTenant(r, u); err != nil {
			return store.AuditFilter{}, err
		}
	}
	t, err := s.tenantFor(ctx, u, tenant, store.Owner, "reading its audit log")
	if err != nil {
		return store.AuditFilter{}, err
	}
	f.TenantID = &t.ID
	return f, nil
}

// onlyOwnedTenant is the one tenant u owns.
func (s *Server) onlyOwnedTenant(r *http.Request, u store.User) (string, error) {
	ms, err := s.st.ListMemberships(r.Context(), u.ID)
	if err != nil {
		return "", err
	}
	var owned []string
	for _, m := range ms {
		if m.Role == store.Owner {
			owned = append(owned, m.TenantName)
		}
	}
	switch len(owned) {
	case 0:
		return "", forbidden("only platform admins and tenant owners can read the audit log")
	case 1:
		return owned[0], nil
	}
	return "", invalid("tenant", "tenant is required: you own %s", strings.Join(owned, ", "))
}

package server

import (
	"net/http"
	"strconv"
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
	ctx := r.Context()
	u := userFrom(ctx)
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	afterID, err := idCursor(after)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{
		AppName:     q.Get("app"),
		ActorEmail:  q.Get("actor"),
		Action:      q.Get("action"),
		ListOptions: store.ListOptions{After: afterID, Limit: limit + 1},
	}
	tenant := q.Get("tenant")
	if u.IsAdmin {
		f.TenantName = tenant
	} else {
		if tenant == "" {
			if tenant, err = s.onlyOwnedTenant(r, u); err != nil {
				return err
			}
		}
		t, err := s.tenantFor(ctx, u, tenant, store.Owner, "reading its audit log")
		if err != nil {
			return err
		}
		f.TenantID = &t.ID
	}
	events, err := s.st.ListAudit(ctx, f)
	if err != nil {
		return invalidField("action", err)
	}
	writeJSON(w, http.StatusOK, pageOf(events, limit, auditView,
		func(e store.AuditEvent) string { return strconv.FormatInt(e.ID, 10) }))
	return nil
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

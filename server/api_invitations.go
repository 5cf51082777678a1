package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// defaultInvitationTTL is how long an invitation may wait for its invitee
// when Config.InvitationTTL is zero.
const defaultInvitationTTL = 7 * 24 * time.Hour

func invitationView(i store.Invitation) api.Invitation {
	return api.Invitation{
		ID: i.ID, Tenant: i.TenantName, Email: i.Email, Role: string(i.Role),
		InvitedBy: i.InvitedByEmail, CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt,
	}
}

// invite records, with tx, the invitation of email to tenant t with role,
// by the request's user.
func (s *Server) invite(r *http.Request, tx *store.Store, t store.Tenant, email string, role store.Role) (api.Invitation, error) {
	ctx := r.Context()
	inv, err := tx.CreateInvitation(ctx, store.NewInvitation{
		TenantID:  t.ID,
		Email:     email,
		Role:      role,
		InvitedBy: userFrom(ctx),
		ExpiresAt: time.Now().Add(s.invitationTTL),
	})
	if err != nil {
		return api.Invitation{}, invalidField("email", err)
	}
	err = s.audit(r, tx, store.AuditEvent{
		Action:   "invitation.create",
		TenantID: &t.ID,
		Target:   inv.Email,
		Details: map[string]any{
			"invitation_id": inv.ID, "role": string(role), "expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339),
		},
	})
	return invitationView(inv), err
}

// listTenantInvitations lists a tenant's pending invitations, by address:
// GET /tenants/{tenant}/invitations (admins and the tenant's owners).
// They are few: there is one page.
func (s *Server) listTenantInvitations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := s.tenantFor(ctx, userFrom(ctx), urlParam(r, "tenant"), store.Owner, "listing its invitations")
	if err != nil {
		return err
	}
	invs, err := s.st.ListTenantInvitations(ctx, t.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, invitationPage(invs))
	return nil
}

func invitationPage(invs []store.Invitation) api.Page[api.Invitation] {
	p := api.Page[api.Invitation]{Items: make([]api.Invitation, 0, len(invs))}
	for _, i := range invs {
		p.Items = append(p.Items, invitationView(i))
	}
	return p
}

// revokeInvitation revokes a tenant's pending invitation of an address:
// DELETE /tenants/{tenant}/invitations/{email} (admins and the tenant's
// owners).
func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := s.tenantFor(ctx, userFrom(ctx), urlParam(r, "tenant"), store.Owner, "revoking invitations")
	if err != nil {
		return err
	}
	email := strings.TrimSpace(urlParam(r, "email"))
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		invs, err := tx.ListTenantInvitations(ctx, t.ID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(invs, func(inv store.Invitation) bool { return strings.EqualFold(inv.Email, email) })
		if i < 0 {
			return notFound("tenant %s has no pending invitation of %s: platform invitations --tenant %s lists them", t.Name, email, t.Name)
		}
		inv, err := tx.LockInvitation(ctx, invs[i].ID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("tenant %s has no pending invitation of %s: platform invitations --tenant %s lists them", t.Name, email, t.Name)
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteInvitation(ctx, inv.ID); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:   "invitation.revoke",
			TenantID: &t.ID,
			Target:   inv.Email,
			Details:  map[string]any{"invitation_id": inv.ID, "role": string(inv.Role)},
		})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listAccountInvitations lists the pending invitations of the signed-in
// user's address, by tenant: GET /account/invitations.
func (s *Server) listAccountInvitations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	invs, err := s.st.ListInvitationsFor(ctx, userFrom(ctx).Email)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, invitationPage(invs))
	return nil
}

// acceptInvitation makes the signed-in user a member of the invitation's
// tenant, with its role: POST /account/invitations/{id}/accept. The
// invitation must be addressed to the user's own address and not have
// expired; it is used up.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	var out api.Membership
	err := s.answerInvitation(r, func(tx *store.Store, inv store.Invitation) error {
		err := tx.AddMember(ctx, inv.TenantID, u.ID, inv.Role)
		if errors.Is(err, store.ErrConflict) {
			return &apiError{Status: http.StatusConflict, Code: api.CodeConflict,
				Message: fmt.Sprintf("you are a member of tenant %s already: decline the invitation with platform invitations:decline %s", inv.TenantName, inv.TenantName)}
		}
		if err != nil {
			return err
		}
		out = api.Membership{Tenant: inv.TenantName, Role: string(inv.Role)}
		details := map[string]any{"invitation_id": inv.ID, "role": string(inv.Role), "invited_by": inv.InvitedByEmail}
		if err := s.audit(r, tx, store.AuditEvent{Action: "invitation.accept", TenantID: &inv.TenantID, Target: u.Email, Details: details}); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "member.add", TenantID: &inv.TenantID, Target: u.Email,
			Details: map[string]any{"role": string(inv.Role), "invitation_id": inv.ID}})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// declineInvitation turns down one of the signed-in user's invitations:
// POST /account/invitations/{id}/decline.
func (s *Server) declineInvitation(w http.ResponseWriter, r *http.Request) error {
	u := userFrom(r.Context())
	err := s.answerInvitation(r, func(tx *store.Store, inv store.Invitation) error {
		return s.audit(r, tx, store.AuditEvent{Action: "invitation.decline", TenantID: &inv.TenantID, Target: u.Email,
			Details: map[string]any{"invitation_id": inv.ID, "role": string(inv.Role)}})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// answerInvitation runs answer, in a transaction that deletes it, on the
// invitation of the {id} parameter if it is addressed to the request's
// user and pending. To anyone else an invitation is not found: its
// existence says nothing.
func (s *Server) answerInvitation(r *http.Request, answer func(tx *store.Store, inv store.Invitation) error) error {
	ctx := r.Context()
	u := userFrom(ctx)
	raw := urlParam(r, "id")
	noSuch := notFound("you have no invitation %s: platform invitations lists yours", raw)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return noSuch
	}
	return s.st.InTx(ctx, func(tx *store.Store) error {
		inv, err := tx.LockInvitation(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return noSuch
		}
		if err != nil {
			return err
		}
		if !strings.EqualFold(inv.Email, u.Email) {
			s.log.InfoContext(ctx, "invitation refused", "user", u.Email, "invitation_id", inv.ID,
				"reason", "another address", "request_id", requestIDFrom(ctx))
			return noSuch
		}
		if inv.Expired(time.Now()) {
			return &apiError{Status: http.StatusGone, Code: api.CodeExpired,
				Message: fmt.Sprintf("your invitation to tenant %s expired on %s: ask one of its owners to invite you again",
					inv.TenantName, inv.ExpiresAt.UTC().Format("2006-01-02"))}
		}
		if err := tx.DeleteInvitation(ctx, inv.ID); err != nil {
			return err
		}
		return answer(tx, inv)
	})
}

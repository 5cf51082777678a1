package store

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Invitation is a tenant's invitation of an e-mail address that had no
// account when it was made. It is pending until it is accepted, declined,
// revoked (each of which deletes it) or expires.
type Invitation struct {
	ID         int64
	TenantID   int64
	TenantName string
	Email      string // as the inviter gave it; matched in any case
	Role       Role   // Owner, Member or Viewer
	// InvitedByID is the user who invited, nil once that user is deleted;
	// InvitedByEmail keeps their address.
	InvitedByID    *int64
	InvitedByEmail string
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// NewInvitation is what CreateInvitation records.
type NewInvitation struct {
	TenantID  int64
	Email     string
	Role      Role
	InvitedBy User
	ExpiresAt time.Time
}

const invitationSelect = `
	SELECT i.id, i.tenant_id, t.name, i.email, i.role, i.invited_by_id, i.invited_by_email, i.created_at, i.expires_at
	FROM invitations i JOIN tenants t ON t.id = i.tenant_id`

func scanInvitation(row pgx.Row) (Invitation, error) {
	var i Invitation
	err := row.Scan(&i.ID, &i.TenantID, &i.TenantName, &i.Email, &i.Role, &i.InvitedByID, &i.InvitedByEmail, &i.CreatedAt, &i.ExpiresAt)
	return i, err
}

// Expired reports whether the invitation can no longer be accepted.
func (i Invitation) Expired(now time.Time) bool { return !i.ExpiresAt.After(now) }

// CreateInvitation records a pending invitation of an address to a tenant.
// An expired invitation of the same address to the tenant is replaced; a
// pending one is a *ConflictError.
func (s *Store) CreateInvitation(ctx context.Context, ni NewInvitation) (Invitation, error) {
	email := strings.TrimSpace(ni.Email)
	if err := validateEmail(email); err != nil {
		return Invitation{}, err
	}
	if !ni.Role.TenantRole() {
		return Invitation{}, notTenantRole(string(ni.Role))
	}
	if !ni.ExpiresAt.After(time.Now()) {
		return Invitation{}, invalidf("an invitation's expiry must be in the future")
	}
	var inv Invitation
	err := s.tx(ctx, func(tx *Store) error {
		_, err := tx.db.Exec(ctx, `
			DELETE FROM invitations WHERE tenant_id = $1 AND lower(email) = lower($2) AND expires_at <= now()`,
			ni.TenantID, email)
		if err != nil {
			return mapErr(err)
		}
		var id int64
		err = tx.db.QueryRow(ctx, `
			INSERT INTO invitations (tenant_id, email, role, invited_by_id, invited_by_email, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING id`,
			ni.TenantID, email, ni.Role, nullID(ni.InvitedBy.ID), ni.InvitedBy.Email, ni.ExpiresAt).Scan(&id)
		switch {
		case isViolation(err, codeUniqueViolation, "invitations_tenant_email_key"):
			return conflictf("%s is invited to this tenant already: revoke that invitation first to change it", email)
		case err != nil:
			if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
				return notFoundf("tenant %d", ni.TenantID)
			}
			return mapErr(err)
		}
		inv, err = scanInvitation(tx.db.QueryRow(ctx, invitationSelect+` WHERE i.id = $1`, id))
		return mapErr(err)
	})
	return inv, err
}

// nullID is id, or NULL for the zero ID.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// ListTenantInvitations returns the tenant's pending invitations, by
// address.
func (s *Store) ListTenantInvitations(ctx context.Context, tenantID int64) ([]Invitation, error) {
	rows, err := s.db.Query(ctx, invitationSelect+`
		WHERE i.tenant_id = $1 AND i.expires_at > now() ORDER BY lower(i.email), i.id`, tenantID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanInvitation)
}

// ListInvitationsFor returns the pending invitations of the address email
// (in any case), by tenant name.
func (s *Store) ListInvitationsFor(ctx context.Context, email string) ([]Invitation, error) {
	rows, err := s.db.Query(ctx, invitationSelect+`
		WHERE lower(i.email) = lower($1) AND i.expires_at > now() ORDER BY t.name`, strings.TrimSpace(email))
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanInvitation)
}

// LockInvitation returns the invitation with the given ID, expired or
// not, and inside InTx locks it until the transaction ends, so that of two
// who accept, decline or revoke it at once one finds it gone.
func (s *Store) LockInvitation(ctx context.Context, id int64) (Invitation, error) {
	inv, err := scanInvitation(s.db.QueryRow(ctx, invitationSelect+` WHERE i.id = $1 FOR UPDATE OF i`, id))
	if err != nil {
		return Invitation{}, notFoundOr(err, "invitation %d", id)
	}
	return inv, nil
}

// DeleteInvitation deletes the invitation with the given ID.
func (s *Store) DeleteInvitation(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM invitations WHERE id = $1`, id)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("invitation %d", id)
	}
	return nil
}

// DeleteInvitationsOf deletes every invitation, pending or expired, of the
// address email to the tenant, and returns how many there were.
func (s *Store) DeleteInvitationsOf(ctx context.Context, tenantID int64, email string) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM invitations WHERE tenant_id = $1 AND lower(email) = lower($2)`,
		tenantID, strings.TrimSpace(email))
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

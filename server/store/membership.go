package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Membership is a user's role in a tenant.
type Membership struct {
	TenantID   int64
	TenantName string
	UserID     int64
	UserEmail  string
	Role       Role // Owner, Member or Viewer
	CreatedAt  time.Time
}

const membershipSelect = `
	SELECT m.tenant_id, t.name, m.user_id, u.email, m.role, m.created_at
	FROM memberships m
	JOIN tenants t ON t.id = m.tenant_id
	JOIN users u ON u.id = m.user_id`

func scanMembership(row pgx.Row) (Membership, error) {
	var m Membership
	err := row.Scan(&m.TenantID, &m.TenantName, &m.UserID, &m.UserEmail, &m.Role, &m.CreatedAt)
	return m, err
}

// AddMember gives the user a role in the tenant. role must be Owner, Member
// or Viewer; a user already in the tenant is a *ConflictError (use
// SetMemberRole to change a role).
func (s *Store) AddMember(ctx context.Context, tenantID, userID int64, role Role) error {
	if !role.TenantRole() {
		return notTenantRole(string(role))
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)`,
		tenantID, userID, role)
	if isViolation(err, codeUniqueViolation, "memberships_pkey") {
		return conflictf("user %d is already a member of tenant %d", userID, tenantID)
	}
	if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
		return notFoundf("tenant %d or user %d", tenantID, userID)
	}
	return mapErr(err)
}

// SetMemberRole changes the role of a member of the tenant.
func (s *Store) SetMemberRole(ctx context.Context, tenantID, userID int64, role Role) error {
	if !role.TenantRole() {
		return notTenantRole(string(role))
	}
	tag, err := s.db.Exec(ctx, `
		UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2`,
		tenantID, userID, role)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("membership of user %d in tenant %d", userID, tenantID)
	}
	return nil
}

// ListMembers returns the members of the tenant, by e-mail address.
func (s *Store) ListMembers(ctx context.Context, tenantID int64) ([]Membership, error) {
	rows, err := s.db.Query(ctx, membershipSelect+`
		WHERE m.tenant_id = $1 ORDER BY lower(u.email)`, tenantID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanMembership)
}

// ListMemberships returns the tenants the user belongs to, by tenant name.
func (s *Store) ListMemberships(ctx context.Context, userID int64) ([]Membership, error) {
	rows, err := s.db.Query(ctx, membershipSelect+`
		WHERE m.user_id = $1 ORDER BY t.name`, userID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanMembership)
}

// RemoveMember takes the user out of the tenant.
func (s *Store) RemoveMember(ctx context.Context, tenantID, userID int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("membership of user %d in tenant %d", userID, tenantID)
	}
	return nil
}

// RoleOf returns the user's effective role in the tenant: Admin for a
// platform administrator (whether or not a member), else the membership's
// role. A user with no role there gets an ErrNotFound error, as does an
// unknown user.
func (s *Store) RoleOf(ctx context.Context, userID, tenantID int64) (Role, error) {
	var isAdmin bool
	var role *string
	err := s.db.QueryRow(ctx, `
		SELECT u.is_admin, m.role
		FROM users u
		LEFT JOIN memberships m ON m.user_id = u.id AND m.tenant_id = $2
		WHERE u.id = $1`, userID, tenantID).Scan(&isAdmin, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFoundf("user %d", userID)
	}
	if err != nil {
		return "", mapErr(err)
	}
	switch {
	case isAdmin:
		return Admin, nil
	case role == nil:
		return "", notFoundf("role of user %d in tenant %d", userID, tenantID)
	}
	return Role(*role), nil
}

// ListMembershipsOf returns the memberships of each of the users, by
// user ID and then tenant name. A user in no tenant has no entry.
func (s *Store) ListMembershipsOf(ctx context.Context, userIDs []int64) (map[int64][]Membership, error) {
	rows, err := s.db.Query(ctx, membershipSelect+`
		WHERE m.user_id = ANY ($1) ORDER BY m.user_id, t.name`, userIDs)
	if err != nil {
		return nil, mapErr(err)
	}
	ms, err := collect(rows, scanMembership)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]Membership, len(userIDs))
	for _, m := range ms {
		out[m.UserID] = append(out[m.UserID], m)
	}
	return out, nil
}

// maxNamedOwners is how many owners AskAnOwner names.
const maxNamedOwners = 3

// AskAnOwner words where a member who lacks role should turn: "ask one of
// its owners (a@example.com, b@example.com) for the member role", naming
// the tenant's active owners (a few of them), or, when it has none, that a
// platform admin must add one. An empty role leaves out what to ask for.
func (s *Store) AskAnOwner(ctx context.Context, t Tenant, role Role) (string, error) {
	rows, err := s.db.Query(ctx, `
		SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = $1 AND m.role = 'owner' AND u.deactivated_at IS NULL
		ORDER BY lower(u.email) LIMIT $2`, t.ID, maxNamedOwners+1)
	if err != nil {
		return "", mapErr(err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", mapErr(err)
	}
	switch {
	case len(emails) == 0:
		return fmt.Sprintf("tenant %s has no owner to ask: a platform admin must add one (platform members:add EMAIL --tenant %s --role owner)", t.Name, t.Name), nil
	case len(emails) > maxNamedOwners:
		emails = append(emails[:maxNamedOwners], "...")
	}
	ask := "ask one of its owners (" + strings.Join(emails, ", ") + ")"
	if role != "" {
		ask += " for the " + string(role) + " role"
	}
	return ask, nil
}

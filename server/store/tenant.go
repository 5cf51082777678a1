package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tenant is an organisation that owns apps; it maps to a Kubernetes
// namespace.
type Tenant struct {
	ID          int64
	Name        string
	Quota       Quota
	SuspendedAt *time.Time // nil unless suspended
	CreatedAt   time.Time
}

// Suspended reports whether the tenant is suspended.
func (t Tenant) Suspended() bool { return t.SuspendedAt != nil }

// Quota bounds what a tenant may run. The store enforces MaxApps when an app
// is created and MaxProcesses and MaxSize when the formation changes.
type Quota struct {
	MaxApps      int
	MaxProcesses int  // total processes across all the tenant's apps
	MaxSize      Size // the largest process size allowed
}

// DefaultQuota returns the quota of a tenant created without one in mind.
func DefaultQuota() Quota {
	return Quota{MaxApps: 10, MaxProcesses: 20, MaxSize: SizeStandard}
}

func (q Quota) validate() error {
	if q.MaxApps < 0 || q.MaxProcesses < 0 {
		return invalidf("quota limits must not be negative")
	}
	if !q.MaxSize.Valid() {
		return invalidf("quota max size %q is unknown: use small, standard or large", q.MaxSize)
	}
	return nil
}

const tenantColumns = `id, name, max_apps, max_processes, max_size, suspended_at, created_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.Quota.MaxApps, &t.Quota.MaxProcesses, &t.Quota.MaxSize, &t.SuspendedAt, &t.CreatedAt)
	return t, err
}

// CreateTenant creates a tenant. A taken name is a *ConflictError.
func (s *Store) CreateTenant(ctx context.Context, name string, q Quota) (Tenant, error) {
	if err := validateTenantName(name); err != nil {
		return Tenant{}, err
	}
	if err := q.validate(); err != nil {
		return Tenant{}, err
	}
	t, err := scanTenant(s.db.QueryRow(ctx, `
		INSERT INTO tenants (name, max_apps, max_processes, max_size)
		VALUES ($1, $2, $3, $4)
		RETURNING `+tenantColumns,
		name, q.MaxApps, q.MaxProcesses, q.MaxSize))
	if isViolation(err, codeUniqueViolation, "tenants_name_key") {
		return Tenant{}, conflictf("tenant name %q is already taken", name)
	}
	if err != nil {
		return Tenant{}, mapErr(err)
	}
	return t, nil
}

// GetTenant returns the tenant named name.
func (s *Store) GetTenant(ctx context.Context, name string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE name = $1`, name))
	if err != nil {
		return Tenant{}, notFoundOr(err, "tenant %q", name)
	}
	return t, nil
}

// GetTenantByID returns the tenant with the given ID.
func (s *Store) GetTenantByID(ctx context.Context, id int64) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if err != nil {
		return Tenant{}, notFoundOr(err, "tenant %d", id)
	}
	return t, nil
}

// ListTenants returns tenants in ID order; the cursor is the tenant ID.
func (s *Store) ListTenants(ctx context.Context, opts ListOptions) ([]Tenant, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+tenantColumns+` FROM tenants
		WHERE id > $1 ORDER BY id LIMIT $2`, opts.After, opts.limit())
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanTenant)
}

// UpdateTenantQuota replaces the tenant's quota. Lowering it below current
// use stops nothing that runs; it refuses further growth.
func (s *Store) UpdateTenantQuota(ctx context.Context, tenantID int64, q Quota) (Tenant, error) {
	if err := q.validate(); err != nil {
		return Tenant{}, err
	}
	t, err := scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenants SET max_apps = $2, max_processes = $3, max_size = $4
		WHERE id = $1
		RETURNING `+tenantColumns,
		tenantID, q.MaxApps, q.MaxProcesses, q.MaxSize))
	if err != nil {
		return Tenant{}, notFoundOr(err, "tenant %d", tenantID)
	}
	return t, nil
}

// SuspendTenant suspends the tenant (suspended true) or lifts the
// suspension. Suspending an already suspended tenant keeps the original
// time. What a suspension stops is the server's decision.
func (s *Store) SuspendTenant(ctx context.Context, tenantID int64, suspended bool) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenants
		SET suspended_at = CASE WHEN $2 THEN coalesce(suspended_at, now()) END
		WHERE id = $1
		RETURNING `+tenantColumns,
		tenantID, suspended))
	if err != nil {
		return Tenant{}, notFoundOr(err, "tenant %d", tenantID)
	}
	return t, nil
}

// DeleteTenant deletes the tenant and everything it owns: memberships, apps
// and their builds, releases, config, formation, domains and locks. Audit
// events stay, with the tenant's name.
func (s *Store) DeleteTenant(ctx context.Context, tenantID int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, tenantID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("tenant %d", tenantID)
	}
	return nil
}

// LockTenant returns the tenant and, inside InTx, locks its row until the
// transaction ends: quota checks and formation changes of its apps wait,
// and so does another LockTenant. Use it to check a rule over the
// tenant's rows (its owners, its usage) and change them atomically.
func (s *Store) LockTenant(ctx context.Context, tenantID int64) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1 FOR UPDATE`, tenantID))
	if err != nil {
		return Tenant{}, notFoundOr(err, "tenant %d", tenantID)
	}
	return t, nil
}

// TenantUsage is what a tenant's apps take of its quota, by their recorded
// formation (a suspended tenant's formation counts: lifting the suspension
// runs it again).
type TenantUsage struct {
	Apps      int
	Processes int  // the sum of every process type's quantity
	MaxSize   Size // the largest size of a process type with processes; "" if none
}

// TenantUsage returns what the tenant's apps use. Call LockTenant first in
// the same transaction to keep it true until the transaction ends.
func (s *Store) TenantUsage(ctx context.Context, tenantID int64) (TenantUsage, error) {
	var u TenantUsage
	var sizes []string
	err := s.db.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM apps WHERE tenant_id = $1),
		       coalesce(sum(f.quantity), 0),
		       coalesce(array_agg(DISTINCT f.size) FILTER (WHERE f.quantity > 0), '{}')
		FROM formation f JOIN apps a ON a.id = f.app_id
		WHERE a.tenant_id = $1`, tenantID).Scan(&u.Apps, &u.Processes, &sizes)
	if err != nil {
		return TenantUsage{}, mapErr(err)
	}
	for _, sz := range sizes {
		if size := Size(sz); u.MaxSize == "" || !size.AtMost(u.MaxSize) {
			u.MaxSize = size
		}
	}
	return u, nil
}

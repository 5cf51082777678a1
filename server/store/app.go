package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// App is a deployable application of a tenant. Its name is unique across
// the platform because it is a host name.
type App struct {
	ID         int64
	TenantID   int64
	TenantName string
	Name       string
	// LastVersion is the version of the app's newest release, 0 before the
	// first.
	LastVersion int
	CreatedAt   time.Time
}

const appSelect = `
	SELECT a.id, a.tenant_id, t.name, a.name, a.release_counter, a.created_at
	FROM apps a JOIN tenants t ON t.id = a.tenant_id`

func scanApp(row pgx.Row) (App, error) {
	var a App
	err := row.Scan(&a.ID, &a.TenantID, &a.TenantName, &a.Name, &a.LastVersion, &a.CreatedAt)
	return a, err
}

// CreateApp creates an app in the tenant. A taken name is a *ConflictError;
// a tenant at its MaxApps is ErrQuotaExceeded.
func (s *Store) CreateApp(ctx context.Context, tenantID int64, name string) (App, error) {
	if err := ValidateAppName(name); err != nil {
		return App{}, err
	}
	var app App
	err := s.tx(ctx, func(tx *Store) error {
		// Locking the tenant row serialises app creation per tenant, so two
		// concurrent creations cannot both pass the quota check.
		var tenantName string
		var maxApps, count int
		err := tx.db.QueryRow(ctx, `
			SELECT t.name, t.max_apps, (SELECT count(*) FROM apps WHERE tenant_id = t.id)
			FROM tenants t WHERE t.id = $1 FOR UPDATE`, tenantID).Scan(&tenantName, &maxApps, &count)
		if err != nil {
			return notFoundOr(err, "tenant %d", tenantID)
		}
		if count >= maxApps {
			return quotaf("tenant %q may have at most %d apps", tenantName, maxApps)
		}
		app, err = scanApp(tx.db.QueryRow(ctx, `
			WITH a AS (INSERT INTO apps (tenant_id, name) VALUES ($1, $2) RETURNING *)
			SELECT a.id, a.tenant_id, $3::text, a.name, a.release_counter, a.created_at FROM a`,
			tenantID, name, tenantName))
		if isViolation(err, codeUniqueViolation, "apps_name_key") {
			return conflictf("app name %q is already taken", name)
		}
		return mapErr(err)
	})
	if err != nil {
		return App{}, err
	}
	return app, nil
}

// GetApp returns the app named name.
func (s *Store) GetApp(ctx context.Context, name string) (App, error) {
	a, err := scanApp(s.db.QueryRow(ctx, appSelect+` WHERE a.name = $1`, name))
	if err != nil {
		return App{}, notFoundOr(err, "app %q", name)
	}
	return a, nil
}

// GetAppByID returns the app with the given ID.
func (s *Store) GetAppByID(ctx context.Context, id int64) (App, error) {
	a, err := scanApp(s.db.QueryRow(ctx, appSelect+` WHERE a.id = $1`, id))
	if err != nil {
		return App{}, notFoundOr(err, "app %d", id)
	}
	return a, nil
}

// ListApps returns every app on the platform in ID order; the cursor is the
// app ID.
func (s *Store) ListApps(ctx context.Context, opts ListOptions) ([]App, error) {
	rows, err := s.db.Query(ctx, appSelect+` WHERE a.id > $1 ORDER BY a.id LIMIT $2`, opts.After, opts.limit())
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanApp)
}

// ListAppsForTenant returns the tenant's apps in ID order; the cursor is the
// app ID.
func (s *Store) ListAppsForTenant(ctx context.Context, tenantID int64, opts ListOptions) ([]App, error) {
	rows, err := s.db.Query(ctx, appSelect+`
		WHERE a.tenant_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3`, tenantID, opts.After, opts.limit())
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanApp)
}

// DeleteApp deletes the app with its builds, releases, config, formation,
// domains and deploy lock. Audit events keep the app's name. Removing what
// runs in Kubernetes is the caller's job.
func (s *Store) DeleteApp(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM apps WHERE id = $1`, id)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("app %d", id)
	}
	return nil
}

package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Domain is a custom host name routed to an app. Hosts are lower case and
// unique across the platform.
type Domain struct {
	ID        int64
	AppID     int64
	Host      string
	CreatedAt time.Time
}

func scanDomain(row pgx.Row) (Domain, error) {
	var d Domain
	err := row.Scan(&d.ID, &d.AppID, &d.Host, &d.CreatedAt)
	return d, err
}

// AddDomain routes host (any case, see NormalizeHost) to the app. A host
// already added to any app is a *ConflictError.
func (s *Store) AddDomain(ctx context.Context, appID int64, host string) (Domain, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return Domain{}, err
	}
	d, err := scanDomain(s.db.QueryRow(ctx, `
		INSERT INTO domains (app_id, host) VALUES ($1, $2)
		RETURNING id, app_id, host, created_at`, appID, h))
	switch {
	case isViolation(err, codeUniqueViolation, "domains_host_key"):
		return Domain{}, conflictf("domain %q is already in use", h)
	case err != nil:
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return Domain{}, notFoundf("app %d", appID)
		}
		return Domain{}, mapErr(err)
	}
	return d, nil
}

// ListDomains returns the app's domains by host.
func (s *Store) ListDomains(ctx context.Context, appID int64) ([]Domain, error) {
	rows, err := s.db.Query(ctx, `
		SELECT id, app_id, host, created_at FROM domains WHERE app_id = $1 ORDER BY host`, appID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanDomain)
}

// RemoveDomain removes host (any case) from the app. A host of another app
// is ErrNotFound.
func (s *Store) RemoveDomain(ctx context.Context, appID int64, host string) error {
	h, err := NormalizeHost(host)
	if err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM domains WHERE app_id = $1 AND host = $2`, appID, h)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("domain %q", h)
	}
	return nil
}

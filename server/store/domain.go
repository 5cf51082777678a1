package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/jackc/pgx/v5"
)

// Domain is a custom host name an app claims. Hosts are lower case. A
// domain is routed to its app only once verified (VerifiedAt set); a
// verified host belongs to one app across the platform, while several
// apps may claim a host none has verified.
type Domain struct {
	ID    int64
	AppID int64
	Host  string
	// VerifyToken is what the host's DNS TXT record must hold for its
	// owner to verify it.
	VerifyToken string
	VerifiedAt  *time.Time // nil while it awaits verification
	CreatedAt   time.Time
}

// Verified reports whether the domain is routed.
func (d Domain) Verified() bool { return d.VerifiedAt != nil }

const domainColumns = `id, app_id, host, verify_token, verified_at, created_at`

func scanDomain(row pgx.Row) (Domain, error) {
	var d Domain
	err := row.Scan(&d.ID, &d.AppID, &d.Host, &d.VerifyToken, &d.VerifiedAt, &d.CreatedAt)
	return d, err
}

// newVerifyToken makes a domain's verification token.
func newVerifyToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails; see crypto/rand.Read
	return "platform-domain-" + hex.EncodeToString(b)
}

// errDomainTaken is the conflict of a host another app holds: it does not
// say which.
func errDomainTaken(host string) error {
	return conflictf("domain %q is already in use", host)
}

// AddDomain claims host (any case, see NormalizeHost) for the app, with a
// new verification token; verified true routes it at once. A host another
// app has verified, or this app has claimed, is a *ConflictError that
// does not say which app holds it.
func (s *Store) AddDomain(ctx context.Context, appID int64, host string, verified bool) (Domain, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return Domain{}, err
	}
	d, err := scanDomain(s.db.QueryRow(ctx, `
		INSERT INTO domains (app_id, host, verify_token, verified_at)
		SELECT $1, $2, $3, CASE WHEN $4 THEN now() END
		WHERE NOT EXISTS (SELECT 1 FROM domains WHERE host = $2 AND verified_at IS NOT NULL)
		RETURNING `+domainColumns, appID, h, newVerifyToken(), verified))
	switch {
	case isNoRows(err), isViolation(err, codeUniqueViolation, "domains_host_key"):
		return Domain{}, errDomainTaken(h)
	case isViolation(err, codeUniqueViolation, "domains_app_id_host_key"):
		return Domain{}, conflictf("domain %q is added to this app already", h)
	case err != nil:
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return Domain{}, notFoundf("app %d", appID)
		}
		return Domain{}, mapErr(err)
	}
	return d, nil
}

// VerifyDomain marks the app's claim of host verified, which routes it.
// Verifying it again changes nothing. A host another app has verified
// meanwhile is a *ConflictError; a host the app has not claimed,
// ErrNotFound.
func (s *Store) VerifyDomain(ctx context.Context, appID int64, host string) (Domain, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return Domain{}, err
	}
	d, err := scanDomain(s.db.QueryRow(ctx, `
		UPDATE domains SET verified_at = coalesce(verified_at, now())
		WHERE app_id = $1 AND host = $2
		RETURNING `+domainColumns, appID, h))
	switch {
	case isViolation(err, codeUniqueViolation, "domains_host_key"):
		return Domain{}, errDomainTaken(h)
	case err != nil:
		return Domain{}, notFoundOr(err, "domain %q", h)
	}
	return d, nil
}

// UnverifyDomain takes the verification of the app's claim of host back,
// as a routing that failed must.
func (s *Store) UnverifyDomain(ctx context.Context, appID int64, host string) error {
	tag, err := s.db.Exec(ctx, `UPDATE domains SET verified_at = NULL WHERE app_id = $1 AND host = $2`, appID, host)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("domain %q", host)
	}
	return nil
}

// ListDomains returns the app's domains, verified or not, by host.
func (s *Store) ListDomains(ctx context.Context, appID int64) ([]Domain, error) {
	return s.listDomains(ctx, appID, false)
}

// ListRoutedDomains returns the app's verified domains, by host: the
// ones to route to it.
func (s *Store) ListRoutedDomains(ctx context.Context, appID int64) ([]Domain, error) {
	return s.listDomains(ctx, appID, true)
}

func (s *Store) listDomains(ctx context.Context, appID int64, verifiedOnly bool) ([]Domain, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+domainColumns+` FROM domains
		WHERE app_id = $1 AND ($2 = false OR verified_at IS NOT NULL)
		ORDER BY host`, appID, verifiedOnly)
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

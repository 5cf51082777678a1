package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockInfo describes who holds an app's deploy lock.
type LockInfo struct {
	AppID       int64
	Holder      string // opaque ID chosen by the acquirer, unique per attempt
	Description string // for people: "deploy of v7 by alice@example.com"
	AcquiredAt  time.Time
	ExpiresAt   time.Time
}

const lockColumns = `app_id, holder, description, acquired_at, expires_at`

func scanLock(row pgx.Row) (LockInfo, error) {
	var l LockInfo
	err := row.Scan(&l.AppID, &l.Holder, &l.Description, &l.AcquiredAt, &l.ExpiresAt)
	return l, err
}

func validateLease(holder string, ttl time.Duration) error {
	if holder == "" || len(holder) > 200 {
		return invalidf("deploy lock holder must be 1 to 200 characters")
	}
	if ttl < time.Second {
		return invalidf("deploy lock ttl must be at least a second")
	}
	return nil
}

// AcquireDeployLock tries to take the app's deploy lock for holder until
// ttl from now, by the database's clock. It succeeds (ok true) when the lock
// is free, expired, or already held by holder (which renews it); otherwise
// ok is false and current says who holds it. The holder must renew the
// lease (RenewDeployLock) before it expires and release it when done.
func (s *Store) AcquireDeployLock(ctx context.Context, appID int64, holder, description string, ttl time.Duration) (bool, LockInfo, error) {
	if err := validateLease(holder, ttl); err != nil {
		return false, LockInfo{}, err
	}
	var (
		ok      bool
		current LockInfo
	)
	err := s.tx(ctx, func(tx *Store) error {
		// ON CONFLICT DO UPDATE locks the existing row even when its WHERE
		// refuses the update, so the SELECT below reads the holder that
		// beat us, and it cannot vanish in between.
		l, err := scanLock(tx.db.QueryRow(ctx, `
			INSERT INTO deploy_locks (app_id, holder, description, acquired_at, expires_at)
			VALUES ($1, $2, $3, now(), now() + $4::interval)
			ON CONFLICT (app_id) DO UPDATE
			SET holder = EXCLUDED.holder, description = EXCLUDED.description,
			    acquired_at = CASE WHEN deploy_locks.holder = EXCLUDED.holder
			                       THEN deploy_locks.acquired_at ELSE now() END,
			    expires_at = EXCLUDED.expires_at
			WHERE deploy_locks.expires_at <= now() OR deploy_locks.holder = EXCLUDED.holder
			RETURNING `+lockColumns, appID, holder, description, ttl))
		switch {
		case err == nil:
			ok, current = true, l
			return nil
		case !isNoRows(err):
			if pe, isPg := pgErr(err); isPg && pe.Code == codeForeignKeyViolation {
				return notFoundf("app %d", appID)
			}
			return mapErr(err)
		}
		current, err = scanLock(tx.db.QueryRow(ctx, `SELECT `+lockColumns+` FROM deploy_locks WHERE app_id = $1`, appID))
		if err != nil {
			return mapErr(fmt.Errorf("reading deploy lock of app %d: %w", appID, err))
		}
		return nil
	})
	if err != nil {
		return false, LockInfo{}, err
	}
	return ok, current, nil
}

// RenewDeployLock extends holder's lease on the app's deploy lock to ttl
// from now. If holder no longer holds it (it was released, or expired and
// taken over) the error is ErrLockNotHeld and the deploy should stop. A
// lease that expired but was not taken over is renewed.
func (s *Store) RenewDeployLock(ctx context.Context, appID int64, holder string, ttl time.Duration) (LockInfo, error) {
	if err := validateLease(holder, ttl); err != nil {
		return LockInfo{}, err
	}
	l, err := scanLock(s.db.QueryRow(ctx, `
		UPDATE deploy_locks SET expires_at = now() + $3::interval
		WHERE app_id = $1 AND holder = $2
		RETURNING `+lockColumns, appID, holder, ttl))
	if isNoRows(err) {
		return LockInfo{}, fmt.Errorf("deploy lock of app %d: %w", appID, ErrLockNotHeld)
	}
	if err != nil {
		return LockInfo{}, mapErr(err)
	}
	return l, nil
}

// ReleaseDeployLock frees the app's deploy lock if holder holds it. It is
// idempotent: releasing a lock not held (any more) does nothing.
func (s *Store) ReleaseDeployLock(ctx context.Context, appID int64, holder string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM deploy_locks WHERE app_id = $1 AND holder = $2`, appID, holder); err != nil {
		return mapErr(err)
	}
	return nil
}

// DeployLock returns the app's deploy lock, expired or not; ErrNotFound if
// nobody holds it.
func (s *Store) DeployLock(ctx context.Context, appID int64) (LockInfo, error) {
	l, err := scanLock(s.db.QueryRow(ctx, `SELECT `+lockColumns+` FROM deploy_locks WHERE app_id = $1`, appID))
	if err != nil {
		return LockInfo{}, notFoundOr(err, "deploy lock of app %d", appID)
	}
	return l, nil
}

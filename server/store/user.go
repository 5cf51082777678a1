package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a person who uses the platform. E-mail addresses are unique
// regardless of case; the address is kept as given.
type User struct {
	ID        int64
	Email     string
	IsAdmin   bool // platform administrator (the Admin role)
	CreatedAt time.Time
	// DeactivatedAt is when an admin deactivated the user; nil while the
	// user is active. A deactivated user's credentials sign in to nothing
	// (see signedIn).
	DeactivatedAt *time.Time
}

// Active reports whether the user may sign in.
func (u User) Active() bool { return u.DeactivatedAt == nil }

// userColumns are a user's columns, from the users table as u.
const userColumns = `u.id, u.email, u.is_admin, u.created_at, u.deactivated_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt, &u.DeactivatedAt)
	return u, err
}

// signedIn is the one check that every credential's user passes, whatever
// the credential (an API token, a dashboard session, an SSH key, a
// password): a deactivated user is ErrDeactivated. Every lookup of the
// user a credential signs in reads the user with userColumns and returns
// through signedIn; TestDeactivatedUserSignsInToNothing holds each.
func signedIn(u User, err error) (User, error) {
	if err != nil {
		return User{}, err
	}
	if !u.Active() {
		return User{}, fmt.Errorf("user %d: %w", u.ID, ErrDeactivated)
	}
	return u, nil
}

// CreateUser creates a user. An address already registered, in any case, is
// a *ConflictError.
func (s *Store) CreateUser(ctx context.Context, email string, isAdmin bool) (User, error) {
	email = strings.TrimSpace(email)
	if err := validateEmail(email); err != nil {
		return User{}, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `
		INSERT INTO users AS u (email, is_admin) VALUES ($1, $2)
		RETURNING `+userColumns, email, isAdmin))
	if isViolation(err, codeUniqueViolation, "users_email_key") {
		return User{}, conflictf("email %q is already registered", email)
	}
	if err != nil {
		return User{}, mapErr(err)
	}
	return u, nil
}

// GetUser returns the user with the given ID.
func (s *Store) GetUser(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE id = $1`, id))
	if err != nil {
		return User{}, notFoundOr(err, "user %d", id)
	}
	return u, nil
}

// SignedInUser returns the user with the given ID if they may still act:
// a deactivated user is ErrDeactivated. It is for a user whose credential
// was checked a while ago (an SSH connection's), before each thing they do.
func (s *Store) SignedInUser(ctx context.Context, id int64) (User, error) {
	return signedIn(s.GetUser(ctx, id))
}

// GetUserByEmail returns the user with the address email, in any case.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (User, error) {
	email = strings.TrimSpace(email)
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE lower(email) = lower($1)`, email))
	if err != nil {
		return User{}, notFoundOr(err, "user %q", email)
	}
	return u, nil
}

// ListUsers returns users in ID order; the cursor is the user ID.
func (s *Store) ListUsers(ctx context.Context, opts ListOptions) ([]User, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+userColumns+` FROM users u
		WHERE id > $1 ORDER BY id LIMIT $2`, opts.After, opts.limit())
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanUser)
}

// SetUserDeactivated deactivates the user (deactivated true) or
// reactivates them, and returns the user. Deactivating a deactivated user
// keeps the original time.
func (s *Store) SetUserDeactivated(ctx context.Context, userID int64, deactivated bool) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `
		UPDATE users AS u
		SET deactivated_at = CASE WHEN $2 THEN coalesce(u.deactivated_at, now()) END
		WHERE u.id = $1
		RETURNING `+userColumns, userID, deactivated))
	if err != nil {
		return User{}, notFoundOr(err, "user %d", userID)
	}
	return u, nil
}

// DeleteUser deletes the user with their memberships, SSH keys and API
// tokens. Builds, releases and audit events keep the user's e-mail address.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("user %d", id)
	}
	return nil
}

package store

import (
	"context"
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
}

const userColumns = `id, email, is_admin, created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt)
	return u, err
}

// CreateUser creates a user. An address already registered, in any case, is
// a *ConflictError.
func (s *Store) CreateUser(ctx context.Context, email string, isAdmin bool) (User, error) {
	email = strings.TrimSpace(email)
	if err := validateEmail(email); err != nil {
		return User{}, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `
		INSERT INTO users (email, is_admin) VALUES ($1, $2)
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
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, notFoundOr(err, "user %d", id)
	}
	return u, nil
}

// GetUserByEmail returns the user with the address email, in any case.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (User, error) {
	email = strings.TrimSpace(email)
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email))
	if err != nil {
		return User{}, notFoundOr(err, "user %q", email)
	}
	return u, nil
}

// ListUsers returns users in ID order; the cursor is the user ID.
func (s *Store) ListUsers(ctx context.Context, opts ListOptions) ([]User, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+userColumns+` FROM users
		WHERE id > $1 ORDER BY id LIMIT $2`, opts.After, opts.limit())
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanUser)
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

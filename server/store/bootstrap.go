package store

import (
	"context"
	"strings"
)

// bootstrapLockID is the transaction-level advisory lock that serialises
// BootstrapAdmin across processes.
const bootstrapLockID int64 = 0x706c74_626f6f74 // "plt" "boot"

// BootstrapTokenName is the name of the token BootstrapAdmin creates.
const BootstrapTokenName = "bootstrap"

// BootstrapAdmin makes sure the platform has an administrator. If none
// exists it makes the user with this e-mail address an administrator
// (creating the user if needed), gives them an API token named "bootstrap"
// (the one given, when given is not empty; see ValidateTokenString) and
// returns its plaintext, the only time it is shown, with created true.
// If an administrator exists it does nothing and returns created false and
// no token. Processes that start together are serialised by an advisory
// lock, so exactly one of them creates the admin and the token.
func (s *Store) BootstrapAdmin(ctx context.Context, email, given string) (token string, created bool, err error) {
	if given != "" {
		if err := ValidateTokenString(given); err != nil {
			return "", false, err
		}
	}
	email = strings.TrimSpace(email)
	if err := validateEmail(email); err != nil {
		return "", false, err
	}
	var userID int64
	err = s.tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, bootstrapLockID); err != nil {
			return mapErr(err)
		}
		var exists bool
		if err := tx.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE is_admin)`).Scan(&exists); err != nil {
			return mapErr(err)
		}
		if exists {
			return nil
		}
		err := tx.db.QueryRow(ctx, `
			INSERT INTO users (email, is_admin) VALUES ($1, true)
			ON CONFLICT ((lower(email))) DO UPDATE SET is_admin = true
			RETURNING id`, email).Scan(&userID)
		if err != nil {
			return mapErr(err)
		}
		token, _, err = tx.createToken(ctx, userID, BootstrapTokenName, nil, given)
		if err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return "", false, err
	}
	if created {
		s.logger.InfoContext(ctx, "bootstrap admin created", "user", email)
	}
	return token, created, nil
}

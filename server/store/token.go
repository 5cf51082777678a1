package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// TokenPrefix starts every API token, so a leaked token is recognisable
// (secret scanners, logs) and a string that lacks it is refused without a
// database round trip.
const TokenPrefix = "plt_"

// tokenBytes is the token's entropy.
const tokenBytes = 32

// lastUsedResolution is how stale last_used_at may get: a token used many
// times a minute costs one write a minute, not one per request.
const lastUsedResolution = time.Minute

// Token describes an API token. The token itself is shown once, by
// CreateToken, and is stored only as its SHA-256.
type Token struct {
	ID         int64
	UserID     int64
	Name       string
	ExpiresAt  *time.Time // nil: never expires
	LastUsedAt *time.Time // nil: never used; updated at most once a minute
	CreatedAt  time.Time
}

const tokenColumns = `id, user_id, name, expires_at, last_used_at, created_at`

func scanToken(row pgx.Row) (Token, error) {
	var t Token
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.ExpiresAt, &t.LastUsedAt, &t.CreatedAt)
	return t, err
}

func hashToken(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

func newTokenString() string {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // never fails; see crypto/rand.Read
	return TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// CreateToken creates an API token for the user and returns its plaintext,
// which is not stored and cannot be shown again. expiresAt nil means no
// expiry; a time not in the future is ErrInvalid.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, expiresAt *time.Time) (string, Token, error) {
	return s.createToken(ctx, userID, name, expiresAt, "")
}

// minTokenSecret is the fewest characters after TokenPrefix that a token
// given from outside (ValidateTokenString) may have: 160 bits of base32.
const minTokenSecret = 32

// ValidateTokenString checks a token made outside the platform, such as
// the first administrator's from an installer's Secret: TokenPrefix, then
// at least minTokenSecret letters and digits.
func ValidateTokenString(tok string) error {
	rest, ok := strings.CutPrefix(tok, TokenPrefix)
	if !ok || len(rest) < minTokenSecret {
		return invalidf("an API token is %s followed by at least %d letters and digits", TokenPrefix, minTokenSecret)
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return invalidf("an API token is %s followed by at least %d letters and digits, not %q", TokenPrefix, minTokenSecret, r)
		}
	}
	return nil
}

// createToken is CreateToken with the plaintext given, or a new one when
// plaintext is empty.
func (s *Store) createToken(ctx context.Context, userID int64, name string, expiresAt *time.Time, plaintext string) (string, Token, error) {
	if err := validateLabel("token", name); err != nil {
		return "", Token{}, err
	}
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		return "", Token{}, invalidf("token expiry must be in the future")
	}
	if plaintext == "" {
		plaintext = newTokenString()
	}
	t, err := scanToken(s.db.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, token_hash, expires_at)
		VALUES ($1, $2, $3, $4)
		RETURNING `+tokenColumns, userID, name, hashToken(plaintext), expiresAt))
	if err != nil {
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return "", Token{}, notFoundf("user %d", userID)
		}
		return "", Token{}, mapErr(err)
	}
	return plaintext, t, nil
}

// UserByToken authenticates an API token: it returns the token's user and
// records the use. An unknown token is ErrNotFound, an expired one
// ErrTokenExpired; both mean 401 and neither says which to the client. A
// deactivated user's token is ErrDeactivated.
func (s *Store) UserByToken(ctx context.Context, plaintext string) (User, error) {
	if !strings.HasPrefix(plaintext, TokenPrefix) {
		return User{}, notFoundf("API token")
	}
	var (
		u       User
		tokenID int64
		expired bool
		stale   bool
	)
	err := s.db.QueryRow(ctx, `
		SELECT `+userColumns+`, t.id,
		       t.expires_at IS NOT NULL AND t.expires_at <= now(),
		       t.last_used_at IS NULL OR t.last_used_at < now() - $2::interval
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1`, hashToken(plaintext), lastUsedResolution,
	).Scan(&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt, &u.DeactivatedAt, &tokenID, &expired, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, notFoundf("API token")
	}
	if err != nil {
		return User{}, mapErr(err)
	}
	if _, err := signedIn(u, nil); err != nil {
		return User{}, err
	}
	if expired {
		return User{}, fmt.Errorf("API token %d: %w", tokenID, ErrTokenExpired)
	}
	if stale {
		if _, err := s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, tokenID); err != nil {
			return User{}, mapErr(err)
		}
	}
	return u, nil
}

// ListTokens returns the user's tokens, oldest first.
func (s *Store) ListTokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.db.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanToken)
}

// RevokeToken deletes the user's token with the given ID. Another user's
// token is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1 AND user_id = $2`, tokenID, userID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("API token %d", tokenID)
	}
	return nil
}

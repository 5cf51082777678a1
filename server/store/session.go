package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SessionPrefix starts every dashboard session secret, so that a leaked
// one is recognisable and a string without it is refused without a
// database round trip.
const SessionPrefix = "pls_"

// Session is a browser signed in to the dashboard. Its secret, the
// cookie's value, is returned once by CreateSession and stored only as its
// SHA-256.
type Session struct {
	ID     int64
	UserID int64
	// TokenID is the API token the user signed in with; nil for a
	// password. Revoking the token ends the session.
	TokenID *int64
	// CSRFToken must accompany every state-changing request the session
	// makes; the server hands it to the page.
	CSRFToken  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time // updated at most once a minute
}

// NewSession says whom CreateSession signs in, and for how long.
type NewSession struct {
	UserID int64
	// APIToken is the token the user signed in with, if they did: the
	// session ends when the token expires or is revoked, whichever is
	// first. It must be the user's.
	APIToken string
	// Lifetime is how long the session may last from now. Required.
	Lifetime time.Duration
}

const sessionColumns = `id, user_id, token_id, csrf_token, created_at, expires_at, last_seen_at`

func scanSession(row pgx.Row) (Session, error) {
	var se Session
	err := row.Scan(&se.ID, &se.UserID, &se.TokenID, &se.CSRFToken, &se.CreatedAt, &se.ExpiresAt, &se.LastSeenAt)
	return se, err
}

// randomString returns n random bytes, URL-safe base64 without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails; see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateSession starts a dashboard session and returns its secret, which
// is not stored and cannot be shown again. An unknown user, or an API
// token that is not the user's, is ErrNotFound; an expired token is
// ErrTokenExpired.
func (s *Store) CreateSession(ctx context.Context, ns NewSession) (string, Session, error) {
	if ns.Lifetime <= 0 {
		return "", Session{}, invalidf("a session's lifetime must be positive")
	}
	expires := time.Now().Add(ns.Lifetime)
	var tokenID *int64
	if ns.APIToken != "" {
		var (
			id        int64
			tokExpiry *time.Time
		)
		err := s.db.QueryRow(ctx, `SELECT id, expires_at FROM api_tokens WHERE token_hash = $1 AND user_id = $2`,
			hashToken(ns.APIToken), ns.UserID).Scan(&id, &tokExpiry)
		if err != nil {
			return "", Session{}, notFoundOr(err, "API token")
		}
		if tokExpiry != nil {
			if !tokExpiry.After(time.Now()) {
				return "", Session{}, fmt.Errorf("API token %d: %w", id, ErrTokenExpired)
			}
			if tokExpiry.Before(expires) {
				expires = *tokExpiry
			}
		}
		tokenID = &id
	}
	secret := SessionPrefix + randomString(tokenBytes)
	se, err := scanSession(s.db.QueryRow(ctx, `
		INSERT INTO web_sessions (user_id, token_id, session_hash, csrf_token, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING `+sessionColumns, ns.UserID, tokenID, hashToken(secret), randomString(tokenBytes), expires))
	if err != nil {
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return "", Session{}, notFoundf("user %d", ns.UserID)
		}
		return "", Session{}, mapErr(err)
	}
	return secret, se, nil
}

// SessionUser authenticates a session secret: it returns the session and
// its user, and records the use. A session that is unknown, past its
// expiry or unused for longer than maxIdle is ErrNotFound: all of them
// mean "sign in again". A deactivated user's session is ErrDeactivated.
func (s *Store) SessionUser(ctx context.Context, secret string, maxIdle time.Duration) (User, Session, error) {
	if !strings.HasPrefix(secret, SessionPrefix) {
		return User{}, Session{}, notFoundf("session")
	}
	var (
		u     User
		se    Session
		stale bool
	)
	err := s.db.QueryRow(ctx, `
		SELECT `+userColumns+`,
		       w.id, w.user_id, w.token_id, w.csrf_token, w.created_at, w.expires_at, w.last_seen_at,
		       w.last_seen_at < now() - $3::interval
		FROM web_sessions w JOIN users u ON u.id = w.user_id
		WHERE w.session_hash = $1 AND w.expires_at > now() AND w.last_seen_at > now() - $2::interval`,
		hashToken(secret), maxIdle, lastUsedResolution,
	).Scan(&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt, &u.DeactivatedAt,
		&se.ID, &se.UserID, &se.TokenID, &se.CSRFToken, &se.CreatedAt, &se.ExpiresAt, &se.LastSeenAt, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, Session{}, notFoundf("session")
	}
	if err != nil {
		return User{}, Session{}, mapErr(err)
	}
	if _, err := signedIn(u, nil); err != nil {
		return User{}, Session{}, err
	}
	if stale {
		err := s.db.QueryRow(ctx, `UPDATE web_sessions SET last_seen_at = now() WHERE id = $1 RETURNING last_seen_at`,
			se.ID).Scan(&se.LastSeenAt)
		if err != nil && !isNoRows(err) { // signed out meanwhile: this request still had it
			return User{}, Session{}, mapErr(err)
		}
	}
	return u, se, nil
}

// DeleteSession ends the session with this secret (signing out). An
// unknown secret is ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, secret string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE session_hash = $1`, hashToken(secret))
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("session")
	}
	return nil
}

// DeleteUserSessions ends every session of the user, as a password change
// should, and returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

// DeleteExpiredSessions removes sessions past their expiry or unused for
// longer than maxIdle, which SessionUser refuses anyway, and returns how
// many it removed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, maxIdle time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx, `
		DELETE FROM web_sessions WHERE expires_at <= now() OR last_seen_at <= now() - $1::interval`, maxIdle)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

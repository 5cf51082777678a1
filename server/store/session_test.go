package store

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	secret, se, err := s.CreateSession(ctx, NewSession{UserID: f.user.ID, Lifetime: time.Hour})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(secret, SessionPrefix))
	assert.Nil(t, se.TokenID)
	assert.GreaterOrEqual(t, len(se.CSRFToken), 32)
	assert.NotContains(t, se.CSRFToken, strings.TrimPrefix(secret, SessionPrefix))
	assert.WithinDuration(t, time.Now().Add(time.Hour), se.ExpiresAt, time.Minute)

	// Only the secret's SHA-256 is stored.
	var dump string
	require.NoError(t, s.db.QueryRow(ctx, `SELECT string_agg(to_jsonb(w)::text, '') FROM web_sessions w`).Scan(&dump))
	assert.NotContains(t, dump, strings.TrimPrefix(secret, SessionPrefix))
	var hash []byte
	require.NoError(t, s.db.QueryRow(ctx, `SELECT session_hash FROM web_sessions WHERE id = $1`, se.ID).Scan(&hash))
	sum := sha256.Sum256([]byte(secret))
	assert.Equal(t, sum[:], hash)

	u, got, err := s.SessionUser(ctx, secret, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, f.user.ID, u.ID)
	assert.Equal(t, f.user.Email, u.Email)
	assert.Equal(t, se.ID, got.ID)
	assert.Equal(t, se.CSRFToken, got.CSRFToken)

	for name, bad := range map[string]string{
		"unknown":   SessionPrefix + "nothere",
		"no prefix": "nothere",
		"empty":     "",
	} {
		_, _, err := s.SessionUser(ctx, bad, time.Hour)
		assert.ErrorIs(t, err, ErrNotFound, name)
	}

	// A stale last_seen_at is bumped; one idle for too long is refused.
	_, err = s.db.Exec(ctx, `UPDATE web_sessions SET last_seen_at = now() - interval '10 minutes' WHERE id = $1`, se.ID)
	require.NoError(t, err)
	_, got, err = s.SessionUser(ctx, secret, time.Hour)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), got.LastSeenAt, 30*time.Second)
	_, err = s.db.Exec(ctx, `UPDATE web_sessions SET last_seen_at = now() - interval '2 hours' WHERE id = $1`, se.ID)
	require.NoError(t, err)
	_, _, err = s.SessionUser(ctx, secret, time.Hour)
	assert.ErrorIs(t, err, ErrNotFound, "idle for longer than maxIdle")
	_, _, err = s.SessionUser(ctx, secret, 3*time.Hour)
	require.NoError(t, err, "within a longer idle limit")

	// Past its expiry, whatever the idle limit.
	_, err = s.db.Exec(ctx, `UPDATE web_sessions SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' WHERE id = $1`, se.ID)
	require.NoError(t, err)
	_, _, err = s.SessionUser(ctx, secret, 24*time.Hour)
	assert.ErrorIs(t, err, ErrNotFound, "expired")
	n, err := s.DeleteExpiredSessions(ctx, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// Sign-out deletes the session.
	secret, _, err = s.CreateSession(ctx, NewSession{UserID: f.user.ID, Lifetime: time.Hour})
	require.NoError(t, err)
	require.NoError(t, s.DeleteSession(ctx, secret))
	_, _, err = s.SessionUser(ctx, secret, time.Hour)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.DeleteSession(ctx, secret), ErrNotFound)

	// Deleting the user's sessions, and the user, ends them.
	a, _, err := s.CreateSession(ctx, NewSession{UserID: f.user.ID, Lifetime: time.Hour})
	require.NoError(t, err)
	_, _, err = s.CreateSession(ctx, NewSession{UserID: f.user.ID, Lifetime: time.Hour})
	require.NoError(t, err)
	n, err = s.DeleteUserSessions(ctx, f.user.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	_, _, err = s.SessionUser(ctx, a, time.Hour)
	assert.ErrorIs(t, err, ErrNotFound)

	_, _, err = s.CreateSession(ctx, NewSession{UserID: f.user.ID})
	assert.ErrorIs(t, err, ErrInvalid, "no lifetime")
	_, _, err = s.CreateSession(ctx, NewSession{UserID: 1 << 40, Lifetime: time.Hour})
	assert.ErrorIs(t, err, ErrNotFound, "no such user")
}

func TestSessionsFromTokens(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	other, err := s.CreateUser(ctx, "bob@example.com", false)
	require.NoError(t, err)

	token, tok, err := s.CreateToken(ctx, f.user.ID, "laptop", new(time.Now().Add(30*time.Minute)))
	require.NoError(t, err)

	secret, se, err := s.CreateSession(ctx, NewSession{UserID: f.user.ID, APIToken: token, Lifetime: 12 * time.Hour})
	require.NoError(t, err)
	require.NotNil(t, se.TokenID)
	assert.Equal(t, tok.ID, *se.TokenID)
	assert.WithinDuration(t, *tok.ExpiresAt, se.ExpiresAt, time.Second, "the session ends with its token")

	_, _, err = s.CreateSession(ctx, NewSession{UserID: other.ID, APIToken: token, Lifetime: time.Hour})
	assert.ErrorIs(t, err, ErrNotFound, "another user's token")
	_, _, err = s.CreateSession(ctx, NewSession{UserID: f.user.ID, APIToken: TokenPrefix + "nothere", Lifetime: time.Hour})
	assert.ErrorIs(t, err, ErrNotFound, "an unknown token")

	// Revoking the token ends the session.
	require.NoError(t, s.RevokeToken(ctx, f.user.ID, tok.ID))
	_, _, err = s.SessionUser(ctx, secret, time.Hour)
	assert.ErrorIs(t, err, ErrNotFound)

	// An expired token starts no session.
	token, tok, err = s.CreateToken(ctx, f.user.ID, "old", new(time.Now().Add(time.Hour)))
	require.NoError(t, err)
	_, err = s.db.Exec(ctx, `UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, tok.ID)
	require.NoError(t, err)
	_, _, err = s.CreateSession(ctx, NewSession{UserID: f.user.ID, APIToken: token, Lifetime: time.Hour})
	assert.ErrorIs(t, err, ErrTokenExpired)
}

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

func TestTokens(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	plaintext, tok, err := s.CreateToken(ctx, f.user.ID, "laptop", nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(plaintext, TokenPrefix))
	assert.Len(t, plaintext, len(TokenPrefix)+52)
	assert.Nil(t, tok.LastUsedAt)
	assert.Nil(t, tok.ExpiresAt)

	// Nothing in the table holds the token; the hash column is its SHA-256.
	var dump string
	require.NoError(t, s.db.QueryRow(ctx, `SELECT string_agg(to_jsonb(t)::text, '') FROM api_tokens t`).Scan(&dump))
	assert.NotContains(t, dump, plaintext)
	assert.NotContains(t, dump, strings.TrimPrefix(plaintext, TokenPrefix))
	var hash []byte
	require.NoError(t, s.db.QueryRow(ctx, `SELECT token_hash FROM api_tokens WHERE id = $1`, tok.ID).Scan(&hash))
	sum := sha256.Sum256([]byte(plaintext))
	assert.Equal(t, sum[:], hash)

	// Lookup by plaintext works and records the use.
	u, err := s.UserByToken(ctx, plaintext)
	require.NoError(t, err)
	assert.Equal(t, f.user.ID, u.ID)
	toks, err := s.ListTokens(ctx, f.user.ID)
	require.NoError(t, err)
	require.Len(t, toks, 1)
	require.NotNil(t, toks[0].LastUsedAt, "last_used_at is set on use")
	assert.WithinDuration(t, time.Now(), *toks[0].LastUsedAt, time.Minute)

	// A stale last_used_at is bumped on the next use.
	_, err = s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() - interval '1 hour' WHERE id = $1`, tok.ID)
	require.NoError(t, err)
	_, err = s.UserByToken(ctx, plaintext)
	require.NoError(t, err)
	toks, err = s.ListTokens(ctx, f.user.ID)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), *toks[0].LastUsedAt, time.Minute)

	wrong := []struct{ name, token string }{
		{"other token", TokenPrefix + strings.Repeat("a", 52)},
		{"one character off", plaintext[:len(plaintext)-1] + flip(plaintext[len(plaintext)-1])},
		{"no prefix", strings.TrimPrefix(plaintext, TokenPrefix)},
		{"empty", ""},
		{"the hash itself", string(hash)},
	}
	for _, tt := range wrong {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UserByToken(ctx, tt.token)
			assert.ErrorIs(t, err, ErrNotFound)
		})
	}

	// An expired token is refused.
	future := time.Now().Add(time.Hour)
	expiring, _, err := s.CreateToken(ctx, f.user.ID, "ci", &future)
	require.NoError(t, err)
	_, err = s.UserByToken(ctx, expiring)
	require.NoError(t, err)
	_, err = s.db.Exec(ctx, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'ci'`)
	require.NoError(t, err)
	_, err = s.UserByToken(ctx, expiring)
	assert.ErrorIs(t, err, ErrTokenExpired)

	past := time.Now().Add(-time.Minute)
	_, _, err = s.CreateToken(ctx, f.user.ID, "old", &past)
	assert.ErrorIs(t, err, ErrInvalid)
	_, _, err = s.CreateToken(ctx, f.user.ID, "", nil)
	assert.ErrorIs(t, err, ErrInvalid)

	// Revoking is per user and final.
	bob, err := s.CreateUser(ctx, "bob@example.com", false)
	require.NoError(t, err)
	assert.ErrorIs(t, s.RevokeToken(ctx, bob.ID, tok.ID), ErrNotFound)
	require.NoError(t, s.RevokeToken(ctx, f.user.ID, tok.ID))
	_, err = s.UserByToken(ctx, plaintext)
	assert.ErrorIs(t, err, ErrNotFound)
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

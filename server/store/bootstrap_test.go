package store

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBootstrapAdminConcurrent(t *testing.T) {
	t.Parallel()
	dbURL := newMigratedDatabase(t)
	key := newKey(t)
	ctx := context.Background()

	// Separate Stores stand in for separate processes starting together.
	const n = 8
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openStore(t, dbURL, key)
	}
	type result struct {
		token   string
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tok, created, err := stores[i].BootstrapAdmin(ctx, "admin@example.com", "")
			results[i] = result{tok, created, err}
		})
	}
	wg.Wait()

	var token string
	createdCount := 0
	for i, r := range results {
		require.NoError(t, r.err, "caller %d", i)
		if r.created {
			createdCount++
			token = r.token
		} else {
			assert.Empty(t, r.token, "caller %d got a token without creating", i)
		}
	}
	require.Equal(t, 1, createdCount, "exactly one caller creates the admin")

	s := stores[0]
	var admins, tokens int
	require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM users WHERE is_admin`).Scan(&admins))
	require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE name = 'bootstrap'`).Scan(&tokens))
	assert.Equal(t, 1, admins)
	assert.Equal(t, 1, tokens)

	u, err := s.UserByToken(ctx, token)
	require.NoError(t, err)
	assert.True(t, u.IsAdmin)
	assert.Equal(t, "admin@example.com", u.Email)

	// Later starts do nothing, whatever address they pass.
	tok, created, err := s.BootstrapAdmin(ctx, "someone-else@example.com", "")
	require.NoError(t, err)
	assert.False(t, created)
	assert.Empty(t, tok)
	_, err = s.GetUserByEmail(ctx, "someone-else@example.com")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestBootstrapAdminPromotesExistingUser(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "Ops@Example.com", false)
	require.NoError(t, err)

	tok, created, err := s.BootstrapAdmin(ctx, "ops@example.com", "")
	require.NoError(t, err)
	require.True(t, created)
	got, err := s.UserByToken(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)
	assert.True(t, got.IsAdmin)

	_, _, err = s.BootstrapAdmin(ctx, "not an email", "")
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestBootstrapAdminWithGivenToken(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()

	for _, bad := range []string{"plt_short", "abc_0123456789abcdefghijklmnopqrstuvwxyz", "plt_0123456789abcdefghijklmnopqrstuv-xyz"} {
		_, _, err := s.BootstrapAdmin(ctx, "admin@example.com", bad)
		assert.ErrorIs(t, err, ErrInvalid, "token %q", bad)
	}
	_, err := s.GetUserByEmail(ctx, "admin@example.com")
	require.ErrorIs(t, err, ErrNotFound, "a refused token creates no one")

	given := "plt_0123456789abcdefghijklmnopqrstuvwxyzAB"
	tok, created, err := s.BootstrapAdmin(ctx, "admin@example.com", given)
	require.NoError(t, err)
	require.True(t, created)
	assert.Equal(t, given, tok)
	u, err := s.UserByToken(ctx, given)
	require.NoError(t, err, "the given token signs the administrator in")
	assert.True(t, u.IsAdmin)

	// A second replica starting with the same Secret changes nothing.
	tok, created, err = s.BootstrapAdmin(ctx, "admin@example.com", given)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Empty(t, tok)
}

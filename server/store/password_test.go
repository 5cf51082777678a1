package store

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPasswords(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	const pw = "correct horse battery"

	has, err := s.HasPassword(ctx, f.user.ID)
	require.NoError(t, err)
	assert.False(t, has)
	_, err = s.CheckPassword(ctx, f.user.Email, "")
	assert.ErrorIs(t, err, ErrWrongPassword, "no password set: nothing signs in")

	require.NoError(t, s.SetPassword(ctx, f.user.ID, pw))
	has, err = s.HasPassword(ctx, f.user.ID)
	require.NoError(t, err)
	assert.True(t, has)

	u, err := s.CheckPassword(ctx, "  ALICE@example.com ", pw)
	require.NoError(t, err, "the address in any case")
	assert.Equal(t, f.user, u)

	for _, tt := range []struct{ name, email, password string }{
		{"wrong password", f.user.Email, "correct horse battery!"},
		{"empty password", f.user.Email, ""},
		{"unknown address", "nobody@example.com", pw},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CheckPassword(ctx, tt.email, tt.password)
			assert.ErrorIs(t, err, ErrWrongPassword)
			assert.Equal(t, "wrong e-mail address or password", err.Error(), "does not say which")
		})
	}

	// Only a salted argon2id hash is stored: the same password twice
	// hashes differently.
	var stored string
	require.NoError(t, s.db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, f.user.ID).Scan(&stored))
	assert.True(t, strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$"), stored)
	assert.NotContains(t, stored, pw)
	require.NoError(t, s.SetPassword(ctx, f.user.ID, pw))
	var again string
	require.NoError(t, s.db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, f.user.ID).Scan(&again))
	assert.NotEqual(t, stored, again)

	// Setting it replaces it.
	require.NoError(t, s.SetPassword(ctx, f.user.ID, "another long password"))
	_, err = s.CheckPassword(ctx, f.user.Email, pw)
	assert.ErrorIs(t, err, ErrWrongPassword)
	_, err = s.CheckPassword(ctx, f.user.Email, "another long password")
	assert.NoError(t, err)

	assert.ErrorIs(t, s.SetPassword(ctx, 1<<40, pw), ErrNotFound)
	_, err = s.HasPassword(ctx, 1<<40)
	assert.ErrorIs(t, err, ErrNotFound)

	// A hash that is not one of ours is an internal error, not a refusal.
	_, err = s.db.Exec(ctx, `UPDATE users SET password_hash = 'plain' WHERE id = $1`, f.user.ID)
	require.NoError(t, err)
	_, err = s.CheckPassword(ctx, f.user.Email, "plain")
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrWrongPassword)
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		msg      string
	}{
		{"short", "elevenchars", "at least 12 characters"},
		{"empty", "", "at least 12 characters"},
		{"long", strings.Repeat("x", 257), "at most 256 characters"},
		{"not UTF-8", "twelve chars\xff", "valid UTF-8"},
		{"twelve", "twelve chars", ""},
		{"twelve characters, more bytes", "pässwörd-äöü", ""},
		{"the longest", strings.Repeat("é", 256), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.password)
			if tt.msg == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, tt.msg)
		})
	}
	s := &Store{}
	assert.ErrorIs(t, s.SetPassword(context.Background(), 1, "short"), ErrInvalid, "validated before the database")
}

func TestPHC(t *testing.T) {
	phc := hashPassword("secret password", argon2idParams{memoryKiB: 64, time: 1, threads: 1, keyLen: 32})
	ok, err := verifyPassword(phc, "secret password")
	require.NoError(t, err)
	assert.True(t, ok, "verified with the parameters it records")
	ok, err = verifyPassword(phc, "secret passwore")
	require.NoError(t, err)
	assert.False(t, ok)

	parts := strings.Split(phc, "$")
	for _, bad := range []string{
		"",
		"$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$c2hvcnQ",
	} {
		_, err := verifyPassword(bad, "secret password")
		assert.Error(t, err, bad)
	}
}

// TestCheckPasswordTiming checks that an unknown address costs about what
// a wrong password does: both run one argon2id hash with the same
// parameters. It is not parallel, so that other tests do not skew it, and
// it alternates the two to share out whatever else the machine does.
func TestCheckPasswordTiming(t *testing.T) {
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	require.NoError(t, s.SetPassword(ctx, f.user.ID, "correct horse battery"))

	check := func(email string) time.Duration {
		start := time.Now()
		_, err := s.CheckPassword(ctx, email, "wrong password here")
		require.ErrorIs(t, err, ErrWrongPassword)
		return time.Since(start)
	}
	var known, unknown []time.Duration
	for range 7 {
		known = append(known, check(f.user.Email))
		unknown = append(unknown, check("nobody@example.com"))
	}
	slices.Sort(known)
	slices.Sort(unknown)
	k, u := known[len(known)/2], unknown[len(unknown)/2]
	t.Logf("median check: known address %s, unknown address %s", k, u)
	ratio := float64(u) / float64(k)
	assert.True(t, ratio > 0.5 && ratio < 2, "an unknown address takes %s, a wrong password %s", u, k)
}

func TestCheckPasswordConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	require.NoError(t, s.SetPassword(ctx, f.user.ID, "correct horse battery"))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			pw := "correct horse battery"
			if i%2 == 1 {
				pw = "wrong horse battery"
			}
			_, err := s.CheckPassword(ctx, f.user.Email, pw)
			if i%2 == 1 {
				assert.ErrorIs(t, err, ErrWrongPassword)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
}

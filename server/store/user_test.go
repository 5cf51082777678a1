package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeactivatedUserSignsInToNothing holds every lookup of the user a
// credential signs in to signedIn: the API token, the dashboard session
// (not ended here, to see the check itself), the SSH key, the password,
// and the user an SSH connection signed in a while ago.
func TestDeactivatedUserSignsInToNothing(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	const password = "alice's password 1"
	require.NoError(t, s.SetPassword(ctx, f.user.ID, password))
	token, _, err := s.CreateToken(ctx, f.user.ID, "cli", nil)
	require.NoError(t, err)
	session, _, err := s.CreateSession(ctx, NewSession{UserID: f.user.ID, Lifetime: time.Hour})
	require.NoError(t, err)
	key, err := s.AddSSHKey(ctx, f.user.ID, "laptop", testEd25519)
	require.NoError(t, err)

	credentials := map[string]func() error{
		"token": func() error { _, err := s.UserByToken(ctx, token); return err },
		"session": func() error {
			_, _, err := s.SessionUser(ctx, session, time.Hour)
			return err
		},
		"ssh key":  func() error { _, err := s.UserByFingerprint(ctx, key.Fingerprint); return err },
		"password": func() error { _, err := s.CheckPassword(ctx, "ALICE@example.com", password); return err },
		"by id":    func() error { _, err := s.SignedInUser(ctx, f.user.ID); return err },
	}
	for name, signIn := range credentials {
		require.NoError(t, signIn(), name)
	}

	u, err := s.SetUserDeactivated(ctx, f.user.ID, true)
	require.NoError(t, err)
	require.NotNil(t, u.DeactivatedAt)
	assert.False(t, u.Active())
	for name, signIn := range credentials {
		assert.ErrorIs(t, signIn(), ErrDeactivated, name)
	}
	_, err = s.CheckPassword(ctx, "alice@example.com", "a wrong password")
	assert.ErrorIs(t, err, ErrWrongPassword, "a wrong password says nothing of the account")
	got, err := s.GetUser(ctx, f.user.ID)
	require.NoError(t, err)
	assert.Equal(t, u.DeactivatedAt, got.DeactivatedAt, "the user is still there, for admins")

	// Again keeps the first time.
	again, err := s.SetUserDeactivated(ctx, f.user.ID, true)
	require.NoError(t, err)
	assert.Equal(t, u.DeactivatedAt, again.DeactivatedAt)

	// Reactivated, every credential signs in again.
	u, err = s.SetUserDeactivated(ctx, f.user.ID, false)
	require.NoError(t, err)
	assert.True(t, u.Active())
	for name, signIn := range credentials {
		assert.NoError(t, signIn(), name)
	}
	_, err = s.SetUserDeactivated(ctx, 999999, true)
	assert.ErrorIs(t, err, ErrNotFound)
}

package store

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUniquenessConflicts(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	bob, err := s.CreateUser(ctx, "bob@example.com", false)
	require.NoError(t, err)
	_, err = s.AddSSHKey(ctx, f.user.ID, "laptop", testEd25519)
	require.NoError(t, err)
	_, err = s.AddDomain(ctx, f.app.ID, "shop.example.com", true)
	require.NoError(t, err)
	other, err := s.CreateTenant(ctx, "globex", DefaultQuota())
	require.NoError(t, err)

	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{
			name: "app name, even in another tenant",
			do:   func() error { _, err := s.CreateApp(ctx, other.ID, "shop"); return err },
			want: `app name "shop" is already taken`,
		},
		{
			name: "ssh key registered by another user",
			do: func() error {
				_, err := s.AddSSHKey(ctx, bob.ID, "desktop", testEd25519)
				return err
			},
			want: "SSH key SHA256:",
		},
		{
			name: "ssh key name of the same user",
			do: func() error {
				_, err := s.AddSSHKey(ctx, f.user.ID, "laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx2Mv0Pn4Mrl9BTUf0PxHZAWzV0TG0Bl6l+iz7IH2tN")
				return err
			},
			want: `you already have an SSH key named "laptop"`,
		},
		{
			name: "domain host in another case",
			do:   func() error { _, err := s.AddDomain(ctx, f.app.ID, "Shop.Example.COM.", false); return err },
			want: `domain "shop.example.com" is already in use`,
		},
		{
			name: "user email in another case",
			do:   func() error { _, err := s.CreateUser(ctx, "Alice@Example.com", false); return err },
			want: `email "Alice@Example.com" is already registered`,
		},
		{
			name: "tenant name",
			do:   func() error { _, err := s.CreateTenant(ctx, "acme", DefaultQuota()); return err },
			want: `tenant name "acme" is already taken`,
		},
		{
			name: "membership",
			do:   func() error { return s.AddMember(ctx, f.tenant.ID, f.user.ID, Viewer) },
			want: "is already a member of tenant",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrConflict)
			var ce *ConflictError
			require.True(t, errors.As(err, &ce), "error is a *ConflictError: %T", err)
			assert.Contains(t, ce.What, tt.want)
			assert.Equal(t, ce.What, err.Error())
		})
	}

	t.Run("ssh key message says already registered", func(t *testing.T) {
		_, err := s.AddSSHKey(ctx, bob.ID, "desktop", testEd25519)
		assert.ErrorContains(t, err, "is already registered")
	})
}

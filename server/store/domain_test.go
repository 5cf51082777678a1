package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDomains(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	other, err := s.CreateApp(ctx, f.tenant.ID, "other")
	require.NoError(t, err)

	d, err := s.AddDomain(ctx, f.app.ID, "WWW.Shop.Example.com.", true)
	require.NoError(t, err)
	assert.Equal(t, "www.shop.example.com", d.Host)
	assert.True(t, d.Verified())
	_, err = s.AddDomain(ctx, f.app.ID, "api.shop.example.com", true)
	require.NoError(t, err)

	ds, err := s.ListDomains(ctx, f.app.ID)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	assert.Equal(t, "api.shop.example.com", ds[0].Host)

	_, err = s.AddDomain(ctx, other.ID, "www.shop.example.com", false)
	assert.ErrorIs(t, err, ErrConflict, "a verified host is one app's")
	_, err = s.AddDomain(ctx, f.app.ID, "www.shop.example.com", false)
	assert.ErrorIs(t, err, ErrConflict)
	assert.ErrorIs(t, s.RemoveDomain(ctx, other.ID, "www.shop.example.com"), ErrNotFound)
	require.NoError(t, s.RemoveDomain(ctx, f.app.ID, "Www.Shop.Example.Com"))
	_, err = s.AddDomain(ctx, other.ID, "www.shop.example.com", true)
	require.NoError(t, err)

	for _, bad := range []string{"", "localhost", "-a.example.com", "a_b.example.com", "a..example.com", "*.example.com", "http://x.example.com"} {
		t.Run(bad, func(t *testing.T) {
			_, err := s.AddDomain(ctx, f.app.ID, bad, false)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}
}

// TestDomainVerification: claims wait unrouted until verified; nobody
// blocks a host by claiming it first, and one app holds it once verified.
func TestDomainVerification(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	other, err := s.CreateApp(ctx, f.tenant.ID, "other")
	require.NoError(t, err)

	mine, err := s.AddDomain(ctx, f.app.ID, "shop.example.com", false)
	require.NoError(t, err)
	assert.False(t, mine.Verified())
	assert.NotEmpty(t, mine.VerifyToken)
	squatter, err := s.AddDomain(ctx, other.ID, "shop.example.com", false)
	require.NoError(t, err, "a claim does not block another")
	assert.NotEqual(t, mine.VerifyToken, squatter.VerifyToken)

	routed, err := s.ListRoutedDomains(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Empty(t, routed, "awaiting verification, not routed")
	all, err := s.ListDomains(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Len(t, all, 1)

	v, err := s.VerifyDomain(ctx, f.app.ID, "Shop.Example.com")
	require.NoError(t, err)
	require.True(t, v.Verified())
	again, err := s.VerifyDomain(ctx, f.app.ID, "shop.example.com")
	require.NoError(t, err)
	assert.Equal(t, v.VerifiedAt, again.VerifiedAt)
	routed, err = s.ListRoutedDomains(ctx, f.app.ID)
	require.NoError(t, err)
	require.Len(t, routed, 1)

	_, err = s.VerifyDomain(ctx, other.ID, "shop.example.com")
	assert.ErrorIs(t, err, ErrConflict, "held by one app")
	_, err = s.AddDomain(ctx, other.ID, "shop.example.com", false)
	assert.ErrorIs(t, err, ErrConflict)
	_, err = s.VerifyDomain(ctx, other.ID, "nothing.example.com")
	assert.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, s.UnverifyDomain(ctx, f.app.ID, "shop.example.com"))
	routed, err = s.ListRoutedDomains(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Empty(t, routed)
}

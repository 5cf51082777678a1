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

	d, err := s.AddDomain(ctx, f.app.ID, "WWW.Shop.Example.com.")
	require.NoError(t, err)
	assert.Equal(t, "www.shop.example.com", d.Host)
	_, err = s.AddDomain(ctx, f.app.ID, "api.shop.example.com")
	require.NoError(t, err)

	ds, err := s.ListDomains(ctx, f.app.ID)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	assert.Equal(t, "api.shop.example.com", ds[0].Host)

	_, err = s.AddDomain(ctx, other.ID, "www.shop.example.com")
	assert.ErrorIs(t, err, ErrConflict, "hosts are unique across apps")
	assert.ErrorIs(t, s.RemoveDomain(ctx, other.ID, "www.shop.example.com"), ErrNotFound)
	require.NoError(t, s.RemoveDomain(ctx, f.app.ID, "Www.Shop.Example.Com"))
	_, err = s.AddDomain(ctx, other.ID, "www.shop.example.com")
	require.NoError(t, err)

	for _, bad := range []string{"", "localhost", "-a.example.com", "a_b.example.com", "a..example.com", "*.example.com", "http://x.example.com"} {
		t.Run(bad, func(t *testing.T) {
			_, err := s.AddDomain(ctx, f.app.ID, bad)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}
}

package release_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/release/releasetest"
	"github.com/platform-paas/platform/server/store"
	"github.com/platform-paas/platform/server/testdb"
)

// fixture is a database of its own with one tenant, acme, its member and
// its app, shop, never built; and releases rolled out by a fake deployer.
type fixture struct {
	st     *store.Store
	dep    *releasetest.Deployer
	rels   *release.Releases
	acme   store.Tenant
	member store.User
	shop   store.App
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	st, _ := testdb.Open(t)
	f := &fixture{st: st, dep: releasetest.NewDeployer()}
	var err error
	f.rels, err = release.NewReleases(release.ReleasesConfig{Logger: slog.New(slog.DiscardHandler), AppURL: func(string) string { return "" }}, st, f.dep)
	require.NoError(t, err)
	f.acme, err = st.CreateTenant(ctx, "acme", store.DefaultQuota())
	require.NoError(t, err)
	f.member, err = st.CreateUser(ctx, "member@example.com", false)
	require.NoError(t, err)
	require.NoError(t, st.AddMember(ctx, f.acme.ID, f.member.ID, store.Member))
	f.shop, err = st.CreateApp(ctx, f.acme.ID, "shop")
	require.NoError(t, err)
	return f
}

// TestReconcileAppNeverBuilt checks that an app whose only releases are
// config changes made before its first build comes back at start with
// nothing applied, and that a release left deploying is failed.
func TestReconcileAppNeverBuilt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	rel, err := f.rels.ReleaseConfig(ctx, f.shop, f.acme, f.member, release.ConfigChange{Set: map[string]string{"A": "1"}}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, store.ReleaseSucceeded, rel.Status)
	left, err := f.st.CreateRelease(ctx, store.NewRelease{AppID: f.shop.ID, Description: "Set B config vars"})
	require.NoError(t, err)
	_, err = f.st.SetReleaseStatus(ctx, f.shop.ID, left.Version, store.ReleaseDeploying, "")
	require.NoError(t, err)

	require.NoError(t, f.rels.Reconcile(ctx, f.shop, f.acme))
	assert.Empty(t, f.dep.Applied, "nothing runs before the first build")
	got, err := f.st.GetRelease(ctx, f.shop.ID, left.Version)
	require.NoError(t, err)
	assert.Equal(t, store.ReleaseFailed, got.Status)
	assert.Contains(t, got.StatusReason, "interrupted")
}

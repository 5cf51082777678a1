package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/store"
)

// TestReconcileAppNeverBuilt checks that an app whose only releases are
// config changes made before its first build comes back at start with
// nothing applied, and that a release left deploying is failed.
func TestReconcileAppNeverBuilt(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	dep := newFakeDeployer()
	rels, err := NewReleases(ReleasesConfig{Logger: slog.New(slog.DiscardHandler), AppURL: func(string) string { return "" }}, f.st, dep)
	require.NoError(t, err)

	rel, err := rels.ReleaseConfig(ctx, f.shop, f.acme, f.users["member"], ConfigChange{Set: map[string]string{"A": "1"}}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, store.ReleaseSucceeded, rel.Status)
	left, err := f.st.CreateRelease(ctx, store.NewRelease{AppID: f.shop.ID, Description: "Set B config vars"})
	require.NoError(t, err)
	_, err = f.st.SetReleaseStatus(ctx, f.shop.ID, left.Version, store.ReleaseDeploying, "")
	require.NoError(t, err)

	require.NoError(t, rels.Reconcile(ctx, f.shop, f.acme))
	assert.Empty(t, dep.applied, "nothing runs before the first build")
	got, err := f.st.GetRelease(ctx, f.shop.ID, left.Version)
	require.NoError(t, err)
	assert.Equal(t, store.ReleaseFailed, got.Status)
	assert.Contains(t, got.StatusReason, "interrupted")
}

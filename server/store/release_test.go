package store

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newRelease(appID int64, desc string) NewRelease {
	return NewRelease{
		AppID:       appID,
		ImageRef:    "registry.local/shop@" + testDigest,
		ImageDigest: testDigest,
		Config:      map[string]string{"FOO": "bar"},
		Formation:   []Process{{Type: "web", Quantity: 1, Command: "./server"}},
		CommitSHA:   testCommit,
		Description: desc,
	}
}

func TestReleaseVersionsConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	const n = 20
	versions := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := s.CreateRelease(ctx, newRelease(f.app.ID, "Deploy 1a2b3c4"))
			versions[i], errs[i] = r.Version, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	sort.Ints(versions)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	assert.Equal(t, want, versions, "exactly 1..20, no gaps, no duplicates")

	rels, err := s.ListReleases(ctx, f.app.ID, ListOptions{})
	require.NoError(t, err)
	require.Len(t, rels, n)
	assert.Equal(t, n, rels[0].Version, "newest first")
	app, err := s.GetAppByID(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, n, app.LastVersion)
}

func TestReleaseRolledBackDoesNotBurnVersion(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	r1, err := s.CreateRelease(ctx, newRelease(f.app.ID, "Deploy 1a2b3c4"))
	require.NoError(t, err)
	require.Equal(t, 1, r1.Version)

	// A release created in a transaction that then fails.
	errBoom := errors.New("boom")
	err = s.InTx(ctx, func(tx *Store) error {
		r, err := tx.CreateRelease(ctx, newRelease(f.app.ID, "Deploy 1a2b3c4"))
		require.NoError(t, err)
		require.Equal(t, 2, r.Version)
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)

	// A release whose own insert fails (unknown build).
	bogusBuild := int64(999999)
	nr := newRelease(f.app.ID, "Deploy 1a2b3c4")
	nr.BuildID = &bogusBuild
	_, err = s.CreateRelease(ctx, nr)
	require.ErrorIs(t, err, ErrNotFound)

	r2, err := s.CreateRelease(ctx, newRelease(f.app.ID, "Set FOO config vars"))
	require.NoError(t, err)
	assert.Equal(t, 2, r2.Version, "failed attempts give their number back")

	_, err = s.GetRelease(ctx, f.app.ID, 3)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestReleaseSnapshotsCurrentConfigAndFormation(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	_, err := s.SetConfig(ctx, f.app.ID, map[string]string{"DATABASE_URL": "postgres://db/shop", "DEBUG": "1"})
	require.NoError(t, err)
	_, err = s.UpsertFormation(ctx, f.app.ID, []Process{
		{Type: "web", Quantity: 2, Command: "./web"},
		{Type: "worker", Quantity: 1, Size: SizeSmall, Command: "./worker"},
	})
	require.NoError(t, err)

	build, err := s.CreateBuild(ctx, f.app.ID, testCommit, f.user)
	require.NoError(t, err)
	created, err := s.CreateRelease(ctx, NewRelease{
		AppID: f.app.ID, BuildID: &build.ID,
		ImageRef: "registry.local/shop@" + testDigest, ImageDigest: testDigest,
		CommitSHA: testCommit, Description: "Deploy 1a2b3c4", Author: f.user,
	})
	require.NoError(t, err)

	// Later changes do not touch the snapshot.
	_, err = s.SetConfig(ctx, f.app.ID, map[string]string{"DEBUG": "0"})
	require.NoError(t, err)

	got, err := s.GetRelease(ctx, f.app.ID, created.Version)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"DATABASE_URL": "postgres://db/shop", "DEBUG": "1"}, got.Config)
	assert.Equal(t, []Process{
		{Type: "web", Quantity: 2, Size: SizeStandard, Command: "./web"},
		{Type: "worker", Quantity: 1, Size: SizeSmall, Command: "./worker"},
	}, got.Formation)
	assert.Equal(t, &build.ID, got.BuildID)
	assert.Equal(t, &f.user.ID, got.AuthorID)
	assert.Equal(t, "alice@example.com", got.AuthorEmail)
	assert.Equal(t, ReleasePending, got.Status)
	assert.Nil(t, got.FinishedAt)

	_, err = s.LatestSucceededRelease(ctx, f.app.ID)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestReleaseStatus(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	for range 3 {
		_, err := s.CreateRelease(ctx, newRelease(f.app.ID, "Deploy 1a2b3c4"))
		require.NoError(t, err)
	}
	r, err := s.SetReleaseStatus(ctx, f.app.ID, 1, ReleaseDeploying, "")
	require.NoError(t, err)
	assert.Equal(t, ReleaseDeploying, r.Status)
	assert.Nil(t, r.FinishedAt)
	r, err = s.SetReleaseStatus(ctx, f.app.ID, 1, ReleaseSucceeded, "")
	require.NoError(t, err)
	assert.NotNil(t, r.FinishedAt)
	_, err = s.SetReleaseStatus(ctx, f.app.ID, 2, ReleaseSucceeded, "")
	require.NoError(t, err)
	_, err = s.SetReleaseStatus(ctx, f.app.ID, 3, ReleaseFailed, "rollout of web exceeded its deadline")
	require.NoError(t, err)

	latest, err := s.LatestSucceededRelease(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, latest.Version)
	assert.Equal(t, map[string]string{"FOO": "bar"}, latest.Config)

	failed, err := s.GetRelease(ctx, f.app.ID, 3)
	require.NoError(t, err)
	assert.Equal(t, "rollout of web exceeded its deadline", failed.StatusReason)

	tests := []struct {
		name    string
		version int
		status  ReleaseStatus
		wantErr error
	}{
		{"final release cannot change", 1, ReleaseFailed, ErrConflict},
		{"failed cannot become succeeded", 3, ReleaseSucceeded, ErrConflict},
		{"succeeded cannot be deploying again", 2, ReleaseDeploying, ErrConflict},
		{"pending is not settable", 1, ReleasePending, ErrInvalid},
		{"unknown version", 9, ReleaseDeploying, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SetReleaseStatus(ctx, f.app.ID, tt.version, tt.status, "")
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestReleaseImmutable(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	r, err := s.CreateRelease(ctx, newRelease(f.app.ID, "Deploy 1a2b3c4"))
	require.NoError(t, err)

	refused := []struct {
		name string
		sql  string
	}{
		{"image", `UPDATE releases SET image_ref = 'evil/image', image_digest = 'sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' WHERE id = $1`},
		{"config", `UPDATE releases SET config = '\x00'::bytea WHERE id = $1`},
		{"formation", `UPDATE releases SET formation = '{"web":{"quantity":9}}' WHERE id = $1`},
		{"version", `UPDATE releases SET version = 42 WHERE id = $1`},
		{"description", `UPDATE releases SET description = 'nothing to see' WHERE id = $1`},
		{"author set", `UPDATE releases SET author_user_id = (SELECT id FROM users LIMIT 1) WHERE id = $1`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.db.Exec(ctx, tt.sql, r.ID)
			require.Error(t, err)
			var pe *pgconn.PgError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, codeReleaseImmutable, pe.Code)
			assert.Contains(t, pe.Message, "is immutable")
			mapped := mapErr(err)
			assert.ErrorIs(t, mapped, ErrConflict)
		})
	}

	// The outcome columns may change.
	_, err = s.db.Exec(ctx, `UPDATE releases SET status = 'deploying' WHERE id = $1`, r.ID)
	require.NoError(t, err)
	got, err := s.SetReleaseStatus(ctx, f.app.ID, r.Version, ReleaseFailed, "image pull failed")
	require.NoError(t, err)
	assert.Equal(t, ReleaseFailed, got.Status)
	assert.Equal(t, r.ImageRef, got.ImageRef)
	cfg, err := s.GetRelease(ctx, f.app.ID, r.Version)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"FOO": "bar"}, cfg.Config)
}

func TestReleaseOutlivesAuthorAndBuildCascade(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	build, err := s.CreateBuild(ctx, f.app.ID, testCommit, f.user)
	require.NoError(t, err)
	nr := newRelease(f.app.ID, "Deploy 1a2b3c4")
	nr.Author, nr.BuildID = f.user, &build.ID
	r, err := s.CreateRelease(ctx, nr)
	require.NoError(t, err)

	// Deleting the author nulls the reference (the trigger allows it) and
	// keeps the e-mail snapshot.
	require.NoError(t, s.DeleteUser(ctx, f.user.ID))
	got, err := s.GetRelease(ctx, f.app.ID, r.Version)
	require.NoError(t, err)
	assert.Nil(t, got.AuthorID)
	assert.Equal(t, "alice@example.com", got.AuthorEmail)

	// Deleting the app takes builds and releases with it.
	require.NoError(t, s.DeleteApp(ctx, f.app.ID))
	_, err = s.GetRelease(ctx, f.app.ID, r.Version)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.GetBuild(ctx, build.ID)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestCreateReleaseValidates(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	tests := []struct {
		name   string
		modify func(*NewRelease)
		want   error
	}{
		{"no description", func(nr *NewRelease) { nr.Description = " " }, ErrInvalid},
		{"image without digest", func(nr *NewRelease) { nr.ImageDigest = "" }, ErrInvalid},
		{"bad digest", func(nr *NewRelease) { nr.ImageDigest = "sha256:abc" }, ErrInvalid},
		{"bad config key", func(nr *NewRelease) { nr.Config = map[string]string{"1FOO": "x"} }, ErrInvalid},
		{"bad process type", func(nr *NewRelease) { nr.Formation = []Process{{Type: "Web"}} }, ErrInvalid},
		{"unknown app", func(nr *NewRelease) { nr.AppID = 424242 }, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nr := newRelease(f.app.ID, "Deploy 1a2b3c4")
			tt.modify(&nr)
			_, err := s.CreateRelease(ctx, nr)
			assert.ErrorIs(t, err, tt.want)
		})
	}
	app, err := s.GetAppByID(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Zero(t, app.LastVersion, "refused releases use no version")

	// A config-only release before the first build has no image.
	r, err := s.CreateRelease(ctx, NewRelease{AppID: f.app.ID, Description: "Set FOO config vars"})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Version)
	assert.Empty(t, r.ImageRef)
	assert.Equal(t, map[string]string{}, r.Config)
}

package store

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	b, err := s.CreateBuild(ctx, f.app.ID, strings.ToUpper(testCommit), f.user)
	require.NoError(t, err)
	assert.Equal(t, BuildPending, b.Status)
	assert.Equal(t, testCommit, b.CommitSHA)
	assert.Equal(t, "alice@example.com", b.UserEmail)
	assert.Nil(t, b.StartedAt)

	b, err = s.MarkBuildRunning(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, BuildRunning, b.Status)
	assert.NotNil(t, b.StartedAt)
	_, err = s.MarkBuildRunning(ctx, b.ID)
	assert.ErrorIs(t, err, ErrConflict)
	assert.ErrorContains(t, err, "it is running")

	require.NoError(t, s.AppendBuildLog(ctx, b.ID, "-----> Go app detected\n"))
	require.NoError(t, s.AppendBuildLog(ctx, b.ID, "bad \x00 bytes \xff\n"))
	log, err := s.BuildLog(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, "-----> Go app detected\nbad \uFFFD bytes \uFFFD\n", log)

	_, err = s.FinishBuild(ctx, b.ID, BuildResult{Status: BuildSucceeded, ImageRef: "registry.local/shop:1"})
	assert.ErrorIs(t, err, ErrInvalid, "a succeeded build needs a digest")
	b, err = s.FinishBuild(ctx, b.ID, BuildResult{
		Status: BuildSucceeded, Stack: "go", ImageRef: "registry.local/shop@" + testDigest, ImageDigest: testDigest,
	})
	require.NoError(t, err)
	assert.Equal(t, BuildSucceeded, b.Status)
	assert.Equal(t, "go", b.Stack)
	assert.Equal(t, testDigest, b.ImageDigest)
	assert.NotNil(t, b.FinishedAt)

	_, err = s.FinishBuild(ctx, b.ID, BuildResult{Status: BuildFailed, Error: "late"})
	assert.ErrorIs(t, err, ErrConflict, "the first outcome wins")

	failed, err := s.CreateBuild(ctx, f.app.ID, testCommit, f.user)
	require.NoError(t, err)
	failed, err = s.FinishBuild(ctx, failed.ID, BuildResult{Status: BuildFailed, Error: "go build: exit status 1"})
	require.NoError(t, err)
	assert.Equal(t, "go build: exit status 1", failed.Error)
	assert.Empty(t, failed.ImageDigest)

	builds, err := s.ListBuilds(ctx, f.app.ID, ListOptions{})
	require.NoError(t, err)
	require.Len(t, builds, 2)
	assert.Equal(t, failed.ID, builds[0].ID, "newest first")
	older, err := s.ListBuilds(ctx, f.app.ID, ListOptions{After: failed.ID})
	require.NoError(t, err)
	require.Len(t, older, 1)
	assert.Equal(t, b.ID, older[0].ID)

	_, err = s.CreateBuild(ctx, f.app.ID, "1a2b3c4", f.user)
	assert.ErrorIs(t, err, ErrInvalid, "short hashes are refused")
	_, err = s.CreateBuild(ctx, 424242, testCommit, f.user)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.GetBuild(ctx, 424242)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.AppendBuildLog(ctx, 424242, "x"), ErrNotFound)
}

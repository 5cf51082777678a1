package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeployLock(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	const ttl = 5 * time.Minute

	ok, held, err := s.AcquireDeployLock(ctx, f.app.ID, "deploy-a", "deploy of v7 by alice@example.com", ttl)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "deploy-a", held.Holder)
	assert.WithinDuration(t, held.AcquiredAt.Add(ttl), held.ExpiresAt, time.Second)

	// A second acquirer is refused and told who holds it.
	ok, cur, err := s.AcquireDeployLock(ctx, f.app.ID, "deploy-b", "deploy of v8 by bob@example.com", ttl)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "deploy-a", cur.Holder)
	assert.Equal(t, "deploy of v7 by alice@example.com", cur.Description)

	// The holder may renew.
	renewed, err := s.RenewDeployLock(ctx, f.app.ID, "deploy-a", 2*ttl)
	require.NoError(t, err)
	assert.True(t, renewed.ExpiresAt.After(held.ExpiresAt))
	_, err = s.RenewDeployLock(ctx, f.app.ID, "deploy-b", ttl)
	assert.ErrorIs(t, err, ErrLockNotHeld)

	// An expired lease may be taken over, after which the old holder has
	// lost it.
	_, err = s.db.Exec(ctx, `
		UPDATE deploy_locks SET acquired_at = now() - interval '1 hour', expires_at = now() - interval '1 second'
		WHERE app_id = $1`, f.app.ID)
	require.NoError(t, err)
	ok, cur, err = s.AcquireDeployLock(ctx, f.app.ID, "deploy-b", "deploy of v8 by bob@example.com", ttl)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "deploy-b", cur.Holder)
	assert.Equal(t, "deploy of v8 by bob@example.com", cur.Description)
	_, err = s.RenewDeployLock(ctx, f.app.ID, "deploy-a", ttl)
	assert.ErrorIs(t, err, ErrLockNotHeld)

	// Releasing by a non-holder does nothing; by the holder frees it.
	require.NoError(t, s.ReleaseDeployLock(ctx, f.app.ID, "deploy-a"))
	l, err := s.DeployLock(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, "deploy-b", l.Holder)
	require.NoError(t, s.ReleaseDeployLock(ctx, f.app.ID, "deploy-b"))
	_, err = s.DeployLock(ctx, f.app.ID)
	assert.ErrorIs(t, err, ErrNotFound)
	ok, _, err = s.AcquireDeployLock(ctx, f.app.ID, "deploy-c", "deploy of v9", ttl)
	require.NoError(t, err)
	assert.True(t, ok)

	_, _, err = s.AcquireDeployLock(ctx, 424242, "deploy-d", "", ttl)
	assert.ErrorIs(t, err, ErrNotFound)
	_, _, err = s.AcquireDeployLock(ctx, f.app.ID, "", "", ttl)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestDeployLockConcurrentAcquirers(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	const n = 10
	won := make(chan string, n)
	errs := make(chan error, n)
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			holder := "deploy-" + string(rune('a'+i))
			ok, _, err := s.AcquireDeployLock(ctx, f.app.ID, holder, "racing", time.Minute)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				won <- holder
			}
		}()
	}
	for range n {
		<-done
	}
	close(won)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var winners []string
	for w := range won {
		winners = append(winners, w)
	}
	require.Len(t, winners, 1, "exactly one acquirer wins")
	l, err := s.DeployLock(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, winners[0], l.Holder)
}

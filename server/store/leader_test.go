package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLeadOneAtATime runs three replicas, each a Store of its own on one
// database: one leads at a time, and when it stops another takes over and
// does the once-work again, as a replica that replaces a dead one must.
func TestLeadOneAtATime(t *testing.T) {
	t.Parallel()
	_, dbURL := newTestStore(t)
	key := newKey(t)

	var leaders, terms atomic.Int32
	var overlap atomic.Bool
	took := make(chan int, 3)
	stops := make([]context.CancelFunc, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		st := openStore(t, dbURL, key)
		ctx, cancel := context.WithCancel(context.Background())
		stops[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, st.Lead(ctx, LeaderKeyMaintenance, 50*time.Millisecond, func(lctx context.Context) {
				if leaders.Add(1) > 1 {
					overlap.Store(true)
				}
				terms.Add(1)
				took <- i
				<-lctx.Done() // leading until stopped
				leaders.Add(-1)
			}))
		}()
	}
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	})

	first := <-took
	select {
	case i := <-took:
		t.Fatalf("replica %d led while replica %d did", i, first)
	case <-time.After(500 * time.Millisecond):
	}
	stops[first]() // the leader goes away

	var second int
	select {
	case second = <-took:
	case <-time.After(10 * time.Second):
		t.Fatal("no replica took over from the one that stopped")
	}
	require.NotEqual(t, first, second)
	stops[second]()
	select {
	case third := <-took:
		assert.NotContains(t, []int{first, second}, third)
	case <-time.After(10 * time.Second):
		t.Fatal("the last replica did not take over")
	}
	assert.False(t, overlap.Load(), "two replicas led at once")
	assert.Equal(t, int32(3), terms.Load())
}

// TestLeadEndsWhenTheConnectionDies cuts the leader's connection from the
// server side, as a network failure would: it stops leading.
func TestLeadEndsWhenTheConnectionDies(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pids := make(chan int32, 1)
	ended := make(chan struct{}, 2)
	go func() {
		_ = st.Lead(ctx, LeaderKeyMaintenance+1, 50*time.Millisecond, func(lctx context.Context) {
			var pid int32
			// The backend holding the lock is the one with it in pg_locks.
			err := st.pool.QueryRow(lctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
				 AND classid::bigint = ($1::bigint >> 32) AND objid::bigint = ($1::bigint & 4294967295) AND granted`, LeaderKeyMaintenance+1).Scan(&pid)
			if err == nil {
				pids <- pid
			}
			<-lctx.Done()
			ended <- struct{}{}
		})
	}()
	var pid int32
	select {
	case pid = <-pids:
	case <-time.After(10 * time.Second):
		t.Fatal("did not lead")
	}
	_, err := st.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid)
	require.NoError(t, err)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("still leading after its connection died")
	}
}

package store

import (
	"context"
	"errors"
	"time"
)

// Leadership keys: the session advisory locks Lead takes. Each names work
// that one platformd of a deployment does at a time.
const (
	// LeaderKeyMaintenance is held by the replica that reconciles apps
	// (and does the other work that must happen once).
	LeaderKeyMaintenance int64 = 0x706c74_6c656164 // "plt" "lead"
)

// Lead makes this process the leader for key among every process sharing
// the database, for as long as it can: it takes a session advisory lock
// on a connection of its own (trying again every poll while another
// holds it), then calls lead with a context that ends when ctx does or
// when that connection is lost (the lock goes with it, and another
// process takes over). After lead returns, leadership is kept until then
// too, so that what lead did once is not done again by another replica
// while this one lives. Lead returns nil once ctx is done.
//
// A process that dies loses its connection and so its leadership at
// once; one that is cut off from the database stops leading within poll.
func (s *Store) Lead(ctx context.Context, key int64, poll time.Duration, lead func(ctx context.Context)) error {
	if poll <= 0 {
		return errors.New("leadership poll interval must be positive")
	}
	for {
		led, err := s.leadOnce(ctx, key, poll, lead)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.logger.WarnContext(ctx, "leadership: database unreachable; trying again", "key", key, "err", err)
		}
		if led {
			continue // lost the connection while leading: try at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// leadOnce tries to take the lock once; if it does, it leads until ctx
// ends or the connection is lost, and reports led.
func (s *Store) leadOnce(ctx context.Context, key int64, poll time.Duration, lead func(ctx context.Context)) (led bool, err error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	// The connection is ours alone from here: the pool never sees it
	// again, and closing it releases the lock whatever happened.
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return false, err
	}
	if !got {
		return false, nil
	}
	s.logger.InfoContext(ctx, "leadership taken", "key", key)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The lock lives as long as the connection: watch it.
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(lctx, poll)
				err := conn.Ping(pctx)
				pcancel()
				if err != nil && lctx.Err() == nil {
					s.logger.WarnContext(ctx, "leadership lost: its database connection failed", "key", key, "err", err)
					cancel()
					return
				}
			}
		}
	}()
	lead(lctx)
	<-lctx.Done()
	<-watched
	return true, nil
}

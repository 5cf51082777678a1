package release

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/platform-paas/platform/server/store"
)

// lockStore is the part of the store that app deploy locks need.
type lockStore interface {
	AcquireDeployLock(ctx context.Context, appID int64, holder, description string, ttl time.Duration) (bool, store.LockInfo, error)
	RenewDeployLock(ctx context.Context, appID int64, holder string, ttl time.Duration) (store.LockInfo, error)
	ReleaseDeployLock(ctx context.Context, appID int64, holder string) error
}

// LockConfig tunes app deploy locks. The zero value means the defaults.
type LockConfig struct {
	// TTL is the lease: a holder that stops renewing (a crashed platformd)
	// loses the lock this long after its last renewal. Default 30s.
	TTL time.Duration
	// Wait is how long a second deploy of the same app waits for the first
	// before it is refused. Default 10 minutes.
	Wait time.Duration
	// Poll is how often a waiting deploy retries. Default 1s.
	Poll time.Duration
}

func (c LockConfig) withDefaults() LockConfig {
	if c.TTL <= 0 {
		c.TTL = 30 * time.Second
	}
	if c.Wait <= 0 {
		c.Wait = 10 * time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	return c
}

// LockApp takes the app's deploy lock for one deploy, config change, scale,
// rollback or destroy, waiting for the current holder (telling out whom it
// waits for) up to cfg.Wait. Work done under the lock uses the returned
// context, which derives from ctx and is cancelled if the lease is lost, so
// the work stops rather than run unserialized. unlock releases the lock.
func LockApp(ctx context.Context, st lockStore, cfg LockConfig, log *slog.Logger, appID int64, description string, out io.Writer) (locked context.Context, unlock func(), err error) {
	cfg = cfg.withDefaults()
	holder := newHolderID()
	deadline := time.Now().Add(cfg.Wait)
	var told string
	for {
		ok, cur, err := st.AcquireDeployLock(ctx, appID, holder, description, cfg.TTL)
		if err != nil {
			return nil, nil, fmt.Errorf("taking the deploy lock: %w", err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%s is still running after %s; try again when it is done", cur.Description, cfg.Wait)
		}
		if cur.Description != told {
			fmt.Fprintf(out, "waiting for the %s (started %s ago)\n", cur.Description, time.Since(cur.AcquiredAt).Round(time.Second))
			told = cur.Description
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(cfg.Poll):
		}
	}

	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(cfg.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				if _, err := st.RenewDeployLock(lctx, appID, holder, cfg.TTL); err != nil && lctx.Err() == nil {
					log.Error("deploy lock lost", "app", appID, "err", err)
					cancel()
					return
				}
			}
		}
	}()
	unlock = func() {
		cancel()
		<-done
		// The release must happen even though ctx may be cancelled (the
		// client hung up): that is exactly when a stuck lock would hurt.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := st.ReleaseDeployLock(rctx, appID, holder); err != nil {
			log.Warn("releasing deploy lock", "app", appID, "err", err)
		}
	}
	return lctx, unlock, nil
}

func newHolderID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/platform-paas/platform/router/internal/route"
)

// reapEvery is how often idle backend connections past their timeout are
// closed when no request comes to take them.
const reapEvery = 10 * time.Second

// Run watches the cluster's Ingresses, Services and EndpointSlices and
// keeps the routing table up to date until ctx is done; then it closes the
// idle backend connections and returns nil. It returns an error if it
// cannot start watching. HasSynced turns true once the first table is
// built. Run may be called once.
func (rt *Router) Run(ctx context.Context) error {
	if !rt.running.CompareAndSwap(false, true) {
		return errors.New("running router: already running")
	}
	defer rt.closeIdleBackends()
	if rt.kube == nil {
		rt.loop(ctx, nil)
		return nil
	}

	w, err := route.NewWatcher(rt.kube, rt.cfg.Class)
	if err != nil {
		return fmt.Errorf("running router: %w", err)
	}
	w.Start(ctx)
	defer w.Wait()

	rt.log.Info("router watching ingresses", "class", rt.cfg.Class)
	if !w.WaitForSync(ctx) {
		return nil // ctx is done
	}
	rt.rebuild(w)
	rt.synced.Store(true)
	rt.loop(ctx, w)
	return nil
}

// loop rebuilds the table when w says the cluster changed (never, without
// a w) and reaps idle connections, until ctx is done.
func (rt *Router) loop(ctx context.Context, w *route.Watcher) {
	reap := time.NewTicker(reapEvery)
	defer reap.Stop()
	var changed <-chan struct{}
	if w != nil {
		changed = w.Changed()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			rt.rebuild(w)
		case now := <-reap.C:
			rt.reapIdleBackends(now)
		}
	}
}

// rebuild installs a table of the routes w sees.
func (rt *Router) rebuild(w *route.Watcher) {
	start := time.Now()
	specs, err := w.Routes()
	if err != nil {
		rt.log.Error("listing ingresses", "err", err) // only for a bad selector
		return
	}
	t := rt.install(specs)
	rt.metrics.updates.Inc()
	rt.log.Debug("routing table updated", "routes", t.routes.Len(), "hosts", t.routes.Hosts(), "duration", time.Since(start))
}

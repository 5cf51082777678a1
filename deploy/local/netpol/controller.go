package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// retryAfter is how soon a failed sync is tried again.
const retryAfter = time.Second

// controller watches Pods, Namespaces and NetworkPolicies and keeps the
// enforcer's rules in step with them.
type controller struct {
	log      *slog.Logger
	enf      *enforcer
	debounce time.Duration
	resync   time.Duration

	factory    informers.SharedInformerFactory
	pods       corelisters.PodLister
	namespaces corelisters.NamespaceLister
	policies   networkinglisters.NetworkPolicyLister
	synced     []cache.InformerSynced
	changed    chan struct{} // cap 1: something changed since the last sync

	// status is the outcome of the last sync; nil until the first.
	status   atomic.Pointer[syncStatus]
	warnings []string // the last sync's, logged when they change
}

type syncStatus struct {
	at  time.Time
	err error
}

func newController(kube kubernetes.Interface, enf *enforcer, debounce, resync time.Duration, log *slog.Logger) (*controller, error) {
	f := informers.NewSharedInformerFactory(kube, 0)
	podInf := f.Core().V1().Pods()
	nsInf := f.Core().V1().Namespaces()
	polInf := f.Networking().V1().NetworkPolicies()
	c := &controller{
		log:        log,
		enf:        enf,
		debounce:   debounce,
		resync:     resync,
		factory:    f,
		pods:       podInf.Lister(),
		namespaces: nsInf.Lister(),
		policies:   polInf.Lister(),
		changed:    make(chan struct{}, 1),
	}
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.poke() },
		UpdateFunc: func(any, any) { c.poke() },
		DeleteFunc: func(any) { c.poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), nsInf.Informer(), polInf.Informer()} {
		reg, err := inf.AddEventHandler(poke)
		if err != nil {
			return nil, fmt.Errorf("watching: %w", err)
		}
		c.synced = append(c.synced, inf.HasSynced, reg.HasSynced)
	}
	return c, nil
}

func (c *controller) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// run watches and syncs until ctx is done, then returns nil, leaving the
// rules in place. The first sync comes once the watches have the whole
// cluster; after it, a sync comes debounce after a change (changes in
// between join it), every resync in any case (which repairs rules someone
// else changed), and retryAfter after a failed one.
func (c *controller) run(ctx context.Context) error {
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx is done
	}
	c.log.Info("watching pods, namespaces and network policies")
	tick := time.NewTicker(c.resync)
	defer tick.Stop()
	var next <-chan time.Time // the debounce or retry timer, if any
	sync := func(force bool) {
		next = nil
		if err := c.sync(ctx, force); err != nil {
			c.log.Error("applying network policies failed", "err", err)
			next = time.After(retryAfter)
		}
	}
	sync(true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
			if next == nil {
				next = time.After(c.debounce)
			}
		case <-next:
			sync(false)
		case <-tick.C:
			sync(true)
		}
	}
}

// sync applies the rules of the cluster as the watches see it.
func (c *controller) sync(ctx context.Context, force bool) error {
	start := time.Now()
	// What changed until now is in the listers: this sync includes it.
	select {
	case <-c.changed:
	default:
	}
	cl, err := c.snapshot()
	if err != nil {
		c.status.Store(&syncStatus{at: start, err: err})
		return err
	}
	o, err := c.enf.apply(ctx, cl, force)
	c.status.Store(&syncStatus{at: start, err: err})
	if !slices.Equal(o.warnings, c.warnings) {
		for _, w := range o.warnings {
			c.log.Warn("part of a network policy is not enforced", "detail", w)
		}
		c.warnings = o.warnings
	}
	switch {
	case err != nil:
		return err
	case o.applied && o.changed:
		c.log.Info("rules applied", "pods", len(cl.Pods), "policies", len(cl.Policies), "pod_chains", o.chains, "duration", time.Since(start))
	case o.applied:
		c.log.Debug("rules reapplied", "pod_chains", o.chains, "duration", time.Since(start))
	}
	return nil
}

func (c *controller) snapshot() (cluster, error) {
	var cl cluster
	var err error
	if cl.Pods, err = c.pods.List(labels.Everything()); err != nil {
		return cluster{}, fmt.Errorf("listing pods: %w", err)
	}
	if cl.Namespaces, err = c.namespaces.List(labels.Everything()); err != nil {
		return cluster{}, fmt.Errorf("listing namespaces: %w", err)
	}
	if cl.Policies, err = c.policies.List(labels.Everything()); err != nil {
		return cluster{}, fmt.Errorf("listing network policies: %w", err)
	}
	return cl, nil
}

// errNotSynced is the health of a controller that has not applied rules
// yet.
var errNotSynced = errors.New("no rules applied yet")

// health reports nil once the rules are applied and the last sync
// succeeded.
func (c *controller) health() error {
	s := c.status.Load()
	switch {
	case s == nil:
		return errNotSynced
	case s.err != nil:
		return fmt.Errorf("last sync at %s: %w", s.at.Format(time.RFC3339), s.err)
	}
	return nil
}

// healthHandler serves GET /healthz: 200 once the rules are applied and
// the last sync succeeded, 503 with the reason otherwise.
func healthHandler(health func() error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

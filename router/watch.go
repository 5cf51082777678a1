package router

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// reapEvery is how often idle backend connections past their timeout are
// closed when no request comes to take them.
const reapEvery = 10 * time.Second

// byService indexes EndpointSlices by the "namespace/name" of their Service.
const byService = "service"

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

	f := informers.NewSharedInformerFactory(rt.kube, 0)
	ingInf := f.Networking().V1().Ingresses()
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{byService: sliceServiceKey}); err != nil {
		return fmt.Errorf("running router: indexing endpoint slices: %w", err)
	}
	w := &watcher{
		rt:       rt,
		ingress:  ingInf.Lister(),
		services: svcInf.Lister(),
		slices:   sliceInf.Informer().GetIndexer(),
	}
	empty := map[string]struct{}{}
	w.routed.Store(&empty)

	for _, h := range []struct {
		inf     cache.SharedIndexInformer
		handler cache.ResourceEventHandler
	}{
		{ingInf.Informer(), w.handler(w.ingressMatters)},
		{svcInf.Informer(), w.handler(w.serviceMatters)},
		{sliceInf.Informer(), w.handler(w.sliceMatters)},
	} {
		if _, err := h.inf.AddEventHandler(h.handler); err != nil {
			return fmt.Errorf("running router: watching: %w", err)
		}
	}
	f.Start(ctx.Done())
	defer f.Shutdown()

	rt.log.Info("router watching ingresses", "class", rt.cfg.Class)
	if !cache.WaitForCacheSync(ctx.Done(), ingInf.Informer().HasSynced, svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced) {
		return nil // ctx is done
	}
	w.rebuild()
	rt.synced.Store(true)
	rt.loop(ctx, w)
	return nil
}

// loop rebuilds the table when it is marked dirty and reaps idle
// connections, until ctx is done.
func (rt *Router) loop(ctx context.Context, w *watcher) {
	reap := time.NewTicker(reapEvery)
	defer reap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rt.dirty:
			if w != nil {
				w.rebuild()
			}
		case now := <-reap.C:
			rt.reapIdle(now)
		}
	}
}

// markDirty asks for a rebuild. Events that come during one make one more,
// not one each.
func (rt *Router) markDirty() {
	select {
	case rt.dirty <- struct{}{}:
	default:
	}
}

// watcher turns cluster events into routing tables.
type watcher struct {
	rt       *Router
	ingress  networkinglisters.IngressLister
	services corelisters.ServiceLister
	slices   cache.Indexer
	// routed is the set of Services the current Ingresses route to;
	// events about other Services and their slices are ignored. It is
	// stored before a rebuild reads Services and slices, so that a change
	// either makes it into that rebuild or sees the new set and asks for
	// another.
	routed atomic.Pointer[map[string]struct{}]
}

func (w *watcher) rebuild() {
	start := time.Now()
	all, err := w.ingress.List(labels.Everything())
	if err != nil {
		w.rt.log.Error("listing ingresses", "err", err) // only for a bad selector
		return
	}
	ings := all[:0:0]
	for _, ing := range all {
		if classOf(ing) == w.rt.cfg.Class {
			ings = append(ings, ing)
		}
	}
	routed := routedServices(ings)
	w.routed.Store(&routed)
	specs := buildRoutes(snapshot{ingresses: ings, service: w.service, slices: w.sliceList})
	t := w.rt.install(specs)
	w.rt.metrics.updates.Inc()
	w.rt.log.Debug("routing table updated", "routes", t.routes, "hosts", len(t.hosts), "duration", time.Since(start))
}

func (w *watcher) service(namespace, name string) *corev1.Service {
	svc, err := w.services.Services(namespace).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

func (w *watcher) sliceList(namespace, service string) []*discoveryv1.EndpointSlice {
	objs, err := w.slices.ByIndex(byService, namespace+"/"+service)
	if err != nil {
		return nil
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, s)
		}
	}
	return out
}

func sliceServiceKey(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + svc}, nil
}

// handler marks the table dirty on any add, update or delete of an object
// that matters.
func (w *watcher) handler(matters func(obj any) bool) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if matters(obj) {
				w.rt.markDirty()
			}
		},
		UpdateFunc: func(old, obj any) {
			if matters(old) || matters(obj) {
				w.rt.markDirty()
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if matters(obj) {
				w.rt.markDirty()
			}
		},
	}
}

func (w *watcher) ingressMatters(obj any) bool {
	ing, ok := obj.(*networkingv1.Ingress)
	return ok && classOf(ing) == w.rt.cfg.Class
}

func (w *watcher) isRouted(namespace, name string) bool {
	_, ok := (*w.routed.Load())[namespace+"/"+name]
	return ok
}

func (w *watcher) serviceMatters(obj any) bool {
	svc, ok := obj.(*corev1.Service)
	return ok && w.isRouted(svc.Namespace, svc.Name)
}

func (w *watcher) sliceMatters(obj any) bool {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	return ok && w.isRouted(s.Namespace, s.Labels[discoveryv1.LabelServiceName])
}

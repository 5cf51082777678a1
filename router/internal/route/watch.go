package route

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// byService indexes EndpointSlices by the "namespace/name" of their Service.
const byService = "service"

// A Watcher follows a cluster's Ingresses of one class and the Services
// and EndpointSlices they route to, with informers, and computes the
// routes from them. Changed says when the routes may have changed; events
// about Ingresses of other classes and about Services no Ingress routes
// to are ignored. Its methods are safe for concurrent use.
type Watcher struct {
	class    string
	factory  informers.SharedInformerFactory
	ingress  networkinglisters.IngressLister
	classes  networkinglisters.IngressClassLister
	services corelisters.ServiceLister
	slices   cache.Indexer
	// secretFactory watches the kubernetes.io/tls Secrets only.
	secretFactory informers.SharedInformerFactory
	secrets       corelisters.SecretLister
	synced        []cache.InformerSynced // the informers' and their handlers'
	changed       chan struct{}          // cap 1: Routes has something new
	// ingChanged (cap 1) says an Ingress or the IngressClass changed.
	ingChanged chan struct{}
	// tlsChanged (cap 1) says an Ingress or a Secret that matters changed.
	tlsChanged chan struct{}
	// pinned are Secrets that matter whether or not an Ingress names
	// them (the default certificate), by "namespace/name".
	pinned map[string]struct{}
	// routed is the set of Services the current Ingresses route to;
	// events about other Services and their slices are ignored. It is
	// stored before Routes reads Services and slices, so that a change
	// either makes it into that call or sees the new set and signals
	// another.
	routed atomic.Pointer[map[string]struct{}]
	// withTLS is the set of Secrets the Ingresses' TLS sections name, as
	// routed is of Services.
	withTLS atomic.Pointer[map[string]struct{}]
}

// NewWatcher returns a Watcher of the Ingresses of class that kube sees,
// and with withTLS of the kubernetes.io/tls Secrets their spec.tls name
// (Certificates) and of the Secrets pinned names ("namespace/name"),
// which Secret returns. It does not contact the API server: Start does.
func NewWatcher(kube kubernetes.Interface, class string, withTLS bool, pinned ...string) (*Watcher, error) {
	f := informers.NewSharedInformerFactory(kube, 0)
	ingInf := f.Networking().V1().Ingresses()
	classInf := f.Networking().V1().IngressClasses()
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()
	sf := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS)).String()
	}))
	secretInf := sf.Core().V1().Secrets()
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{byService: sliceServiceKey}); err != nil {
		return nil, fmt.Errorf("indexing endpoint slices: %w", err)
	}
	w := &Watcher{
		class:    class,
		factory:  f,
		ingress:  ingInf.Lister(),
		classes:  classInf.Lister(),
		services: svcInf.Lister(),
		slices:   sliceInf.Informer().GetIndexer(),

		secretFactory: sf,
		secrets:       secretInf.Lister(),
		changed:       make(chan struct{}, 1),

		ingChanged: make(chan struct{}, 1),
		tlsChanged: make(chan struct{}, 1),
		pinned:     make(map[string]struct{}, len(pinned)),
	}
	for _, p := range pinned {
		w.pinned[p] = struct{}{}
	}
	empty, none := map[string]struct{}{}, map[string]struct{}{}
	w.routed.Store(&empty)
	w.withTLS.Store(&none)

	type watched struct {
		inf     cache.SharedIndexInformer
		handler cache.ResourceEventHandler
	}
	all := []watched{
		{ingInf.Informer(), w.handler(w.ingressMatters, w.ingChanged, w.tlsChanged)},
		{classInf.Informer(), w.handler(w.classMatters, w.ingChanged)},
		{svcInf.Informer(), w.handler(w.serviceMatters)},
		{sliceInf.Informer(), w.handler(w.sliceMatters)},
	}
	if withTLS {
		all = append(all, watched{secretInf.Informer(), w.handler(w.secretMatters, w.tlsChanged)})
	} else {
		w.secrets = nil
	}
	for _, h := range all {
		reg, err := h.inf.AddEventHandler(h.handler)
		if err != nil {
			return nil, fmt.Errorf("watching: %w", err)
		}
		w.synced = append(w.synced, h.inf.HasSynced, reg.HasSynced)
	}
	return w, nil
}

// Start starts watching, until ctx is done. Wait waits for the watch to
// end.
func (w *Watcher) Start(ctx context.Context) {
	w.factory.Start(ctx.Done())
	w.secretFactory.Start(ctx.Done())
}

// Wait blocks until the watch Start began has ended, which it does once
// Start's ctx is done.
func (w *Watcher) Wait() {
	w.factory.Shutdown()
	w.secretFactory.Shutdown()
}

// WaitForSync waits until the watch has a complete view of the cluster
// and has signaled Changed for the objects it started with, and reports
// whether it got there before ctx was done.
func (w *Watcher) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), w.synced...)
}

// Changed receives a value when an Ingress, Service or EndpointSlice that
// matters has changed since Routes was last called: Routes then returns
// something new. Changes that come before Routes is called again make one
// value, not one each. The channel is never closed.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Routes returns the routes of the cluster as the watch sees it. It
// returns an error only if the Ingresses cannot be listed.
func (w *Watcher) Routes() ([]Spec, error) {
	// What changed until now is in the listers: what follows includes it.
	select {
	case <-w.changed:
	default:
	}
	ings, err := w.Ingresses()
	if err != nil {
		return nil, err
	}
	routed := routedServices(ings)
	w.routed.Store(&routed)
	return buildRoutes(snapshot{ingresses: ings, service: w.service, slices: w.sliceList}), nil
}

// Certificates returns the certificates the served Ingresses' TLS sections
// name (see buildCerts). Call it after Routes, whose Changed signal covers
// the Secrets too.
func (w *Watcher) Certificates() ([]Cert, error) {
	ings, err := w.Ingresses()
	if err != nil {
		return nil, err
	}
	withTLS := tlsSecrets(ings)
	w.withTLS.Store(&withTLS)
	return buildCerts(snapshot{ingresses: ings, secret: w.secret}), nil
}

// Secret returns the kubernetes.io/tls Secret namespace/name as the watch
// sees it, or nil if there is none or Secrets are not watched; it is the
// informer's: do not modify it.
func (w *Watcher) Secret(namespace, name string) *corev1.Secret { return w.secret(namespace, name) }

// TLSChanged receives a value when an Ingress, or a Secret that an
// Ingress's spec.tls names or that is pinned, changed since the last value
// was received, as Changed does for Routes.
func (w *Watcher) TLSChanged() <-chan struct{} { return w.tlsChanged }

func (w *Watcher) secret(namespace, name string) *corev1.Secret {
	if w.secrets == nil {
		return nil // not watched
	}
	s, err := w.secrets.Secrets(namespace).Get(name)
	if err != nil {
		return nil
	}
	return s
}

func (w *Watcher) secretMatters(obj any) bool {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return false
	}
	key := s.Namespace + "/" + s.Name
	if _, pinned := w.pinned[key]; pinned {
		return true
	}
	_, named := (*w.withTLS.Load())[key]
	return named
}

// Ingresses returns the Ingresses the Watcher serves, as the watch sees
// them; they are the informer's: do not modify them.
func (w *Watcher) Ingresses() ([]*networkingv1.Ingress, error) {
	all, err := w.ingress.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	// Of its class, or of none while its class is the default.
	isDefault := w.isDefault()
	ings := all[:0:0]
	for _, ing := range all {
		if c := classOf(ing); c == w.class || (c == "" && isDefault) {
			ings = append(ings, ing)
		}
	}
	return ings, nil
}

// IngressesChanged receives a value when an Ingress or the IngressClass
// changed since the last value was received, as Changed does for Routes.
func (w *Watcher) IngressesChanged() <-chan struct{} { return w.ingChanged }

// markChanged signals Changed, and also the channels in also, unless a
// signal is pending already.
func (w *Watcher) markChanged(also ...chan struct{}) {
	for _, c := range append([]chan struct{}{w.changed}, also...) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (w *Watcher) service(namespace, name string) *corev1.Service {
	svc, err := w.services.Services(namespace).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

func (w *Watcher) sliceList(namespace, service string) []*discoveryv1.EndpointSlice {
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

// handler signals Changed on any add, update or delete of an object that
// matters.
func (w *Watcher) handler(matters func(obj any) bool, also ...chan struct{}) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if matters(obj) {
				w.markChanged(also...)
			}
		},
		UpdateFunc: func(old, obj any) {
			if matters(old) || matters(obj) {
				w.markChanged(also...)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if matters(obj) {
				w.markChanged(also...)
			}
		},
	}
}

// isDefault reports whether the watched class is the cluster's default
// (the annotation ingressclass.kubernetes.io/is-default-class=true on
// it): its router then serves the Ingresses that name no class, as the
// Ingress API asks. (The API server gives new Ingresses the default
// class's name; this covers those made before the class was default.)
func (w *Watcher) isDefault() bool {
	ic, err := w.classes.Get(w.class)
	return err == nil && ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
}

func (w *Watcher) ingressMatters(obj any) bool {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return false
	}
	c := classOf(ing)
	return c == w.class || c == ""
}

func (w *Watcher) classMatters(obj any) bool {
	ic, ok := obj.(*networkingv1.IngressClass)
	return ok && ic.Name == w.class
}

func (w *Watcher) isRouted(namespace, name string) bool {
	_, ok := (*w.routed.Load())[namespace+"/"+name]
	return ok
}

func (w *Watcher) serviceMatters(obj any) bool {
	svc, ok := obj.(*corev1.Service)
	return ok && w.isRouted(svc.Namespace, svc.Name)
}

func (w *Watcher) sliceMatters(obj any) bool {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	return ok && w.isRouted(s.Namespace, s.Labels[discoveryv1.LabelServiceName])
}

package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/tools/cache"

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

	var pinned []string
	if rt.cfg.DefaultCertificate != "" {
		pinned = append(pinned, rt.cfg.DefaultCertificate)
	}
	w, err := route.NewWatcher(rt.kube, rt.cfg.Class, rt.cfg.TLS, pinned...)
	if err != nil {
		return fmt.Errorf("running router: %w", err)
	}
	w.Start(ctx)
	defer w.Wait()
	if rt.challenges != nil {
		rt.challenges.start(ctx)
		defer rt.challenges.wait()
	}

	rt.log.Info("router watching ingresses", "class", rt.cfg.Class)
	if !w.WaitForSync(ctx) {
		return nil // ctx is done
	}
	if rt.challenges != nil && !cache.WaitForCacheSync(ctx.Done(), rt.challenges.synced) {
		return nil
	}
	rt.rebuild(w)
	rt.synced.Store(true)
	if rt.cfg.TLS {
		stapling := make(chan struct{})
		defer func() { <-stapling }()
		go func() {
			defer close(stapling)
			rt.keepStaples(ctx)
		}()
	}
	if rt.cfg.ACME.enabled() {
		elected := make(chan struct{})
		defer func() { <-elected }()
		go func() {
			defer close(elected)
			rt.runACME(ctx, w)
		}()
	}
	if len(rt.cfg.PublishAddresses) > 0 {
		published := make(chan struct{})
		defer func() { <-published }()
		go func() {
			defer close(published)
			rt.publishStatus(ctx, w)
		}()
	}
	rt.loop(ctx, w)
	return nil
}

// publishEvery is how often the router checks the status of the Ingresses
// it serves, besides when they change.
const publishEvery = time.Minute

// publishStatus keeps Config.PublishAddresses in the status.loadBalancer of
// every Ingress w serves until ctx is done. Every replica does it: they
// write the same, and one that finds it written writes nothing.
func (rt *Router) publishStatus(ctx context.Context, w *route.Watcher) {
	want := make([]networkingv1.IngressLoadBalancerIngress, 0, len(rt.cfg.PublishAddresses))
	for _, a := range rt.cfg.PublishAddresses {
		if net.ParseIP(a) != nil {
			want = append(want, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			want = append(want, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	changed := w.IngressesChanged()
	tick := time.NewTicker(publishEvery)
	defer tick.Stop()
	for {
		ings, err := w.Ingresses()
		if err != nil {
			rt.log.Error("listing ingresses", "err", err)
		}
		for _, ing := range ings {
			if ctx.Err() != nil {
				return
			}
			if equality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
				continue
			}
			up := ing.DeepCopy()
			up.Status.LoadBalancer.Ingress = want
			_, err := rt.kube.NetworkingV1().Ingresses(up.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{FieldManager: "platform-router"})
			switch {
			case err == nil:
				rt.log.Debug("ingress status published", "ingress", up.Namespace+"/"+up.Name)
			case apierrors.IsConflict(err) || apierrors.IsNotFound(err) || ctx.Err() != nil:
				// Another replica wrote it, or it went: the watch tells.
			default:
				rt.log.Warn("publishing ingress status", "ingress", up.Namespace+"/"+up.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
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
	certs, err := w.Certificates()
	if err != nil {
		rt.log.Error("listing ingresses", "err", err)
	} else {
		rt.installCerts(certs, rt.defaultCert(w))
	}
	rt.metrics.updates.Inc()
	rt.log.Debug("routing table updated", "routes", t.routes.Len(), "hosts", t.routes.Hosts(), "duration", time.Since(start))
}

// defaultCert returns Config.DefaultCertificate's Secret as w sees it, or
// nil.
func (rt *Router) defaultCert(w *route.Watcher) *route.Cert {
	if rt.cfg.DefaultCertificate == "" {
		return nil
	}
	ns, name, _ := splitSecretRef(rt.cfg.DefaultCertificate) // valid: withDefaults checked it
	sec := w.Secret(ns, name)
	if sec == nil {
		rt.log.Warn("default certificate secret not found", "secret", rt.cfg.DefaultCertificate)
		return nil
	}
	return &route.Cert{
		Secret: rt.cfg.DefaultCertificate, Version: sec.ResourceVersion,
		CertPEM: sec.Data[corev1.TLSCertKey], KeyPEM: sec.Data[corev1.TLSPrivateKeyKey],
	}
}

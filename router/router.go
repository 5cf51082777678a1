// Package router is the platform's HTTP edge for apps: an ingress
// controller for one IngressClass ("platform" by default) and the reverse
// proxy that carries app users' requests to ready pod endpoints.
//
// It owns the proxy: finding a request's route in the routing table,
// connection pools per backend endpoint, retries on connection errors,
// WebSocket passthrough, streaming, error pages, the access log and
// metrics. It dials pod endpoints, never Service IPs (the local stack has
// no kube-proxy). A Router wires the proxy to its two internal packages,
// which know nothing of it or of each other: router/internal/route
// watches Ingresses, Services and EndpointSlices and makes the routing
// table from them (host, then longest path, then a Service port resolved
// to the ready, non-terminating pod endpoints of its EndpointSlices);
// router/internal/h1 is the HTTP/1.1 server the clients talk to.
//
// Every client is taken to be hostile. The router alone tells an app
// where its client is: X-Forwarded-For, X-Forwarded-Proto,
// X-Forwarded-Host and X-Real-IP are its own, and other headers that claim
// a client address, and any header name with an underscore (or anything
// but letters, digits and hyphens), are dropped,
// unless the client is a trusted proxy (Config.TrustedProxies; see
// ServeHTTP). Slow clients are bounded: a request head must come within
// Config.ReadHeaderTimeout, a request body may not stall for
// Config.BodyIdleTimeout, nor a client stop taking its response for
// Config.WriteTimeout; an upload or download that keeps moving is not cut
// off.
//
// It terminates TLS with the certificates of the Secrets the Ingresses'
// spec.tls name, and obtains and renews by ACME those the Ingresses ask
// for (see AnnotationTLSACME). It does not own the Ingresses themselves
// (the deployer writes them) or HTTP/2. It imports nothing of the platform's outside router/;
// platformd hands it a Kubernetes client, a logger and a Prometheus
// registerer.
package router

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/platform-paas/platform/router/internal/h1"
	"github.com/platform-paas/platform/router/internal/route"
	"github.com/platform-paas/platform/router/internal/sock"
)

// Config configures a Router. The zero value of every field but Logger and
// Metrics means the default written beside it.
type Config struct {
	// Class is the IngressClass whose Ingresses the router serves: those
	// whose spec.ingressClassName (or, failing that, the legacy
	// kubernetes.io/ingress.class annotation) names it. Empty means
	// "platform".
	Class string
	// PublishAddresses are the IP addresses or host names where clients
	// reach the router (its load balancer's, or the nodes' with
	// hostPort): the router writes them into the status.loadBalancer of
	// every Ingress it serves, as external-dns and cert-manager expect of
	// an ingress controller. Empty leaves the status alone.
	PublishAddresses []string
	// TLS makes the router watch the kubernetes.io/tls Secrets its
	// Ingresses' spec.tls name, for ServeTLS (which has no certificate
	// without it). It needs the right to list and watch Secrets.
	TLS bool
	// DefaultCertificate names a kubernetes.io/tls Secret, as
	// "namespace/name", whose certificate (typically a wildcard for the
	// apps domain) serves every host it covers that no Ingress's spec.tls
	// gives a certificate of its own; no ACME is done for those hosts.
	// Empty means none. It needs TLS.
	DefaultCertificate string
	// OCSPRoots are the roots a served certificate's chain must verify
	// against for the router to fetch and staple its OCSP response (see
	// ocsp.go); nil means the system's. A certificate whose chain does not
	// verify, a tenant's self-signed one say, is served without a staple,
	// so that it cannot make the router send requests where it names.
	OCSPRoots *x509.CertPool
	// ACME obtains and renews certificates for the Ingresses that ask for
	// them (see AnnotationTLSACME); its zero value turns that off. It
	// needs TLS, and the rights to write Secrets, and in ACME.Namespace
	// ConfigMaps and Leases.
	ACME ACMEConfig
	// HTTPSPort is where clients reach the router's HTTPS, for the
	// redirect of plain HTTP requests to hosts with a certificate; 0 means
	// 443.
	HTTPSPort int
	// Logger receives the router's logs and, unless DisableAccessLog is
	// set, one Info record per request. Nil discards them.
	Logger *slog.Logger
	// Metrics is where the router registers its collectors. Nil means the
	// metrics are kept but not exported.
	Metrics prometheus.Registerer

	// RequestTimeout bounds how long the router waits for a backend to
	// start answering and, once it answers, between two reads of its
	// response (so a stream stays open as long as it sends something),
	// to within a tenth. A backend that does not answer in time gets a
	// 504. Zero means 60s.
	RequestTimeout time.Duration
	// DialTimeout bounds connecting to a backend endpoint. Zero means 5s.
	DialTimeout time.Duration
	// IdleConnTimeout is how long an idle backend connection is kept for
	// reuse. Zero means 60s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerEndpoint caps the idle connections kept per backend
	// endpoint. It should be above the requests an endpoint has in
	// flight at a peak: past it, each request that ends closes its
	// connection and the next one dials a new one, which costs the router
	// more than the request (HTTP/2 clients, with many streams each,
	// reach it first). An idle connection holds 12 KiB of buffers and a
	// socket until IdleConnTimeout. Zero means 1024.
	MaxIdleConnsPerEndpoint int
	// MaxBodyBytes caps a request body; a larger one gets a 413. Zero
	// means 100 MiB; negative means no limit.
	MaxBodyBytes int64
	// Retries is how many other endpoints a request may be tried on after
	// a connection error (see ServeHTTP). Zero means 2; negative means
	// none.
	Retries int
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request head, from its first byte; one that takes longer is cut
	// off. Zero means 10s.
	ReadHeaderTimeout time.Duration
	// BodyIdleTimeout bounds each wait for bytes of a request body: a
	// client that sends nothing of its body for this long (to within a
	// tenth) is answered 408 and cut off, and the app's request is ended
	// with it. An upload that keeps coming, however slowly, goes on. Zero
	// means 60s.
	BodyIdleTimeout time.Duration
	// WriteTimeout bounds each wait for a client to take bytes of a
	// response: a client that takes none for this long (to within a
	// tenth, and less than twice it) is cut off, and the app's request is
	// ended with it. A download or stream that keeps moving, however
	// slowly, goes on. Zero means 60s.
	WriteTimeout time.Duration
	// TrustedProxies are the addresses of the proxies in front of the
	// router (a load balancer, a CDN) whose word on the client is taken:
	// from them, X-Forwarded-For is extended rather than replaced,
	// X-Forwarded-Proto and X-Forwarded-Host are passed on as they come,
	// and so are the other headers that say where the client is (see
	// ServeHTTP). Trust only proxies that set or strip those headers
	// themselves. Empty, the default, trusts no one.
	TrustedProxies []netip.Prefix
	// ShutdownTimeout bounds Serve's graceful shutdown: in-flight requests
	// and upgraded connections get this long before they are cut. Zero
	// means 20s.
	ShutdownTimeout time.Duration
	// DisableAccessLog turns the per-request log record off.
	DisableAccessLog bool
}

// DefaultClass is the IngressClass a Router serves when Config.Class is
// empty.
const DefaultClass = "platform"

func (c Config) withDefaults() (Config, error) {
	if c.Class == "" {
		c.Class = DefaultClass
	}
	if errs := validation.IsDNS1123Subdomain(c.Class); len(errs) > 0 {
		return c, fmt.Errorf("invalid ingress class %q: %s", c.Class, errs[0])
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DefaultCertificate != "" {
		if _, _, err := splitSecretRef(c.DefaultCertificate); err != nil {
			return c, err
		}
		if !c.TLS {
			return c, fmt.Errorf("a default certificate needs the router to serve HTTPS (Config.TLS)")
		}
	}
	acme, err := c.ACME.withDefaults(c.TLS)
	if err != nil {
		return c, err
	}
	c.ACME = acme
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"request timeout", &c.RequestTimeout, 60 * time.Second},
		{"dial timeout", &c.DialTimeout, 5 * time.Second},
		{"idle connection timeout", &c.IdleConnTimeout, 60 * time.Second},
		{"shutdown timeout", &c.ShutdownTimeout, 20 * time.Second},
		// Zero for the client timeouts is the server's default.
		{"read header timeout", &c.ReadHeaderTimeout, 0},
		{"body idle timeout", &c.BodyIdleTimeout, 0},
		{"write timeout", &c.WriteTimeout, 0},
	} {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("invalid %s %v: must not be negative", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	trusted := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return c, fmt.Errorf("invalid trusted proxy %v: must be a CIDR like 10.0.0.0/8", p)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// Client addresses are compared unmapped.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		trusted = append(trusted, p.Masked())
	}
	c.TrustedProxies = trusted // a copy: the caller's may change
	switch {
	case c.MaxIdleConnsPerEndpoint < 0:
		return c, fmt.Errorf("invalid max idle connections per endpoint %d: must not be negative", c.MaxIdleConnsPerEndpoint)
	case c.MaxIdleConnsPerEndpoint == 0:
		c.MaxIdleConnsPerEndpoint = 1024
	}
	switch {
	case c.MaxBodyBytes == 0:
		c.MaxBodyBytes = 100 << 20
	case c.MaxBodyBytes < 0:
		c.MaxBodyBytes = -1
	}
	switch {
	case c.Retries == 0:
		c.Retries = 2
	case c.Retries < 0:
		c.Retries = 0
	}
	return c, nil
}

// Router is the ingress controller and the proxy. ServeHTTP is safe for
// concurrent use and never waits for a lock on the routing table: Run
// builds each new table aside and swaps it in atomically.
type Router struct {
	cfg     Config
	log     *slog.Logger
	kube    kubernetes.Interface // nil for a static router
	metrics *metrics
	dialer  net.Dialer
	bufs    sync.Pool       // *[]byte of copyBufSize
	h2c     *http.Transport // for routes whose pods speak h2c

	table   atomic.Pointer[table]
	synced  atomic.Bool
	running atomic.Bool

	// mu guards what outlives one table: the connection pools by
	// endpoint and the metric series by route. Only table builds and the
	// idle reaper take it, never a request.
	mu        sync.Mutex
	upstreams map[string]*upstream
	series    map[seriesKey]*routeMetrics

	hjMu     sync.Mutex
	hijacked map[net.Conn]struct{} // upgraded connections, for shutdown

	// The certificates of the Ingresses' spec.tls, and what was parsed of
	// their Secrets (under certMu, held by table builds only).
	certs  atomic.Pointer[certStore]
	certMu sync.Mutex
	parsed map[string]parsedCert // by "namespace/name"

	// OCSP stapling (ocsp.go): certsChanged wakes the loop when the
	// certificates change; stapleMu is the loop's.
	certsChanged chan struct{}
	stapleMu     sync.Mutex
	ocspClient   *http.Client

	// challenges are the pending ACME HTTP-01 challenges; nil without
	// ACME.
	challenges *challengeStore
}

var _ http.Handler = (*Router)(nil)

// New returns a Router for the Ingresses of cfg.Class that kube sees. It
// does not contact the API server: Run does, and until its first table is
// built ServeHTTP answers 503.
func New(cfg Config, kube kubernetes.Interface) (*Router, error) {
	if kube == nil {
		return nil, errors.New("creating router: no kubernetes client")
	}
	rt, err := newRouter(cfg)
	if err != nil {
		return nil, err
	}
	rt.kube = kube
	if rt.cfg.ACME.enabled() {
		rt.challenges = newChallengeStore(kube, rt.cfg.ACME.Namespace)
	}
	return rt, nil
}

// Route is one entry of a static routing table (see NewStatic).
type Route struct {
	// Host is matched exactly and case-insensitively, without port; a
	// leading "*." matches one more DNS label; empty matches any host that
	// no other route names.
	Host string
	// Path is a path prefix ("/api" matches /api and /api/x, not /apix),
	// or the whole path when Exact is set. Empty means "/".
	Path  string
	Exact bool
	// Endpoints are the backends as host:port, tried round-robin.
	Endpoints []string
	// H2C speaks HTTP/2 without TLS to the endpoints (gRPC servers).
	H2C bool
}

// NewStatic returns a Router whose table is routes, fixed: for
// benchmarks, tests and running the proxy without Kubernetes. It is ready
// at once; Run only reaps idle backend connections.
func NewStatic(cfg Config, routes []Route) (*Router, error) {
	rt, err := newRouter(cfg)
	if err != nil {
		return nil, err
	}
	specs := make([]route.Spec, 0, len(routes))
	for i, r := range routes {
		s, err := staticSpec(i, r)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	rt.install(specs)
	rt.synced.Store(true)
	return rt, nil
}

func newRouter(cfg Config) (*Router, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("creating router: %w", err)
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("creating router: %w", err)
	}
	rt := &Router{
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   m,
		dialer:    net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		upstreams: make(map[string]*upstream),
		series:    make(map[seriesKey]*routeMetrics),
		hijacked:  make(map[net.Conn]struct{}),

		certsChanged: make(chan struct{}, 1),
		ocspClient:   &http.Client{Timeout: ocspTimeout},
	}
	rt.bufs.New = func() any {
		b := make([]byte, copyBufSize)
		return &b
	}
	rt.h2c = newH2CTransport(cfg, &rt.dialer)
	return rt, nil
}

// HasSynced reports whether the router has built its first routing table
// from a complete view of the cluster. It has the shape of client-go's
// cache.InformerSynced.
func (rt *Router) HasSynced() bool { return rt.synced.Load() }

// Ready returns nil once HasSynced, for a readiness check.
func (rt *Router) Ready(context.Context) error {
	if !rt.synced.Load() {
		return errors.New("routing table not built yet")
	}
	return nil
}

// Serve serves the proxy on ln, with the router's own HTTP/1.1 server,
// until ctx is done, then shuts down gracefully: it stops accepting,
// closes idle keep-alive connections, lets in-flight requests (answered
// with Connection: close) and upgraded connections finish for up to
// Config.ShutdownTimeout and then cuts what is left, canceling the
// requests' contexts. It closes ln. It returns nil after a shutdown on
// ctx, or the error that stopped it serving.
func (rt *Router) Serve(ctx context.Context, ln net.Listener) error {
	return rt.serve(ctx, sock.Listener{Listener: ln}, nil)
}

// serve is Serve, handing the connections whose client chose HTTP/2 to h2
// when it is set (ServeTLS), whose shutdown it runs with its own.
func (rt *Router) serve(ctx context.Context, ln net.Listener, h2 *http2Server) error {
	var handler http.Handler = rt
	if h2 == nil && rt.challenges != nil {
		handler = withChallenges{rt}
	}
	srv := h1.NewServer(handler, rt.log, ln, h1.Timeouts{
		ReadHeader: rt.cfg.ReadHeaderTimeout,
		BodyIdle:   rt.cfg.BodyIdleTimeout,
		Write:      rt.cfg.WriteTimeout,
	})
	srv.Refused = rt.refused
	if h2 != nil {
		srv.HTTP2 = h2.take
		// When the HTTP/1.1 server failed, this cuts the HTTP/2
		// connections too; after a shutdown it does nothing more.
		defer h2.srv.Close()
	}
	rt.log.Info("router listening", "addr", ln.Addr().String(), "class", rt.cfg.Class)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.WithoutCancel(ctx)) }()

	select {
	case err := <-errc:
		srv.Close()
		return fmt.Errorf("serving router: %w", err)
	case <-ctx.Done():
	}
	rt.log.Info("router shutting down", "timeout", rt.cfg.ShutdownTimeout)
	// A fresh deadline: ctx is already done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rt.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	if h2 != nil {
		if herr := h2.shutdown(sctx); err == nil {
			err = herr
		}
	}
	<-errc // nil: shutdown closed the listener
	cut := rt.closeHijacked(sctx)
	// Streams and WebSockets that outlive the grace period are cut by
	// design: that is the end of a shutdown, not a failure of it.
	if err != nil || cut > 0 {
		rt.log.Warn("router cut connections at shutdown", "timeout", rt.cfg.ShutdownTimeout, "upgraded", cut, "err", err)
	}
	return nil
}

// refused records a request the server refused before routing it (a
// malformed head, a smuggling attempt) as unrouted, in the metrics and the
// access log. It is counted but not timed: it had no exchange to time.
func (rt *Router) refused(remoteAddr string, status int, reason string) {
	rt.metrics.unrouted.count(status)
	if rt.cfg.DisableAccessLog {
		return
	}
	rt.log.LogAttrs(context.Background(), slog.LevelInfo, "request refused",
		slog.Int("status", status), slog.String("reason", reason), slog.String("client", remoteAddr))
}

// closeHijacked waits until the upgraded connections are gone or ctx is
// done, then closes those left and says how many.
func (rt *Router) closeHijacked(ctx context.Context) int {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		rt.hjMu.Lock()
		n := len(rt.hijacked)
		if n == 0 || ctx.Err() != nil {
			for c := range rt.hijacked {
				_ = c.Close()
			}
			rt.hjMu.Unlock()
			return n
		}
		rt.hjMu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

func (rt *Router) trackHijacked(c net.Conn, add bool) {
	rt.hjMu.Lock()
	if add {
		rt.hijacked[c] = struct{}{}
	} else {
		delete(rt.hijacked, c)
	}
	rt.hjMu.Unlock()
}

// Package server is platformd's HTTP edge for operators and clients.
//
// It owns the chi routers and everything served on them: on the public
// one (ServeHTTP), the liveness and readiness probes, which say no more
// than ready or not; on the operator's (Operator), the probes with each
// check's result and the Prometheus metrics endpoint; and on both the
// request id, panic
// recovery, access logging and request metrics middleware, and the JSON API
// under /api/v1 with its authentication (bearer tokens), authorization
// (roles in tenants) and audit events; openapi.yaml documents the API and
// package api holds its wire types. It also owns the dashboard's handlers.
//
// It does not make releases: config changes, rollbacks and applying an
// app's release again belong to package release, which the API calls
// under the app's deploy lock (release.LockApp); pushes do not come
// through server at all. It does not own the things it reports on either: readiness checks are plain functions handed in by the binary,
// which knows how to reach Postgres, Kubernetes, BuildKit and the
// registry. It does not listen: the binary serves a *Server with its own
// http.Server.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// Check is one named readiness check.
type Check struct {
	// Name appears as the key in /readyz's JSON, e.g. "postgres".
	Name string
	// Func reports whether the dependency is usable; nil means ready. It
	// must return once ctx is done.
	Func func(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	// Logger receives access logs and errors. Required.
	Logger *slog.Logger
	// Metrics is the registry that the request metrics are registered on
	// and that the operator's /metrics serves. Required; it should not be
	// the global default registry.
	Metrics *prometheus.Registry
	// Checks are run by /readyz, concurrently. Names must be unique. The
	// public /readyz says only whether all pass; the operator's, and GET
	// /api/v1/readiness for admins, name each with its error.
	Checks []Check
	// CheckTimeout bounds each readiness check. Zero means 2s.
	CheckTimeout time.Duration
	// GitURL is where apps' git repositories are served, such as
	// ssh://git@git.example.com:2222: an app's remote is
	// <GitURL>/<app>.git. Empty means there is no git receiver, and the
	// API gives apps no git URL.
	GitURL string
	// GitHostKeys are the git receiver's SSH host public keys, in
	// authorized_keys form ("ssh-ed25519 AAAA..."), which GET /git gives
	// so that users can trust the host before their first push.
	GitHostKeys []string
	// WebURL returns the URL where an app answers, such as
	// http://shop.apps.example.com. Nil means the API gives apps no web URL.
	WebURL func(app string) string
	// Remover removes what an app has outside the store when the app is
	// destroyed, and a tenant's namespace when the tenant is deleted. Nil
	// means apps and tenants cannot be destroyed: DELETE /apps/{app} and
	// DELETE /tenants/{tenant} answer 501.
	Remover AppRemover
	// Tenants applies a tenant's quota to Kubernetes when an admin changes
	// it. Nil means quotas cannot be changed: PATCH /tenants/{tenant}
	// with a quota answers 501.
	Tenants TenantOps
	// Releases makes config and rollback releases and rolls them out. Nil
	// means this platformd cannot release: those endpoints answer 501.
	Releases *release.Releases
	// Ops runs what the API asks of an app's running processes: scaling,
	// restarts, their status and logs. Nil means those endpoints answer
	// 501.
	Ops AppOps
	// Certificates reads how the cluster serves apps' domains over HTTPS,
	// for GET /apps/{app}/certificates. Nil shows only what the store
	// knows: uploaded certificates, and no automatic ones.
	Certificates CertificateReader
	// AppsDomain is the domain apps answer under by default
	// (<app>.<AppsDomain>); custom domains under it are refused.
	AppsDomain string
	// ReservedHosts are the platform's own host names (its API and
	// dashboard's, its git receiver's): no app may claim them.
	ReservedHosts []string
	// SkipDomainVerification routes a custom domain as soon as it is
	// added, without the DNS TXT record that shows its owner holds it.
	// Only for a closed setup where every user is trusted with every name
	// (a local test stack): anyone could route any name to their app.
	SkipDomainVerification bool
	// Resolver looks up the TXT records that verify custom domains. Nil
	// means net.DefaultResolver.
	Resolver TXTResolver
	// DomainCheckTimeout bounds one verification's DNS lookup. Zero means
	// 10s.
	DomainCheckTimeout time.Duration
	// APILock tunes how long an API change waits for a deploy of the same
	// app. The zero value waits up to two minutes.
	APILock release.LockConfig
	// InvitationTTL is how long a tenant's invitation of an address waits
	// to be accepted. Zero means 7 days.
	InvitationTTL time.Duration
	// SignIn tunes the limits on password sign-ins; the zero value is the
	// defaults.
	SignIn SignInConfig
	// TrustedProxies are the reverse proxies in front of platformd, as
	// prefixes (a single address is a /32 or /128): of a request from one
	// of them, the client's address is read from X-Forwarded-For (see
	// clientAddr), for the sign-in limits, the audit log and the logs.
	// Empty trusts no proxy: X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
}

// AppOps is what the API needs of the deployer for running apps.
type AppOps interface {
	Scale(ctx context.Context, tenant, app, ptype string, quantity int, size string) error
	Restart(ctx context.Context, tenant, app, ptype string, wait bool) error
	Status(ctx context.Context, tenant, app string) ([]deployer.ProcessStatus, error)
	Logs(ctx context.Context, tenant, app string, opts deployer.LogOptions, out io.Writer) error
}

// AppRemover removes everything an app has outside the store: what runs in
// Kubernetes, its build cache, its images and its git repository. It is
// what the server needs of the binary to destroy an app.
type AppRemover interface {
	// RemoveApp removes the app's things, reporting every step that
	// failed. It must be safe to call again after a failure, and for an
	// app that has nothing left.
	RemoveApp(ctx context.Context, tenant, app string) error
	// RemoveTenant removes what a tenant has outside the store once its
	// apps are removed: its namespace. It must be safe to call again, and
	// for a tenant that has nothing left.
	RemoveTenant(ctx context.Context, tenant string) error
}

// TenantOps is what the API needs of the deployer for tenants.
type TenantOps interface {
	// EnsureTenant makes the tenant's namespace and its quota objects
	// match quota; calling it again with the same quota changes nothing.
	EnsureTenant(ctx context.Context, tenant string, quota deployer.TenantQuota) error
}

const defaultCheckTimeout = 2 * time.Second

func (c *Config) validate() error {
	var errs []error
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is required"))
	}
	if c.Metrics == nil {
		errs = append(errs, errors.New("metrics registry is required"))
	}
	seen := make(map[string]bool, len(c.Checks))
	for i, ch := range c.Checks {
		switch {
		case ch.Name == "":
			errs = append(errs, fmt.Errorf("readiness check %d has no name", i))
		case seen[ch.Name]:
			errs = append(errs, fmt.Errorf("readiness check %q is listed twice", ch.Name))
		case ch.Func == nil:
			errs = append(errs, fmt.Errorf("readiness check %q has no function", ch.Name))
		}
		seen[ch.Name] = true
	}
	if c.CheckTimeout < 0 {
		errs = append(errs, errors.New("check timeout must not be negative"))
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = defaultCheckTimeout
	}
	if c.DomainCheckTimeout < 0 {
		errs = append(errs, errors.New("domain check timeout must not be negative"))
	}
	if c.DomainCheckTimeout == 0 {
		c.DomainCheckTimeout = defaultDomainCheckTimeout
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.InvitationTTL < 0 {
		errs = append(errs, errors.New("invitation TTL must not be negative"))
	}
	if c.InvitationTTL == 0 {
		c.InvitationTTL = defaultInvitationTTL
	}
	if err := c.SignIn.validate(); err != nil {
		errs = append(errs, err)
	}
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("trusted proxy %d is not a valid prefix", i))
		}
	}
	c.GitURL = strings.TrimSuffix(c.GitURL, "/")
	if c.GitURL != "" {
		if u, err := url.Parse(c.GitURL); err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("git url %q is not a URL like ssh://git@git.example.com:2222", c.GitURL))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("configuring server: %w", err)
	}
	return nil
}

// Server is platformd's HTTP handler. It is safe for concurrent use.
type Server struct {
	log           *slog.Logger
	st            *store.Store
	checks        []Check
	checkTimeout  time.Duration
	gitURL        string
	gitHostKeys   []api.GitHostKey
	webURL        func(app string) string
	remover       AppRemover
	releases      *release.Releases
	ops           AppOps
	certs         CertificateReader
	now           func() time.Time
	appsDomain    string
	apiLock       release.LockConfig
	tenants       TenantOps
	signIns       *signInLimiter
	invitationTTL time.Duration
	proxies       trustedProxies
	// Custom domains.
	reservedHosts          []string
	skipDomainVerification bool
	resolver               TXTResolver
	domainCheckTimeout     time.Duration
	router                 chi.Router
	operator               chi.Router
}

var _ http.Handler = (*Server)(nil)

// New returns a Server whose API works on st, and registers its request
// metrics on cfg.Metrics.
func New(cfg Config, st *store.Store) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("configuring server: a store is required")
	}
	m, err := newHTTPMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	hostKeys, err := gitHostKeys(cfg.GitURL, cfg.GitHostKeys)
	if err != nil {
		return nil, fmt.Errorf("configuring server: %w", err)
	}
	s := &Server{
		gitHostKeys:            hostKeys,
		log:                    cfg.Logger,
		st:                     st,
		checks:                 cfg.Checks,
		checkTimeout:           cfg.CheckTimeout,
		gitURL:                 cfg.GitURL,
		webURL:                 cfg.WebURL,
		remover:                cfg.Remover,
		releases:               cfg.Releases,
		ops:                    cfg.Ops,
		certs:                  cfg.Certificates,
		now:                    time.Now,
		appsDomain:             strings.ToLower(strings.TrimSuffix(cfg.AppsDomain, ".")),
		apiLock:                cfg.APILock,
		tenants:                cfg.Tenants,
		signIns:                newSignInLimiter(cfg.SignIn),
		invitationTTL:          cfg.InvitationTTL,
		skipDomainVerification: cfg.SkipDomainVerification,
		resolver:               cfg.Resolver,
		domainCheckTimeout:     cfg.DomainCheckTimeout,
	}
	for _, h := range cfg.ReservedHosts {
		if h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), ".")); h != "" {
			s.reservedHosts = append(s.reservedHosts, h)
		}
	}
	for _, p := range cfg.TrustedProxies {
		s.proxies = append(s.proxies, p.Masked())
	}
	if s.apiLock.Wait == 0 {
		s.apiLock.Wait = 2 * time.Minute
	}

	newRouter := func() chi.Router {
		r := chi.NewRouter()
		r.Use(
			requestID,
			s.clientAddress, // before observe, which logs it
			s.observe(m),    // outside recoverer, so a panic is logged and counted as the 500 it became
			s.recoverer,
			middleware.GetHead,
		)
		return r
	}
	r := newRouter()
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyzBrief)
	r.Mount(api.Version, s.apiRoutes())
	if err := s.mountDashboard(r); err != nil {
		return nil, err
	}
	s.router = r

	op := newRouter()
	op.Get("/healthz", s.healthz)
	op.Get("/readyz", s.readyz)
	op.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError),
		Registry: cfg.Metrics,
	}))
	s.operator = op
	return s, nil
}

// ServeHTTP serves platformd's public routes: the API, the dashboard, and
// the probes, whose /readyz says only "ready" or "not ready".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.router.ServeHTTP(w, r)
}

// Operator is the handler of the operator's listener, which must not be
// reachable by users: /healthz, /readyz naming each check with its error
// (what is down, and how, says much about the inside), and /metrics.
func (s *Server) Operator() http.Handler {
	return s.operator
}

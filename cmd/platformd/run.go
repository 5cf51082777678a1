package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/platform-paas/platform/cmd/platformd/internal/lifecycle"
	"github.com/platform-paas/platform/cmd/platformd/internal/logwriter"
	"github.com/platform-paas/platform/cmd/platformd/internal/textlog"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/store"
)

// run is platformd: it returns when ctx is done or on SIGINT or SIGTERM,
// after shutting down gracefully, with nil; or at once with the error that
// stopped it from starting or serving.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == registryCredentialCommand {
		return runRegistryCredential(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == uninstallCommand {
		return runUninstall(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := loadConfig(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil
	case errors.Is(err, errVersion):
		_, err := fmt.Fprintf(stdout, "platformd %s\n", version)
		return err
	case err != nil:
		return err
	}

	// The log's lines are written by a goroutine of their own, those of
	// a few milliseconds in one system call (the router's access log has
	// one a request); what is pending is written when run returns.
	logw := logwriter.New(stderr, logwriter.Config{})
	defer logw.Close()
	log := newLogger(logw, cfg.Log)
	routeLibraryLogs(log, cfg.Log.Level)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once shutting down, a second signal kills the process as usual.
	context.AfterFunc(ctx, stop)

	start := serve
	if cfg.Mode == modeRouter {
		start = serveRouter
		log.Info("platformd starting", "version", version, "mode", cfg.Mode, "http_addr", cfg.HTTP.Addr,
			"router_addr", cfg.Router.Addr)
	} else {
		log.Info("platformd starting", "version", version, "http_addr", cfg.HTTP.Addr, "metrics_addr", cfg.Metrics.Addr,
			"registry_addr", cfg.Registry.Addr, "data_dir", cfg.DataDir, "apps_domain", cfg.Deploy.AppsDomain)
	}
	if err := start(ctx, cfg, log); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Asked to stop while starting (during migrations, say):
			// that is a clean stop, not a failure.
			log.Info("platformd stopped during start-up")
			return nil
		}
		return err // main prints it
	}
	log.Info("platformd stopped")
	return nil
}

// serve starts every component and serves until ctx is done.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	st, err := cfg.Store.open(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bootstrapAdmin(ctx, st, cfg.DataDir, cfg.AdminEmail, cfg.AdminTokenFile, log.With("component", "bootstrap")); err != nil {
		return err
	}

	bld, err := cfg.Build.newBuilder(log)
	if err != nil {
		return err
	}
	defer func() {
		if err := bld.Close(); err != nil {
			log.Warn("closing builder", "err", err)
		}
	}()
	// The registry's credentials: each build's, minted by the pipeline,
	// and each tenant's pull credential, by the deployer. The embedded
	// registry checks them with the same key.
	var regAuth *registry.Auth
	var pipelineCreds registryCredentials
	var pullCreds deployer.PullCredentials
	if cfg.Registry.Addr != "" || cfg.Build.RegistryAuth == registryAuthPlatform {
		if regAuth, err = registry.NewAuth(cfg.Store.SecretKey); err != nil {
			return err
		}
	}
	if cfg.Build.RegistryAuth == registryAuthPlatform {
		pipelineCreds = registryCredentials{auth: regAuth, registry: cfg.Build.ImageRegistry,
			buildTTL: cfg.Registry.BuildCredentialTTL, pullTTL: cfg.Registry.PullCredentialTTL}
		pullCreds = pipelineCreds
	}
	dep, err := cfg.Deploy.newDeployer(cfg.Kubeconfig, pullCreds, cfg.Router.ACME.Directory != "", log)
	if err != nil {
		return err
	}
	releases, err := release.NewReleases(release.ReleasesConfig{
		Logger: log.With("component", "releases"),
		AppURL: func(app string) string { return appURL(cfg, app) },
	}, st, dep)
	if err != nil {
		return err
	}
	pipelineCfg := release.PipelineConfig{Logger: log.With("component", "pipeline")}
	if pullCreds != nil {
		pipelineCfg.RegistryCredentials = pipelineCreds
	}
	pipeline, err := release.NewPipeline(pipelineCfg, st, bld, releases)
	if err != nil {
		return err
	}
	metrics, err := newMetrics()
	if err != nil {
		return err
	}

	var services []lifecycle.Service
	checks := []server.Check{
		{Name: "postgres", Func: st.Ping},
		{Name: "kubernetes", Func: dep.Ping},
		{Name: "buildkit", Func: bld.Ping},
	}
	remover := appRemover{dep: dep, bld: bld, reposDir: cfg.Git.ReposDir}
	var gitHostKeys []string
	if cfg.Git.Addr != "" {
		git, err := cfg.Git.newReceiver(pipeline, cfg.ShutdownTimeout, log)
		if err != nil {
			return err
		}
		gitHostKeys = []string{git.HostPublicKey()}
		services = append(services, lifecycle.Service{Name: "git", Addr: cfg.Git.Addr, Server: lifecycle.ServeContext(git.Serve)})
	}
	if cfg.Registry.Addr != "" {
		reg, err := cfg.Registry.newRegistry(regAuth, cfg.ShutdownTimeout, log)
		if err != nil {
			return err
		}
		defer reg.Close() // if it is never served
		remover.reg = reg
		checks = append(checks, server.Check{Name: "registry", Func: reg.Ping})
		services = append(services, lifecycle.Service{Name: "registry", Addr: cfg.Registry.Addr, Server: lifecycle.ServeContext(reg.Serve)})
	}
	var jobs []func(context.Context) error
	if cfg.Router.Addr != "" {
		rt, err := newRouter(cfg, metrics, log, "platformd/"+version)
		if err != nil {
			return err
		}
		checks = append(checks, server.Check{Name: "router", Func: rt.Ready})
		services = append(services, lifecycle.Service{Name: "router", Addr: cfg.Router.Addr, Server: lifecycle.ServeContext(rt.Serve)})
		if cfg.Router.HTTPSAddr != "" {
			services = append(services, lifecycle.Service{Name: "router-https", Addr: cfg.Router.HTTPSAddr, Server: lifecycle.ServeContext(rt.ServeTLS)})
		}
		jobs = append(jobs, rt.Run)
	}

	srv, err := server.New(server.Config{
		Logger:  log.With("component", "server"),
		Metrics: metrics,
		Checks:  checks,
		GitURL:  gitURL(cfg),
		// For users to trust before their first push (GET /api/v1/git).
		GitHostKeys: gitHostKeys,
		WebURL:      func(app string) string { return webURL(cfg, app) },
		Remover:     remover,
		// The API's config changes, rollbacks, scaling, restarts and logs.
		Releases:     releases,
		Ops:          dep,
		Certificates: dep,
		AppsDomain:   cfg.Deploy.AppsDomain,
		// Quota changes of tenants.
		Tenants:        dep,
		SignIn:         cfg.API.signIn(),
		TrustedProxies: cfg.API.proxies,
		// Custom domains: never the platform's own names; routed once
		// their DNS shows they are the claimer's, unless turned off.
		ReservedHosts:          cfg.reservedHosts(),
		SkipDomainVerification: cfg.API.DomainVerification == domainVerificationOff,
	}, st)
	if err != nil {
		return err
	}
	services = append(services, lifecycle.Service{Name: "http", Addr: cfg.HTTP.Addr, Server: newHTTPServer(srv, log)})
	if cfg.Metrics.Addr != "" {
		services = append(services, lifecycle.Service{Name: "metrics", Addr: cfg.Metrics.Addr, Server: newHTTPServer(srv.Operator(), log)})
	}

	if pullCreds != nil {
		jobs = append(jobs, func(ctx context.Context) error {
			refreshPullSecrets(ctx, dep, cfg.Registry.PullCredentialTTL/4, log.With("component", "deployer"))
			return nil
		})
	}
	// The work done once per deployment, by whichever replica leads:
	// when it goes, another takes over and does it again, which is what
	// resumes the deploys the one that went left behind.
	jobs = append(jobs, func(ctx context.Context) error {
		return st.Lead(ctx, store.LeaderKeyMaintenance, leaderPoll, func(ctx context.Context) {
			if cfg.Deploy.ManageIngressClass {
				if err := dep.EnsureIngressClass(ctx); err != nil && ctx.Err() == nil {
					log.Warn("ensuring the ingress class", "err", err)
				}
			}
			// Apps left mid-deploy by a stopped platformd end on one
			// consistent release. Failures are logged per app, not fatal.
			if err := pipeline.Reconcile(ctx); err != nil && ctx.Err() == nil {
				log.Error("reconciling apps", "err", err)
			}
		})
	})
	return serveAll(ctx, cfg, log, services, jobs...)
}

// leaderPoll is how often a replica that does not lead tries to, and how
// often the leader checks that it still does.
const leaderPoll = 2 * time.Second

// pullSecretRefresher is the part of the deployer that renews tenants'
// registry pull credentials.
type pullSecretRefresher interface {
	RefreshPullSecrets(ctx context.Context) error
}

// refreshPullSecrets renews every tenant's registry pull credential now
// and every interval until ctx is done, so that a tenant with no recent
// release keeps pulling its images.
func refreshPullSecrets(ctx context.Context, dep pullSecretRefresher, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := dep.RefreshPullSecrets(ctx); err != nil && ctx.Err() == nil {
			log.Warn("refreshing registry pull secrets", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveAll serves the listeners of services with lifecycle.Run, beside
// jobs, background work that returns once its context is done (the
// router's watch of the cluster, say), until ctx is done or one of them
// fails.
func serveAll(ctx context.Context, cfg config, log *slog.Logger, services []lifecycle.Service, jobs ...func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return lifecycle.Run(gctx, lifecycle.Config{ShutdownTimeout: cfg.ShutdownTimeout, Logger: log}, services...)
	})
	for _, job := range jobs {
		g.Go(func() error { return job(gctx) })
	}
	return g.Wait()
}

// newHTTPServer is the HTTP server of the API, or of router mode's probes
// and metrics, serving h.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
}

// newMetrics returns the registry that the operator's /metrics serves: the Go runtime,
// the process and platformd's build, and whatever components add. It is
// not the global default registry, so tests and libraries cannot leak
// metrics into it.
func newMetrics() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "platformd_build_info",
		Help:        "Always 1; labelled with the version of platformd.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return reg, nil
}

// newLogger builds platformd's one logger.
func newLogger(w io.Writer, cfg logConfig) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	// slog's text format, by a handler that formats the common records
	// (the router's access log line, one a request) faster.
	return slog.New(textlog.New(w, opts))
}

// gitURL is the base of apps' git remotes, as the API tells clients:
// <gitURL>/<app>.git. Empty without a git receiver.
func gitURL(cfg config) string {
	if cfg.Git.Addr == "" {
		return ""
	}
	if cfg.Git.PublicURL != "" {
		return cfg.Git.PublicURL
	}
	return "ssh://git@" + cfg.Git.Addr
}

// webURL is the URL where an app answers: its default host, on the
// router's port when the router runs in-process on a port other than 80.
func webURL(cfg config, app string) string {
	host := app + "." + cfg.Deploy.AppsDomain
	if _, port, err := net.SplitHostPort(cfg.Router.Addr); err == nil && port != "80" {
		host = net.JoinHostPort(host, port)
	}
	return "http://" + host
}

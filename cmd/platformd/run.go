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

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/gitreceive"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/router"
	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/store"
)

// run is platformd: it returns when ctx is done or on SIGINT or SIGTERM,
// after shutting down gracefully, with nil; or at once with the error that
// stopped it from starting or serving.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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

	log := newLogger(stderr, cfg.Log)
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
		log.Info("platformd starting", "version", version, "http_addr", cfg.HTTP.Addr,
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

	if err := store.Migrate(ctx, cfg.Store.DatabaseURL); err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{
		DatabaseURL: cfg.Store.DatabaseURL,
		Key:         cfg.Store.SecretKey,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	if err := bootstrapAdmin(ctx, st, cfg.DataDir, cfg.AdminEmail, log.With("component", "bootstrap")); err != nil {
		return err
	}

	images := builder.DefaultImages()
	if cfg.Build.StackImages != "" {
		images = builder.LocalStackImages(cfg.Build.StackImages)
	}
	bld, err := builder.New(builder.Config{
		Addr:             cfg.Build.BuildkitAddr,
		Registry:         cfg.Build.ImageRegistry,
		InsecureRegistry: registry.IsLoopback(cfg.Build.ImageRegistry),
		Images:           images,
		Network:          cfg.Build.Network,
		Logger:           log.With("component", "builder"),
	})
	if err != nil {
		return fmt.Errorf("setting up builder: %w", err)
	}
	defer func() {
		if err := bld.Close(); err != nil {
			log.Warn("closing builder", "err", err)
		}
	}()

	dep, err := deployer.New(deployer.Config{
		Kubeconfig:     cfg.Kubeconfig,
		UserAgent:      "platformd/" + version,
		Logger:         log.With("component", "deployer"),
		AppsDomain:     cfg.Deploy.AppsDomain,
		RouterCIDRs:    cfg.Deploy.RouterCIDRs,
		RolloutTimeout: cfg.Deploy.RolloutTimeout,
		// A new web process serves once its port answers; a second more
		// of readiness before the next is replaced is enough to catch a
		// process that dies right after binding.
		MinReady: time.Second,
	})
	if err != nil {
		return fmt.Errorf("setting up deployer: %w", err)
	}

	releases, err := release.NewReleases(release.ReleasesConfig{
		Logger: log.With("component", "releases"),
		AppURL: func(app string) string { return appURL(cfg, app) },
	}, st, dep)
	if err != nil {
		return err
	}
	pipeline, err := release.NewPipeline(release.PipelineConfig{Logger: log.With("component", "pipeline")}, st, bld, releases)
	if err != nil {
		return err
	}
	var git *gitreceive.Server
	if cfg.Git.Addr != "" {
		git, err = gitreceive.New(gitreceive.Config{
			Addr:        cfg.Git.Addr,
			HostKeyPath: cfg.Git.HostKeyPath,
			ReposDir:    cfg.Git.ReposDir,
			Logger:      log.With("component", "gitreceive"),
		}, gitAuth{pipeline}, gitPusher{pipeline, log.With("component", "gitreceive")})
		if err != nil {
			return fmt.Errorf("setting up the git receiver: %w", err)
		}
	}

	checks := []server.Check{
		{Name: "postgres", Func: st.Ping},
		{Name: "kubernetes", Func: dep.Ping},
		{Name: "buildkit", Func: bld.Ping},
	}

	var (
		reg   *registry.Registry
		regLn net.Listener
	)
	if cfg.Registry.Addr != "" {
		reg, err = registry.New(registry.Config{
			RootDir:         cfg.Registry.RootDir,
			Logger:          log.With("component", "registry"),
			ShutdownTimeout: cfg.ShutdownTimeout,
		})
		if err != nil {
			return fmt.Errorf("setting up registry: %w", err)
		}
		defer reg.Close()
		regLn, err = net.Listen("tcp", cfg.Registry.Addr)
		if err != nil {
			return fmt.Errorf("listening for the registry: %w", err)
		}
		checks = append(checks, server.Check{Name: "registry", Func: reg.Ping})
	}

	metrics, err := newMetrics()
	if err != nil {
		return err
	}
	var (
		rt     *router.Router
		routLn net.Listener
	)
	if cfg.Router.Addr != "" {
		kube, err := kubeClient(cfg.Kubeconfig, "platformd/"+version)
		if err != nil {
			return fmt.Errorf("setting up the router: %w", err)
		}
		rt, err = router.New(router.Config{
			Logger:          log.With("component", "router"),
			Metrics:         metrics,
			ShutdownTimeout: cfg.ShutdownTimeout,
		}, kube)
		if err != nil {
			return fmt.Errorf("setting up the router: %w", err)
		}
		routLn, err = net.Listen("tcp", cfg.Router.Addr)
		if err != nil {
			return fmt.Errorf("listening for the router: %w", err)
		}
		defer routLn.Close()
		checks = append(checks, server.Check{Name: "router", Func: rt.Ready})
	}

	remover := appRemover{dep: dep, bld: bld, reposDir: cfg.Git.ReposDir}
	if reg != nil { // not a nil *Registry in the interface
		remover.reg = reg
	}
	srv, err := server.New(server.Config{
		Logger:  log.With("component", "server"),
		Metrics: metrics,
		Checks:  checks,
		GitURL:  gitURL(cfg),
		WebURL:  func(app string) string { return webURL(cfg, app) },
		Remover: remover,
		// The API's config changes, rollbacks, scaling, restarts and logs.
		Releases:   releases,
		Ops:        dep,
		AppsDomain: cfg.Deploy.AppsDomain,
		// Quota changes of tenants.
		Tenants: dep,
	}, st)
	if err != nil {
		return err
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		if regLn != nil {
			_ = regLn.Close()
		}
		return fmt.Errorf("listening for http: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return serveHTTP(gctx, httpLn, srv, cfg.ShutdownTimeout, log.With("component", "http"))
	})
	if reg != nil {
		g.Go(func() error { return reg.Serve(gctx, regLn) })
	}
	if git != nil {
		g.Go(func() error { return git.ListenAndServe(gctx) })
	}
	g.Go(func() error {
		if err := dep.EnsureIngressClass(gctx); err != nil && gctx.Err() == nil {
			log.Warn("ensuring the ingress class", "err", err)
		}
		// Apps left mid-deploy by a stopped platformd end on one
		// consistent release. Failures are logged per app, not fatal.
		if err := pipeline.Reconcile(gctx); err != nil && gctx.Err() == nil {
			log.Error("reconciling apps", "err", err)
		}
		return nil
	})
	if rt != nil {
		g.Go(func() error { return rt.Run(gctx) })
		g.Go(func() error { return rt.Serve(gctx, routLn) })
	}
	return g.Wait()
}

// serveHTTP serves h on ln until ctx is done, then shuts down within
// timeout. It closes ln.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, timeout time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("http listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}
	log.Info("http shutting down", "timeout", timeout)
	// A fresh deadline: ctx is already done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutting down http: %w", err)
	}
	return nil
}

// newMetrics returns the registry that /metrics serves: the Go runtime,
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
	return slog.New(slog.NewTextHandler(w, opts))
}

// gitURL is the base of apps' git remotes, as the API tells clients:
// <gitURL>/<app>.git. Empty without a git receiver.
func gitURL(cfg config) string {
	if cfg.Git.Addr == "" {
		return ""
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

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/platform-paas/platform/router"
)

// serveRouter is platformd in router mode: the router alone, as its own
// deployment, until ctx is done. It serves the apps on cfg.Router.Addr and
// its probes and metrics on cfg.HTTP.Addr: /healthz, /readyz (200 once the
// routing table is built from the cluster) and /metrics (the router's
// metrics and the process's). When ctx is done it drains: both listeners
// stop accepting and requests in flight get cfg.ShutdownTimeout.
func serveRouter(ctx context.Context, cfg config, log *slog.Logger) error {
	kube, err := kubeClient(cfg.Kubeconfig, "platformd/"+version+" (router)")
	if err != nil {
		return fmt.Errorf("setting up the router: %w", err)
	}
	metrics, err := newMetrics()
	if err != nil {
		return err
	}
	rt, err := router.New(router.Config{
		Logger:          log.With("component", "router"),
		Metrics:         metrics,
		ShutdownTimeout: cfg.ShutdownTimeout,
	}, kube)
	if err != nil {
		return fmt.Errorf("setting up the router: %w", err)
	}
	routLn, err := net.Listen("tcp", cfg.Router.Addr)
	if err != nil {
		return fmt.Errorf("listening for the router: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		_ = routLn.Close()
		return fmt.Errorf("listening for http: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return serveHTTP(gctx, httpLn, routerProbes(rt.Ready, metrics, log), cfg.ShutdownTimeout, log.With("component", "http"))
	})
	g.Go(func() error { return rt.Run(gctx) })
	g.Go(func() error { return rt.Serve(gctx, routLn) })
	return g.Wait()
}

// routerProbes is router mode's HTTP handler: /healthz answers while the
// process serves, /readyz runs ready and answers as the full platformd's
// does (JSON naming the check), /metrics serves metrics.
func routerProbes(ready func(context.Context) error, metrics *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		res := struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}{Status: "ok", Checks: map[string]string{"router": "ok"}}
		code := http.StatusOK
		if err := ready(r.Context()); err != nil {
			res.Status, res.Checks["router"] = "unavailable", "error: "+err.Error()
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(res) // the client went away: nothing left to tell it
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
		Registry: metrics,
	}))
	return mux
}

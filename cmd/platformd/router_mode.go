package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/platform-paas/platform/cmd/platformd/internal/lifecycle"
)

// serveRouter is platformd in router mode: the router alone, as its own
// deployment, until ctx is done. It serves the apps on cfg.Router.Addr and
// its probes and metrics on cfg.HTTP.Addr: /healthz, /readyz (200 once the
// routing table is built from the cluster) and /metrics (the router's
// metrics and the process's). When ctx is done it drains: both listeners
// stop accepting and requests in flight get cfg.ShutdownTimeout.
func serveRouter(ctx context.Context, cfg config, log *slog.Logger) error {
	metrics, err := newMetrics()
	if err != nil {
		return err
	}
	rt, err := newRouter(cfg, metrics, log, "platformd/"+version+" (router)")
	if err != nil {
		return err
	}
	services := []lifecycle.Service{
		{Name: "router", Addr: cfg.Router.Addr, Server: lifecycle.ServeContext(rt.Serve)},
		{Name: "http", Addr: cfg.HTTP.Addr, Server: newHTTPServer(routerProbes(rt.Ready, metrics, log), log)},
	}
	if cfg.Router.HTTPSAddr != "" {
		services = append(services, lifecycle.Service{Name: "router-https", Addr: cfg.Router.HTTPSAddr, Server: lifecycle.ServeContext(rt.ServeTLS)})
	}
	return serveAll(ctx, cfg, log, services, rt.Run)
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

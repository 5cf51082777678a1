package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/platform-paas/platform/router"
)

// routerModeConfig reads the settings of router mode into cfg, reporting
// problems through bad. The log settings and the HTTP address are read by
// loadConfig for both modes. A flag of a setting the router does not use is
// an error, as it would be silently ignored; the same setting in the
// environment is ignored, so one environment can serve both modes.
func routerModeConfig(cfg *config, all []*setting, byFlag map[string]*setting, getenv func(string) string, bad func(*setting, string, ...any)) {
	for _, s := range all {
		if s.present && !s.router {
			bad(s, "does not apply with --mode=%s (the router alone needs no database, secret key, data directory, BuildKit, registry or git receiver)", modeRouter)
		}
	}

	kc := byFlag["kubeconfig"]
	cfg.Kubeconfig = kc.value
	switch {
	case kc.value == "" && getenv("KUBERNETES_SERVICE_HOST") == "":
		bad(kc, "is required in router mode outside a Kubernetes pod: the kubeconfig of an identity that may list and watch ingresses, services and endpointslices (in a pod, leave it empty to use the pod's service account)")
	case kc.value != "":
		// clientcmd skips the files of a list that do not exist, and
		// with none left says only "no configuration has been provided".
		paths := filepath.SplitList(kc.value)
		found := false
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				found = true
				break
			}
		}
		if !found {
			bad(kc, "no such file: %s", strings.Join(paths, ", "))
		}
	}

	ra := byFlag["router-addr"]
	switch {
	case ra.value == registryOff:
		bad(ra, "cannot be %q with --mode=%s: the router is all that mode runs", registryOff, modeRouter)
	case checkListenAddr(ra.value) != nil:
		bad(ra, "%v", checkListenAddr(ra.value))
	default:
		cfg.RouterAddr = ra.value
	}
}

// serveRouter is platformd in router mode: the router alone, as its own
// deployment, until ctx is done. It serves the apps on cfg.RouterAddr and
// its probes and metrics on cfg.HTTPAddr: /healthz, /readyz (200 once the
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
	routLn, err := net.Listen("tcp", cfg.RouterAddr)
	if err != nil {
		return fmt.Errorf("listening for the router: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
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

package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/platform-paas/platform/server/api"
)

const requestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// requestID gives every request an id: the caller's X-Request-Id if it is
// a sane token (so a proxy's id carries through), a fresh random one
// otherwise. It is echoed in the response and logged with the request.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// validRequestID keeps what a client sends out of the logs unless it is a
// short token of harmless characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// requestIDFrom returns the request's id, or "" outside a request.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// recoverer turns a panic in a handler into a logged 500 instead of a
// dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response: let it through
			}
			s.log.ErrorContext(r.Context(), "panic serving request",
				"method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()),
				"err", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeJSON(w, http.StatusInternalServerError, api.ErrorBody{Error: api.ErrorDetail{
				Code: api.CodeInternal, Message: "internal server error",
			}})
		}()
		next.ServeHTTP(w, r)
	})
}

// httpMetrics are the request metrics, labelled by route pattern rather
// than path so that their cardinality stays bounded.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "platformd",
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "platformd",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to serve an HTTP request, by method and route pattern.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering http metrics: %w", err)
		}
	}
	return m, nil
}

// isProbe reports whether path is hit every few seconds by kubelets and
// scrapers; their access log lines are debug so that they do not drown the
// rest.
func isProbe(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// observe records every request's metrics and access log line once it is
// served, when chi knows which route pattern matched.
func (s *Server) observe(m *httpMetrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			defer func() {
				elapsed := time.Since(start)
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK // the handler wrote nothing
				}
				route := chi.RouteContext(r.Context()).RoutePattern()
				if route == "" {
					route = "unmatched"
				}
				method := methodLabel(r.Method)
				m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
				m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())

				level := slog.LevelInfo
				if isProbe(r.URL.Path) {
					level = slog.LevelDebug
				}
				s.log.Log(r.Context(), level, "http request",
					"method", r.Method,
					"path", r.URL.Path, // never the query: it may carry a token
					"route", route,
					"status", status,
					"bytes", ww.BytesWritten(),
					"duration", elapsed,
					"request_id", requestIDFrom(r.Context()),
					"remote_addr", remoteHost(r),
				)
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// methodLabel keeps arbitrary client-chosen methods out of metric labels.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

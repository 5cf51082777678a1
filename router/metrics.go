package router

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus collectors. Requests are counted per
// route (host and Ingress); a request that matched no route counts under
// empty host and ingress labels.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	retries        *prometheus.CounterVec
	routes         prometheus.Gauge
	endpoints      prometheus.Gauge
	updates        prometheus.Counter
	unrouted       *routeMetrics
}

// seriesKey names a route's series.
type seriesKey struct{ host, ingress string }

// routeMetrics are one route's series, resolved when its table is built so
// that a request only touches atomics.
type routeMetrics struct {
	codes          [6]prometheus.Counter // by status/100; [0] for anything odd
	duration       prometheus.Observer
	upstreamErrors prometheus.Counter
	retries        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "platform", "router"
	labels := []string{"host", "ingress"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests by app host, Ingress and status class (1xx..5xx); 499 is a client that went away.",
		}, append(labels, "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response, by app host and Ingress.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, labels),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "upstream_errors_total",
			Help: "Failed attempts to reach or read a backend endpoint, by app host and Ingress.",
		}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Requests tried again on another endpoint after a connection error, by app host and Ingress.",
		}, labels),
		routes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "routes",
			Help: "Host and path routes in the routing table.",
		}),
		endpoints: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "endpoints",
			Help: "Ready backend endpoints in the routing table.",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "table_updates_total",
			Help: "Routing tables built from cluster changes.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.upstreamErrors, m.retries, m.routes, m.endpoints, m.updates} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering router metrics: %w", err)
		}
	}
	m.unrouted = m.forRoute(seriesKey{})
	return m, nil
}

func (m *metrics) forRoute(k seriesKey) *routeMetrics {
	rm := &routeMetrics{
		duration:       m.duration.WithLabelValues(k.host, k.ingress),
		upstreamErrors: m.upstreamErrors.WithLabelValues(k.host, k.ingress),
		retries:        m.retries.WithLabelValues(k.host, k.ingress),
	}
	for i, code := range []string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		rm.codes[i] = m.requests.WithLabelValues(k.host, k.ingress, code)
	}
	return rm
}

// dropRoute deletes the series of a route that is gone, so that hosts
// that come and go do not pile up.
func (m *metrics) dropRoute(k seriesKey) {
	for _, code := range []string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		m.requests.DeleteLabelValues(k.host, k.ingress, code)
	}
	m.duration.DeleteLabelValues(k.host, k.ingress)
	m.upstreamErrors.DeleteLabelValues(k.host, k.ingress)
	m.retries.DeleteLabelValues(k.host, k.ingress)
}

func (rm *routeMetrics) observe(status int, d time.Duration) {
	rm.count(status)
	rm.duration.Observe(d.Seconds())
}

// count counts a request by its status class, without a duration.
func (rm *routeMetrics) count(status int) {
	i := status / 100
	if i < 1 || i > 5 {
		i = 0
	}
	rm.codes[i].Inc()
}

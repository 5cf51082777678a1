package router

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/platform-paas/platform/router/internal/route"
)

// A table is one immutable routing table and where each of its routes
// leads. Requests read it without locks; a change builds a new one and
// swaps it in (Router.install).
type table struct {
	routes  *route.Table
	targets []*target // by route index
}

// A target is where a route leads, in one table: the backend of its
// Service port, and the metric series of its host and Ingress.
type target struct {
	ingress string // "namespace/name"
	backend *backend
	metrics *routeMetrics
	// noRedirect keeps plain HTTP on this route although its host has a
	// certificate (the Ingress opted out).
	noRedirect bool
	hsts       string // Strict-Transport-Security of HTTPS responses, or ""
	h2c        bool   // the pods speak HTTP/2 without TLS (proxyH2C)
}

// A backend is the ready endpoints of one Service port, in one table.
type backend struct {
	name string // "namespace/service:port"
	eps  []*upstream
	next atomic.Uint32 // round-robin cursor
}

// lookup returns the target of the route for a request, or nil. host must
// be route.CanonicalHost's result.
func (t *table) lookup(host, path string) *target {
	i := t.routes.Lookup(host, path)
	if i < 0 {
		return nil
	}
	return t.targets[i]
}

func staticSpec(i int, r Route) (route.Spec, error) {
	host := strings.ToLower(strings.TrimSuffix(r.Host, "."))
	path, ok := route.NormalizePath(r.Path, r.Exact)
	if !ok {
		return route.Spec{}, fmt.Errorf("creating router: route path %q is not absolute", r.Path)
	}
	s := route.Spec{Host: host, Path: path, Exact: r.Exact, Ingress: "static", Service: fmt.Sprintf("static/%d", i), H2C: r.H2C}
	for _, e := range r.Endpoints {
		if _, _, err := net.SplitHostPort(e); err != nil {
			return route.Spec{}, fmt.Errorf("creating router: route endpoint %q: %w", e, err)
		}
		s.Endpoints = append(s.Endpoints, route.Endpoint{Addr: e, Key: e})
	}
	return s, nil
}

// install makes a table of specs, with connection pools carried over for
// the endpoints that stay and metric series for the routes, swaps it in,
// and then retires the pools of endpoints that went: they get no new
// request from the moment of the swap.
func (rt *Router) install(specs []route.Spec) *table {
	rt.mu.Lock()
	defer rt.mu.Unlock()

	t := &table{routes: route.NewTable(specs), targets: make([]*target, len(specs))}
	ups := make(map[string]*upstream, len(rt.upstreams))
	series := make(map[seriesKey]*routeMetrics, len(rt.series))
	backends := make(map[string]*backend)
	for i, s := range specs {
		b := backends[s.Service]
		if b == nil {
			b = &backend{name: s.Service}
			for _, e := range s.Endpoints {
				u := ups[e.Key]
				if u == nil {
					u = rt.upstreams[e.Key]
					if u == nil {
						u = newUpstream(e.Addr, rt.cfg.MaxIdleConnsPerEndpoint, rt.cfg.IdleConnTimeout)
					}
					ups[e.Key] = u
				}
				b.eps = append(b.eps, u)
			}
			backends[s.Service] = b
		}
		sk := seriesKey{host: s.Host, ingress: s.Ingress}
		m := series[sk]
		if m == nil {
			m = rt.series[sk]
			if m == nil {
				m = rt.metrics.forRoute(sk)
			}
			series[sk] = m
		}
		t.targets[i] = &target{ingress: s.Ingress, backend: b, metrics: m, noRedirect: s.NoHTTPSRedirect, hsts: s.HSTS, h2c: s.H2C}
	}
	rt.table.Store(t)

	for k, u := range rt.upstreams {
		if ups[k] != u {
			u.retire()
		}
	}
	rt.upstreams = ups
	for k := range rt.series {
		if series[k] == nil {
			rt.metrics.dropRoute(k)
		}
	}
	rt.series = series
	rt.metrics.routes.Set(float64(t.routes.Len()))
	rt.metrics.endpoints.Set(float64(len(ups)))
	return t
}

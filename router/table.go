package router

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
)

// A table is one immutable routing table. Requests read it without locks;
// a change builds a new one and swaps it in (Router.install).
type table struct {
	hosts     map[string]*vhost // by lower-case host, no port
	wildcards map[string]*vhost // "*.example.com" under "example.com"
	anyHost   *vhost            // rules without a host
	routes    int
}

// A vhost holds the routes of one host, most specific first: longer paths
// first, and at equal length Exact before Prefix, as the Ingress API
// orders them.
type vhost struct {
	routes []*route
}

type route struct {
	path    string // normalized: a Prefix has no trailing slash, except "/"
	exact   bool
	ingress string // "namespace/name"
	backend *backend
	metrics *routeMetrics
}

// A backend is the ready endpoints of one Service port, in one table.
type backend struct {
	name string // "namespace/service:port"
	eps  []*upstream
	next atomic.Uint32 // round-robin cursor
}

// lookup returns the route for a request, or nil. host must be
// canonicalHost's result.
func (t *table) lookup(host, path string) *route {
	v := t.hosts[host]
	if v == nil {
		if i := strings.IndexByte(host, '.'); i > 0 {
			v = t.wildcards[host[i+1:]]
		}
		if v == nil {
			v = t.anyHost
		}
		if v == nil {
			return nil
		}
	}
	for _, r := range v.routes {
		if r.matches(path) {
			return r
		}
	}
	return nil
}

func (r *route) matches(path string) bool {
	if r.exact {
		return path == r.path
	}
	if r.path == "/" {
		return true
	}
	// Prefix matching is by path element: /foo matches /foo and /foo/bar,
	// not /foobar.
	return strings.HasPrefix(path, r.path) && (len(path) == len(r.path) || path[len(r.path)] == '/')
}

// canonicalHost returns the request's host as the table keys it: lower
// case, without port and without a trailing dot. It allocates only for a
// host that is not lower case already.
func canonicalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// routeSpec is one route as computed from Kubernetes objects (or given to
// NewStatic): plain values, before the table gives it connection pools and
// metric series.
type routeSpec struct {
	host      string // lower case; "" is any host; "*.x" a wildcard
	path      string // normalized (see route.path)
	exact     bool
	ingress   string // "namespace/name", or "static"
	service   string // "namespace/service:port"
	endpoints []endpointSpec
}

// endpointSpec is one ready endpoint. key tells pods apart that reuse an
// address, so that a new pod never inherits connections to a dead one.
type endpointSpec struct {
	addr string // host:port to dial
	key  string // addr, plus "/" and the pod's UID when known
}

// normalizePath returns an Ingress path as a route keeps it, or false if
// it is not an absolute path.
func normalizePath(p string, exact bool) (string, bool) {
	if p == "" {
		p = "/"
	}
	if p[0] != '/' {
		return "", false
	}
	if !exact && len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	return p, true
}

func staticSpec(i int, r Route) (routeSpec, error) {
	host := strings.ToLower(strings.TrimSuffix(r.Host, "."))
	path, ok := normalizePath(r.Path, r.Exact)
	if !ok {
		return routeSpec{}, fmt.Errorf("creating router: route path %q is not absolute", r.Path)
	}
	s := routeSpec{host: host, path: path, exact: r.Exact, ingress: "static", service: fmt.Sprintf("static/%d", i)}
	for _, e := range r.Endpoints {
		if _, _, err := net.SplitHostPort(e); err != nil {
			return routeSpec{}, fmt.Errorf("creating router: route endpoint %q: %w", e, err)
		}
		s.endpoints = append(s.endpoints, endpointSpec{addr: e, key: e})
	}
	return s, nil
}

// install makes a table of specs, with connection pools carried over for
// the endpoints that stay and metric series for the routes, swaps it in,
// and then retires the pools of endpoints that went: they get no new
// request from the moment of the swap.
func (rt *Router) install(specs []routeSpec) *table {
	rt.mu.Lock()
	defer rt.mu.Unlock()

	t := &table{
		hosts:     make(map[string]*vhost),
		wildcards: make(map[string]*vhost),
		routes:    len(specs),
	}
	ups := make(map[string]*upstream, len(rt.upstreams))
	series := make(map[seriesKey]*routeMetrics, len(rt.series))
	backends := make(map[string]*backend)
	for _, s := range specs {
		b := backends[s.service]
		if b == nil {
			b = &backend{name: s.service}
			for _, e := range s.endpoints {
				u := ups[e.key]
				if u == nil {
					u = rt.upstreams[e.key]
					if u == nil {
						u = newUpstream(e.addr, rt.cfg.MaxIdleConnsPerEndpoint, rt.cfg.IdleConnTimeout)
					}
					ups[e.key] = u
				}
				b.eps = append(b.eps, u)
			}
			backends[s.service] = b
		}
		sk := seriesKey{host: s.host, ingress: s.ingress}
		m := series[sk]
		if m == nil {
			m = rt.series[sk]
			if m == nil {
				m = rt.metrics.forRoute(sk)
			}
			series[sk] = m
		}
		r := &route{path: s.path, exact: s.exact, ingress: s.ingress, backend: b, metrics: m}
		v := t.vhost(s.host)
		v.routes = append(v.routes, r)
	}
	for _, v := range t.hosts {
		v.sort()
	}
	for _, v := range t.wildcards {
		v.sort()
	}
	if t.anyHost != nil {
		t.anyHost.sort()
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
	rt.metrics.routes.Set(float64(t.routes))
	rt.metrics.endpoints.Set(float64(len(ups)))
	return t
}

// vhost returns the vhost for a route's host, adding it if new.
func (t *table) vhost(host string) *vhost {
	if host == "" {
		if t.anyHost == nil {
			t.anyHost = &vhost{}
		}
		return t.anyHost
	}
	m := t.hosts
	if strings.HasPrefix(host, "*.") {
		m, host = t.wildcards, host[2:]
	}
	v := m[host]
	if v == nil {
		v = &vhost{}
		m[host] = v
	}
	return v
}

// sort puts the most specific route first: longer paths first, and at
// equal length Exact before Prefix. The sort is stable, so among equal
// routes the first added (the oldest Ingress's) wins.
func (v *vhost) sort() {
	slices.SortStableFunc(v.routes, func(a, b *route) int {
		if c := cmp.Compare(len(b.path), len(a.path)); c != 0 {
			return c
		}
		switch {
		case a.exact && !b.exact:
			return -1
		case b.exact && !a.exact:
			return 1
		}
		return 0
	})
}

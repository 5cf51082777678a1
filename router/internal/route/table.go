package route

import (
	"cmp"
	"slices"
	"strings"
)

// Spec is one route as computed from Kubernetes objects (or given to the
// router's static table): plain values, before the router gives it
// connection pools and metric series.
type Spec struct {
	Host      string // lower case; "" is any host; "*.x" a wildcard
	Path      string // normalized (see NormalizePath)
	Exact     bool
	Ingress   string // "namespace/name", or "static"
	Service   string // "namespace/service:port"
	Endpoints []Endpoint
	// NoHTTPSRedirect is the Ingress's opt-out of the redirect of plain
	// HTTP to HTTPS (annotation platform.io/https-redirect: "false").
	NoHTTPSRedirect bool
	// HSTS is the Strict-Transport-Security header of the route's HTTPS
	// responses, from the Ingress's platform.io/hsts; "" for none.
	HSTS string
	// H2C has the router speak HTTP/2 without TLS to the route's pods
	// (annotation platform.io/backend-protocol: h2c), as gRPC servers
	// need.
	H2C bool
}

// BackendProtocolAnnotation on an Ingress says how the router talks to its
// pods: "h2c" is HTTP/2 without TLS (prior knowledge), for gRPC servers;
// anything else, or none, HTTP/1.1.
const BackendProtocolAnnotation = "platform.io/backend-protocol"

// HSTSAnnotation on an Ingress asks for a Strict-Transport-Security header
// on its HTTPS responses: "true" for a year (max-age=31536000), or the
// header's value itself ("max-age=...; includeSubDomains").
const HSTSAnnotation = "platform.io/hsts"

// hstsOf is the Strict-Transport-Security value an annotation asks for.
func hstsOf(v string) string {
	v = strings.TrimSpace(v)
	if strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return "" // no header of its own smuggled in
	}
	switch {
	case v == "true":
		return "max-age=31536000"
	case strings.HasPrefix(v, "max-age="):
		return v
	}
	return ""
}

// HTTPSRedirectAnnotation, set to "false" on an Ingress, keeps its routes
// answering plain HTTP although their host has a certificate.
const HTTPSRedirectAnnotation = "platform.io/https-redirect"

// Endpoint is one ready endpoint. Key tells pods apart that reuse an
// address, so that a new pod never inherits connections to a dead one.
type Endpoint struct {
	Addr string // host:port to dial
	Key  string // Addr, plus "/" and the pod's UID when known
}

// A Table is one immutable routing table: it finds the route of a request
// by host, then longest path. It is safe for concurrent use without locks;
// a change makes a new Table.
type Table struct {
	hosts     map[string]*vhost // by lower-case host, no port
	wildcards map[string]*vhost // "*.example.com" under "example.com"
	anyHost   *vhost            // rules without a host
	routes    int
}

// A vhost holds the routes of one host, most specific first: longer paths
// first, and at equal length Exact before Prefix, as the Ingress API
// orders them.
type vhost struct {
	routes []entry
}

// An entry is one route of a vhost: its path, and its index among the
// specs of the table.
type entry struct {
	path  string // normalized: a Prefix has no trailing slash, except "/"
	exact bool
	index int
}

// NewTable returns the table of specs. Where specs claim the same host,
// path and path type, the first wins.
func NewTable(specs []Spec) *Table {
	t := &Table{
		hosts:     make(map[string]*vhost),
		wildcards: make(map[string]*vhost),
		routes:    len(specs),
	}
	for i, s := range specs {
		v := t.vhost(s.Host)
		v.routes = append(v.routes, entry{path: s.Path, exact: s.Exact, index: i})
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
	return t
}

// Len returns the number of routes in t.
func (t *Table) Len() int { return t.routes }

// Hosts returns the number of hosts t routes by exact name.
func (t *Table) Hosts() int { return len(t.hosts) }

// Lookup returns the index among the specs of t of the route for a
// request, or -1 if there is none. host must be CanonicalHost's result.
//
// The host is matched exactly, then "*.parent" wildcards, then rules
// without a host; within the host the longest path wins, Exact before
// Prefix. A request whose host matches but none of whose paths does
// matches no rule, so it goes to the rules without a host (where default
// backends are), as the Ingress API defines it.
func (t *Table) Lookup(host, path string) int {
	v := t.hosts[host]
	if v == nil {
		if i := strings.IndexByte(host, '.'); i > 0 {
			v = t.wildcards[host[i+1:]]
		}
	}
	if v != nil {
		if i := v.lookup(path); i >= 0 {
			return i
		}
	}
	if t.anyHost == nil {
		return -1
	}
	return t.anyHost.lookup(path)
}

// lookup returns the index of the first of v's routes that matches path,
// or -1.
func (v *vhost) lookup(path string) int {
	for i := range v.routes {
		if v.routes[i].matches(path) {
			return v.routes[i].index
		}
	}
	return -1
}

func (e *entry) matches(path string) bool {
	if e.exact {
		return path == e.path
	}
	if e.path == "/" {
		return true
	}
	// Prefix matching is by path element: /foo matches /foo and /foo/bar,
	// not /foobar.
	return strings.HasPrefix(path, e.path) && (len(path) == len(e.path) || path[len(e.path)] == '/')
}

// CanonicalHost returns a request's host as a Table keys it: lower case,
// without port and without a trailing dot. It allocates only for a host
// that is not lower case already.
func CanonicalHost(h string) string {
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

// NormalizePath returns an Ingress path as a route keeps it, or false if
// it is not an absolute path: "" is "/", and a Prefix loses its trailing
// slashes.
func NormalizePath(p string, exact bool) (string, bool) {
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

// vhost returns the vhost for a route's host, adding it if new.
func (t *Table) vhost(host string) *vhost {
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
	slices.SortStableFunc(v.routes, func(a, b entry) int {
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

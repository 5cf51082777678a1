package route

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/platform-paas/platform/router/internal/route/routetest"
)

// objects is a snapshot's source for tests.
type objects struct {
	services []*corev1.Service
	slices   []*discoveryv1.EndpointSlice
}

func (o objects) snapshot(ings ...*networkingv1.Ingress) snapshot {
	return snapshot{
		ingresses: ings,
		service: func(ns, name string) *corev1.Service {
			for _, s := range o.services {
				if s.Namespace == ns && s.Name == name {
					return s
				}
			}
			return nil
		},
		slices: func(ns, svc string) []*discoveryv1.EndpointSlice {
			var out []*discoveryv1.EndpointSlice
			for _, s := range o.slices {
				if s.Namespace == ns && s.Labels[discoveryv1.LabelServiceName] == svc {
					out = append(out, s)
				}
			}
			return out
		},
	}
}

func addrs(s Spec) []string {
	var out []string
	for _, e := range s.Endpoints {
		out = append(out, e.Addr)
	}
	return out
}

func TestEndpointReadiness(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    discoveryv1.EndpointConditions
		want bool
	}{
		{"ready", discoveryv1.EndpointConditions{Ready: new(true)}, true},
		{"unset means ready", discoveryv1.EndpointConditions{}, true},
		{"not ready", discoveryv1.EndpointConditions{Ready: new(false)}, false},
		{"terminating, still serving", discoveryv1.EndpointConditions{Ready: new(false), Serving: new(true), Terminating: new(true)}, false},
		{"ready but terminating", discoveryv1.EndpointConditions{Ready: new(true), Terminating: new(true)}, false},
		{"ready, not terminating", discoveryv1.EndpointConditions{Ready: new(true), Serving: new(true), Terminating: new(false)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, endpointReady(tc.c))
		})
	}
}

func TestBuildRoutesEndpoints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := objects{
		services: []*corev1.Service{
			routetest.Service("ns", "web", corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Name: "admin", Port: 9000}),
			routetest.Service("ns", "unnamed", corev1.ServicePort{Port: 80}),
			routetest.Service("ns", "empty", corev1.ServicePort{Name: "http", Port: 80}),
		},
		slices: []*discoveryv1.EndpointSlice{
			routetest.Slice("ns", "web-a", "web", discoveryv1.AddressTypeIPv4, 8080, "http",
				routetest.Endpoint{IP: "10.0.0.2", Ready: new(true), UID: "pod-2"},
				routetest.Endpoint{IP: "10.0.0.1", UID: "pod-1"}, // ready unset
				routetest.Endpoint{IP: "10.0.0.3", Ready: new(false)},
				routetest.Endpoint{IP: "10.0.0.4", Ready: new(false), Serving: new(true), Terminating: new(true)},
			),
			// The same pod in a second slice, mid-update, and a new one.
			routetest.Slice("ns", "web-b", "web", discoveryv1.AddressTypeIPv4, 8080, "http",
				routetest.Endpoint{IP: "10.0.0.2", Ready: new(true), UID: "pod-2"},
				routetest.Endpoint{IP: "10.0.0.5", Ready: new(true)},
			),
			routetest.Slice("ns", "web-admin", "web", discoveryv1.AddressTypeIPv4, 9999, "admin", routetest.Endpoint{IP: "10.0.0.1"}),
			routetest.Slice("ns", "web-v6", "web", discoveryv1.AddressTypeIPv6, 8080, "http", routetest.Endpoint{IP: "fd00::1"}),
			routetest.Slice("ns", "web-fqdn", "web", discoveryv1.AddressTypeFQDN, 8080, "http", routetest.Endpoint{IP: "web.example.com"}),
			routetest.Slice("other", "web-a", "web", discoveryv1.AddressTypeIPv4, 8080, "http", routetest.Endpoint{IP: "10.9.9.9"}),
			routetest.Slice("ns", "unnamed-a", "unnamed", discoveryv1.AddressTypeIPv4, 5000, "", routetest.Endpoint{IP: "10.0.1.1"}),
			routetest.Slice("ns", "empty-a", "empty", discoveryv1.AddressTypeIPv4, 8080, "http", routetest.Endpoint{IP: "10.0.2.1", Ready: new(false)}),
		},
	}
	for _, tc := range []struct {
		name string
		path routetest.Path
		want []string
	}{
		{"port by number", routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)},
			[]string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.5:8080", "[fd00::1]:8080"}},
		{"port by name", routetest.Path{Path: "/", Service: "web", Port: routetest.PortName("http")},
			[]string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.5:8080", "[fd00::1]:8080"}},
		{"second port", routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(9000)}, []string{"10.0.0.1:9999"}},
		{"unnamed port", routetest.Path{Path: "/", Service: "unnamed", Port: routetest.PortNumber(80)}, []string{"10.0.1.1:5000"}},
		{"no such port", routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(81)}, nil},
		{"no such service", routetest.Path{Path: "/", Service: "nope", Port: routetest.PortNumber(80)}, nil},
		{"nothing ready", routetest.Path{Path: "/", Service: "empty", Port: routetest.PortNumber(80)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs := buildRoutes(objs.snapshot(routetest.Ingress("ns", "app", "platform", "app.test", t0, tc.path)))
			require.Len(t, specs, 1)
			assert.ElementsMatch(t, tc.want, addrs(specs[0]))
			assert.Equal(t, "ns/app", specs[0].Ingress)
		})
	}
}

func TestBuildRoutesPathsAndConflicts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := objects{services: []*corev1.Service{
		routetest.Service("a", "web", corev1.ServicePort{Port: 80}),
		routetest.Service("b", "web", corev1.ServicePort{Port: 80}),
	}}
	older := routetest.Ingress("b", "old", "platform", "App.Test", t0,
		routetest.Path{Path: "/", PathType: networkingv1.PathTypePrefix, Service: "web", Port: routetest.PortNumber(80)},
		routetest.Path{Path: "/api/", PathType: networkingv1.PathTypeImplementationSpecific, Service: "web", Port: routetest.PortNumber(80)},
		routetest.Path{Path: "relative", Service: "web", Port: routetest.PortNumber(80)},
	)
	newer := routetest.Ingress("a", "new", "platform", "app.test", t0.Add(time.Hour),
		routetest.Path{Path: "/", PathType: networkingv1.PathTypePrefix, Service: "web", Port: routetest.PortNumber(80)},   // taken
		routetest.Path{Path: "/api", PathType: networkingv1.PathTypeExact, Service: "web", Port: routetest.PortNumber(80)}, // not the same route
		routetest.Path{Path: "/new", Service: "web", Port: routetest.PortNumber(80)},
	)
	specs := buildRoutes(objs.snapshot(newer, older))
	type got struct {
		host, path string
		exact      bool
		ingress    string
	}
	var routes []got
	for _, s := range specs {
		routes = append(routes, got{s.Host, s.Path, s.Exact, s.Ingress})
	}
	assert.Equal(t, []got{
		{"app.test", "/", false, "b/old"},
		{"app.test", "/api", false, "b/old"},
		{"app.test", "/api", true, "a/new"},
		{"app.test", "/new", false, "a/new"},
	}, routes)
}

func TestClassOf(t *testing.T) {
	ing := routetest.Ingress("ns", "x", "", "h", time.Time{})
	assert.Equal(t, "", classOf(ing))
	ing.Annotations = map[string]string{legacyClassAnnotation: "platform"}
	assert.Equal(t, "platform", classOf(ing))
	ing.Spec.IngressClassName = new("nginx")
	assert.Equal(t, "nginx", classOf(ing), "the field wins over the annotation")
}

// TestBuildRoutesDefaultBackend checks the Ingress API's defaultBackend
// end to end through the table: it takes what the rules do not, on its
// Ingress's hosts and for hosts no rule names; rules win over it, and the
// oldest Ingress's default wins over a newer one's.
func TestBuildRoutesDefaultBackend(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := objects{services: []*corev1.Service{
		routetest.Service("ns", "api", corev1.ServicePort{Port: 80}),
		routetest.Service("ns", "fallback", corev1.ServicePort{Name: "http", Port: 80}),
		routetest.Service("ns", "late", corev1.ServicePort{Port: 80}),
		routetest.Service("ns", "site", corev1.ServicePort{Port: 80}),
	}}
	withDefault := func(ing *networkingv1.Ingress, svc string, port networkingv1.ServiceBackendPort) *networkingv1.Ingress {
		ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}
		return ing
	}
	first := withDefault(routetest.Ingress("ns", "first", "platform", "app.test", t0,
		routetest.Path{Path: "/api", PathType: networkingv1.PathTypePrefix, Service: "api", Port: routetest.PortNumber(80)},
	), "fallback", routetest.PortName("http"))
	// A newer Ingress: its default loses to the older one's, its rule for
	// "/" on another host stands.
	second := withDefault(routetest.Ingress("ns", "second", "platform", "site.test", t0.Add(time.Hour),
		routetest.Path{Path: "/", PathType: networkingv1.PathTypePrefix, Service: "site", Port: routetest.PortNumber(80)},
	), "late", routetest.PortNumber(80))
	// Only a default: no rules at all.
	only := withDefault(routetest.Ingress("ns", "only", "platform", "", t0.Add(2*time.Hour)), "late", routetest.PortNumber(80))
	only.Spec.Rules = nil

	specs := buildRoutes(objs.snapshot(second, only, first))
	tab := NewTable(specs)
	for _, tc := range []struct {
		name, host, path string
		service          string
	}{
		{"a rule", "app.test", "/api/v1", "ns/api:80"},
		{"a path no rule claims on the Ingress's host", "app.test", "/other", "ns/fallback:http"},
		{"a host no rule names", "unknown.test", "/", "ns/fallback:http"},
		{"a rule of a newer Ingress with a default", "site.test", "/x", "ns/site:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := tab.Lookup(tc.host, tc.path)
			require.GreaterOrEqual(t, i, 0)
			assert.Equal(t, tc.service, specs[i].Service)
		})
	}
	assert.Contains(t, routedServices([]*networkingv1.Ingress{first}), "ns/fallback", "the watch follows a default backend's Service")
}

// TestBuildCerts checks which certificate serves which host: spec.tls's
// hosts, or the Ingress's rule hosts when it names none; the oldest
// Ingress's where two name one host; nothing from a missing Secret or one
// that is not of type kubernetes.io/tls.
func TestBuildCerts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	secret := func(ns, name string, typ corev1.SecretType) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "7"}, Type: typ,
			Data: map[string][]byte{corev1.TLSCertKey: []byte(name + " cert"), corev1.TLSPrivateKeyKey: []byte(name + " key")}}
	}
	secrets := []*corev1.Secret{
		secret("a", "old-tls", corev1.SecretTypeTLS),
		secret("b", "new-tls", corev1.SecretTypeTLS),
		secret("b", "opaque", corev1.SecretTypeOpaque),
		// Made for a certificate still being obtained: nothing yet.
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "pending"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: {}, corev1.TLSPrivateKeyKey: {}}},
	}
	s := snapshot{secret: func(ns, name string) *corev1.Secret {
		for _, sec := range secrets {
			if sec.Namespace == ns && sec.Name == name {
				return sec
			}
		}
		return nil
	}}
	older := routetest.Ingress("a", "old", "platform", "App.Test.", t0)
	older.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "old-tls"}} // no hosts: the rule's
	newer := routetest.Ingress("b", "new", "platform", "app.test", t0.Add(time.Hour))
	newer.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"app.test", "api.test"}, SecretName: "new-tls"}, // app.test is taken
		{Hosts: []string{"x.test"}, SecretName: "opaque"},
		{Hosts: []string{"y.test"}, SecretName: "missing"},
		{Hosts: []string{"z.test"}, SecretName: "pending"},
	}
	s.ingresses = []*networkingv1.Ingress{newer, older}
	certs := buildCerts(s)
	require.Len(t, certs, 2)
	assert.Equal(t, Cert{Hosts: []string{"app.test"}, Secret: "a/old-tls", Version: "7", CertPEM: []byte("old-tls cert"), KeyPEM: []byte("old-tls key"), Ingress: "a/old"}, certs[0])
	assert.Equal(t, []string{"api.test"}, certs[1].Hosts)
	assert.Equal(t, "b/new-tls", certs[1].Secret)
	assert.Equal(t, map[string]struct{}{"a/old-tls": {}, "b/new-tls": {}, "b/opaque": {}, "b/missing": {}, "b/pending": {}}, tlsSecrets(s.ingresses))
}

// TestIngressSpecMatching checks the routing of requests against the
// networking.k8s.io/v1 Ingress rules as the API defines them, from
// Ingresses through the table to the Service that answers: path types
// Exact, Prefix (by path element) and ImplementationSpecific (here, as
// Prefix), host wildcards of exactly one label, several Ingresses for one
// host merged with the oldest winning a conflict, Service ports by name
// or number, and defaultBackend taking what matches no rule.
func TestIngressSpecMatching(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var services []*corev1.Service
	for _, n := range []string{"root", "exact", "prefix", "impl", "wild", "merged", "old", "new", "fallback", "named"} {
		services = append(services, routetest.Service("ns", n, corev1.ServicePort{Name: "http", Port: 80}))
	}
	objs := objects{services: services}
	p := func(path string, typ networkingv1.PathType, svc string) routetest.Path {
		return routetest.Path{Path: path, PathType: typ, Service: svc, Port: routetest.PortNumber(80)}
	}
	const (
		exact  = networkingv1.PathTypeExact
		prefix = networkingv1.PathTypePrefix
		impl   = networkingv1.PathTypeImplementationSpecific
	)
	site := routetest.Ingress("ns", "site", "platform", "site.test", t0,
		p("/", prefix, "root"),
		p("/docs", exact, "exact"),
		p("/foo/", prefix, "prefix"), // a trailing slash: /foo and /foo/… alike
		p("/aaa/bbb", prefix, "prefix"),
		p("/impl", impl, "impl"),
		p("/old", prefix, "old"),
	)
	// A second, newer Ingress for the same host: its paths merge in, and
	// where both name one path and type, the older Ingress's stands.
	merged := routetest.Ingress("ns", "merged", "platform", "site.test", t0.Add(time.Hour),
		p("/merged", prefix, "merged"),
		p("/old", prefix, "new"),
		routetest.Path{Path: "/named", PathType: prefix, Service: "named", Port: routetest.PortName("http")},
	)
	wild := routetest.Ingress("ns", "wild", "platform", "*.apps.test", t0,
		p("/", prefix, "wild"),
	)
	exactHost := routetest.Ingress("ns", "exacthost", "platform", "one.apps.test", t0,
		p("/only", exact, "exact"),
	)
	fallback := routetest.Ingress("ns", "fallback", "platform", "", t0.Add(2*time.Hour))
	fallback.Spec.Rules = nil
	fallback.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "fallback", Port: routetest.PortName("http")}}

	specs := buildRoutes(objs.snapshot(merged, fallback, exactHost, site, wild))
	tab := NewTable(specs)
	for _, tc := range []struct {
		name, host, path string
		want             string // the Service, "" for none
	}{
		{"prefix root", "site.test", "/anything", "root"},
		{"exact matches itself", "site.test", "/docs", "exact"},
		{"exact does not match below it", "site.test", "/docs/intro", "root"},
		{"exact does not match a trailing slash", "site.test", "/docs/", "root"},
		{"prefix without its trailing slash", "site.test", "/foo", "prefix"},
		{"prefix with a trailing slash", "site.test", "/foo/", "prefix"},
		{"prefix below", "site.test", "/foo/bar", "prefix"},
		{"prefix is by element", "site.test", "/foobar", "root"},
		{"prefix of two elements", "site.test", "/aaa/bbb/ccc", "prefix"},
		{"prefix not matching a partial element", "site.test", "/aaa/bbbxyz", "root"},
		{"implementation specific as prefix", "site.test", "/impl/x", "impl"},
		{"merged from a newer Ingress", "site.test", "/merged/x", "merged"},
		{"a conflict goes to the older Ingress", "site.test", "/old", "old"},
		{"port by name", "site.test", "/named", "named"},
		{"host is case-insensitive", CanonicalHost("SITE.test."), "/docs", "exact"},
		{"wildcard of one label", "x.apps.test", "/", "wild"},
		{"wildcard not of two labels", "y.x.apps.test", "/", "fallback"},
		{"wildcard not of its parent", "apps.test", "/", "fallback"},
		{"exact host before a wildcard", "one.apps.test", "/only", "exact"},
		{"an exact host's unmatched path goes to the default backend", "one.apps.test", "/other", "fallback"},
		{"an unknown host goes to the default backend", "nowhere.test", "/x", "fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := tab.Lookup(tc.host, tc.path)
			if tc.want == "" {
				assert.Equal(t, -1, i)
				return
			}
			require.GreaterOrEqual(t, i, 0, "no route")
			assert.Equal(t, "ns/"+tc.want, strings.SplitN(specs[i].Service, ":", 2)[0])
		})
	}
}

// TestTableWithoutDefaultBackend checks that a request matching no rule
// and no default backend finds no route, whatever part of it missed.
func TestTableWithoutDefaultBackend(t *testing.T) {
	tab := NewTable([]Spec{
		{Host: "site.test", Path: "/app"},
		{Host: "*.apps.test", Path: "/x", Exact: true},
	})
	for _, tc := range []struct{ host, path string }{
		{"site.test", "/"},
		{"a.apps.test", "/x/y"},
		{"other.test", "/app"},
	} {
		assert.Equal(t, -1, tab.Lookup(tc.host, tc.path), "%s%s", tc.host, tc.path)
	}
}

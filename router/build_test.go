package router

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Builders of the Kubernetes objects the router reads.

type ingPath struct {
	path     string
	pathType networkingv1.PathType // "" leaves it unset
	service  string
	port     networkingv1.ServiceBackendPort
}

func ingress(ns, name, class, host string, created time.Time, paths ...ingPath) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created)},
	}
	if class != "" {
		ing.Spec.IngressClassName = &class
	}
	rule := networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{}}}
	for _, p := range paths {
		hp := networkingv1.HTTPIngressPath{
			Path:    p.path,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: p.service, Port: p.port}},
		}
		if p.pathType != "" {
			pt := p.pathType
			hp.PathType = &pt
		}
		rule.HTTP.Paths = append(rule.HTTP.Paths, hp)
	}
	ing.Spec.Rules = []networkingv1.IngressRule{rule}
	return ing
}

func portNumber(n int32) networkingv1.ServiceBackendPort {
	return networkingv1.ServiceBackendPort{Number: n}
}
func portName(n string) networkingv1.ServiceBackendPort {
	return networkingv1.ServiceBackendPort{Name: n}
}

func service(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: ports},
	}
}

type ep struct {
	ip                         string
	ready, serving, terminated *bool
	uid                        string
}

func slice(ns, name, svc string, addrType discoveryv1.AddressType, port int32, portName string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: addrType,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	for _, e := range eps {
		de := discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminated},
		}
		if e.uid != "" {
			de.TargetRef = &corev1.ObjectReference{Kind: "Pod", UID: types.UID(e.uid)}
		}
		s.Endpoints = append(s.Endpoints, de)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

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

func addrs(s routeSpec) []string {
	var out []string
	for _, e := range s.endpoints {
		out = append(out, e.addr)
	}
	return out
}

func TestEndpointReadiness(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    discoveryv1.EndpointConditions
		want bool
	}{
		{"ready", discoveryv1.EndpointConditions{Ready: ptr(true)}, true},
		{"unset means ready", discoveryv1.EndpointConditions{}, true},
		{"not ready", discoveryv1.EndpointConditions{Ready: ptr(false)}, false},
		{"terminating, still serving", discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}, false},
		{"ready but terminating", discoveryv1.EndpointConditions{Ready: ptr(true), Terminating: ptr(true)}, false},
		{"ready, not terminating", discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}, true},
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
			service("ns", "web", corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Name: "admin", Port: 9000}),
			service("ns", "unnamed", corev1.ServicePort{Port: 80}),
			service("ns", "empty", corev1.ServicePort{Name: "http", Port: 80}),
		},
		slices: []*discoveryv1.EndpointSlice{
			slice("ns", "web-a", "web", discoveryv1.AddressTypeIPv4, 8080, "http",
				ep{ip: "10.0.0.2", ready: ptr(true), uid: "pod-2"},
				ep{ip: "10.0.0.1", uid: "pod-1"}, // ready unset
				ep{ip: "10.0.0.3", ready: ptr(false)},
				ep{ip: "10.0.0.4", ready: ptr(false), serving: ptr(true), terminated: ptr(true)},
			),
			// The same pod in a second slice, mid-update, and a new one.
			slice("ns", "web-b", "web", discoveryv1.AddressTypeIPv4, 8080, "http",
				ep{ip: "10.0.0.2", ready: ptr(true), uid: "pod-2"},
				ep{ip: "10.0.0.5", ready: ptr(true)},
			),
			slice("ns", "web-admin", "web", discoveryv1.AddressTypeIPv4, 9999, "admin", ep{ip: "10.0.0.1"}),
			slice("ns", "web-v6", "web", discoveryv1.AddressTypeIPv6, 8080, "http", ep{ip: "fd00::1"}),
			slice("ns", "web-fqdn", "web", discoveryv1.AddressTypeFQDN, 8080, "http", ep{ip: "web.example.com"}),
			slice("other", "web-a", "web", discoveryv1.AddressTypeIPv4, 8080, "http", ep{ip: "10.9.9.9"}),
			slice("ns", "unnamed-a", "unnamed", discoveryv1.AddressTypeIPv4, 5000, "", ep{ip: "10.0.1.1"}),
			slice("ns", "empty-a", "empty", discoveryv1.AddressTypeIPv4, 8080, "http", ep{ip: "10.0.2.1", ready: ptr(false)}),
		},
	}
	for _, tc := range []struct {
		name string
		path ingPath
		want []string
	}{
		{"port by number", ingPath{path: "/", service: "web", port: portNumber(80)},
			[]string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.5:8080", "[fd00::1]:8080"}},
		{"port by name", ingPath{path: "/", service: "web", port: portName("http")},
			[]string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.5:8080", "[fd00::1]:8080"}},
		{"second port", ingPath{path: "/", service: "web", port: portNumber(9000)}, []string{"10.0.0.1:9999"}},
		{"unnamed port", ingPath{path: "/", service: "unnamed", port: portNumber(80)}, []string{"10.0.1.1:5000"}},
		{"no such port", ingPath{path: "/", service: "web", port: portNumber(81)}, nil},
		{"no such service", ingPath{path: "/", service: "nope", port: portNumber(80)}, nil},
		{"nothing ready", ingPath{path: "/", service: "empty", port: portNumber(80)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs := buildRoutes(objs.snapshot(ingress("ns", "app", "platform", "app.test", t0, tc.path)))
			require.Len(t, specs, 1)
			assert.ElementsMatch(t, tc.want, addrs(specs[0]))
			assert.Equal(t, "ns/app", specs[0].ingress)
		})
	}
}

func TestBuildRoutesPathsAndConflicts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := objects{services: []*corev1.Service{
		service("a", "web", corev1.ServicePort{Port: 80}),
		service("b", "web", corev1.ServicePort{Port: 80}),
	}}
	older := ingress("b", "old", "platform", "App.Test", t0,
		ingPath{path: "/", pathType: networkingv1.PathTypePrefix, service: "web", port: portNumber(80)},
		ingPath{path: "/api/", pathType: networkingv1.PathTypeImplementationSpecific, service: "web", port: portNumber(80)},
		ingPath{path: "relative", service: "web", port: portNumber(80)},
	)
	newer := ingress("a", "new", "platform", "app.test", t0.Add(time.Hour),
		ingPath{path: "/", pathType: networkingv1.PathTypePrefix, service: "web", port: portNumber(80)},   // taken
		ingPath{path: "/api", pathType: networkingv1.PathTypeExact, service: "web", port: portNumber(80)}, // not the same route
		ingPath{path: "/new", service: "web", port: portNumber(80)},
	)
	specs := buildRoutes(objs.snapshot(newer, older))
	type got struct {
		host, path string
		exact      bool
		ingress    string
	}
	var routes []got
	for _, s := range specs {
		routes = append(routes, got{s.host, s.path, s.exact, s.ingress})
	}
	assert.Equal(t, []got{
		{"app.test", "/", false, "b/old"},
		{"app.test", "/api", false, "b/old"},
		{"app.test", "/api", true, "a/new"},
		{"app.test", "/new", false, "a/new"},
	}, routes)
}

func TestClassOf(t *testing.T) {
	ing := ingress("ns", "x", "", "h", time.Time{})
	assert.Equal(t, "", classOf(ing))
	ing.Annotations = map[string]string{legacyClassAnnotation: "platform"}
	assert.Equal(t, "platform", classOf(ing))
	ing.Spec.IngressClassName = ptr("nginx")
	assert.Equal(t, "nginx", classOf(ing), "the field wins over the annotation")
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"app.test":       "app.test",
		"APP.Test":       "app.test",
		"app.test:8080":  "app.test",
		"app.test.":      "app.test",
		"app.test.:80":   "app.test",
		"[::1]:80":       "[::1]",
		"[::1]":          "[::1]",
		"10.0.0.1:80":    "10.0.0.1",
		"":               "",
		"xn--bcher-kva.": "xn--bcher-kva",
	} {
		assert.Equal(t, want, canonicalHost(in), in)
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct {
		in    string
		exact bool
		want  string
		ok    bool
	}{
		{"", false, "/", true},
		{"/", false, "/", true},
		{"/api/", false, "/api", true},
		{"/api//", false, "/api", true},
		{"/api/", true, "/api/", true},
		{"api", false, "", false},
	} {
		got, ok := normalizePath(tc.in, tc.exact)
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

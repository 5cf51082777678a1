package route

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// legacyClassAnnotation names an Ingress's class on Ingresses older than
// spec.ingressClassName.
const legacyClassAnnotation = "kubernetes.io/ingress.class"

// classOf returns the IngressClass an Ingress asks for.
func classOf(ing *networkingv1.Ingress) string {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName
	}
	return ing.Annotations[legacyClassAnnotation]
}

// snapshot is what routes are computed from: the Ingresses of the
// router's class and lookups of the Services and EndpointSlices they name.
type snapshot struct {
	ingresses []*networkingv1.Ingress
	service   func(namespace, name string) *corev1.Service                 // nil if none
	slices    func(namespace, service string) []*discoveryv1.EndpointSlice // those of the Service
}

// routedServices returns the "namespace/name" of every Service that
// ingresses route to.
func routedServices(ingresses []*networkingv1.Ingress) map[string]struct{} {
	s := make(map[string]struct{})
	for _, ing := range ingresses {
		if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
			s[ing.Namespace+"/"+b.Service.Name] = struct{}{}
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service != nil {
					s[ing.Namespace+"/"+p.Backend.Service.Name] = struct{}{}
				}
			}
		}
	}
	return s
}

// buildRoutes computes the routes of a snapshot. Where Ingresses claim the
// same host, path and path type, the oldest wins (then the first by
// namespace and name), so that a new Ingress cannot take over a live
// app's address.
//
// An Ingress's defaultBackend takes the requests its rules do not: on each
// host of its rules, the paths no rule of that host claims (a Prefix "/"
// route below the rules'), and the requests for hosts no rule names (a
// route for any host), as the Ingress API defines it. Rules win over
// default backends, whichever Ingress is older; among default backends,
// the oldest Ingress's. Resource backends are not routed.
// ImplementationSpecific paths match as Prefix does.
func buildRoutes(s snapshot) []Spec {
	ings := slices.Clone(s.ingresses)
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	type key struct {
		host, path string
		exact      bool
	}
	seen := make(map[key]bool)
	endpoints := make(map[string][]Endpoint) // by service:port
	var specs []Spec
	add := func(ing *networkingv1.Ingress, host, path string, exact bool, svc *networkingv1.IngressServiceBackend) {
		k := key{host, path, exact}
		if seen[k] {
			return
		}
		seen[k] = true
		port := svc.Port.Name
		if port == "" {
			port = strconv.Itoa(int(svc.Port.Number))
		}
		name := ing.Namespace + "/" + svc.Name + ":" + port
		eps, ok := endpoints[name]
		if !ok {
			eps = resolveEndpoints(s, ing.Namespace, svc)
			endpoints[name] = eps
		}
		specs = append(specs, Spec{
			Host:      host,
			Path:      path,
			Exact:     exact,
			Ingress:   ing.Namespace + "/" + ing.Name,
			Service:   name,
			Endpoints: eps,
		})
	}
	ruleHost := func(rule networkingv1.IngressRule) string {
		return strings.ToLower(strings.TrimSuffix(rule.Host, "."))
	}
	for _, ing := range ings {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					continue
				}
				exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
				path, ok := NormalizePath(p.Path, exact)
				if !ok {
					continue
				}
				add(ing, ruleHost(rule), path, exact, p.Backend.Service)
			}
		}
	}
	for _, ing := range ings {
		b := ing.Spec.DefaultBackend
		if b == nil || b.Service == nil {
			continue
		}
		for _, rule := range ing.Spec.Rules {
			add(ing, ruleHost(rule), "/", false, b.Service)
		}
		add(ing, "", "/", false, b.Service)
	}
	return specs
}

// resolveEndpoints returns the ready endpoints of a Service port, sorted.
// The Ingress names the Service's port by number or name; the
// EndpointSlices carry the pods' port under the Service port's name.
func resolveEndpoints(s snapshot, namespace string, b *networkingv1.IngressServiceBackend) []Endpoint {
	svc := s.service(namespace, b.Name)
	if svc == nil {
		return nil
	}
	portName, found := "", false
	for _, p := range svc.Spec.Ports {
		if (b.Port.Name != "" && p.Name == b.Port.Name) || (b.Port.Name == "" && p.Port == b.Port.Number) {
			portName, found = p.Name, true
			break
		}
	}
	if !found {
		return nil
	}
	var eps []Endpoint
	seen := make(map[string]bool)
	for _, sl := range s.slices(namespace, b.Name) {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		for _, p := range sl.Ports {
			if p.Port != nil && ptrValue(p.Name) == portName {
				port = *p.Port
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range sl.Endpoints {
			if !endpointReady(e.Conditions) || len(e.Addresses) == 0 {
				continue
			}
			// The addresses of one endpoint are fungible: the first will do.
			addr := net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(port)))
			key := addr
			if e.TargetRef != nil && e.TargetRef.UID != "" {
				key += "/" + string(e.TargetRef.UID)
			}
			if seen[key] {
				continue // the same endpoint in two slices, mid-update
			}
			seen[key] = true
			eps = append(eps, Endpoint{Addr: addr, Key: key})
		}
	}
	slices.SortFunc(eps, func(a, b Endpoint) int { return cmp.Compare(a.Key, b.Key) })
	return eps
}

// endpointReady reports whether an endpoint may get new requests: ready
// (unset means ready, as the API says) and not terminating. A draining
// pod that still serves is not used, even when nothing else is left.
func endpointReady(c discoveryv1.EndpointConditions) bool {
	return (c.Ready == nil || *c.Ready) && (c.Terminating == nil || !*c.Terminating)
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

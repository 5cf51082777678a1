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
// router's class and lookups of the Services and EndpointSlices they name
// (and of the Secrets their TLS sections name).
type snapshot struct {
	ingresses []*networkingv1.Ingress
	service   func(namespace, name string) *corev1.Service                 // nil if none
	slices    func(namespace, service string) []*discoveryv1.EndpointSlice // those of the Service
	secret    func(namespace, name string) *corev1.Secret                  // nil if none
}

// Cert is a certificate an Ingress's spec.tls names for its hosts: the
// PEM of its kubernetes.io/tls Secret, as plain values.
type Cert struct {
	Hosts   []string // lower case; "*.x" a wildcard
	Secret  string   // "namespace/name"
	Version string   // the Secret's resourceVersion
	CertPEM []byte   // tls.crt
	KeyPEM  []byte   // tls.key
	Ingress string   // "namespace/name"
}

// tlsSecrets returns the "namespace/name" of every Secret that ingresses'
// TLS sections name.
func tlsSecrets(ingresses []*networkingv1.Ingress) map[string]struct{} {
	s := make(map[string]struct{})
	for _, ing := range ingresses {
		for _, t := range ing.Spec.TLS {
			if t.SecretName != "" {
				s[ing.Namespace+"/"+t.SecretName] = struct{}{}
			}
		}
	}
	return s
}

// buildCerts returns the certificates of a snapshot's Ingresses, by
// spec.tls: each entry's Secret for its hosts (for the Ingress's rule
// hosts when it names none). Where two Ingresses name a certificate for
// one host, the oldest wins, as for routes. An entry whose Secret is
// missing, not of type kubernetes.io/tls, or without a certificate yet,
// gives nothing.
func buildCerts(s snapshot) []Cert {
	ings := sortedIngresses(s.ingresses)
	taken := make(map[string]bool)
	var certs []Cert
	for _, ing := range ings {
		for _, t := range ing.Spec.TLS {
			if t.SecretName == "" {
				continue
			}
			sec := s.secret(ing.Namespace, t.SecretName)
			// A Secret made to hold a certificate still being obtained
			// (by ACME) is empty until then: nothing to serve yet.
			if sec == nil || sec.Type != corev1.SecretTypeTLS || len(sec.Data[corev1.TLSCertKey]) == 0 {
				continue
			}
			hosts := t.Hosts
			if len(hosts) == 0 {
				for _, r := range ing.Spec.Rules {
					hosts = append(hosts, r.Host)
				}
			}
			c := Cert{Secret: ing.Namespace + "/" + t.SecretName, Version: sec.ResourceVersion,
				CertPEM: sec.Data[corev1.TLSCertKey], KeyPEM: sec.Data[corev1.TLSPrivateKeyKey], Ingress: ing.Namespace + "/" + ing.Name}
			for _, h := range hosts {
				h = strings.ToLower(strings.TrimSuffix(h, "."))
				if h == "" || taken[h] {
					continue
				}
				taken[h] = true
				c.Hosts = append(c.Hosts, h)
			}
			if len(c.Hosts) > 0 {
				certs = append(certs, c)
			}
		}
	}
	return certs
}

// sortedIngresses returns ingresses oldest first, then by namespace and
// name: the order in which their claims on hosts and paths win.
func sortedIngresses(ingresses []*networkingv1.Ingress) []*networkingv1.Ingress {
	ings := slices.Clone(ingresses)
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return ings
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
	ings := sortedIngresses(s.ingresses)

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
			Host:            host,
			Path:            path,
			Exact:           exact,
			Ingress:         ing.Namespace + "/" + ing.Name,
			Service:         name,
			Endpoints:       eps,
			NoHTTPSRedirect: ing.Annotations[HTTPSRedirectAnnotation] == "false",
			HSTS:            hstsOf(ing.Annotations[HSTSAnnotation]),
			H2C:             ing.Annotations[BackendProtocolAnnotation] == "h2c",
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

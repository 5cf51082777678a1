// Package routetest builds the Kubernetes objects that package route
// reads (Ingresses, Services, EndpointSlices), for the tests of the
// router and of its routing. It is for tests only.
package routetest

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Path is one path of an Ingress rule, to a Service port.
type Path struct {
	Path     string
	PathType networkingv1.PathType // "" leaves it unset
	Service  string
	Port     networkingv1.ServiceBackendPort
}

// Ingress returns an Ingress of class ("" leaves it unset) created at
// created, with one rule: host and paths.
func Ingress(ns, name, class, host string, created time.Time, paths ...Path) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created)},
	}
	if class != "" {
		ing.Spec.IngressClassName = &class
	}
	rule := networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{}}}
	for _, p := range paths {
		hp := networkingv1.HTTPIngressPath{
			Path:    p.Path,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: p.Service, Port: p.Port}},
		}
		if p.PathType != "" {
			pt := p.PathType
			hp.PathType = &pt
		}
		rule.HTTP.Paths = append(rule.HTTP.Paths, hp)
	}
	ing.Spec.Rules = []networkingv1.IngressRule{rule}
	return ing
}

// PortNumber names a Service port by number.
func PortNumber(n int32) networkingv1.ServiceBackendPort {
	return networkingv1.ServiceBackendPort{Number: n}
}

// PortName names a Service port by name.
func PortName(n string) networkingv1.ServiceBackendPort {
	return networkingv1.ServiceBackendPort{Name: n}
}

// Service returns a Service with ports.
func Service(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: ports},
	}
}

// Endpoint is one endpoint of an EndpointSlice: its address, its
// conditions (nil leaves one unset) and, if UID is set, the pod it is.
type Endpoint struct {
	IP                          string
	Ready, Serving, Terminating *bool
	UID                         string
}

// Slice returns an EndpointSlice of Service svc with one port.
func Slice(ns, name, svc string, addrType discoveryv1.AddressType, port int32, portName string, eps ...Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: addrType,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	for _, e := range eps {
		de := discoveryv1.Endpoint{
			Addresses:  []string{e.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: e.Ready, Serving: e.Serving, Terminating: e.Terminating},
		}
		if e.UID != "" {
			de.TargetRef = &corev1.ObjectReference{Kind: "Pod", UID: types.UID(e.UID)}
		}
		s.Endpoints = append(s.Endpoints, de)
	}
	return s
}

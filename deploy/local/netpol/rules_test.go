package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The local stack's pod network.
var stackNet = network{
	Bridge:  "plat0",
	PodCIDR: netip.MustParsePrefix("10.217.0.0/24"),
	NodeIP:  netip.MustParseAddr("10.217.0.1"),
}

func testNS(name string, labels ...string) *corev1.Namespace {
	l := kv(labels...)
	l["kubernetes.io/metadata.name"] = name
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func testPod(key, ip string, labels []string, ports ...corev1.ContainerPort) *corev1.Pod {
	ns, name, _ := strings.Cut(key, "/")
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: kv(labels...)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Ports: ports}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if ip != "" {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	return p
}

func testPolicy(key string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	ns, name, _ := strings.Cut(key, "/")
	return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func kv(pairs ...string) map[string]string {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return m
}

// sel is a label selector matching the labels given as key=value.
func sel(pairs ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: kv(pairs...)}
}

func fromPods(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: s}
}

func fromNamespaces(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: s}
}

func fromBlock(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}

func port(proto corev1.Protocol, p intstr.IntOrString) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
}

func ingressOnly(from ...networkingv1.NetworkPolicyIngressRule) networkingv1.NetworkPolicySpec {
	return networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress:     from,
	}
}

// world is the cluster every case starts from: a few namespaces and pods,
// no policies.
func world() cluster {
	return cluster{
		Namespaces: []*corev1.Namespace{
			testNS("a", "team=red"), testNS("b", "team=blue"), testNS("c"),
			testNS("kube-system"), testNS("platform"),
			testNS("t1", "platform.io/tenant=t1"), testNS("t2", "platform.io/tenant=t2"),
		},
		Pods: []*corev1.Pod{
			testPod("a/web", "10.217.0.10", []string{"app=web"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
			testPod("a/worker", "10.217.0.11", []string{"app=worker"}),
			testPod("b/web", "10.217.0.20", []string{"app=web"}),
			testPod("b/job", "10.217.0.21", []string{"app=job"}),
			testPod("c/web", "10.217.0.30", []string{"app=web"}),
			testPod("platform/router", "10.217.0.40", []string{"platform.io/component=router"}),
			testPod("kube-system/dns", "10.217.0.50", []string{"k8s-app=kube-dns"}),
			testPod("t1/web", "10.217.0.70", []string{"platform.io/app=one"}),
			testPod("t1/worker", "10.217.0.71", []string{"platform.io/app=one"}),
			testPod("t2/web", "10.217.0.80", []string{"platform.io/app=two"}),
		},
	}
}

// check is a connection to try: from and to are pods' keys or addresses
// (an address outside the pod network is behind eth0).
type check struct {
	from, to string
	proto    string // tcp if empty
	port     int
	allow    bool
}

func (c check) packet(t *testing.T, cl cluster) packet {
	t.Helper()
	end := func(s string) (netip.Addr, string) {
		for _, p := range cl.Pods {
			if p.Namespace+"/"+p.Name == s {
				return netip.MustParseAddr(p.Status.PodIP), stackNet.Bridge
			}
		}
		a := netip.MustParseAddr(s)
		if stackNet.PodCIDR.Contains(a) {
			return a, stackNet.Bridge
		}
		return a, "eth0"
	}
	p := packet{proto: c.proto, port: c.port}
	if p.proto == "" {
		p.proto = "tcp"
	}
	p.src, p.in = end(c.from)
	p.dst, p.out = end(c.to)
	return p
}

func TestTranslate(t *testing.T) {
	tcp, udp, sctp := corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP
	endPort := int32(8010)
	tests := []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		pods     []*corev1.Pod // added to the world's
		checks   []check
		chains   int      // the pod chains expected
		absent   []string // in the restore text
	}{
		{
			name: "no policy lets everything through",
			checks: []check{
				{from: "a/web", to: "b/web", port: 80, allow: true},
				{from: "b/web", to: "a/web", port: 80, allow: true},
				{from: "a/web", to: "8.8.8.8", port: 443, allow: true},
				{from: "192.0.2.9", to: "a/web", port: 80, allow: true},
			},
		},
		{
			name:     "default deny ingress",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/deny", ingressOnly())},
			checks: []check{
				{from: "b/web", to: "a/web", port: 80},
				{from: "a/worker", to: "a/web", port: 80},
				{from: "192.0.2.9", to: "a/web", port: 80},
				{from: "a/web", to: "b/web", port: 80, allow: true},
				{from: "a/web", to: "8.8.8.8", port: 443, allow: true},
				{from: "b/web", to: "c/web", port: 80, allow: true},
			},
			chains: 2,
		},
		{
			name: "allow from the same namespace",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/same", ingressOnly(
				networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{fromPods(sel())}}))},
			checks: []check{
				{from: "a/worker", to: "a/web", port: 80, allow: true},
				{from: "a/web", to: "a/worker", port: 9000, allow: true},
				{from: "b/web", to: "a/web", port: 80},
				{from: "c/web", to: "a/worker", port: 80},
			},
			chains: 2,
		},
		{
			name: "allow from namespaces by label",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/blue", ingressOnly(
				networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{fromNamespaces(sel("team=blue"))}}))},
			checks: []check{
				{from: "b/web", to: "a/web", port: 80, allow: true},
				{from: "b/job", to: "a/web", port: 80, allow: true},
				{from: "c/web", to: "a/web", port: 80},
				{from: "a/worker", to: "a/web", port: 80},
			},
			chains: 2,
		},
		{
			name: "allow from pods by label in namespaces by label",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/blue-web", ingressOnly(
				networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: sel("team=blue"), PodSelector: sel("app=web"),
				}}}))},
			checks: []check{
				{from: "b/web", to: "a/web", port: 80, allow: true},
				{from: "b/job", to: "a/web", port: 80},
				{from: "c/web", to: "a/web", port: 80},
				{from: "a/web", to: "a/worker", port: 80},
			},
			chains: 2,
		},
		{
			name: "ipBlock with except",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/block", ingressOnly(
				networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{
					fromBlock("10.217.0.0/24", "10.217.0.16/28"), fromBlock("192.0.2.0/24", "192.0.2.128/25"),
				}}))},
			checks: []check{
				{from: "a/worker", to: "a/web", port: 80, allow: true},
				{from: "platform/router", to: "a/web", port: 80, allow: true},
				{from: "b/web", to: "a/web", port: 80},
				{from: "c/web", to: "a/web", port: 80},
				{from: "192.0.2.9", to: "a/web", port: 80, allow: true},
				{from: "192.0.2.200", to: "a/web", port: 80},
				{from: "198.51.100.1", to: "a/web", port: 80},
			},
			chains: 2,
		},
		{
			name: "ports, ranges, named ports and protocols",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/ports", networkingv1.NetworkPolicySpec{
				PodSelector: *sel("app=web"),
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{
					port(tcp, intstr.FromInt32(80)),
					port(udp, intstr.FromInt32(53)),
					{Protocol: &tcp, Port: new(intstr.FromInt32(8000)), EndPort: &endPort},
					port(tcp, intstr.FromString("http")),
					port(udp, intstr.FromString("http")), // a/web's http is TCP only
					{Protocol: &sctp},
					{Port: new(intstr.FromInt32(9000))}, // TCP by default
				}}},
			})},
			checks: []check{
				{from: "b/web", to: "a/web", port: 80, allow: true},
				{from: "b/web", to: "a/web", port: 81},
				{from: "b/web", to: "a/web", proto: "udp", port: 80},
				{from: "b/web", to: "a/web", proto: "udp", port: 53, allow: true},
				{from: "b/web", to: "a/web", port: 53},
				{from: "b/web", to: "a/web", port: 7999},
				{from: "b/web", to: "a/web", port: 8000, allow: true},
				{from: "b/web", to: "a/web", port: 8010, allow: true},
				{from: "b/web", to: "a/web", port: 8011},
				{from: "b/web", to: "a/web", port: 8080, allow: true},
				{from: "b/web", to: "a/web", proto: "udp", port: 8080},
				{from: "b/web", to: "a/web", proto: "sctp", port: 1234, allow: true},
				{from: "b/web", to: "a/web", port: 9000, allow: true},
				{from: "b/web", to: "a/web", proto: "udp", port: 9000},
				{from: "b/web", to: "a/worker", port: 81, allow: true}, // not selected
			},
			chains: 1,
		},
		{
			name: "egress denied to another namespace's pods, allowed to its own",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/own", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{fromPods(sel())}}},
			})},
			checks: []check{
				{from: "a/web", to: "a/worker", port: 80, allow: true},
				{from: "a/worker", to: "a/web", port: 8080, allow: true},
				{from: "a/web", to: "b/web", port: 80},
				{from: "a/worker", to: "kube-system/dns", proto: "udp", port: 53},
				{from: "a/web", to: "8.8.8.8", port: 443},
				{from: "b/web", to: "a/web", port: 80, allow: true}, // ingress is not restricted
			},
			chains: 2,
		},
		{
			name: "egress by named port of the destination",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/http", networkingv1.NetworkPolicySpec{
				PodSelector: *sel("app=worker"),
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					Ports: []networkingv1.NetworkPolicyPort{port(tcp, intstr.FromString("http"))},
				}},
			})},
			checks: []check{
				{from: "a/worker", to: "a/web", port: 8080, allow: true},
				{from: "a/worker", to: "a/web", port: 80},
				{from: "a/worker", to: "b/web", port: 8080},
				{from: "a/worker", to: "8.8.8.8", port: 8080},
			},
			chains: 1,
		},
		{
			name: "egress ipBlock out of the bridge",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/out", networkingv1.NetworkPolicySpec{
				PodSelector: *sel("app=web"),
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To: []networkingv1.NetworkPolicyPeer{fromBlock("0.0.0.0/0", "10.0.0.0/8")},
				}},
			})},
			checks: []check{
				{from: "a/web", to: "8.8.8.8", port: 443, allow: true},
				{from: "a/web", to: "10.1.2.3", port: 443},
				{from: "a/web", to: "b/web", port: 80},
				{from: "b/web", to: "a/web", port: 80}, // policyTypes unset: ingress is restricted too
			},
			chains: 2,
		},
		{
			name: "pods without an address on the pod network are ignored",
			policies: []*networkingv1.NetworkPolicy{testPolicy("a/deny", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			}), testPolicy("b/from-a", ingressOnly(networkingv1.NetworkPolicyIngressRule{
				From: []networkingv1.NetworkPolicyPeer{fromNamespaces(sel("team=red"))},
			}))},
			pods: []*corev1.Pod{
				testPod("a/pending", "", nil),
				func() *corev1.Pod {
					p := testPod("a/done", "10.217.0.60", nil)
					p.Status.Phase = corev1.PodSucceeded
					return p
				}(),
				func() *corev1.Pod {
					p := testPod("a/host", "10.217.0.1", nil)
					p.Spec.HostNetwork = true
					return p
				}(),
				testPod("a/elsewhere", "10.9.0.5", nil),
			},
			checks: []check{
				{from: "a/web", to: "a/worker", port: 80},
				{from: "b/web", to: "10.217.0.60", port: 80, allow: true},
				{from: "10.217.0.60", to: "b/web", port: 80},
			},
			chains: 6, // a/web, a/worker both ways; b/web, b/job ingress
			absent: []string{"a/pending", "a/done", "a/host", "a/elsewhere", "10.217.0.60", "10.9.0.5", "10.217.0.1/"},
		},
		{
			name: "two policies allow the union of their rules",
			policies: []*networkingv1.NetworkPolicy{
				testPolicy("a/workers-80", networkingv1.NetworkPolicySpec{
					PodSelector: *sel("app=web"),
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From:  []networkingv1.NetworkPolicyPeer{fromPods(sel("app=worker"))},
						Ports: []networkingv1.NetworkPolicyPort{port(tcp, intstr.FromInt32(80))},
					}},
				}),
				testPolicy("a/blue-443", networkingv1.NetworkPolicySpec{
					PodSelector: *sel("app=web"),
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From:  []networkingv1.NetworkPolicyPeer{fromNamespaces(sel("team=blue"))},
						Ports: []networkingv1.NetworkPolicyPort{port(tcp, intstr.FromInt32(443))},
					}},
				}),
			},
			checks: []check{
				{from: "a/worker", to: "a/web", port: 80, allow: true},
				{from: "a/worker", to: "a/web", port: 443},
				{from: "b/web", to: "a/web", port: 443, allow: true},
				{from: "b/web", to: "a/web", port: 80},
				{from: "c/web", to: "a/web", port: 80},
				{from: "c/web", to: "a/web", port: 443},
			},
			chains: 1,
		},
		{
			name:     "the tenant policy of the deployer",
			policies: []*networkingv1.NetworkPolicy{tenantPolicy("t1"), tenantPolicy("t2")},
			checks: []check{
				{from: "platform/router", to: "t1/web", port: 5000, allow: true},
				{from: "t1/worker", to: "t1/web", port: 5000, allow: true},
				{from: "t1/web", to: "t1/worker", port: 9000, allow: true},
				{from: "t2/web", to: "t1/web", port: 5000},
				{from: "t1/web", to: "t2/web", port: 5000},
				{from: "a/web", to: "t1/web", port: 5000},
				{from: "t1/web", to: "a/web", port: 80},
				{from: "t1/web", to: "platform/router", port: 80},
				{from: "t1/web", to: "kube-system/dns", proto: "udp", port: 53, allow: true},
				{from: "t1/web", to: "kube-system/dns", port: 53, allow: true},
				{from: "t1/web", to: "kube-system/dns", port: 80},
				{from: "t1/web", to: "8.8.8.8", port: 443, allow: true},
				{from: "t1/web", to: "11.0.0.1", port: 443, allow: true},
				{from: "t1/web", to: "100.128.0.1", port: 443, allow: true},
				{from: "t1/web", to: "10.0.0.5", port: 443},
				{from: "t1/web", to: "172.16.0.1", port: 443},
				{from: "t1/web", to: "172.31.255.254", port: 443},
				{from: "t1/web", to: "192.168.1.1", port: 443},
				{from: "t1/web", to: "169.254.169.254", port: 80},
				{from: "t1/web", to: "100.64.0.1", port: 443},
				{from: "t1/web", to: "127.0.0.1", port: 443},
				{from: "192.0.2.9", to: "t1/web", port: 5000},
				{from: "a/web", to: "kube-system/dns", proto: "udp", port: 53, allow: true},
			},
			chains: 6,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := world()
			cl.Pods = append(cl.Pods, tc.pods...)
			cl.Policies = tc.policies
			rs, warnings := translate(stackNet, cl)
			assert.Empty(t, warnings)
			assert.Len(t, rs.chains, tc.chains)
			text := render(rs, stackNet, saved{})
			tb := loadTable(t, text)
			for _, c := range tc.checks {
				assert.Equal(t, c.allow, tb.allowed(c.packet(t, cl)),
					"%s -> %s %s/%d: want allowed=%v", c.from, c.to, c.proto, c.port, c.allow)
			}
			for _, s := range tc.absent {
				assert.NotContains(t, text, s)
			}
			again, _ := translate(stackNet, cl)
			assert.Equal(t, text, render(again, stackNet, saved{}), "the same objects give the same text")
		})
	}
}

// tenantPolicy is the NetworkPolicy the deployer gives a tenant's
// namespace: ingress from the router (its addresses on the host and its
// pods in any namespace) and from the tenant's own pods; egress to its
// own pods, to kube-dns on port 53, and to the internet but not to
// private, link-local, loopback or CGNAT addresses.
func tenantPolicy(ns string) *networkingv1.NetworkPolicy {
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	return testPolicy(ns+"/platform", networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{
			{From: []networkingv1.NetworkPolicyPeer{
				fromBlock("10.217.0.1/32"),
				{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: sel("platform.io/component=router")},
			}},
			{From: []networkingv1.NetworkPolicyPeer{fromPods(&metav1.LabelSelector{})}},
		},
		Egress: []networkingv1.NetworkPolicyEgressRule{
			{To: []networkingv1.NetworkPolicyPeer{fromPods(&metav1.LabelSelector{})}},
			{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: sel("kubernetes.io/metadata.name=kube-system"),
					PodSelector:       sel("k8s-app=kube-dns"),
				}},
				Ports: []networkingv1.NetworkPolicyPort{port(udp, intstr.FromInt32(53)), port(tcp, intstr.FromInt32(53))},
			},
			{To: []networkingv1.NetworkPolicyPeer{fromBlock("0.0.0.0/0",
				"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8", "100.64.0.0/10")}},
		},
	})
}

func TestTranslateWarnings(t *testing.T) {
	cl := world()
	cl.Policies = []*networkingv1.NetworkPolicy{
		testPolicy("a/bad", ingressOnly(networkingv1.NetworkPolicyIngressRule{
			From: []networkingv1.NetworkPolicyPeer{
				fromBlock("10.217.0.0/33"),
				fromPods(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}),
				fromPods(sel("app=worker")),
			},
			Ports: []networkingv1.NetworkPolicyPort{
				port(corev1.Protocol("ICMP"), intstr.FromInt32(1)),
				port(corev1.ProtocolTCP, intstr.FromInt32(80)),
			},
		})),
	}
	rs, warnings := translate(stackNet, cl)
	assert.Equal(t, []string{
		`policy a/bad: ipBlock "10.217.0.0/33": netip.ParsePrefix("10.217.0.0/33"): prefix length out of range; the peer matches nothing`,
		`policy a/bad: peer selector: "Near" is not a valid label selector operator; the peer matches nothing`,
		`policy a/bad: protocol "icmp" is not supported; the port entry matches nothing`,
	}, warnings)
	// The rest of the rule still holds.
	tb := loadTable(t, render(rs, stackNet, saved{}))
	assert.True(t, tb.allowed(check{from: "a/worker", to: "a/web", port: 80}.packet(t, cl)))
	assert.False(t, tb.allowed(check{from: "a/worker", to: "a/web", port: 81}.packet(t, cl)))
	assert.False(t, tb.allowed(check{from: "b/web", to: "a/web", port: 80}.packet(t, cl)))
}

func TestSubtract(t *testing.T) {
	private := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"),
	}
	tests := []struct {
		name   string
		p      string
		except []netip.Prefix
		want   []string
	}{
		{"nothing excepted", "10.0.0.0/8", nil, []string{"10.0.0.0/8"}},
		{"an exception outside", "10.0.0.0/8", private[1:2], []string{"10.0.0.0/8"}},
		{"all excepted", "10.1.0.0/16", private[:1], nil},
		{"a quarter excepted", "10.0.0.0/8", []netip.Prefix{netip.MustParsePrefix("10.64.0.0/10")},
			[]string{"10.0.0.0/10", "10.128.0.0/9"}},
		{"host bits ignored", "10.0.0.7/30", []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")},
			[]string{"10.0.0.4/32", "10.0.0.6/31"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range subtract(netip.MustParsePrefix(tc.p), tc.except) {
				got = append(got, p.String())
			}
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("the internet less private ranges", func(t *testing.T) {
		got := subtract(netip.MustParsePrefix("0.0.0.0/0"), private)
		in := func(a string) bool {
			for _, p := range got {
				if p.Contains(netip.MustParseAddr(a)) {
					return true
				}
			}
			return false
		}
		for _, a := range []string{"0.0.0.0", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
			"126.255.255.255", "128.0.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0", "255.255.255.255"} {
			assert.True(t, in(a), a)
		}
		for _, a := range []string{"10.0.0.0", "10.217.0.10", "10.255.255.255", "100.64.0.0", "100.127.255.255",
			"127.0.0.1", "169.254.169.254", "172.16.0.0", "172.31.255.255", "192.168.0.1"} {
			assert.False(t, in(a), a)
		}
		for i := 1; i < len(got); i++ {
			require.False(t, got[i-1].Overlaps(got[i]), "%s and %s overlap", got[i-1], got[i])
		}
	})
}

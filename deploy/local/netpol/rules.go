package main

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The chains netpol owns in the filter table: mainChain, jumped to from
// FORWARD, and one chain per pod and direction, named chainPrefix+"I-" or
// "E-" and a hash of the pod's namespace and name. Every chain so named is
// netpol's, and no other.
const (
	mainChain   = "PLATFORM-NETPOL"
	chainPrefix = "PLATFORM-NP-"
)

// network is the node's pod network.
type network struct {
	// Bridge is the Linux bridge the pods' interfaces are enslaved to.
	Bridge string
	// PodCIDR is the pod network; a pod's address outside it is not a
	// pod network address (an IPv4 prefix).
	PodCIDR netip.Prefix
	// NodeIP is the node's own address on the bridge, which host-network
	// pods report as theirs; the zero Addr means none is known.
	NodeIP netip.Addr
}

// jumps are the rules of FORWARD that send packets to mainChain, in the
// form iptables-save prints them: what leaves a pod (to another pod, or
// out of the bridge) and what reaches a pod from another interface.
func (n network) jumps() []string {
	return []string{
		"-i " + n.Bridge + " -j " + mainChain,
		"! -i " + n.Bridge + " -o " + n.Bridge + " -j " + mainChain,
	}
}

// cluster is what the rules are computed from: the objects the informers
// hold. translate reads them and never changes them.
type cluster struct {
	Pods       []*corev1.Pod
	Namespaces []*corev1.Namespace
	Policies   []*networkingv1.NetworkPolicy
}

// rule is one iptables rule of a chain netpol owns. The zero value of a
// match means any.
type rule struct {
	src, dst netip.Prefix
	proto    string // tcp, udp or sctp
	dport    string // "80" or "8000:8080"; only with proto
	ctstate  string // a conntrack state list, as ESTABLISHED,RELATED
	comment  string
	target   string // RETURN (allowed so far), REJECT, or a chain
}

// String is the rule's spec in iptables-restore's syntax, without the
// chain.
func (r rule) String() string {
	var b strings.Builder
	if r.src.IsValid() {
		fmt.Fprintf(&b, "-s %s ", r.src)
	}
	if r.dst.IsValid() {
		fmt.Fprintf(&b, "-d %s ", r.dst)
	}
	if r.proto != "" {
		fmt.Fprintf(&b, "-p %s -m %s ", r.proto, r.proto)
		if r.dport != "" {
			fmt.Fprintf(&b, "--dport %s ", r.dport)
		}
	}
	if r.ctstate != "" {
		fmt.Fprintf(&b, "-m conntrack --ctstate %s ", r.ctstate)
	}
	if r.comment != "" {
		fmt.Fprintf(&b, "-m comment --comment %q ", r.comment)
	}
	b.WriteString("-j " + r.target)
	return b.String()
}

// chain is a chain netpol owns and its rules in order.
type chain struct {
	name  string
	rules []rule
}

// ruleset is the whole of what netpol installs but the jumps to it.
type ruleset struct {
	main   []rule  // mainChain's rules
	chains []chain // the per-pod chains, by name
}

// direction is a policy type, as it applies to one pod.
type direction int

const (
	ingress direction = iota
	egress
)

func (d direction) String() string {
	if d == ingress {
		return "ingress"
	}
	return "egress"
}

// pod is a pod on the pod network, as far as policies are concerned.
type pod struct {
	key    string // namespace/name
	ns     string
	labels labels.Set
	ips    []netip.Addr
	spec   *corev1.PodSpec
}

// podsOnNetwork returns the pods that hold addresses on the pod network,
// by key: not on the host network, Pending or Running, with at least one
// IPv4 address in n.PodCIDR other than the node's. A pod without one is
// neither restricted nor a peer: it has no traffic to police.
func podsOnNetwork(n network, all []*corev1.Pod) []pod {
	var out []pod
	for _, p := range all {
		if p.Spec.HostNetwork {
			continue
		}
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		ips := make([]string, 0, len(p.Status.PodIPs)+1)
		for _, ip := range p.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		if len(ips) == 0 && p.Status.PodIP != "" {
			ips = append(ips, p.Status.PodIP)
		}
		q := pod{key: p.Namespace + "/" + p.Name, ns: p.Namespace, labels: p.Labels, spec: &p.Spec}
		for _, s := range ips {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() || !n.PodCIDR.Contains(a) || a == n.NodeIP {
				continue
			}
			if !slices.Contains(q.ips, a) {
				q.ips = append(q.ips, a)
			}
		}
		if len(q.ips) > 0 {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b pod) int { return strings.Compare(a.key, b.key) })
	return out
}

// podChain is the chain of one pod in one direction while it is built.
type podChain struct {
	pod   pod
	dir   direction
	rules []rule
	seen  map[string]bool
}

func (c *podChain) add(rs ...rule) {
	for _, r := range rs {
		s := r.String()
		if !c.seen[s] {
			c.seen[s] = true
			c.rules = append(c.rules, r)
		}
	}
}

// chainName is the name of a pod's chain for one direction: at most 26
// characters, within iptables' 28.
func chainName(dir direction, podKey string) string {
	sum := sha256.Sum256([]byte(podKey))
	d := "I-"
	if dir == egress {
		d = "E-"
	}
	return chainPrefix + d + base32.StdEncoding.EncodeToString(sum[:])[:12]
}

// translate computes the rules that enforce the policies of c on the pods
// of n. It is a pure function of its arguments. Besides the rules it
// returns warnings: the parts of policies it cannot enforce (each of which
// then allows nothing), one sentence each.
func translate(n network, c cluster) (ruleset, []string) {
	t := &translator{
		net:     n,
		pods:    podsOnNetwork(n, c.Pods),
		nsLabel: map[string]labels.Set{},
		chains:  map[string]*podChain{},
	}
	for _, ns := range c.Namespaces {
		t.nsLabel[ns.Name] = ns.Labels
	}
	policies := slices.Clone(c.Policies)
	slices.SortFunc(policies, func(a, b *networkingv1.NetworkPolicy) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, p := range policies {
		t.policy(p)
	}
	return t.ruleset(), t.warnings
}

type translator struct {
	net      network
	pods     []pod
	nsLabel  map[string]labels.Set
	chains   map[string]*podChain // by chain name
	warnings []string
}

func (t *translator) warn(p *networkingv1.NetworkPolicy, format string, args ...any) {
	w := fmt.Sprintf("policy %s/%s: %s", p.Namespace, p.Name, fmt.Sprintf(format, args...))
	if !slices.Contains(t.warnings, w) {
		t.warnings = append(t.warnings, w)
	}
}

// policy adds what p allows to the chains of the pods it selects, and
// makes each of them a restricted pod in each of p's directions.
func (t *translator) policy(p *networkingv1.NetworkPolicy) {
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
	if err != nil {
		t.warn(p, "pod selector: %v; the policy is ignored", err)
		return
	}
	in, out := policyTypes(p)
	for _, q := range t.pods {
		if q.ns != p.Namespace || !sel.Matches(q.labels) {
			continue
		}
		if in {
			c := t.chain(ingress, q)
			for _, r := range p.Spec.Ingress {
				c.add(t.ingressRules(p, q, r)...)
			}
		}
		if out {
			c := t.chain(egress, q)
			for _, r := range p.Spec.Egress {
				c.add(t.egressRules(p, r)...)
			}
		}
	}
}

// policyTypes says which directions p restricts. Without policyTypes, a
// policy restricts ingress, and egress if it has egress rules.
func policyTypes(p *networkingv1.NetworkPolicy) (in, out bool) {
	if len(p.Spec.PolicyTypes) == 0 {
		return true, len(p.Spec.Egress) > 0
	}
	for _, ty := range p.Spec.PolicyTypes {
		switch ty {
		case networkingv1.PolicyTypeIngress:
			in = true
		case networkingv1.PolicyTypeEgress:
			out = true
		}
	}
	return in, out
}

func (t *translator) chain(dir direction, q pod) *podChain {
	name := chainName(dir, q.key)
	c, ok := t.chains[name]
	if !ok {
		c = &podChain{pod: q, dir: dir, seen: map[string]bool{}}
		t.chains[name] = c
	}
	return c
}

// ingressRules are the rules that let through to self what r allows.
// Named ports are self's.
func (t *translator) ingressRules(p *networkingv1.NetworkPolicy, self pod, r networkingv1.NetworkPolicyIngressRule) []rule {
	from := t.peers(p, r.From)
	var out []rule
	for _, pp := range t.ports(p, r.Ports) {
		if pp.named != "" {
			n, ok := namedPort(self.spec, pp.named, pp.proto)
			if !ok {
				continue // self has no such port: the entry matches nothing
			}
			pp.dport = strconv.Itoa(int(n))
		}
		for _, src := range from.prefixes() {
			out = append(out, rule{src: src, proto: pp.proto, dport: pp.dport, target: "RETURN"})
		}
	}
	return out
}

// egressRules are the rules that let out of a pod what r allows. A named
// port is the destination's: it matches only pods among r's peers that
// have a port of that name.
func (t *translator) egressRules(p *networkingv1.NetworkPolicy, r networkingv1.NetworkPolicyEgressRule) []rule {
	to := t.peers(p, r.To)
	var out []rule
	for _, pp := range t.ports(p, r.Ports) {
		if pp.named == "" {
			for _, dst := range to.prefixes() {
				out = append(out, rule{dst: dst, proto: pp.proto, dport: pp.dport, target: "RETURN"})
			}
			continue
		}
		for _, q := range t.pods {
			n, ok := namedPort(q.spec, pp.named, pp.proto)
			if !ok {
				continue
			}
			for _, ip := range q.ips {
				if to.contains(ip) {
					out = append(out, rule{dst: netip.PrefixFrom(ip, 32), proto: pp.proto, dport: strconv.Itoa(int(n)), target: "RETURN"})
				}
			}
		}
	}
	return out
}

// peerSet is the addresses a rule's peers stand for: any, or the union
// of prefixes.
type peerSet struct {
	any  bool
	list []netip.Prefix
}

// prefixes returns the set as matches: one invalid (match-all) prefix for
// any, else the list.
func (s peerSet) prefixes() []netip.Prefix {
	if s.any {
		return []netip.Prefix{{}}
	}
	return s.list
}

func (s peerSet) contains(a netip.Addr) bool {
	if s.any {
		return true
	}
	for _, p := range s.list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *peerSet) add(ps ...netip.Prefix) {
	for _, p := range ps {
		if !slices.Contains(s.list, p) {
			s.list = append(s.list, p)
		}
	}
}

// peers resolves a rule's peers, in the policy's namespace, to addresses.
// No peers means any address.
func (t *translator) peers(p *networkingv1.NetworkPolicy, peers []networkingv1.NetworkPolicyPeer) peerSet {
	if len(peers) == 0 {
		return peerSet{any: true}
	}
	var s peerSet
	for _, peer := range peers {
		if peer.IPBlock != nil {
			s.add(t.ipBlock(p, peer.IPBlock)...)
			continue
		}
		for _, q := range t.peerPods(p, peer) {
			for _, ip := range q.ips {
				s.add(netip.PrefixFrom(ip, 32))
			}
		}
	}
	return s
}

// peerPods returns the pods a pod or namespace selector peer selects: by
// pod labels in the policy's namespace, by namespace labels, or by both.
func (t *translator) peerPods(p *networkingv1.NetworkPolicy, peer networkingv1.NetworkPolicyPeer) []pod {
	if peer.PodSelector == nil && peer.NamespaceSelector == nil {
		return nil
	}
	// A nil selector selects nothing; a peer without a pod selector means
	// every pod.
	podSel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
	if peer.PodSelector == nil {
		podSel = labels.Everything()
	}
	nsSel, nsErr := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
	if err := errors.Join(err, nsErr); err != nil {
		t.warn(p, "peer selector: %v; the peer matches nothing", err)
		return nil
	}
	var out []pod
	for _, q := range t.pods {
		inNS := q.ns == p.Namespace
		if peer.NamespaceSelector != nil {
			inNS = nsSel.Matches(t.nsLabel[q.ns])
		}
		if inNS && podSel.Matches(q.labels) {
			out = append(out, q)
		}
	}
	return out
}

// ipBlock returns the prefixes an ipBlock peer stands for: its CIDR less
// its exceptions.
func (t *translator) ipBlock(p *networkingv1.NetworkPolicy, b *networkingv1.IPBlock) []netip.Prefix {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		t.warn(p, "ipBlock %q: %v; the peer matches nothing", b.CIDR, err)
		return nil
	}
	if !cidr.Addr().Is4() {
		// An IPv6 block cannot match the IPv4-only pod network's packets.
		return nil
	}
	var except []netip.Prefix
	for _, e := range b.Except {
		ep, err := netip.ParsePrefix(e)
		if err != nil {
			t.warn(p, "ipBlock except %q: %v; the peer matches nothing", e, err)
			return nil
		}
		if ep.Addr().Is4() {
			except = append(except, ep)
		}
	}
	return subtract(cidr, except)
}

// portMatch is one entry of a rule's ports: a protocol, and a port or
// port range, or a port name still to resolve. The zero value is any
// protocol and port.
type portMatch struct {
	proto string
	dport string
	named string
}

// ports returns a rule's port entries as matches; no entries means any
// port of any protocol.
func (t *translator) ports(p *networkingv1.NetworkPolicy, ports []networkingv1.NetworkPolicyPort) []portMatch {
	if len(ports) == 0 {
		return []portMatch{{}}
	}
	var out []portMatch
	for _, pp := range ports {
		m := portMatch{proto: "tcp"}
		if pp.Protocol != nil {
			m.proto = strings.ToLower(string(*pp.Protocol))
		}
		if m.proto != "tcp" && m.proto != "udp" && m.proto != "sctp" {
			t.warn(p, "protocol %q is not supported; the port entry matches nothing", m.proto)
			continue
		}
		switch {
		case pp.Port == nil:
		case pp.Port.Type == intstr.String:
			m.named = pp.Port.StrVal
		case pp.EndPort != nil && *pp.EndPort > pp.Port.IntVal:
			m.dport = fmt.Sprintf("%d:%d", pp.Port.IntVal, *pp.EndPort)
		default:
			m.dport = strconv.Itoa(int(pp.Port.IntVal))
		}
		out = append(out, m)
	}
	return out
}

// namedPort finds the container port of spec named name for proto.
func namedPort(spec *corev1.PodSpec, name, proto string) (int32, bool) {
	for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for _, c := range cs {
			for _, cp := range c.Ports {
				p := string(cp.Protocol)
				if p == "" {
					p = "TCP"
				}
				if cp.Name == name && strings.EqualFold(p, proto) {
					return cp.ContainerPort, true
				}
			}
		}
	}
	return 0, false
}

// ruleset orders what the policies made: mainChain first lets established
// and related packets through (their connection was allowed when it
// began), then sends what leaves each restricted pod to its egress chain
// and what reaches each restricted pod to its ingress chain. A pod chain
// returns what a rule allows and rejects the rest.
//
// Nothing here accepts: an allowed packet returns to FORWARD and meets
// the rules after the jump (the stack's PLATFORM-ISOLATE), which policies
// add to and never override.
func (t *translator) ruleset() ruleset {
	names := make([]string, 0, len(t.chains))
	for name := range t.chains {
		names = append(names, name)
	}
	// Egress chains before ingress chains, each by pod.
	slices.SortFunc(names, func(a, b string) int {
		ca, cb := t.chains[a], t.chains[b]
		if ca.dir != cb.dir {
			return int(cb.dir) - int(ca.dir)
		}
		return strings.Compare(ca.pod.key, cb.pod.key)
	})
	rs := ruleset{main: []rule{{ctstate: "RELATED,ESTABLISHED", target: "RETURN"}}}
	for _, name := range names {
		c := t.chains[name]
		for _, ip := range c.pod.ips {
			j := rule{comment: c.pod.key + " " + c.dir.String(), target: name}
			if c.dir == egress {
				j.src = netip.PrefixFrom(ip, 32)
			} else {
				j.dst = netip.PrefixFrom(ip, 32)
			}
			rs.main = append(rs.main, j)
		}
		rules := append(slices.Clone(c.rules), rule{comment: c.pod.key + " " + c.dir.String() + " not allowed", target: "REJECT"})
		rs.chains = append(rs.chains, chain{name: name, rules: rules})
	}
	slices.SortFunc(rs.chains, func(a, b chain) int { return strings.Compare(a.name, b.name) })
	return rs
}

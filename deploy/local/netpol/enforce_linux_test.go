package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestEnforceInNetworkNamespaces applies the rules to a copy of the local
// stack's pod network that it builds in network namespaces of its own:
// a "node" namespace holding the bridge plat0 (10.217.0.1/24, with
// br_netfilter calling iptables for bridged packets), a namespace for
// each of four pods on it, and an "outside" namespace routed from the
// node over another interface. Every pod and the outside listen on TCP
// 8080 and 9090, and real connections show which policies hold.
//
// It needs root, ip and iptables, and does not skip without them.
func TestEnforceInNetworkNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root, to make network namespaces and iptables rules in them (make test runs as root)")
	}
	for _, bin := range []string{"ip", "iptables-save", "iptables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("needs %s: apt-get install iproute2 iptables", bin)
		}
	}
	ctx := t.Context()
	l := newLab(t, "10.217.0")
	pods := map[string]string{
		"a/web": "10.217.0.10", "a/client": "10.217.0.11",
		"b/web": "10.217.0.20", "c/client": "10.217.0.30",
	}
	for key, ip := range pods {
		l.addPod(key, ip)
	}
	l.addOutside("192.0.2.2", "192.0.2.3")

	// What the stack itself adds to FORWARD: an accept of packets between
	// pods, first, as PLATFORM-ISOLATE does. Plus a chain left by an
	// earlier netpol, and one that is someone else's.
	l.restore("*filter\n:ISOLATE - [0:0]\n:KEEP-ME - [0:0]\n:PLATFORM-NP-I-STALE - [0:0]\n" +
		"-A ISOLATE -i plat0 -o plat0 -j ACCEPT\n-A KEEP-ME -j RETURN\n-A PLATFORM-NP-I-STALE -j REJECT\n" +
		"-I FORWARD 1 -j ISOLATE\nCOMMIT\n")

	checks := []struct {
		from, to string // a pod's key or "outside"; an address
		allow    bool
	}{
		{"a/client", "10.217.0.10:8080", true},  // a/web from its own namespace, on the port its policy names
		{"a/client", "10.217.0.10:9090", false}, // ... on another port
		{"c/client", "10.217.0.10:8080", false}, // ... from another namespace
		{"outside", "10.217.0.10:8080", false},  // ... from outside the bridge
		{"outside", "10.217.0.11:8080", true},   // a/client is not restricted
		{"c/client", "10.217.0.20:9090", true},  // b's ingress is not restricted
		{"a/web", "10.217.0.30:9090", true},     // a's egress is not restricted
		{"b/web", "10.217.0.11:8080", false},    // b's egress: not to another namespace's pods
		{"b/web", "192.0.2.2:8080", true},       // ... to its ipBlock, out of the bridge
		{"b/web", "192.0.2.3:8080", false},      // ... but not to its exception
		{"a/client", "192.0.2.3:8080", true},    // a/client's egress is not restricted
		{"a/client", "10.217.0.20:8080", true},  // nor b's ingress
	}
	// Before netpol, everything connects: what fails later fails because
	// of the rules.
	for _, c := range checks {
		require.NoError(t, l.connect(c.from, c.to), "%s -> %s before any rule", c.from, c.to)
	}
	cl := cluster{
		Namespaces: []*corev1.Namespace{testNS("a"), testNS("b"), testNS("c")},
		Policies: []*networkingv1.NetworkPolicy{
			testPolicy("a/web", networkingv1.NetworkPolicySpec{
				PodSelector: *sel("app=web"),
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{fromPods(sel())},
					Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromString("http"))},
				}},
			}),
			testPolicy("b/egress", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{
					{To: []networkingv1.NetworkPolicyPeer{fromPods(sel())}},
					{To: []networkingv1.NetworkPolicyPeer{fromBlock("192.0.2.0/24", "192.0.2.3/32")}},
				},
			}),
		},
	}
	for key, ip := range pods {
		app, _, _ := strings.Cut(strings.SplitN(key, "/", 2)[1], "-")
		cl.Pods = append(cl.Pods, testPod(key, ip, []string{"app=" + app},
			corev1.ContainerPort{Name: "http", ContainerPort: 8080}))
	}
	e := &enforcer{ipt: iptables{wrap: []string{"ip", "netns", "exec", l.node}}, net: network{
		Bridge: "plat0", PodCIDR: netip.MustParsePrefix("10.217.0.0/24"), NodeIP: netip.MustParseAddr("10.217.0.1"),
	}}
	// First b's policy alone; then a/web's too. A connection a/web's
	// policy would not let begin, begun before it, goes on: a change
	// applies to new connections.
	first := cl
	first.Policies = cl.Policies[1:]
	o, err := e.apply(ctx, first, false)
	require.NoError(t, err)
	assert.True(t, o.applied)
	open := l.dial(t, "a/client", "10.217.0.10:9090")
	o, err = e.apply(ctx, cl, false)
	require.NoError(t, err)
	assert.Equal(t, outcome{applied: true, changed: true, chains: 2}, o)

	for _, c := range checks {
		err := l.connect(c.from, c.to)
		if c.allow {
			assert.NoError(t, err, "%s -> %s: want it to connect", c.from, c.to)
		} else {
			assert.Error(t, err, "%s -> %s: want it refused", c.from, c.to)
		}
	}
	assert.NoError(t, echo(open), "a connection open before the policy")

	after := l.save()
	fwd := rulesOf(after, "FORWARD")
	require.GreaterOrEqual(t, len(fwd), 3)
	assert.Equal(t, []string{
		"-A FORWARD -i plat0 -j PLATFORM-NETPOL",
		"-A FORWARD ! -i plat0 -o plat0 -j PLATFORM-NETPOL",
		"-A FORWARD -j ISOLATE",
	}, fwd[:3], "netpol's jumps come before the stack's accept")
	assert.NotContains(t, after, "PLATFORM-NP-I-STALE")
	assert.Contains(t, after, "-A KEEP-ME -j RETURN")

	// Applying the same again changes nothing; forced, it leaves the
	// same table.
	o, err = e.apply(ctx, cl, false)
	require.NoError(t, err)
	assert.Equal(t, outcome{chains: 2}, o, "nothing changed")
	o, err = e.apply(ctx, cl, true)
	require.NoError(t, err)
	assert.Equal(t, outcome{applied: true, chains: 2}, o)
	assert.Equal(t, after, l.save())

	// A new netpol (no memory) on the same table: the same table.
	e2 := &enforcer{ipt: e.ipt, net: e.net}
	_, err = e2.apply(ctx, cl, false)
	require.NoError(t, err)
	assert.Equal(t, after, l.save())

	removed, err := e.cleanup(ctx)
	require.NoError(t, err)
	assert.True(t, removed)
	clean := l.save()
	assert.NotContains(t, clean, "PLATFORM-N")
	assert.Contains(t, clean, "-A KEEP-ME -j RETURN")
	assert.Contains(t, clean, "-A FORWARD -j ISOLATE")
	for _, c := range checks {
		assert.NoError(t, l.connect(c.from, c.to), "%s -> %s after cleanup", c.from, c.to)
	}
	removed, err = e.cleanup(ctx)
	require.NoError(t, err)
	assert.False(t, removed, "a second cleanup has nothing to do")
}

// lab is a pod network in network namespaces of a test's own, all named
// with the prefix, deleted when the test ends.
type lab struct {
	t      *testing.T
	prefix string
	base   string            // the pod network is base.0/24, the node base.1
	node   string            // the node's namespace
	netns  map[string]string // a pod's key or "outside" → its namespace
}

// newLab makes the node of a pod network base.0/24: a namespace with the
// bridge plat0 at base.1.
func newLab(t *testing.T, base string) *lab {
	l := &lab{t: t, prefix: fmt.Sprintf("npt%d-%s-", os.Getpid(), base), base: base, netns: map[string]string{}}
	l.node = l.addNetns("node")
	l.ip("-n", l.node, "link", "set", "lo", "up")
	l.ip("-n", l.node, "link", "add", "plat0", "type", "bridge")
	l.ip("-n", l.node, "addr", "add", base+".1/24", "dev", "plat0")
	l.ip("-n", l.node, "link", "set", "plat0", "up")
	l.run("ip", "netns", "exec", l.node, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1", "net.ipv4.ip_forward=1")
	return l
}

// addNetns makes a network namespace and has the test delete it.
func (l *lab) addNetns(name string) string {
	ns := l.prefix + name
	l.run("ip", "netns", "add", ns)
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			l.t.Errorf("deleting network namespace %s: %v: %s", ns, err, out)
		}
	})
	return ns
}

// addPod makes a pod: a namespace with eth0 at ip on the bridge, its
// default route through the node, and listeners on 8080 and 9090.
func (l *lab) addPod(key, ip string) {
	ns := l.addNetns(strings.ReplaceAll(key, "/", "-"))
	l.netns[key] = ns
	veth := "v" + ip[len(l.base)+1:]
	l.ip("-n", l.node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.ip("-n", l.node, "link", "set", veth, "master", "plat0", "up")
	l.ip("-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
	l.ip("-n", ns, "link", "set", "eth0", "up")
	l.ip("-n", ns, "link", "set", "lo", "up")
	l.ip("-n", ns, "route", "add", "default", "via", l.base+".1")
	l.listen(ns)
}

// addOutside makes a namespace behind the node's interface ext0
// (192.0.2.1/24), holding addrs, routed to the pod network.
func (l *lab) addOutside(addrs ...string) {
	ns := l.addNetns("outside")
	l.netns["outside"] = ns
	l.ip("-n", l.node, "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.ip("-n", l.node, "addr", "add", "192.0.2.1/24", "dev", "ext0")
	l.ip("-n", l.node, "link", "set", "ext0", "up")
	for _, a := range addrs {
		l.ip("-n", ns, "addr", "add", a+"/24", "dev", "eth0")
	}
	l.ip("-n", ns, "link", "set", "eth0", "up")
	l.ip("-n", ns, "link", "set", "lo", "up")
	l.ip("-n", ns, "route", "add", l.base+".0/24", "via", "192.0.2.1")
	l.listen(ns)
}

// listen serves an echo on TCP 8080 and 9090 of every address of ns
// until the test ends.
func (l *lab) listen(ns string) {
	for _, p := range []string{"8080", "9090"} {
		var ln net.Listener
		require.NoError(l.t, inNetns(ns, func() (err error) {
			ln, err = net.Listen("tcp4", ":"+p)
			return err
		}))
		l.t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
			}
		}()
	}
}

// dialTimeout bounds a connection attempt: a rejected one fails at once,
// a dropped one by then.
const dialTimeout = 2 * time.Second

// dial connects from the namespace of from to addr.
func (l *lab) dial(t *testing.T, from, addr string) net.Conn {
	var c net.Conn
	require.NoError(t, inNetns(l.netns[from], func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, dialTimeout)
		return err
	}), "%s -> %s", from, addr)
	t.Cleanup(func() { c.Close() })
	return c
}

// connect reports whether from can open a connection to addr and have a
// byte echoed over it.
func (l *lab) connect(from, addr string) error {
	var c net.Conn
	err := inNetns(l.netns[from], func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, dialTimeout)
		return err
	})
	if err != nil {
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, os.ErrDeadlineExceeded) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				l.t.Logf("%s -> %s: %v (neither refused nor timed out)", from, addr, err)
			}
		}
		return err
	}
	defer c.Close()
	return echo(c)
}

func echo(c net.Conn) error {
	if err := c.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if b[0] != 'x' {
		return fmt.Errorf("echoed %q", b)
	}
	return nil
}

// inNetns runs fn on an OS thread in the network namespace ns: sockets
// fn makes belong to ns for good. The thread is thrown away if it cannot
// be moved back.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func (l *lab) ip(args ...string) { l.run(append([]string{"ip"}, args...)...) }

func (l *lab) run(argv ...string) {
	l.t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	require.NoError(l.t, err, "%s: %s", strings.Join(argv, " "), out)
}

func (l *lab) restore(text string) {
	l.t.Helper()
	require.NoError(l.t, iptables{wrap: []string{"ip", "netns", "exec", l.node}}.restore(context.Background(), text))
}

// save returns the node's filter table as iptables-save prints it, less
// its comment lines (which carry the time).
func (l *lab) save() string {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.node, "iptables-save", "-t", "filter").Output()
	require.NoError(l.t, err)
	var b strings.Builder
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func rulesOf(table, chain string) []string {
	var out []string
	for line := range strings.Lines(table) {
		if strings.HasPrefix(line, "-A "+chain+" ") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

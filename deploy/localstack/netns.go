package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Host is an address a test serves from a network namespace of its own,
// routed from this machine: an address that must not answer builds or
// apps, made to answer when they are let through, so that the test that
// says they are not can fail.
type Host struct {
	// Addr is IP:port, where GET / answers Body.
	Addr string
	Body string
}

// ServeHost serves HTTP at ip:port from a neighbour network (see
// ListenOutside) that also holds ip, with a route to ip through it: from
// this machine (and whatever it forwards for) ip answers as a neighbour
// would, with nothing leaving the machine. The cloud metadata address
// 169.254.169.254 is the case in point.
func ServeHost(t testing.TB, ip string, port int) Host {
	t.Helper()
	n := newNeighbour(t, ip)
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	ln, err := listenInNetns(n.ns, addr)
	require.NoError(t, err)
	h := Host{Addr: addr, Body: "served from " + n.ns}
	serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, h.Body) }))

	// The host itself reaches it: the address answers whoever is let
	// through.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the host reaches %s", addr)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return h
}

// ListenOutside returns a TCP listener on a random port of a host outside
// this machine, as builds see it: a network namespace joined to this
// machine by a veth pair, on an address of the benchmarking range
// (198.18.0.0/15), which builds reach as they reach the internet while
// their sandbox keeps them from this machine's own addresses. Package
// mirrors that tests serve to builds listen here. It is closed, and the
// namespace removed, when the test ends.
func ListenOutside(t testing.TB) net.Listener {
	t.Helper()
	n := newNeighbour(t)
	ln, err := listenInNetns(n.ns, net.JoinHostPort(n.ip, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func serve(t testing.TB, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// neighbour is a network namespace joined to this machine by a veth pair
// on a /30 of the benchmarking range; ip is the namespace's end.
type neighbour struct {
	ns, ip string
}

// newNeighbour makes a neighbour that also holds the addresses extra, each
// routed to it from this machine. Everything is removed when the test
// ends. It needs root and iproute2.
func newNeighbour(t testing.TB, extra ...string) neighbour {
	t.Helper()
	if os.Geteuid() != 0 {
		Need(t, "root", "run the tests as root (make test does), since they make network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		Need(t, "the ip command", "apt-get install iproute2")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	ns, hostSide, nsSide := "plt-"+id, "vh"+id, "vn"+id
	// The link's own /30, so that what crosses it (forwarded or
	// masqueraded) has a way back.
	third, fourth := b[0], b[1]&0xfc
	linkHost := fmt.Sprintf("198.18.%d.%d", third, fourth+1)
	linkNS := fmt.Sprintf("198.18.%d.%d", third, fourth+2)

	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	run("link", "add", hostSide, "type", "veth", "peer", "name", nsSide, "netns", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", hostSide).Run() })
	run("addr", "add", linkHost+"/30", "dev", hostSide)
	run("link", "set", hostSide, "up")
	run("-n", ns, "link", "set", "lo", "up")
	run("-n", ns, "addr", "add", linkNS+"/30", "dev", nsSide)
	for _, ip := range extra {
		run("-n", ns, "addr", "add", ip+"/32", "dev", nsSide)
	}
	run("-n", ns, "link", "set", nsSide, "up")
	run("-n", ns, "route", "add", "default", "via", linkHost)
	for _, ip := range extra {
		run("route", "add", ip+"/32", "via", linkNS, "dev", hostSide)
	}
	return neighbour{ns: ns, ip: linkNS}
}

// listenInNetns opens a TCP listener on addr inside the named network
// namespace. The socket stays in that namespace once made; the thread
// that entered the namespace to make it is never used again (a locked
// goroutine that returns takes its thread with it).
func listenInNetns(ns, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering network namespace %s: %w", ns, err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, errors.Join(fmt.Errorf("listening on %s in %s", addr, ns), r.err)
	}
	return r.ln, nil
}

package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the addresses of the reverse proxies in front of
// platformd whose X-Forwarded-For is believed. The zero value trusts none.
type trustedProxies []netip.Prefix

func (t trustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client that sent r: its peer's,
// unless the peer is a trusted proxy; then X-Forwarded-For's entries are
// read from the right (each proxy appends the address it was reached
// from), past every trusted proxy, and the first address that is not one
// is the client. An entry that is not an address stops the walk at the
// last trusted hop; a chain of trusted proxies only gives its leftmost.
// Whatever a client puts in X-Forwarded-For itself is left of that and
// never read.
func (t trustedProxies) clientAddr(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr // not an address (a test, a unix socket): as it is
	}
	if len(t) == 0 || !t.trusts(peer) {
		return peer.String()
	}
	var entries []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		entries = append(entries, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseForwarded(entries[i])
		if !ok {
			break
		}
		client = a
		if !t.trusts(a) {
			break
		}
	}
	return client.String()
}

// overHTTPS reports whether the client reached platformd over HTTPS: r
// came over TLS, or a trusted proxy in front of platformd (the router, a
// load balancer that terminates TLS) says X-Forwarded-Proto: https.
func (s *Server) overHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	peer := peerAddr(r.RemoteAddr)
	return peer.IsValid() && s.proxies.trusts(peer) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// peerAddr parses a RemoteAddr, host:port, as an address; an IPv4 address
// mapped into IPv6 is the IPv4 address.
func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// parseForwarded parses one X-Forwarded-For entry: an address, or one
// with a port ("192.0.2.1:4711", "[2001:db8::1]:4711"), which some proxies
// write.
func parseForwarded(entry string) (netip.Addr, bool) {
	entry = strings.TrimSpace(entry)
	if a, err := netip.ParseAddr(entry); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(entry); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(entry, "["), "]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

type clientAddrKey struct{}

// clientAddress puts the request's client address (see clientAddr) in
// its context, for remoteHost.
func (s *Server) clientAddress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientAddrKey{}, s.proxies.clientAddr(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// remoteHost is the address the request came from, without the port: its
// client's, as clientAddress found it (behind a trusted proxy, from
// X-Forwarded-For). The sign-in limits, the audit log and the logs use
// it.
func remoteHost(r *http.Request) string {
	if a, ok := r.Context().Value(clientAddrKey{}).(string); ok {
		return a
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

package server

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
)

func TestClientAddr(t *testing.T) {
	proxies := trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48"), netip.MustParsePrefix("192.0.2.10/32")}
	tests := []struct {
		name    string
		proxies trustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"no proxy trusted: the peer, whatever the header", nil, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"an untrusted peer: its header is ignored", proxies, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"a trusted proxy: the address it was reached from", proxies, "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"what the client wrote is left of it", proxies, "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"a chain of trusted proxies", proxies, "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.1, 192.0.2.10", "10.9.9.9"}, "198.51.100.1"},
		{"a trusted proxy without the header", proxies, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"only trusted proxies: the leftmost", proxies, "10.1.2.3:4000", []string{"10.0.0.7, 192.0.2.10"}, "10.0.0.7"},
		{"garbage stops at the last trusted hop", proxies, "10.1.2.3:4000", []string{"198.51.100.1, not-an-ip, 10.0.0.7"}, "10.0.0.7"},
		{"entries with ports", proxies, "10.1.2.3:4000", []string{"[2001:db8::1]:1234, 198.51.100.1:80"}, "198.51.100.1"},
		{"IPv6 proxies and clients", proxies, "[2001:db8:ffff::1]:4000", []string{"2001:db8:1::7"}, "2001:db8:1::7"},
		{"an IPv4 peer mapped in IPv6", proxies, "[::ffff:10.1.2.3]:4000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"the client's own address claimed to be a proxy's", proxies, "203.0.113.5:4000", []string{"10.1.2.3"}, "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, h := range tt.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			assert.Equal(t, tt.want, tt.proxies.clientAddr(r))
		})
	}
}

// TestTrustedProxies: behind a trusted proxy, the sign-in limits and the
// audit log see each client; a client that writes X-Forwarded-For itself,
// or a proxy that is not trusted, changes nothing.
func TestTrustedProxies(t *testing.T) {
	f := newAPIFixture(t)
	f.srv.proxies = trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	f.setPassword(t, "member", memberPassword)
	f.fakeClock()
	login := func(peer, xff string, body api.LoginRequest) int {
		t.Helper()
		rec := f.loginVia(t, peer, xff, body)
		return rec.Code
	}
	wrong := api.LoginRequest{Email: "member@example.com", Password: "guess guess"}
	right := api.LoginRequest{Email: "member@example.com", Password: memberPassword}

	// Through the proxy, one client's failures block that client only.
	for range signInFailsPerRemote {
		require.Equal(t, http.StatusUnauthorized, login("10.0.0.2", "198.51.100.1", wrong))
	}
	assert.Equal(t, http.StatusTooManyRequests, login("10.0.0.2", "198.51.100.1", right))
	assert.Equal(t, http.StatusCreated, login("10.0.0.2", "198.51.100.2", right), "another client behind the same proxy")
	assert.Equal(t, http.StatusCreated, login("10.0.0.3", "6.6.6.6, 198.51.100.3", right))
	assert.Zero(t, f.srv.signIns.remotes.count("10.0.0.2"), "the proxy itself is not counted")

	// A client that is not a trusted proxy cannot pick its address: its
	// header is ignored, so writing another does not escape its count.
	for range signInFailsPerRemote {
		require.Equal(t, http.StatusUnauthorized, login("203.0.113.9", "198.51.100.77", wrong))
	}
	assert.Equal(t, http.StatusTooManyRequests, login("203.0.113.9", "198.51.100.78", right))
	assert.Zero(t, f.srv.signIns.remotes.count("198.51.100.77"))

	// The audit log records the client.
	events := f.audits(t, "account.login")
	require.Len(t, events, 2)
	assert.Equal(t, "198.51.100.2", events[0].RemoteAddr)
	assert.Equal(t, "198.51.100.3", events[1].RemoteAddr)
	// And so do the access logs.
	assert.Contains(t, f.logs.String(), `"remote_addr":"198.51.100.3"`)
	assert.NotContains(t, f.logs.String(), `"remote_addr":"6.6.6.6"`)
}

func TestOverHTTPS(t *testing.T) {
	s := &Server{proxies: trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, c := range []struct {
		name, remote, proto string
		tls                 bool
		want                bool
	}{
		{"plain HTTP", "192.0.2.1:1234", "", false, false},
		{"TLS", "192.0.2.1:1234", "", true, true},
		{"a trusted proxy took HTTPS", "10.1.2.3:1234", "https", false, true},
		{"a trusted proxy took HTTP", "10.1.2.3:1234", "http", false, false},
		{"a client's own claim", "192.0.2.1:1234", "https", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://platform.test/", nil)
			r.RemoteAddr = c.remote
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			assert.Equal(t, c.want, s.overHTTPS(r))
		})
	}
}

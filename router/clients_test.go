package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/router/internal/h1/h1test"
)

// The tests of this file are of hostile clients: those that lie about
// where they are, and those that hold connections with slow or stalled
// requests and responses.

// spoofing is what a client sends to pass for another address, or for
// HTTPS, besides what the router sets itself.
var spoofing = http.Header{
	"X_Forwarded_For":     {"198.51.100.66"},
	"X_Real_Ip":           {"198.51.100.66"},
	"X.Forwarded.For":     {"198.51.100.66"},
	"True-Client-IP":      {"198.51.100.66"},
	"X-Client-IP":         {"198.51.100.66"},
	"Client-IP":           {"198.51.100.66"},
	"CF-Connecting-IP":    {"198.51.100.66"},
	"Fastly-Client-IP":    {"198.51.100.66"},
	"X-Cluster-Client-IP": {"198.51.100.66"},
	"Forwarded":           {"for=198.51.100.66;proto=https"},
	"X-Forwarded-Ssl":     {"on"},
	"X-Forwarded-Port":    {"443"},
}

// spoofedOnly is spoofing's headers that the router does not set, in
// canonical form: those a trusted proxy may send on.
var spoofedOnly = []string{
	"True-Client-Ip", "X-Client-Ip", "Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
	"X-Cluster-Client-Ip", "Forwarded", "X-Forwarded-Ssl", "X-Forwarded-Port",
}

func TestProxyClientAddressHeaders(t *testing.T) {
	be := echoBackend(t)
	routes := []Route{{Host: "app.test", Endpoints: []string{addrOf(be)}}}
	untrusted := serveStatic(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, routes...)
	trusted := serveStatic(t, Config{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
	}}, routes...)

	with := func(h http.Header) http.Header {
		all := http.Header{"X-Custom": {"kept"}}
		for k, v := range spoofing {
			all[k] = v
		}
		for k, v := range h {
			all[k] = v
		}
		return all
	}
	forged := http.Header{
		"X-Forwarded-For":   {"203.0.113.7"},
		"X-Real-IP":         {"203.0.113.8"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"shop.example.com"},
	}
	for _, tc := range []struct {
		name      string
		tr        *testRouter
		header    http.Header
		xff, real string
		proto     string
		host      string
		spoofKept bool // the spoofing headers (without underscores) reach the app
	}{
		{name: "a client's forgeries are replaced and dropped", tr: untrusted, header: with(forged),
			xff: "127.0.0.1", real: "127.0.0.1", proto: "http", host: "app.test"},
		{name: "a client without forwarded headers", tr: untrusted, header: nil,
			xff: "127.0.0.1", real: "127.0.0.1", proto: "http", host: "app.test"},
		{name: "a trusted proxy's chain is extended and believed", tr: trusted, header: with(forged),
			xff: "203.0.113.7, 127.0.0.1", real: "203.0.113.7", proto: "https", host: "shop.example.com", spoofKept: true},
		{name: "a chain through two trusted proxies", tr: trusted,
			header: http.Header{"X-Forwarded-For": {"203.0.113.7, 10.1.2.3"}},
			xff:    "203.0.113.7, 10.1.2.3, 127.0.0.1", real: "203.0.113.7", proto: "http", host: "app.test"},
		{name: "a chain in two fields", tr: trusted,
			header: http.Header{"X-Forwarded-For": {"192.0.2.1, 203.0.113.7", "10.1.2.3"}},
			xff:    "192.0.2.1, 203.0.113.7, 10.1.2.3, 127.0.0.1", real: "203.0.113.7", proto: "http", host: "app.test"},
		{name: "a trusted proxy that forwards nothing", tr: trusted, header: nil,
			xff: "127.0.0.1", real: "127.0.0.1", proto: "http", host: "app.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeEcho(t, tc.tr.do(t, http.MethodGet, "app.test", "/", nil, tc.header))
			assert.Equal(t, []string{tc.xff}, e.Header["X-Forwarded-For"])
			assert.Equal(t, []string{tc.real}, e.Header["X-Real-Ip"])
			assert.Equal(t, []string{tc.proto}, e.Header["X-Forwarded-Proto"])
			assert.Equal(t, []string{tc.host}, e.Header["X-Forwarded-Host"])
			for k := range e.Header {
				assert.Regexp(t, `^[A-Za-z0-9-]+$`, k, "a header name that may alias another reached the app")
			}
			if _, ok := tc.header["X-Custom"]; !ok {
				return // not an attack
			}
			assert.Equal(t, []string{"kept"}, e.Header["X-Custom"], "other headers pass")
			for _, k := range spoofedOnly {
				if tc.spoofKept {
					assert.NotEmpty(t, e.Header[k], k)
				} else {
					assert.NotContains(t, e.Header, k)
				}
			}
		})
	}
}

func TestChainClient(t *testing.T) {
	rt, err := NewStatic(Config{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("::ffff:10.0.0.0/104"), netip.MustParsePrefix("fd00::/8"),
	}}, nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		xff     []string
		want    string
		garbage bool // the walk ends at an entry that is no address
	}{
		{name: "none", want: "10.0.0.1"},
		{name: "one", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "past the trusted", xff: []string{"198.51.100.1, 203.0.113.7, 10.2.2.2, 10.3.3.3"}, want: "203.0.113.7"},
		{name: "all trusted", xff: []string{"10.4.4.4, 10.3.3.3"}, want: "10.4.4.4"},
		{name: "with a port", xff: []string{"203.0.113.7:5555, 10.3.3.3"}, want: "203.0.113.7"},
		{name: "IPv4-mapped", xff: []string{"203.0.113.7, ::ffff:10.3.3.3"}, want: "203.0.113.7"},
		{name: "IPv6", xff: []string{"2001:db8::1, fd00::2"}, want: "2001:db8::1"},
		{name: "IPv6 with a port", xff: []string{"[2001:db8::1]:443"}, want: "2001:db8::1"},
		{name: "empty elements", xff: []string{" , 203.0.113.7 ,, "}, want: "203.0.113.7"},
		{name: "garbage ends the walk", xff: []string{"203.0.113.7, unknown, 10.3.3.3"}, want: "10.3.3.3", garbage: true},
		{name: "garbage first", xff: []string{"<script>"}, want: "10.0.0.1", garbage: true},
		{name: "a bad port", xff: []string{"203.0.113.7:x"}, want: "10.0.0.1", garbage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, rt.chainClient(tc.xff, "10.0.0.1"))
			if !tc.garbage {
				assert.Zero(t, testing.AllocsPerRun(10, func() { rt.chainClient(tc.xff, "10.0.0.1") }), "allocations")
			}
		})
	}
}

// TestProxySlowClients: a client slow to send its head, one that stops
// sending its body and one that stops reading its response are each cut
// off after the router's configured timeout (short here; minutes by
// default), and the app's request ends with them.
func TestProxySlowClients(t *testing.T) {
	uploadEnded := make(chan error, 1)
	downloadEnded := make(chan error, 1)
	chunk := []byte(strings.Repeat("x", 32<<10))
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			_, err := io.ReadAll(r.Body)
			uploadEnded <- err
		case "/download":
			for { // endless, until the router cuts the stream
				if _, err := w.Write(chunk); err != nil {
					downloadEnded <- err
					return
				}
			}
		}
	}))
	t.Cleanup(be.Close)
	const timeout = 300 * time.Millisecond
	tr := serveStatic(t, Config{ReadHeaderTimeout: timeout, BodyIdleTimeout: timeout, WriteTimeout: timeout},
		Route{Host: "app.test", Endpoints: []string{addrOf(be)}})
	ended := func(t *testing.T, ch <-chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(20 * time.Second):
			require.FailNow(t, "the app's request did not end")
			return nil
		}
	}

	t.Run("head", func(t *testing.T) {
		rc := h1test.Dial(t, tr.addr)
		rc.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ")
		rc.Closed(t)
	})

	t.Run("stalled body", func(t *testing.T) {
		rc := h1test.Dial(t, tr.addr)
		// More than the router buffers before it sends the app anything,
		// so that the app's request has begun; then the next byte never
		// comes.
		rc.Send(t, "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("b", 16<<10))
		assert.ErrorIs(t, ended(t, uploadEnded), io.ErrUnexpectedEOF, "the app sees its request cut")
		res, body := rc.Response(t, http.MethodPost)
		assert.Equal(t, http.StatusRequestTimeout, res.StatusCode)
		assert.Contains(t, body, "stopped coming")
		assert.True(t, res.Close, "Connection: close")
		rc.Closed(t)
		require.Eventually(t, func() bool { return strings.Contains(tr.logs.String(), "status=408") },
			5*time.Second, 10*time.Millisecond, "logged as 408; log: %s", tr.logs.String())
	})

	t.Run("stalled reader", func(t *testing.T) {
		rc := h1test.Dial(t, tr.addr)
		rc.Send(t, "GET /download HTTP/1.1\r\nHost: app.test\r\n\r\n")
		// The client reads nothing until the app's request has ended.
		assert.Error(t, ended(t, downloadEnded), "the app's writes fail once the router cuts the stream")
		// Then what the router sent before is there to read, and the
		// connection ends.
		_, err := io.Copy(io.Discard, rc.Reader)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return strings.Contains(tr.logs.String(), "status=499") },
			5*time.Second, 10*time.Millisecond, "logged as 499; log: %s", tr.logs.String())
	})
}

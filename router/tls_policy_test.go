package router

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/router/internal/route/routetest"
)

// httpsRouter is a router serving HTTPS on loopback for one host, with a
// certificate from a test CA, in front of backend.
type httpsRouter struct {
	addr string
	ca   *localstack.CA
}

// httpsSetup is what serveHTTPS makes, for its options to change before
// it starts: the app's server, its Ingress, and the objects of the fake
// cluster.
type httpsSetup struct {
	backend *httptest.Server
	ingress *networkingv1.Ingress
	objects []runtime.Object
}

func serveHTTPS(t testing.TB, hostname string, backend http.Handler, opts ...func(*httpsSetup)) httpsRouter {
	t.Helper()
	ca := localstack.NewCA(t)
	ing := routetest.Ingress("app", "web", "platform", hostname, time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)})
	ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "web-tls"}}
	s := &httpsSetup{backend: httptest.NewUnstartedServer(backend), ingress: ing}
	s.objects = []runtime.Object{
		routetest.Service("app", "web", corev1.ServicePort{Name: "http", Port: 80}),
		ing,
		ca.TLSSecret(t, "app", "web-tls", 1, hostname),
	}
	for _, o := range opts {
		o(s)
	}
	s.backend.Start()
	t.Cleanup(s.backend.Close)
	host, p, err := net.SplitHostPort(addrOf(s.backend))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	kube := fake.NewClientset(append(s.objects,
		routetest.Slice("app", "web-a", "web", discoveryv1.AddressTypeIPv4, int32(port), "http", routetest.Endpoint{IP: host}))...)
	rt := runFake(t, Config{TLS: true}, kube)
	addr := serveTLS(t, rt)
	require.Eventually(t, func() bool { return rt.certs.Load().lookup(hostname) != nil }, 10*time.Second, 10*time.Millisecond, "the certificate is installed")
	return httpsRouter{addr: addr, ca: ca}
}

// serveTLS serves rt's HTTPS on loopback until the test ends, and returns
// its address.
func serveTLS(t testing.TB, rt *Router) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- rt.ServeTLS(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-served)
	})
	return ln.Addr().String()
}

// handshake makes a TLS connection to the router for name with cfg (the
// CA's roots added) and returns its state.
func (h httpsRouter) handshake(name string, cfg *tls.Config) (tls.ConnectionState, error) {
	cfg = cfg.Clone()
	cfg.ServerName, cfg.RootCAs = name, h.ca.Pool
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	// A request and its whole answer: TLS 1.3 sends its session tickets
	// after the handshake, and they come before the answer.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+name+"\r\nConnection: close\r\n\r\n"); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := io.ReadAll(c); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}

// TestTLSPolicy checks what the router's HTTPS accepts: TLS 1.2 and 1.3
// only, forward-secret AEAD cipher suites only, and session resumption.
func TestTLSPolicy(t *testing.T) {
	h := serveHTTPS(t, "app.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		_, err := h.handshake("app.test", &tls.Config{MinVersion: v, MaxVersion: v})
		assert.Error(t, err, "%s is refused", tls.VersionName(v))
	}
	st, err := h.handshake("app.test", &tls.Config{MaxVersion: tls.VersionTLS12})
	require.NoError(t, err, "TLS 1.2 is served")
	assert.Equal(t, uint16(tls.VersionTLS12), st.Version)
	st, err = h.handshake("app.test", &tls.Config{})
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS13), st.Version, "TLS 1.3 when the client has it")

	// Weak suites for the test CA's ECDSA certificate: CBC and RC4.
	for _, suite := range []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
	} {
		_, err := h.handshake("app.test", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		assert.Error(t, err, "%s is refused", tls.CipherSuiteName(suite))
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		st, err := h.handshake("app.test", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if assert.NoError(t, err, "%s is served", tls.CipherSuiteName(suite)) {
			assert.Equal(t, suite, st.CipherSuite)
		}
	}

	// Session resumption, on both versions: a client that comes back
	// skips the full handshake.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := &tls.Config{MaxVersion: v, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		st, err := h.handshake("app.test", cfg)
		require.NoError(t, err)
		assert.False(t, st.DidResume)
		st, err = h.handshake("app.test", cfg)
		require.NoError(t, err)
		assert.True(t, st.DidResume, "%s resumes a session", tls.VersionName(v))
	}
}

// TestHTTPSWebSocket checks that a WebSocket works over the router's
// HTTPS (HTTP/1.1 upgrade within TLS), and that the app is told the
// client came over HTTPS.
func TestHTTPSWebSocket(t *testing.T) {
	var proto string
	h := serveHTTPS(t, "app.test", websocket.Handler(func(ws *websocket.Conn) {
		proto = ws.Request().Header.Get("X-Forwarded-Proto")
		_, _ = io.Copy(ws, ws)
	}))
	cfg, err := websocket.NewConfig("wss://app.test/ws", "https://app.test/")
	require.NoError(t, err)
	cfg.TlsConfig = &tls.Config{RootCAs: h.ca.Pool, ServerName: "app.test", NextProtos: []string{"http/1.1"}}
	c, err := tls.Dial("tcp", h.addr, cfg.TlsConfig)
	require.NoError(t, err)
	assert.Equal(t, "http/1.1", c.ConnectionState().NegotiatedProtocol)
	ws, err := websocket.NewClient(cfg, c)
	require.NoError(t, err)
	defer ws.Close()
	for _, msg := range []string{"hello", strings.Repeat("big ", 10000)} {
		require.NoError(t, websocket.Message.Send(ws, msg))
		var got strings.Builder
		for got.Len() < len(msg) {
			var frame string
			require.NoError(t, websocket.Message.Receive(ws, &frame))
			got.WriteString(frame)
		}
		assert.True(t, got.String() == msg, "echo of a %d-byte message", len(msg))
	}
	assert.Equal(t, "https", proto)
}

// TestHTTP2WithCurl checks HTTP/2 through the router with curl, a client
// other than Go's: ALPN h2, the app's answer, a POST body and the
// forwarded headers.
func TestHTTP2WithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is needed: apt-get install curl")
	h := serveHTTPS(t, "app.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-App", "yes")
		_, _ = io.WriteString(w, r.Method+" "+string(b)+" proto="+r.Header.Get("X-Forwarded-Proto")+" host="+r.Header.Get("X-Forwarded-Host"))
	}))
	caFile := t.TempDir() + "/ca.pem"
	require.NoError(t, os.WriteFile(caFile, h.ca.PEM(), 0o600))
	_, port, err := net.SplitHostPort(h.addr)
	require.NoError(t, err)
	out, err := exec.Command(curl, "--silent", "--show-error", "--http2", "--cacert", caFile,
		"--resolve", "app.test:"+port+":127.0.0.1", "--data", "over h2",
		"--write-out", "\n%{http_version} %{http_code}", "https://app.test:"+port+"/x").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "POST over h2 proto=https host=app.test:"+port+"\n2 200", string(out))
}

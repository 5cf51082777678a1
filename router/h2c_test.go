package router

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/platform-paas/platform/router/internal/route"
	"github.com/platform-paas/platform/router/internal/route/routetest"
)

// TestProxyH2C checks routes whose pods speak HTTP/2 without TLS, as gRPC
// servers do: the app gets HTTP/2 with the router's forwarded headers and
// the client's body as it streams; its answer streams back, with its
// trailers, to a client on HTTP/2 (and without them on HTTP/1.1); an
// endpoint that refuses connections is passed over.
func TestProxyH2C(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		fmt.Fprintf(w, "proto=%d te=%s xfp=%s xff=%s id=%t body=%s\n", r.ProtoMajor, r.Header.Get("Te"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Request-Id") != "", b)
		w.(http.Flusher).Flush()
		fmt.Fprint(w, "second message\n")
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		w.Header().Set(http.TrailerPrefix+"Grpc-Message", "fine")
	})
	refused := closedAddr(t)
	h := serveHTTPS(t, "grpc.test", app, func(s *httpsSetup) {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		s.backend.Config.Protocols = &p
		s.ingress.Annotations = map[string]string{route.BackendProtocolAnnotation: "h2c"}
		// An endpoint that refuses connections, beside the app's.
		host, port, err := net.SplitHostPort(refused)
		require.NoError(t, err)
		n, err := strconv.Atoi(port)
		require.NoError(t, err)
		s.objects = append(s.objects, routetest.Slice("app", "web-b", "web", discoveryv1.AddressTypeIPv4, int32(n), "http", routetest.Endpoint{IP: host}))
	})
	client := func(protos ...string) *http.Client {
		return &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: h.ca.Pool, NextProtos: protos},
			ForceAttemptHTTP2: len(protos) == 0 || protos[0] == "h2",
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", h.addr)
			},
		}}
	}

	for i := 0; i < 4; i++ { // round-robin meets the refusing endpoint
		req, err := http.NewRequest(http.MethodPost, "https://grpc.test/pkg.Service/Method", io.NopCloser(strings.NewReader("a request")))
		require.NoError(t, err)
		req.Header.Set("Te", "trailers")
		req.Header.Set("X-Forwarded-For", "203.0.113.9") // the client's claim, not believed
		res, err := client("h2").Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, res.StatusCode, string(b))
		assert.Equal(t, "HTTP/2.0", res.Proto)
		assert.Equal(t, "proto=2 te=trailers xfp=https xff=127.0.0.1 id=true body=a request\nsecond message\n", string(b))
		assert.Equal(t, "application/grpc", res.Header.Get("Content-Type"))
		assert.Equal(t, "0", res.Trailer.Get("Grpc-Status"), "the app's trailers reach an HTTP/2 client")
		assert.Equal(t, "fine", res.Trailer.Get("Grpc-Message"))
	}

	res, err := client("http/1.1").Get("https://grpc.test/")
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1", res.Proto)
	assert.Equal(t, "proto=2 te= xfp=https xff=127.0.0.1 id=true body=\nsecond message\n", string(b), "an HTTP/1.1 client gets the body")
}

// TestProxyH2CTimeout checks that an h2c app that does not answer within
// the request timeout gets the client a 504, and one whose pods are all
// gone a 502.
func TestProxyH2CTimeout(t *testing.T) {
	be := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	tr := serveStatic(t, Config{RequestTimeout: 300 * time.Millisecond}, Route{Host: "slow.test", Endpoints: []string{be}, H2C: true},
		Route{Host: "gone.test", Endpoints: []string{closedAddr(t)}, H2C: true})
	res := tr.do(t, http.MethodGet, "slow.test", "/", nil, nil)
	assert.Equal(t, http.StatusGatewayTimeout, res.StatusCode, readAll(t, res))
	res = tr.do(t, http.MethodGet, "gone.test", "/", nil, nil)
	assert.Equal(t, http.StatusBadGateway, res.StatusCode, readAll(t, res))
}

// newH2CServer serves h on loopback over HTTP/2 without TLS, and returns
// its address.
func newH2CServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

package router

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/router/routertest"
)

// The benchmarks compare a request straight to a loopback backend
// (BenchmarkDirect) with the same request through the router as it runs
// (BenchmarkProxy: Serve, the router's own server), through the router's
// handler under net/http's server (BenchmarkProxyNetHTTP) and through
// net/http/httputil's ReverseProxy with a tuned transport
// (BenchmarkReverseProxy), all in one process and saturated (8 clients per
// CPU), so that ns/op is CPU time per request and the difference to Direct
// is the proxy's. The clients are raw keep-alive connections that allocate
// nothing, so allocs/op are the servers'. BenchmarkServeHTTP measures the
// handler alone. BenchmarkProxyHTTP2 is the router's HTTPS server with
// HTTP/2 clients (net/http's, whose allocations it counts too).
//
//	go test -run '^$' -bench . -benchmem ./router/

var benchBody = []byte("hello from the backend\n")

func benchBackend(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		_, _ = w.Write(benchBody)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func BenchmarkDirect(b *testing.B) {
	be := benchBackend(b)
	benchGet(b, be.Listener.Addr().String())
}

func BenchmarkProxy(b *testing.B) {
	benchGet(b, serveRouter(b, benchRouter(b)))
}

func BenchmarkProxyNetHTTP(b *testing.B) {
	benchServe(b, benchRouter(b))
}

// benchRouter is a router without access log in front of a benchBackend.
func benchRouter(b *testing.B) *Router {
	be := benchBackend(b)
	rt, err := NewStatic(Config{DisableAccessLog: true},
		[]Route{{Host: "app.test", Endpoints: []string{be.Listener.Addr().String()}}})
	require.NoError(b, err)
	return rt
}

func BenchmarkReverseProxy(b *testing.B) {
	be := benchBackend(b)
	u, err := url.Parse(be.URL)
	require.NoError(b, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}
	benchServe(b, rp)
}

// benchServe serves h on loopback with net/http's server and runs
// benchGet against it.
func benchServe(b *testing.B, h http.Handler) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	b.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	benchGet(b, ln.Addr().String())
}

// benchGet runs GETs in parallel, one keep-alive connection per goroutine.
func benchGet(b *testing.B, addr string) {
	req := []byte("GET /some/path?q=1 HTTP/1.1\r\nHost: app.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if err := routertest.RawGet(c, br, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkServeHTTP calls the handler directly with a reused request and
// a minimal ResponseWriter: its allocs/op are the router's own.
func BenchmarkServeHTTP(b *testing.B) {
	rt := benchRouter(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "http://app.test/some/path?q=1", nil)
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			clear(w.h)
			rt.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }

// BenchmarkProxyAccessLog is BenchmarkProxy as platformd runs the router:
// the access log on, written by slog's text handler to a file (as
// platformd's to its stderr), and the metrics registered.
func BenchmarkProxyAccessLog(b *testing.B) {
	be := benchBackend(b)
	f, err := os.CreateTemp(b.TempDir(), "access-*.log")
	require.NoError(b, err)
	b.Cleanup(func() { _ = f.Close() })
	log := slog.New(slog.NewTextHandler(f, nil)).With("component", "router")
	rt, err := NewStatic(Config{Logger: log, Metrics: prometheus.NewRegistry()},
		[]Route{{Host: "app.test", Endpoints: []string{be.Listener.Addr().String()}}})
	require.NoError(b, err)
	benchGet(b, serveRouter(b, rt))
}

// BenchmarkProxyHTTP2 is BenchmarkProxy over TLS with HTTP/2: net/http's
// client on a few connections, many streams on each, as h2load drives
// the deployed router.
func BenchmarkProxyHTTP2(b *testing.B) {
	hr := serveHTTPS(b, "app.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		_, _ = w.Write(benchBody)
	}))
	roots := x509.NewCertPool()
	require.True(b, roots.AppendCertsFromPEM(hr.ca.PEM()))
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "app.test"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, hr.addr)
		},
	}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get("https://app.test/some/path?q=1")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK {
				b.Errorf("%s %d", res.Proto, res.StatusCode)
				return
			}
		}
	})
}

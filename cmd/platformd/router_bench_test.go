package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/cmd/platformd/internal/logwriter"
	"github.com/platform-paas/platform/router"
	"github.com/platform-paas/platform/router/routertest"
)

// BenchmarkRouterAsDeployed is the router as router mode runs it, in one
// process: platformd's logger (its text format over its log writer, to a
// file) with the access log on, platformd's metrics registry, and the
// router's own server, proxying keep-alive GETs from 64 clients to a
// loopback backend. ns/op is CPU time a request of the router, the
// backend and the clients together; allocs/op counts all three (the
// clients allocate nothing). For a count that other load on the machine
// does not move, run its test binary under callgrind:
//
//	go test -c -o /tmp/platformd.test ./cmd/platformd
//	GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind /tmp/platformd.test \
//	  -test.run '^$' -test.bench RouterAsDeployed -test.benchtime 20000x
func BenchmarkRouterAsDeployed(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		_, _ = io.WriteString(w, "hello from the backend\n")
	}))
	b.Cleanup(backend.Close)

	f, err := os.Create(filepath.Join(b.TempDir(), "platformd.log"))
	require.NoError(b, err)
	logw := logwriter.New(f, logwriter.Config{})
	b.Cleanup(func() {
		_ = logw.Close()
		_ = f.Close()
	})
	log := newLogger(logw, logConfig{Level: slog.LevelInfo, Format: "text"})
	metrics, err := newMetrics()
	require.NoError(b, err)
	rt, err := router.NewStatic(router.Config{Logger: log.With("component", "router"), Metrics: metrics},
		[]router.Route{{Host: "app.test", Endpoints: []string{strings.TrimPrefix(backend.URL, "http://")}}})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- rt.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		require.NoError(b, <-served)
	})

	req := []byte("GET /some/path?q=1 HTTP/1.1\r\nHost: app.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.SetParallelism(32) // 64 clients on 2 CPUs, as the deployed bench's wrk
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
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
	b.StopTimer()
	logw.Flush()
	st, err := f.Stat()
	require.NoError(b, err)
	require.NotZero(b, st.Size(), "no access log written")
}

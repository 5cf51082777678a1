// Command bench is the router's benchmark kit, run by nginx-compare.sh: a
// tiny backend, the router on a static table in front of it, and a
// fixed-rate load generator that measures latency percentiles (wrk
// measures throughput).
//
//	bench backend -addr 127.0.0.1:18080
//	bench router -addr 127.0.0.1:18082 -backend 127.0.0.1:18080
//	bench load -url http://127.0.0.1:18082/ -rate 2000 -duration 10s
//	bench load -url https://localhost:18083/ -rate 2000 -duration 10s
//
// It is a tool, not part of platformd.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/platform-paas/platform/router"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: bench backend|router|load [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "backend":
		addr := fs.String("addr", "127.0.0.1:18080", "listen address")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return serveBackend(ctx, *addr)
	case "router":
		addr := fs.String("addr", "127.0.0.1:18082", "listen address")
		backend := fs.String("backend", "127.0.0.1:18080", "backend address")
		profile := fs.String("cpuprofile", "", "write a CPU profile of the router to this file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *profile != "" {
			f, err := os.Create(*profile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		return serveRouter(ctx, *addr, *backend)
	case "load":
		u := fs.String("url", "", "URL to load")
		host := fs.String("host", "", "Host header (default: the URL's)")
		rate := fs.Int("rate", 2000, "requests per second")
		d := fs.Duration("duration", 10*time.Second, "how long")
		conns := fs.Int("conns", 32, "keep-alive connections")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return load(ctx, stdout, *u, *host, *rate, *d, *conns)
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// serveBackend answers every request with a small text body, like a
// minimal app.
func serveBackend(ctx context.Context, addr string) error {
	body := []byte("hello from the backend\n")
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		_, _ = w.Write(body)
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func serveRouter(ctx context.Context, addr, backend string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := router.NewStatic(router.Config{Logger: log, DisableAccessLog: true},
		[]router.Route{{Path: "/", Endpoints: []string{backend}}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() { _ = rt.Run(ctx) }()
	return rt.Serve(ctx, ln)
}

// load sends GETs at a fixed rate over conns keep-alive connections and
// prints latency percentiles. Latency counts from when a request was due,
// not when it was sent, so a stall is not hidden (no coordinated omission).
func load(ctx context.Context, stdout io.Writer, rawURL, host string, rate int, d time.Duration, conns int) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad -url %q", rawURL)
	}
	if host == "" {
		host = u.Host
	}
	path := u.RequestURI()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\n\r\n")

	n := int(d.Seconds() * float64(rate))
	due := make(chan time.Time, n)
	var (
		mu    sync.Mutex
		lat   = make([]time.Duration, 0, n)
		fails int
	)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			for t := range due {
				if c == nil {
					nc, err := dial(u)
					if err != nil {
						mu.Lock()
						fails++
						mu.Unlock()
						continue
					}
					c, br = nc, bufio.NewReader(nc)
				}
				if err := roundTrip(c, br, req); err != nil {
					_ = c.Close()
					c = nil
					mu.Lock()
					fails++
					mu.Unlock()
					continue
				}
				l := time.Since(t)
				mu.Lock()
				lat = append(lat, l)
				mu.Unlock()
			}
			if c != nil {
				_ = c.Close()
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range n {
		t := start.Add(time.Duration(i) * interval)
		if w := time.Until(t); w > 0 {
			select {
			case <-time.After(w):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		due <- t
	}
	close(due)
	wg.Wait()
	if len(lat) == 0 {
		return fmt.Errorf("no successful request (%d failed)", fails)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(stdout, "requests %d failed %d rate %d/s p50 %v p90 %v p99 %v p99.9 %v max %v\n",
		len(lat), fails, rate, pct(.5), pct(.9), pct(.99), pct(.999), lat[len(lat)-1])
	return nil
}

// dial connects to u's host, with TLS for https (the server's
// certificate is not checked: the benchmark makes its own).
func dial(u *url.URL) (net.Conn, error) {
	if u.Scheme != "https" {
		return net.Dial("tcp", u.Host)
	}
	return tls.Dial("tcp", u.Host, &tls.Config{
		ServerName:         u.Hostname(),
		InsecureSkipVerify: true,
		NextProtos:         []string{"http/1.1"},
	})
}

// roundTrip sends req and reads a response with a Content-Length body.
func roundTrip(c net.Conn, br *bufio.Reader, req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(line), "HTTP/1.1 200") {
		return fmt.Errorf("status %q", strings.TrimSpace(string(line)))
	}
	cl := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		s := strings.TrimSpace(string(line))
		if s == "" {
			break
		}
		if k, v, ok := strings.Cut(s, ":"); ok && strings.EqualFold(k, "Content-Length") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if cl < 0 {
		return errors.New("no content-length")
	}
	_, err = br.Discard(cl)
	return err
}

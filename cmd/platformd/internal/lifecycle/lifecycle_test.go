package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// freeAddrs returns n loopback addresses that were free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	// Below the kernel's range for outgoing connections (32768 and up),
	// so that another test's connection cannot take a port between this
	// check and Run's listen, as it can one that listening on :0 gave.
	// (deploy/localstack.FreeAddr does the same; this package's leak
	// check keeps its imports few.)
	addrs := make([]string, n)
	for i := range addrs {
		for addrs[i] == "" {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
			if ln, err := net.Listen("tcp", addr); err == nil {
				require.NoError(t, ln.Close())
				addrs[i] = addr
			}
		}
	}
	return addrs
}

func testConfig(logs io.Writer, timeout time.Duration) Config {
	return Config{ShutdownTimeout: timeout, Logger: slog.New(slog.NewTextHandler(logs, nil))}
}

// hello is an HTTP server answering "hello".
func hello() *http.Server {
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "hello")
		}),
		ReadHeaderTimeout: time.Second,
	}
}

// untilDone serves ln with h until ctx is done, as the router's and the
// registry's Serve do, and reports the context it got on ctxs.
func untilDone(h http.Handler, ctxs chan<- context.Context) func(context.Context, net.Listener) error {
	return func(ctx context.Context, ln net.Listener) error {
		if ctxs != nil {
			ctxs <- ctx
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		err := srv.Shutdown(context.WithoutCancel(ctx))
		<-errc
		return err
	}
}

// start runs Run in the background; wait cancels it and returns its error.
func start(t *testing.T, cfg Config, services ...Service) (wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, services...) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10s of cancel")
			return nil
		}
	}
}

// eventuallyGet waits for u to answer and returns its body.
func eventuallyGet(t *testing.T, u string) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond)
	return body
}

func assertClosed(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "%s is free again", addr)
	require.NoError(t, ln.Close())
}

func TestRunServesUntilCanceled(t *testing.T) {
	// The handler serializes its writes; the buffer is read once Run has
	// returned.
	var logs bytes.Buffer
	addrs := freeAddrs(t, 2)
	a, b := addrs[0], addrs[1]
	ctxs := make(chan context.Context, 1)
	wait := start(t, testConfig(&logs, 5*time.Second),
		Service{Name: "api", Addr: a, Server: hello()},
		Service{Name: "edge", Addr: b, Server: ServeContext(untilDone(hello().Handler, ctxs))},
	)

	assert.Equal(t, "hello", eventuallyGet(t, "http://"+a))
	assert.Equal(t, "hello", eventuallyGet(t, "http://"+b))
	serveCtx := <-ctxs
	require.NoError(t, serveCtx.Err(), "the server's context lives while it serves")

	require.NoError(t, wait())
	assert.Error(t, serveCtx.Err(), "stopping cancels the server's context")
	assertClosed(t, a)
	assertClosed(t, b)
	for _, want := range []string{
		"msg=listening component=lifecycle server=api addr=" + a,
		"msg=listening component=lifecycle server=edge addr=" + b,
		`msg="shutting down" component=lifecycle server=api timeout=5s`,
		`msg="shutting down" component=lifecycle server=edge timeout=5s`,
		`msg="shut down" component=lifecycle server=api duration=`,
		`msg="shut down" component=lifecycle server=edge duration=`,
	} {
		assert.Contains(t, logs.String(), want)
	}
}

func TestRunListenFailureClosesWhatItOpened(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	a := freeAddrs(t, 1)[0]

	err = Run(context.Background(), testConfig(io.Discard, time.Second),
		Service{Name: "api", Addr: a, Server: hello()},
		Service{Name: "registry", Addr: busy.Addr().String(), Server: hello()},
	)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listening for registry")
	assertClosed(t, a)
}

func TestRunOneFailureStopsAll(t *testing.T) {
	addrs := freeAddrs(t, 2)
	a, b := addrs[0], addrs[1]
	boom := errors.New("boom")
	release := make(chan struct{})
	failing := ServeContext(func(ctx context.Context, ln net.Listener) error {
		defer ln.Close()
		select {
		case <-release:
			return boom
		case <-ctx.Done():
			return nil
		}
	})
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), testConfig(io.Discard, 5*time.Second),
			Service{Name: "api", Addr: a, Server: hello()},
			Service{Name: "git", Addr: b, Server: failing},
		)
	}()
	eventuallyGet(t, "http://"+a)
	close(release)

	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "serving git")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after a server failed")
	}
	assertClosed(t, a)
	assertClosed(t, b)
}

func TestRunServerThatStopsOnItsOwnIsAFailure(t *testing.T) {
	a := freeAddrs(t, 1)[0]
	quits := ServeContext(func(_ context.Context, ln net.Listener) error { return ln.Close() })
	err := Run(context.Background(), testConfig(io.Discard, time.Second), Service{Name: "router", Addr: a, Server: quits})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "serving router: stopped on its own")
}

// TestRunCutsAtTheDeadline checks that a request still running at the
// shutdown deadline is cut, and that Run says so.
func TestRunCutsAtTheDeadline(t *testing.T) {
	a := freeAddrs(t, 1)[0]
	entered := make(chan struct{})
	slow := hello()
	slow.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-r.Context().Done() // when Close cuts the connection
		}
	})
	wait := start(t, testConfig(io.Discard, 200*time.Millisecond), Service{Name: "api", Addr: a, Server: slow})
	eventuallyGet(t, "http://"+a)
	reqErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + a + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		reqErr <- err
	}()
	<-entered

	began := time.Now()
	err := wait()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "shutting down api")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 5*time.Second)
	assert.Error(t, <-reqErr, "the request in flight was cut")
	assertClosed(t, a)
}

func TestRunConfig(t *testing.T) {
	err := Run(context.Background(), Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "shutdown timeout must be positive")
	assert.Contains(t, err.Error(), "logger is required")
}

// TestShutdownBeforeServe checks the order the errgroup may pick: after
// a Shutdown that came first, Serve returns at once.
func TestShutdownBeforeServe(t *testing.T) {
	s := ServeContext(untilDone(http.NotFoundHandler(), nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.Shutdown(expired), context.Canceled, "Serve has not returned")
	require.NoError(t, s.Serve(ln))
	require.NoError(t, s.Shutdown(context.Background()))
	assertClosed(t, ln.Addr().String())
}

// Package lifecycle runs a process's network servers as one: it opens the
// listener of each, serves them all under one errgroup, and when the
// context ends or one of them fails it shuts them all down with one fresh
// deadline, logs each step per server and returns the first real error.
// Every listener it opens is closed by the time Run returns, whatever the
// path.
//
// It owns no protocol: an *http.Server plugs in as a Server as it is, and
// a server that serves until its context is done (the router's, the
// registry's, the git receiver's) through ServeContext. It imports nothing
// of the platform's.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Server is a server that Run drives on a listener it opened.
// *http.Server is one.
type Server interface {
	// Serve accepts connections on ln until Shutdown or Close, then
	// returns; nil and http.ErrServerClosed both mean it was stopped.
	// It may close ln; Run closes it too.
	Serve(ln net.Listener) error
	// Shutdown stops accepting and waits for the work in flight until ctx
	// is done. It may be called before Serve, which must then return at
	// once.
	Shutdown(ctx context.Context) error
	// Close cuts what Shutdown did not finish by its deadline.
	Close() error
}

var _ Server = (*http.Server)(nil)

// Service is one named server and where it listens.
type Service struct {
	// Name says which server it is in logs and errors: "http", "router".
	Name string
	// Addr is the TCP address Run listens on, host:port.
	Addr string
	// Server serves the listener.
	Server Server
}

// Config configures Run.
type Config struct {
	// ShutdownTimeout is how long the servers get, together, to finish
	// their work in flight once stopping; what is left is then cut.
	// Required.
	ShutdownTimeout time.Duration
	// Logger receives a record per server when it listens, when it starts
	// shutting down and when it has shut down. Required.
	Logger *slog.Logger
}

func (c Config) validate() error {
	var errs []error
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("lifecycle: shutdown timeout must be positive"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("lifecycle: logger is required"))
	}
	return errors.Join(errs...)
}

// Run listens on the address of every service, then serves them all until
// ctx is done or one of them fails, and then shuts every one down with a
// deadline of cfg.ShutdownTimeout from then, cutting (Close) those that
// have not finished by it. It returns when every Serve has returned: nil
// if ctx ended and everything stopped in time, or else the first error:
// "listening for <name>: ..." when a listener could not be opened (and
// nothing was served), "serving <name>: ..." when a server failed,
// "shutting down <name>: ..." when one did not stop by the deadline.
func Run(ctx context.Context, cfg Config, services ...Service) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("component", "lifecycle")

	lns, err := listen(services)
	if err != nil {
		return err
	}
	// Servers close their listeners when they stop; this covers the paths
	// where one never got to serve.
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()

	g, gctx := errgroup.WithContext(ctx)
	for i, svc := range services {
		g.Go(func() error { return serve(gctx, svc, lns[i], log) })
	}
	g.Go(func() error {
		<-gctx.Done()
		return shutdown(ctx, cfg.ShutdownTimeout, services, log)
	})
	return g.Wait()
}

// listen opens the listener of every service, or none.
func listen(services []Service) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, len(services))
	for _, svc := range services {
		ln, err := net.Listen("tcp", svc.Addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listening for %s: %w", svc.Name, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// serve runs one service's Serve. Its return is a failure unless the
// group is stopping (ctx is done) and it says it was stopped.
func serve(ctx context.Context, svc Service, ln net.Listener, log *slog.Logger) error {
	log.Info("listening", "server", svc.Name, "addr", ln.Addr().String())
	err := svc.Server.Serve(ln)
	stopped := err == nil || errors.Is(err, http.ErrServerClosed)
	switch {
	case stopped && ctx.Err() != nil:
		return nil
	case stopped:
		return fmt.Errorf("serving %s: stopped on its own", svc.Name)
	default:
		return fmt.Errorf("serving %s: %w", svc.Name, err)
	}
}

// shutdown shuts every service down at once, within timeout from now: a
// fresh deadline, as ctx is done or about to be. It returns the first
// error.
func shutdown(ctx context.Context, timeout time.Duration, services []Service, log *slog.Logger) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	errs := make([]error, len(services))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() {
			log.Info("shutting down", "server", svc.Name, "timeout", timeout)
			start := time.Now()
			if err := svc.Server.Shutdown(sctx); err != nil {
				_ = svc.Server.Close()
				errs[i] = fmt.Errorf("shutting down %s: %w", svc.Name, err)
				return
			}
			log.Info("shut down", "server", svc.Name, "duration", time.Since(start))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ServeContext makes a Server of serve, a server that serves ln until its
// context is done and then shuts itself down, within a timeout of its own,
// and returns: the router's, the registry's and the git receiver's Serve.
// Give it the same timeout as Config.ShutdownTimeout. Shutdown cancels
// serve's context and waits for serve to return until its own ctx is
// done; Close does nothing more, as serve cuts what is left by its own
// deadline. The context serve gets carries no values.
func ServeContext(serve func(ctx context.Context, ln net.Listener) error) Server {
	return &ctxServer{serve: serve, stop: make(chan struct{}), done: make(chan struct{})}
}

type ctxServer struct {
	serve    func(context.Context, net.Listener) error
	stop     chan struct{} // closed by the first Shutdown
	stopOnce sync.Once
	done     chan struct{} // closed when Serve returns
}

func (s *ctxServer) Serve(ln net.Listener) error {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return s.serve(ctx, ln)
}

func (s *ctxServer) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *ctxServer) Close() error { return nil }

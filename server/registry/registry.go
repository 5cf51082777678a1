// Package registry embeds an OCI distribution registry in platformd.
//
// It owns serving the registry that builds push app images to and that the
// cluster pulls them from, with image storage on the local filesystem under
// the data directory. It uses the distribution/distribution library (the
// code behind the "registry" image) as a library, with deletes enabled so
// that app images can be removed when an app is.
//
// The registry has no authentication: it refuses to serve on anything but
// a loopback address, so only processes on this machine (BuildKit, the
// kubelet's container runtime) can reach it. Serving it to a network needs
// token auth first.
//
// The library logs through logrus's process-wide standard logger, which
// this package leaves alone; the binary decides where that goes.
package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"

	// The filesystem storage driver registers itself with the library.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Config configures a Registry.
type Config struct {
	// RootDir is where blobs and manifests are stored; it is created with
	// mode 0700 if missing. Required.
	RootDir string
	// Logger receives the server's own messages. Required.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Serve waits for requests in flight
	// once its context is done. Zero means 10s.
	ShutdownTimeout time.Duration
}

const defaultShutdownTimeout = 10 * time.Second

func (c *Config) validate() error {
	var errs []error
	if c.RootDir == "" {
		errs = append(errs, errors.New("registry root directory is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("registry logger is required"))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("registry shutdown timeout must not be negative"))
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	return errors.Join(errs...)
}

// Registry is an OCI registry backed by a directory. Serve it once; Ping
// is safe for concurrent use.
type Registry struct {
	app             *handlers.App
	log             *slog.Logger
	shutdownTimeout time.Duration
	client          *http.Client
	root            string // the filesystem storage's root directory

	mu   sync.Mutex
	addr string // where Serve listens; empty until it does

	closeOnce sync.Once
}

// New returns a Registry storing under cfg.RootDir. It does not listen:
// Serve does.
func New(cfg Config) (*Registry, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.RootDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating registry storage directory: %w", err)
	}
	app, err := newApp(libraryConfig(cfg.RootDir))
	if err != nil {
		return nil, err
	}
	return &Registry{
		app:             app,
		log:             cfg.Logger,
		shutdownTimeout: cfg.ShutdownTimeout,
		client:          &http.Client{Timeout: 5 * time.Second},
		root:            cfg.RootDir,
	}, nil
}

// libraryConfig is what the library would read from its config.yml; it is
// built here so that no REGISTRY_* environment variable or file changes it.
func libraryConfig(root string) *configuration.Configuration {
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": root},
			"delete":     configuration.Parameters{"enabled": true},
			// Redirects are a cloud-storage feature; the filesystem
			// driver serves blobs itself.
			"redirect": configuration.Parameters{"disable": true},
		},
	}
	// Upload state is signed with this secret. One instance serves the
	// registry, so a fresh one per start only abandons uploads that were
	// in flight across a restart.
	cfg.HTTP.Secret = rand.Text()
	cfg.HTTP.Headers = http.Header{"X-Content-Type-Options": []string{"nosniff"}}
	cfg.Catalog.MaxEntries = 1000
	cfg.Tags.MaxTags = 1000
	cfg.Log.AccessLog.Disabled = true
	return cfg
}

// newApp turns the library's panics on bad configuration into an error.
func newApp(cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("configuring registry: %v", r)
		}
	}()
	// The app keeps this context for background work (the upload purger)
	// until Shutdown cancels it.
	return handlers.NewApp(context.Background(), cfg), nil
}

// Serve serves the registry's HTTP API on ln until ctx is done, then shuts
// down gracefully within the configured timeout and returns nil. It closes
// ln. ln must be a loopback listener: the registry has no authentication.
func (r *Registry) Serve(ctx context.Context, ln net.Listener) error {
	defer r.Close()
	if !isLoopback(ln.Addr()) {
		_ = ln.Close()
		return fmt.Errorf("refusing to serve the registry on %s: it has no authentication and serves loopback only", ln.Addr())
	}
	srv := &http.Server{
		Handler:           r.app,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
		// Blob uploads stream for as long as they need: no write timeout.
	}

	r.mu.Lock()
	r.addr = ln.Addr().String()
	r.mu.Unlock()
	r.log.Info("registry listening", "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serving registry: %w", err)
	case <-ctx.Done():
	}
	// A fresh deadline: ctx is already done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutting down registry: %w", err)
	}
	return nil
}

// Close stops the registry's background work. Serve calls it on return;
// call it when a Registry is made but never served. It is idempotent.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		if err := r.app.Shutdown(); err != nil {
			r.log.Warn("stopping registry", "err", err)
		}
	})
}

// Ping reports whether the registry answers GET /v2/ where Serve listens.
func (r *Registry) Ping(ctx context.Context) error {
	r.mu.Lock()
	addr := r.addr
	r.mu.Unlock()
	if addr == "" {
		return errors.New("registry is not serving")
	}
	return Ping(ctx, r.client, addr)
}

// Ping reports whether the registry at addr (host:port, plain HTTP)
// answers GET /v2/ with 200, as a registry without auth does.
func Ping(ctx context.Context, client *http.Client, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("building registry ping: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("pinging registry: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pinging registry: GET /v2/ answered %s", resp.Status)
	}
	return nil
}

// IsLoopback reports whether the host of a host:port listen address is a
// loopback IP or "localhost".
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isLoopback(a net.Addr) bool {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	return IsLoopback(a.String())
}

// repoNameRE is a repository name this registry deletes: lower-case path
// components of letters and digits, separated by '.', '_' or '-' runs,
// joined by '/'. It is stricter than the distribution spec's grammar.
var repoNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)

// DeleteRepository removes the repository name (such as acme/shop) with
// all its tags and manifests, so that none of its images is served any
// more. A repository that does not exist is not an error.
//
// Only the repository's links are removed: its blobs stay on disk until a
// registry garbage collection (registry garbage-collect, run while the
// registry does not serve) finds them unreferenced.
func (r *Registry) DeleteRepository(name string) error {
	if len(name) > 255 || !repoNameRE.MatchString(name) {
		return fmt.Errorf("deleting registry repository: invalid name %q", name)
	}
	dir := filepath.Join(r.root, "docker", "registry", "v2", "repositories", filepath.FromSlash(name))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("deleting registry repository %s: %w", name, err)
	}
	return nil
}

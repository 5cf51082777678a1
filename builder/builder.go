// Package builder turns an app's source into an OCI image.
//
// It owns stack detection (Dockerfile, Go, Node, Python, static, ...),
// Procfile parsing, the build cache and driving BuildKit through its Go
// client; those arrive in the next issues. For now it only connects to
// BuildKit and reports whether BuildKit is usable.
//
// The package imports nothing of ours and no BuildKit type crosses its
// boundary: callers hand in plain values and get plain values back.
package builder

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	bkclient "github.com/moby/buildkit/client"
)

// Config configures a Builder.
type Config struct {
	// Addr is the address of the BuildKit daemon, as buildctl's --addr
	// takes it: unix:///run/buildkit/buildkitd.sock, tcp://127.0.0.1:1234,
	// docker-container://name, ... Required.
	Addr string
}

func (c Config) validate() error {
	if c.Addr == "" {
		return errors.New("buildkit address is required")
	}
	u, err := url.Parse(c.Addr)
	if err != nil {
		return fmt.Errorf("parsing buildkit address: %w", err)
	}
	switch u.Scheme {
	case "":
		return fmt.Errorf("buildkit address %q has no scheme (want unix://, tcp://, ...)", c.Addr)
	case "unix":
		if u.Path == "" && u.Host == "" {
			return fmt.Errorf("buildkit address %q has no socket path", c.Addr)
		}
	case "tcp":
		if u.Host == "" || u.Port() == "" {
			return fmt.Errorf("buildkit address %q wants tcp://host:port", c.Addr)
		}
	}
	return nil
}

// Builder drives image builds on one BuildKit daemon. It is safe for
// concurrent use.
type Builder struct {
	client *bkclient.Client
}

// New returns a Builder for the daemon at cfg.Addr. It does not wait for
// the daemon: the connection is made lazily and Ping tells whether it is
// usable.
func New(cfg Config) (*Builder, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// The context only seeds tracing: client.New does not block on it.
	c, err := bkclient.New(context.Background(), cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("creating buildkit client for %s: %w", cfg.Addr, err)
	}
	return &Builder{client: c}, nil
}

// Ping reports whether BuildKit answers and has at least one worker to
// build on.
func (b *Builder) Ping(ctx context.Context) error {
	workers, err := b.client.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("listing buildkit workers: %w", err)
	}
	if len(workers) == 0 {
		return errors.New("buildkit has no workers")
	}
	return nil
}

// Close releases the connection to BuildKit.
func (b *Builder) Close() error {
	if err := b.client.Close(); err != nil {
		return fmt.Errorf("closing buildkit client: %w", err)
	}
	return nil
}

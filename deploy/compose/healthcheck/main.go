// Command healthcheck is the health check of the docker-compose.yml's
// containers, whose images may have no shell or HTTP client: it exits 0
// when its target answers, else 1 with the reason on standard error. A
// target is an http:// URL, which must answer 2xx, or tcp://HOST:PORT,
// which must accept a connection.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// run checks every target in turn, each within timeout.
func run(ctx context.Context, targets []string) error {
	const timeout = 5 * time.Second
	if len(targets) == 0 {
		return errors.New("usage: healthcheck http://HOST:PORT/PATH | tcp://HOST:PORT ...")
	}
	for _, t := range targets {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		err := check(ctx, t)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func check(ctx context.Context, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("%q: %w", target, err)
	}
	switch u.Scheme {
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("%s answered %s: %s", target, res.Status, body)
		}
		return nil
	case "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return err
		}
		return c.Close()
	default:
		return fmt.Errorf("%q: the target is an http:// URL or tcp://HOST:PORT", target)
	}
}

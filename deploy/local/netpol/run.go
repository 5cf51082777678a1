package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// config is netpol's configuration, from flags and, for a flag not given,
// its environment variable.
type config struct {
	Kubeconfig string
	Net        network
	// HealthAddr is the loopback address /healthz is served on; empty
	// serves none.
	HealthAddr string
	Debounce   time.Duration
	Resync     time.Duration
	Cleanup    bool
	LogLevel   slog.Level
}

// loadConfig reads and validates the configuration.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("netpol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var podCIDR, nodeIP, level string
	fs.StringVar(&c.Kubeconfig, "kubeconfig", env("KUBECONFIG", ""), "kubeconfig file of the cluster (env KUBECONFIG)")
	fs.StringVar(&c.Net.Bridge, "bridge", env("PLATFORM_NETPOL_BRIDGE", "plat0"), "the Linux bridge the pods are on (env PLATFORM_NETPOL_BRIDGE)")
	fs.StringVar(&podCIDR, "pod-cidr", env("PLATFORM_NETPOL_POD_CIDR", ""), "the pod network, an IPv4 prefix; required (env PLATFORM_NETPOL_POD_CIDR)")
	fs.StringVar(&nodeIP, "node-ip", env("PLATFORM_NETPOL_NODE_IP", ""), "the node's address on the bridge, which host-network pods report; never a pod's (env PLATFORM_NETPOL_NODE_IP)")
	fs.StringVar(&c.HealthAddr, "health-addr", env("PLATFORM_NETPOL_HEALTH_ADDR", "127.0.0.1:7890"), "loopback host:port serving GET /healthz, 200 once rules are applied; empty for none (env PLATFORM_NETPOL_HEALTH_ADDR)")
	fs.DurationVar(&c.Debounce, "debounce", 100*time.Millisecond, "how long after a change the rules are recomputed; changes in between join it")
	fs.DurationVar(&c.Resync, "resync", 30*time.Second, "how often the rules are applied even without a change, repairing what someone else changed")
	fs.BoolVar(&c.Cleanup, "cleanup", false, "remove every chain and jump netpol installed, and exit")
	fs.StringVar(&level, "log-level", env("PLATFORM_NETPOL_LOG_LEVEL", "info"), "debug, info, warn or error (env PLATFORM_NETPOL_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return config{}, fmt.Errorf("--log-level: %w", err)
	}
	if c.Cleanup {
		return c, nil // needs nothing else
	}
	if c.Net.Bridge == "" || len(c.Net.Bridge) > 15 || strings.ContainsAny(c.Net.Bridge, " /!") {
		return config{}, fmt.Errorf("--bridge %q is not an interface name", c.Net.Bridge)
	}
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil || !p.Addr().Is4() {
		return config{}, fmt.Errorf("--pod-cidr %q: want an IPv4 prefix such as 10.217.0.0/24", podCIDR)
	}
	c.Net.PodCIDR = p.Masked()
	if nodeIP != "" {
		a, err := netip.ParseAddr(nodeIP)
		if err != nil || !a.Is4() {
			return config{}, fmt.Errorf("--node-ip %q: want an IPv4 address", nodeIP)
		}
		c.Net.NodeIP = a
	}
	if c.HealthAddr != "" {
		host, _, err := net.SplitHostPort(c.HealthAddr)
		a, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !a.IsLoopback() {
			return config{}, fmt.Errorf("--health-addr %q: want a loopback host:port such as 127.0.0.1:7890", c.HealthAddr)
		}
	}
	if c.Debounce <= 0 || c.Debounce > 10*time.Second {
		return config{}, fmt.Errorf("--debounce %s: want more than 0 and at most 10s", c.Debounce)
	}
	if c.Resync < time.Second {
		return config{}, fmt.Errorf("--resync %s: want at least 1s", c.Resync)
	}
	return c, nil
}

// run is netpol: it returns nil when ctx is done or on SIGINT or SIGTERM,
// leaving its rules in place, or the error that stopped it from starting.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	enf := &enforcer{net: cfg.Net}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.Cleanup {
		removed, err := enf.cleanup(ctx)
		if err != nil {
			return err
		}
		log.Info("cleaned up", "removed", removed)
		return nil
	}

	// client-go logs through klog, a process-wide logger: the binary, not
	// a package, points it at ours.
	klog.SetSlogLogger(log.With("component", "client-go"))
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %q: %w", cfg.Kubeconfig, err)
	}
	rc.UserAgent = "platform-netpol"
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("making a Kubernetes client: %w", err)
	}
	ctl, err := newController(kube, enf, cfg.Debounce, cfg.Resync, log.With("component", "netpol"))
	if err != nil {
		return err
	}

	log.Info("netpol starting", "bridge", cfg.Net.Bridge, "pod_cidr", cfg.Net.PodCIDR, "health_addr", cfg.HealthAddr)
	g, gctx := errgroup.WithContext(ctx)
	if cfg.HealthAddr != "" {
		ln, err := net.Listen("tcp", cfg.HealthAddr)
		if err != nil {
			return fmt.Errorf("listening for /healthz: %w", err)
		}
		srv := &http.Server{
			Handler:           healthHandler(ctl.health),
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
		}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serving /healthz: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	g.Go(func() error { return ctl.run(gctx) })
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("netpol stopped; its rules stay in place")
	return nil
}

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
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v11/controller"
)

// config is the provisioner's configuration, from flags.
type config struct {
	Kubeconfig  string
	Root        string
	Node        string
	Provisioner string
	HealthAddr  string
}

func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("storage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.Kubeconfig, "kubeconfig", getenv("KUBECONFIG"), "kubeconfig file of the cluster (env KUBECONFIG)")
	fs.StringVar(&c.Root, "root", "", "the directory volumes are made in, one directory each; required")
	fs.StringVar(&c.Node, "node-name", "", "the name of the node this runs on, which every volume is pinned to; required")
	fs.StringVar(&c.Provisioner, "provisioner-name", "platform.local/hostpath", "the provisioner name StorageClasses name")
	fs.StringVar(&c.HealthAddr, "health-addr", "127.0.0.1:7893", "loopback host:port serving GET /healthz, 200 once the controller runs; empty for none")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.Root == "" || !filepath.IsAbs(c.Root) {
		return config{}, fmt.Errorf("--root %q: want an absolute directory such as /var/lib/platform/volumes", c.Root)
	}
	c.Root = filepath.Clean(c.Root)
	if c.Node == "" {
		return config{}, errors.New("--node-name is required: the node's name as the kubelet registers it")
	}
	if c.HealthAddr != "" {
		host, _, err := net.SplitHostPort(c.HealthAddr)
		a, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !a.IsLoopback() {
			return config{}, fmt.Errorf("--health-addr %q: want a loopback host:port such as 127.0.0.1:7893", c.HealthAddr)
		}
	}
	return c, nil
}

// run provisions until ctx is done or SIGINT or SIGTERM arrives.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	klog.SetSlogLogger(log.With("component", "client-go"))
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return fmt.Errorf("making --root: %w", err)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %q: %w", cfg.Kubeconfig, err)
	}
	rc.UserAgent = "platform-storage"
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("making a Kubernetes client: %w", err)
	}
	ctl := controller.NewProvisionController(ctx, kube, cfg.Provisioner, &hostPath{root: cfg.Root, node: cfg.Node},
		// One provisioner per node, and one node: nothing to elect.
		controller.LeaderElection(false),
		controller.FailedProvisionThreshold(5),
		controller.FailedDeleteThreshold(5),
		// No metrics listener of its own.
		controller.MetricsPort(0),
	)

	log.Info("storage starting", "provisioner", cfg.Provisioner, "root", cfg.Root, "node", cfg.Node)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		ctl.Run(gctx)
		return nil
	})
	if cfg.HealthAddr != "" {
		ln, err := net.Listen("tcp", cfg.HealthAddr)
		if err != nil {
			return fmt.Errorf("listening for /healthz: %w", err)
		}
		srv := &http.Server{
			ReadHeaderTimeout: 5 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/healthz" {
					http.NotFound(w, r)
					return
				}
				if !ctl.HasRun() {
					http.Error(w, "starting", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprintln(w, "ok")
			}),
		}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shut)
		})
	}
	return g.Wait()
}

package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/gitreceive"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/router"
	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/store"
)

// Each component's configuration makes the component: these are where a
// field of config meets the leaf package's Config.

// open migrates the database and opens the store.
func (c storeConfig) open(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	if err := store.Migrate(ctx, c.DatabaseURL); err != nil {
		return nil, err
	}
	return store.Open(ctx, store.Config{DatabaseURL: c.DatabaseURL, Key: c.SecretKey, Logger: log})
}

func (c buildConfig) newBuilder(log *slog.Logger) (*builder.Builder, error) {
	images := builder.DefaultImages()
	if c.StackImages != "" {
		images = builder.LocalStackImages(c.StackImages)
	}
	bld, err := builder.New(builder.Config{
		Addr:             c.BuildkitAddr,
		TLSDir:           c.BuildkitTLSDir,
		Registry:         c.ImageRegistry,
		InsecureRegistry: c.ImageRegistryInsecure || registry.IsLoopback(c.ImageRegistry),
		Images:           images,
		Network:          c.Network,
		Limits:           c.Limits,
		Logger:           log.With("component", "builder"),
	})
	if err != nil {
		return nil, fmt.Errorf("setting up builder: %w", err)
	}
	return bld, nil
}

// newDeployer makes the deployer; pull, if not nil, gives tenants' pods
// their registry pull credentials.
// newDeployer makes the deployer. With autoCertificates (the router gets
// certificates by ACME), apps' Ingresses ask the router for them.
func (c deployConfig) newDeployer(kubeconfig string, pull deployer.PullCredentials, autoCertificates bool, log *slog.Logger) (*deployer.Deployer, error) {
	dep, err := deployer.New(deployer.Config{
		Kubeconfig:        kubeconfig,
		UserAgent:         "platformd/" + version,
		Logger:            log.With("component", "deployer"),
		AppsDomain:        c.AppsDomain,
		IngressClass:      c.IngressClass,
		NamespacePrefix:   c.NamespacePrefix,
		RouterCIDRs:       c.RouterCIDRs,
		RolloutTimeout:    c.RolloutTimeout,
		CPURequestPercent: c.CPURequestPercent,
		// A new web process serves once its port answers; a second more
		// of readiness before the next is replaced is enough to catch a
		// process that dies right after binding.
		MinReady:        time.Second,
		PullCredentials: pull,
		// The router obtains the certificates; the deployer names where
		// they go.
		AutoCertificates: autoCertificates,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up deployer: %w", err)
	}
	return dep, nil
}

// newReceiver makes the git receiver, which hands pushes to pipeline. At
// shutdown, pushes in flight get shutdownTimeout but a few seconds to
// finish; the rest is for telling those stopped then to push again.
func (c gitConfig) newReceiver(pipeline *release.Pipeline, shutdownTimeout time.Duration, log *slog.Logger) (*gitreceive.Server, error) {
	git, err := gitreceive.New(gitreceive.Config{
		Addr:         c.Addr,
		Drain:        max(0, shutdownTimeout-5*time.Second),
		HostKeyPath:  c.HostKeyPath,
		ReposDir:     c.ReposDir, // as the appRemover's reposDir
		MaxPackBytes: c.MaxPackBytes,
		Logger:       log.With("component", "gitreceive"),
	}, gitAuth{pipeline}, gitPusher{pipeline, c.Checkout, log.With("component", "gitreceive")})
	if err != nil {
		return nil, fmt.Errorf("setting up the git receiver: %w", err)
	}
	return git, nil
}

func (c registryConfig) newRegistry(auth *registry.Auth, shutdownTimeout time.Duration, log *slog.Logger) (*registry.Registry, error) {
	reg, err := registry.New(registry.Config{
		RootDir:         c.RootDir,
		S3:              c.storageS3(),
		Logger:          log.With("component", "registry"),
		ShutdownTimeout: shutdownTimeout,
		Auth:            auth,
		Realm:           c.Realm,
		TokenTTL:        c.TokenTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up registry: %w", err)
	}
	return reg, nil
}

// newRouter makes the router, in-process or alone, on the cluster of
// cfg.Kubeconfig; its metrics go to metrics.
func newRouter(cfg config, metrics *prometheus.Registry, log *slog.Logger, userAgent string) (*router.Router, error) {
	kube, err := kubeClient(cfg.Kubeconfig, userAgent)
	if err != nil {
		return nil, fmt.Errorf("setting up the router: %w", err)
	}
	acme := router.ACMEConfig{Namespace: cfg.Router.ACME.Namespace}
	if a := cfg.Router.ACME; a.Directory != "" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		roots.AppendCertsFromPEM(a.CARoots) // checked by loadConfig
		acme = router.ACMEConfig{DirectoryURL: a.Directory, Email: a.Email, RootCAs: roots, Namespace: a.Namespace}
	}
	rt, err := router.New(router.Config{
		Logger:             log.With("component", "router"),
		Metrics:            metrics,
		ReadHeaderTimeout:  cfg.Router.ReadHeaderTimeout,
		BodyIdleTimeout:    cfg.Router.BodyIdleTimeout,
		WriteTimeout:       cfg.Router.WriteTimeout,
		TrustedProxies:     cfg.Router.TrustedProxies,
		ShutdownTimeout:    cfg.ShutdownTimeout,
		Class:              cfg.Deploy.IngressClass,
		PublishAddresses:   cfg.Router.PublishAddresses,
		TLS:                cfg.Router.HTTPSAddr != "",
		HTTPSPort:          int(cfg.Router.HTTPSPort),
		DefaultCertificate: cfg.Router.DefaultCertificate,
		ACME:               acme,
	}, kube)
	if err != nil {
		return nil, fmt.Errorf("setting up the router: %w", err)
	}
	return rt, nil
}

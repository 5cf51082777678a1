// Package deployer runs releases on Kubernetes.
//
// It owns the Kubernetes objects of tenants and apps: a tenant's namespace
// with its ResourceQuota, LimitRange, NetworkPolicy and Pod Security label
// (EnsureTenant); a release's immutable config Secret, release-phase Job,
// one Deployment per process type and, for web, a Service and an Ingress
// (Apply); watching a rollout to its end and undoing one that fails; and
// scaling, restarting, status, logs and deletion of an app.
//
// It does not own what a release is made of (the store records releases,
// config vars and formations; the builder makes images), nor the HTTP edge
// (the router reads the Ingresses and EndpointSlices this package causes).
//
// # Object layout
//
// A tenant is the namespace Config.NamespacePrefix+tenant, labelled
// platform.io/tenant=<tenant> and pod-security.kubernetes.io/enforce=restricted,
// holding a ResourceQuota, a LimitRange and a NetworkPolicy named "platform".
// In it, an app is:
//
//   - Secret <app>-v<N>-config: release N's config vars, immutable; the
//     newest Config.KeepConfigs are kept.
//   - (per tenant, with Config.PullCredentials) Secret platform-registry,
//     the tenant's registry pull credential, named by every pod's
//     imagePullSecrets; EnsureTenant and RefreshPullSecrets renew it.
//   - Job <app>-release-v<N>: release N's release command, deleted once done.
//   - Deployment <app>-<type> per process type, its pods labelled
//     platform.io/app, platform.io/process-type and platform.io/release.
//   - Service <app>-web (port 80, named "http", to the web process's PORT)
//     and Ingress <app> (class Config.IngressClass) when the app has a web
//     process.
//   - Secret <app>-tls-<id> (kubernetes.io/tls) per uploaded certificate
//     that serves one of the app's hosts, named in the Ingress's spec.tls;
//     with Config.AutoCertificates, spec.tls entries naming tls-<host> for
//     the router's automatic certificates (see tls.go).
//
// Every object of an app carries the labels platform.io/tenant,
// platform.io/app, platform.io/role (process, config, release-command, web)
// and app.kubernetes.io/managed-by=platformd; the Deployments, their pod
// templates, Secrets and Jobs of release N carry the annotation
// platform.io/release=N. Pods get PORT=5000 (web only), DYNO=<type>.<pod>,
// the release's config vars from its Secret, and run as uid 1000 under
// the restricted Pod Security Standard.
//
// Apply and EnsureTenant write with server-side apply as field
// manager "platformd"; Scale and Restart patch as "platformd-scale" and
// "platformd-restart", so the next Apply takes replicas and resources back
// to what its release says while a restart stamp stays.
//
// The package imports nothing of ours and no client-go type crosses its
// boundary: callers hand in plain values and get plain values back.
package deployer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Config configures a Deployer. The zero value of every field but
// Kubeconfig means its documented default.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file, or several joined by
	// the OS's list separator as in $KUBECONFIG. Empty means the in-cluster
	// configuration of the pod platformd runs in.
	Kubeconfig string
	// UserAgent identifies platformd to the API server; empty means
	// client-go's default.
	UserAgent string
	// Logger receives the deployer's operational log; nil discards it.
	Logger *slog.Logger

	// AppsDomain gives every app with a web process the host
	// <app>.<AppsDomain> on its Ingress. Empty means apps answer only on
	// their custom domains.
	AppsDomain string
	// IngressClass is the class of the apps' Ingresses; default "platform",
	// the router's.
	IngressClass string
	// NamespacePrefix is put before a tenant's name to make its namespace;
	// default "t-".
	NamespacePrefix string
	// RouterCIDRs are the addresses the router connects to pods from when
	// it runs outside the cluster (on a node: the node or pod-bridge
	// addresses). Tenants' NetworkPolicies admit them and pods labelled
	// RouterPodLabels, nothing else.
	RouterCIDRs []string
	// RouterPodLabels select the router's pods when it runs in the cluster;
	// default platform.io/component=router.
	RouterPodLabels map[string]string
	// AppEgressExcept are the addresses apps may not reach outside the
	// cluster's pods: the node, control plane and metadata addresses, and
	// the networks other tenants' services live on. Default
	// DefaultAppEgressExcept. Apps reach the rest of the internet, their
	// own tenant's pods and the cluster DNS.
	AppEgressExcept []string

	// RolloutTimeout bounds a rollout; one that has not finished by then is
	// undone. Default 2 minutes.
	RolloutTimeout time.Duration
	// ReleaseTimeout bounds a release command; default 10 minutes.
	ReleaseTimeout time.Duration
	// MinReady is how long a new pod must stay ready before the rollout
	// counts it and moves on; whole seconds, default 3s.
	MinReady time.Duration
	// StopGrace is how long a process has between SIGTERM and SIGKILL;
	// whole seconds, default 30s.
	StopGrace time.Duration
	// CrashLimit is how many times a container of the new release may
	// exit before the rollout is declared a crash loop; default 2.
	CrashLimit int
	// CPURequestPercent is the share of each size's CPU request that its
	// processes ask the scheduler for, and that tenants' quotas count:
	// below 100 the nodes' CPU is overcommitted, which a small
	// development cluster may want. Limits stay whole. Zero means 100.
	CPURequestPercent int
	// KeepConfigs is how many release config Secrets an app keeps,
	// newest first; default 5. The running release's is always kept.
	KeepConfigs int

	// AutoCertificates has every verified custom domain without an
	// uploaded certificate served with one the router obtains by ACME:
	// the app's Ingress names a Secret for it in spec.tls and carries
	// kubernetes.io/tls-acme: "true". Off, such domains answer HTTP only.
	AutoCertificates bool

	// PullCredentials, when set, gives each tenant's pods the credential
	// the kubelet pulls their images with: EnsureTenant writes it, fresh,
	// to the kubernetes.io/dockerconfigjson Secret "platform-registry" of
	// the tenant's namespace, and every pod names that Secret in its
	// imagePullSecrets. Nil means pods pull without one.
	PullCredentials PullCredentials
}

const (
	defaultIngressClass    = "platform"
	defaultNamespacePrefix = "t-"
	defaultRolloutTimeout  = 2 * time.Minute
	defaultReleaseTimeout  = 10 * time.Minute
	defaultMinReady        = 3 * time.Second
	defaultStopGrace       = 30 * time.Second
	defaultCrashLimit      = 2
	defaultKeepConfigs     = 5
)

// withDefaults returns c with defaults applied, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.IngressClass == "" {
		c.IngressClass = defaultIngressClass
	}
	if c.NamespacePrefix == "" {
		c.NamespacePrefix = defaultNamespacePrefix
	}
	if c.RouterPodLabels == nil {
		c.RouterPodLabels = map[string]string{"platform.io/component": "router"}
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
		secs bool
	}{
		{"rollout timeout", &c.RolloutTimeout, defaultRolloutTimeout, false},
		{"release timeout", &c.ReleaseTimeout, defaultReleaseTimeout, false},
		{"min ready", &c.MinReady, defaultMinReady, true},
		{"stop grace", &c.StopGrace, defaultStopGrace, true},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("%s %v is negative", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
		if d.secs && *d.v%time.Second != 0 {
			return c, fmt.Errorf("%s %v is not a whole number of seconds", d.name, *d.v)
		}
	}
	if c.MinReady >= c.RolloutTimeout {
		return c, fmt.Errorf("min ready %v is not shorter than the rollout timeout %v", c.MinReady, c.RolloutTimeout)
	}
	if c.CrashLimit < 0 || c.KeepConfigs < 0 {
		return c, errors.New("crash limit and configs kept must not be negative")
	}
	if c.CrashLimit == 0 {
		c.CrashLimit = defaultCrashLimit
	}
	if c.KeepConfigs == 0 {
		c.KeepConfigs = defaultKeepConfigs
	}
	switch {
	case c.CPURequestPercent == 0:
		c.CPURequestPercent = 100
	case c.CPURequestPercent < 1 || c.CPURequestPercent > 100:
		return c, fmt.Errorf("CPU request percent %d is out of range: give 1 to 100", c.CPURequestPercent)
	}

	if c.AppsDomain != "" {
		if errs := validation.IsDNS1123Subdomain(c.AppsDomain); len(errs) > 0 {
			return c, fmt.Errorf("apps domain %q: %s", c.AppsDomain, errs[0])
		}
	}
	if errs := validation.IsDNS1123Subdomain(c.IngressClass); len(errs) > 0 {
		return c, fmt.Errorf("ingress class %q: %s", c.IngressClass, errs[0])
	}
	// The longest tenant name (40) must still make a namespace name.
	if errs := validation.IsDNS1123Label(c.NamespacePrefix + "a"); len(errs) > 0 || len(c.NamespacePrefix) > 63-maxTenantLen {
		return c, fmt.Errorf("namespace prefix %q: use at most %d lower-case letters, digits and dashes", c.NamespacePrefix, 63-maxTenantLen)
	}
	for _, s := range c.RouterCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			return c, fmt.Errorf("router cidr: %w", err)
		}
	}
	if c.AppEgressExcept == nil {
		c.AppEgressExcept = DefaultAppEgressExcept
	}
	for _, s := range c.AppEgressExcept {
		if _, err := netip.ParsePrefix(s); err != nil {
			return c, fmt.Errorf("app egress exception: %w", err)
		}
	}
	for k, v := range c.RouterPodLabels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return c, fmt.Errorf("router pod label %q: %s", k, errs[0])
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return c, fmt.Errorf("router pod label %s=%q: %s", k, v, errs[0])
		}
	}
	return c, nil
}

// Deployer talks to one Kubernetes cluster. It is safe for concurrent use;
// the caller serializes Apply, Scale, Restart and DeleteApp per app (the
// pipeline's deploy lock).
type Deployer struct {
	client kubernetes.Interface
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Deployer for the cluster that cfg names, or an error if cfg
// is invalid. It reads the kubeconfig but does not contact the API server:
// Ping does.
func New(cfg Config) (*Deployer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("deployer config: %w", err)
	}
	rc, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if cfg.UserAgent != "" {
		rc.UserAgent = cfg.UserAgent
	}
	// client-go's own default of 5 requests a second (bursts of 10) is
	// below what one deploy makes: the tenant's objects, the release's
	// Deployments, Service, Ingress and config, and the rollout's reads.
	// Past the burst every request waited 200 ms on the client, which made
	// most of a config change's time to live. The API server's priority
	// and fairness is what protects it from a busy platformd.
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = clientQPS, clientBurst
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating kubernetes client: %w", err)
	}
	return &Deployer{
		client: cs,
		cfg:    cfg,
		log:    cfg.Logger.With("component", "deployer"),
		now:    time.Now,
	}, nil
}

// The deployer's client-side rate limit of requests to the API server.
const (
	clientQPS   = 100
	clientBurst = 200
)

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("loading in-cluster kubernetes config (outside a cluster, give a kubeconfig): %w", err)
		}
		return rc, nil
	}
	rules := &clientcmd.ClientConfigLoadingRules{}
	if paths := filepath.SplitList(kubeconfig); len(paths) > 1 {
		rules.Precedence = paths
	} else {
		// An explicit path must exist; a list, like $KUBECONFIG, may
		// name files that do not.
		rules.ExplicitPath = kubeconfig
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	return rc, nil
}

// Ping reports whether the API server answers its /readyz endpoint.
func (d *Deployer) Ping(ctx context.Context) error {
	err := d.client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("checking kubernetes api server readiness: %w", err)
	}
	return nil
}

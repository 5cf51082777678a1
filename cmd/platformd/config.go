package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/gitreceive"
	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/store"
)

// config is platformd's whole configuration, one struct per component,
// as loadConfig reads it from the command line and the environment (the
// table of settings binds each flag to its field) and check validates it.
// In router mode only Mode, Kubeconfig, ShutdownTimeout, HTTP, Log and
// Router are set.
type config struct {
	// Mode is modeAll or modeRouter.
	Mode string
	// Kubeconfig is the kubeconfig file(s) of the deployer and the
	// router, in $KUBECONFIG syntax; empty means the in-cluster config.
	Kubeconfig string
	// ShutdownTimeout is how long the listeners get to finish what is in
	// flight on SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
	// DataDir is the directory of platformd's state, absolute. The
	// registry's storage and the git receiver's files are under it.
	DataDir string
	// AdminEmail is the e-mail of the administrator created on first
	// start, whose API token goes in DataDir unless AdminTokenFile
	// names the token to give them.
	AdminEmail     string
	AdminTokenFile string

	HTTP     httpConfig
	Metrics  metricsConfig
	API      apiConfig
	Log      logConfig
	Store    storeConfig
	Build    buildConfig
	Registry registryConfig
	Git      gitConfig
	Router   routerConfig
	Deploy   deployConfig
}

// httpConfig is the HTTP listener of the API, the probes and the metrics
// (in router mode: the probes and the metrics).
type httpConfig struct {
	Addr string // host:port
}

func (c *httpConfig) check() []problem {
	return checkAddr(&c.Addr)
}

// metricsConfig is the operator's listener: metrics and detailed
// readiness.
type metricsConfig struct {
	// Addr is its host:port: addrOff before check, empty after it when
	// there is none.
	Addr string
}

func (c *metricsConfig) check(httpAddr string) []problem {
	if c.Addr == addrOff {
		c.Addr = ""
		return nil
	}
	if ps := checkAddr(&c.Addr); len(ps) > 0 {
		return ps
	}
	if c.Addr == httpAddr {
		return []problem{bad(&c.Addr, "must not be the --http-addr: the operator's endpoints are not for users")}
	}
	return nil
}

// apiConfig is the API's policy: how it guards sign-ins, and whom it
// believes about a client's address.
type apiConfig struct {
	// PasswordHashes bounds the password hashes of sign-ins computed at
	// once; at least 1.
	PasswordHashes int
	// TrustedProxies are the reverse proxies in front of the API, as
	// given: CIDRs or single addresses. check parses them into proxies.
	TrustedProxies []string
	proxies        []netip.Prefix
	// PublicURL is where users reach the API and dashboard; empty when
	// not said. Its host is reserved from apps' custom domains.
	PublicURL string
	// DomainVerification is domainVerificationDNS or domainVerificationOff.
	DomainVerification string
}

// The values of --domain-verification.
const (
	domainVerificationDNS = "dns"
	domainVerificationOff = "off"
)

func (c *apiConfig) check() []problem {
	var ps []problem
	if c.PasswordHashes < 1 || c.PasswordHashes > 1024 {
		ps = append(ps, bad(&c.PasswordHashes, "must be a number from 1 to 1024"))
	}
	c.proxies = nil
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				ps = append(ps, bad(&c.TrustedProxies, "%q is not a CIDR like 10.0.0.0/8 or an address like 10.0.0.5", s))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.proxies = append(c.proxies, p.Masked())
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			ps = append(ps, bad(&c.PublicURL, "must be an http:// or https:// URL such as https://platform.example.com"))
		}
	}
	if c.DomainVerification != domainVerificationDNS && c.DomainVerification != domainVerificationOff {
		ps = append(ps, bad(&c.DomainVerification, "must be %q or %q", domainVerificationDNS, domainVerificationOff))
	}
	return ps
}

// reservedHosts are the platform's own host names, which no app may claim:
// the public URL's, and the git receiver's when it listens on a name.
func (c *config) reservedHosts() []string {
	var hosts []string
	if u, err := url.Parse(c.API.PublicURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	if host, _, err := net.SplitHostPort(c.Git.Addr); err == nil && host != "" && net.ParseIP(host) == nil {
		hosts = append(hosts, host)
	}
	if u, err := url.Parse(c.Git.PublicURL); err == nil && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}

// signIn is the server's sign-in limits.
func (c *apiConfig) signIn() server.SignInConfig {
	return server.SignInConfig{ConcurrentChecks: c.PasswordHashes}
}

// logConfig is the one logger's.
type logConfig struct {
	Level  slog.Level
	Format string // "text" or "json"
}

func (c *logConfig) check() []problem {
	if c.Format != "text" && c.Format != "json" {
		return []problem{bad(&c.Format, "must be text or json")}
	}
	return nil
}

// storeConfig is the database's.
type storeConfig struct {
	// DatabaseURL is a postgres:// URL or libpq key=value pairs. It may
	// hold a password: no message shows it.
	DatabaseURL string
	// SecretKey is store.KeySize bytes that encrypt config vars at rest.
	SecretKey []byte
}

func (c *storeConfig) check() []problem {
	var ps []problem
	if c.DatabaseURL == "" {
		ps = append(ps, bad(&c.DatabaseURL, "is required, e.g. postgres://platform@127.0.0.1:5432/platform?sslmode=disable"))
	} else if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		ps = append(ps, bad(&c.DatabaseURL, "%v", err))
	}
	if len(c.SecretKey) == 0 {
		ps = append(ps, bad(&c.SecretKey, "is required: base64 of %d random bytes (or give --secret-key-file); %s", store.KeySize, makeKeyHint))
	}
	return ps
}

// buildConfig is the builder's.
type buildConfig struct {
	// BuildkitAddr is the BuildKit daemon's address, unix:// or tcp://.
	BuildkitAddr string
	// ImageRegistryInsecure pushes to ImageRegistry over plain HTTP
	// though it is not on loopback (where HTTP is always used).
	ImageRegistryInsecure bool
	// BuildkitTLSDir holds the TLS files for a tcp:// BuildkitAddr
	// (builder.Config.TLSDir); empty for none.
	BuildkitTLSDir string
	// ImageRegistry is the registry host[:port] app images are pushed to
	// and the cluster pulls from; check makes it the embedded registry's
	// address when it is empty.
	ImageRegistry string
	// RegistryAuth is registryAuthPlatform when builds and nodes present
	// credentials minted from the secret key to ImageRegistry, else
	// registryAuthNone; check fills it in when it is empty.
	RegistryAuth string
	// StackImages is the registry holding the stacks' build and run
	// images; empty means Docker Hub's.
	StackImages string
	// Network is the outbound network of every build: extra CAs, proxies
	// and package mirrors. Proxy and mirror URLs may hold credentials: no
	// message shows them.
	Network builder.Network
	// Limits bound each build: time, log, and (with a cgroup root)
	// memory, CPU and processes.
	Limits builder.Limits
}

// check validates c; embeddedRegistry is the embedded registry's address,
// empty when it is off.
func (c *buildConfig) check(embeddedRegistry string) []problem {
	var ps []problem
	if u, err := url.Parse(c.BuildkitAddr); err != nil || u.Scheme == "" {
		ps = append(ps, bad(&c.BuildkitAddr, "must be an address like unix:///run/buildkit/buildkitd.sock or tcp://127.0.0.1:1234"))
	}
	everyInterface := false
	if c.ImageRegistry == "" {
		host, _, err := net.SplitHostPort(embeddedRegistry)
		everyInterface = err == nil && (host == "" || net.ParseIP(host).IsUnspecified())
		if !everyInterface {
			c.ImageRegistry = embeddedRegistry
		}
	}
	switch c.RegistryAuth {
	case "":
		c.RegistryAuth = registryAuthNone
		if embeddedRegistry != "" {
			c.RegistryAuth = registryAuthPlatform
		}
	case registryAuthPlatform, registryAuthNone:
	default:
		ps = append(ps, bad(&c.RegistryAuth, "must be %q or %q", registryAuthPlatform, registryAuthNone))
	}
	switch {
	case everyInterface:
		ps = append(ps, bad(&c.ImageRegistry, "is required when the embedded registry listens on every interface: the host:port builds and nodes reach it at"))
	case c.ImageRegistry == "":
		ps = append(ps, bad(&c.ImageRegistry, "is required when the embedded registry is off"))
	default:
		if _, _, err := net.SplitHostPort(c.ImageRegistry); err != nil && strings.Contains(c.ImageRegistry, "/") {
			ps = append(ps, bad(&c.ImageRegistry, "must be a registry host[:port] without a path"))
		}
	}
	if err := c.Limits.Validate(); err != nil {
		ps = append(ps, bad(&c.Limits, "%v", err))
	}
	return append(ps, c.checkNetwork()...)
}

// checkNetwork validates each network setting on its own, with the
// builder's rules, so that a problem names its flag.
func (c *buildConfig) checkNetwork() []problem {
	n := &c.Network
	var ps []problem
	for _, one := range []struct {
		field any
		only  builder.Network
	}{
		{&n.CACerts, builder.Network{CACerts: n.CACerts}},
		{&n.HTTPProxy, builder.Network{HTTPProxy: n.HTTPProxy}},
		{&n.HTTPSProxy, builder.Network{HTTPSProxy: n.HTTPSProxy}},
		{&n.NoProxy, builder.Network{NoProxy: n.NoProxy}},
		{&n.GoProxy, builder.Network{GoProxy: n.GoProxy}},
		{&n.GoNoSumDB, builder.Network{GoNoSumDB: n.GoNoSumDB}},
		{&n.GoPrivate, builder.Network{GoPrivate: n.GoPrivate}},
		{&n.NPMRegistry, builder.Network{NPMRegistry: n.NPMRegistry}},
		{&n.PipIndexURL, builder.Network{PipIndexURL: n.PipIndexURL}},
	} {
		if err := one.only.Validate(); err != nil {
			ps = append(ps, bad(one.field, "%v", err))
		}
	}
	return ps
}

// registryConfig is the embedded registry's.
type registryConfig struct {
	// Addr is the host:port it listens on: addrOff before check, empty
	// after it when there is no embedded registry.
	Addr string
	// RootDir is where it stores images, under the data directory; set
	// by check.
	RootDir string
	// Realm is the URL of its token endpoint as clients reach it;
	// checkRealm makes it http://<image registry>/token when it is empty.
	Realm string
	// TokenTTL is how long its tokens are valid.
	TokenTTL time.Duration
	// BuildCredentialTTL and PullCredentialTTL are how long a build's
	// credential and a tenant's pull credential are valid.
	BuildCredentialTTL time.Duration
	PullCredentialTTL  time.Duration
	// S3 is the bucket its images go to instead of RootDir, when
	// S3.Bucket is set; the credentials come from the AWS SDK's chain
	// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a web identity...).
	S3 registry.S3
}

// storageS3 is the bucket for registry.Config, or nil for RootDir.
func (c registryConfig) storageS3() *registry.S3 {
	if c.S3.Bucket == "" {
		return nil
	}
	s3 := c.S3
	return &s3
}

func (c *registryConfig) check(dataDir string) []problem {
	if c.Addr == addrOff {
		c.Addr = ""
		return nil
	}
	c.RootDir = filepath.Join(dataDir, "registry")
	ps := checkAddr(&c.Addr)
	if c.TokenTTL < 30*time.Second || c.TokenTTL > time.Hour {
		ps = append(ps, bad(&c.TokenTTL, "must be a duration from 30s to 1h, like 5m: tokens are short-lived"))
	}
	if c.BuildCredentialTTL < time.Minute {
		ps = append(ps, bad(&c.BuildCredentialTTL, "must be a duration of at least 1m, like 1h"))
	}
	if c.PullCredentialTTL < time.Hour {
		ps = append(ps, bad(&c.PullCredentialTTL, "must be a duration of at least 1h, like 720h"))
	}
	if c.S3.Bucket == "" && (c.S3.Endpoint != "" || c.S3.Prefix != "") {
		ps = append(ps, bad(&c.S3.Bucket, "is required with the other registry S3 settings: the bucket the images go to"))
	}
	if c.S3.Bucket != "" {
		if c.S3.Region == "" {
			c.S3.Region = "us-east-1"
		}
		if c.S3.Endpoint != "" {
			if u, err := url.Parse(c.S3.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ps = append(ps, bad(&c.S3.Endpoint, "must be the store's http(s) URL, like https://minio.example.com"))
			}
		}
	}
	return ps
}

// checkRealm defaults the token realm to the image registry's /token and
// checks it; imageRegistry is where builds and nodes reach the registry.
func (c *registryConfig) checkRealm(imageRegistry string) []problem {
	if c.Addr == "" {
		return nil
	}
	if c.Realm == "" {
		if imageRegistry == "" {
			return nil // the image registry's own problem says what to do
		}
		c.Realm = "http://" + imageRegistry + registry.TokenPath
	}
	if u, err := url.Parse(c.Realm); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []problem{bad(&c.Realm, "must be an http:// or https:// URL, like http://registry.example.com:5000/token")}
	}
	return nil
}

// gitConfig is the SSH git receiver's.
type gitConfig struct {
	// Addr is the host:port it listens on: addrOff before check,
	// empty after it when there is no git receiver.
	Addr string
	// PublicURL is where users reach it, ssh://git@HOST:PORT; empty
	// means at Addr.
	PublicURL string
	// HostKeyPath and ReposDir are its SSH host key and its bare
	// repositories, under the data directory; set by check.
	HostKeyPath string
	ReposDir    string
	// MaxPackBytes bounds a push's pack; Checkout bounds the tree it
	// checks out.
	MaxPackBytes int64
	Checkout     gitreceive.CheckoutLimits
}

func (c *gitConfig) check(dataDir string) []problem {
	// The repositories are removed with their app even when the
	// receiver is off.
	c.ReposDir = filepath.Join(dataDir, "repos")
	if c.Addr == addrOff {
		c.Addr = ""
		return nil
	}
	if c.HostKeyPath == "" {
		c.HostKeyPath = filepath.Join(dataDir, "ssh_host_ed25519_key")
	} else if _, err := os.Stat(c.HostKeyPath); err != nil {
		return append(checkAddr(&c.Addr), bad(&c.HostKeyPath, "must name an existing private key file (OpenSSH or PEM), such as a mounted Secret: %v", err))
	}
	return append(checkAddr(&c.Addr), c.checkPublicURL()...)
}

// checkPublicURL checks PublicURL and drops a trailing slash.
func (c *gitConfig) checkPublicURL() []problem {
	if c.PublicURL == "" {
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Scheme != "ssh" || u.Hostname() == "" || u.User == nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return []problem{bad(&c.PublicURL, "must be an ssh:// URL with a user and a host and no path, like ssh://git@git.example.com:2222")}
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	return nil
}

// routerConfig is the router's, in-process or alone (router mode).
type routerConfig struct {
	// Addr is the host:port apps' users connect to: addrOff before
	// check, empty after it when the router runs elsewhere.
	Addr string
	// TrustedProxies are the proxies in front of the router whose
	// forwarded headers it believes; none by default.
	TrustedProxies []netip.Prefix
	// ReadHeaderTimeout, BodyIdleTimeout and WriteTimeout bound slow
	// clients (see router.Config); each at least 1s.
	ReadHeaderTimeout time.Duration
	BodyIdleTimeout   time.Duration
	WriteTimeout      time.Duration
	// PublishAddresses go into the status of the Ingresses it serves.
	PublishAddresses []string
	// HTTPSAddr is where it serves HTTPS, with the certificates of the
	// Ingresses' spec.tls: empty (addrOff before check) for none.
	HTTPSAddr string
	// HTTPSPort is where clients reach that HTTPS, for redirects to it.
	HTTPSPort int64
	// DefaultCertificate is a TLS Secret, namespace/name, that serves
	// every host it covers; empty for none.
	DefaultCertificate string
	// ACME is how the router obtains certificates; off without a
	// Directory.
	ACME acmeConfig
}

// acmeConfig is the router's ACME client's (router.ACMEConfig).
type acmeConfig struct {
	// Directory is the ACME server's directory URL; empty turns ACME off.
	Directory string
	// Email is the account's contact.
	Email string
	// CARoots are PEM certificates trusted for the ACME server besides
	// the system's.
	CARoots []byte
	// Namespace is the router's own: empty before check means the pod's.
	Namespace string
}

// podNamespaceFile holds the namespace of a pod's service account.
const podNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// check validates c for a router whose HTTPS is at httpsAddr.
func (c *acmeConfig) check(httpsAddr string) []problem {
	if c.Directory == "" {
		return nil
	}
	var ps []problem
	if u, err := url.Parse(c.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		ps = append(ps, bad(&c.Directory, "must be an ACME directory's https URL, like https://acme-v02.api.letsencrypt.org/directory"))
	}
	if httpsAddr == "" {
		ps = append(ps, bad(&c.Directory, "needs the router to serve HTTPS: set --router-https-addr as well"))
	}
	if c.Email != "" && (!strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " ,")) {
		ps = append(ps, bad(&c.Email, "must be one email address, like ops@example.com"))
	}
	if len(c.CARoots) > 0 && !x509.NewCertPool().AppendCertsFromPEM(c.CARoots) {
		ps = append(ps, bad(&c.CARoots, "holds no PEM certificate"))
	}
	if c.Namespace == "" {
		c.Namespace = "platform"
		if b, err := os.ReadFile(podNamespaceFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			c.Namespace = string(bytes.TrimSpace(b))
		}
	}
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		ps = append(ps, bad(&c.Namespace, "must be a namespace name (%s)", errs[0]))
	}
	return ps
}

// check validates c; alone says the router is all this platformd runs.
func (c *routerConfig) check(alone bool) []problem {
	if c.Addr == addrOff {
		if alone {
			return []problem{bad(&c.Addr, "cannot be %q with --mode=%s: the router is all that mode runs", addrOff, modeRouter)}
		}
		c.Addr = ""
		return nil
	}
	ps := checkAddr(&c.Addr)
	if c.HTTPSAddr == addrOff {
		c.HTTPSAddr = ""
	} else {
		ps = append(ps, checkAddr(&c.HTTPSAddr)...)
	}
	if c.HTTPSPort < 1 || c.HTTPSPort > 65535 {
		ps = append(ps, bad(&c.HTTPSPort, "must be a port number, like 443"))
	}
	if c.DefaultCertificate != "" {
		ns, name, ok := strings.Cut(c.DefaultCertificate, "/")
		switch {
		case !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0:
			ps = append(ps, bad(&c.DefaultCertificate, "must name a kubernetes.io/tls Secret as namespace/name, like platform/apps-wildcard-tls"))
		case c.HTTPSAddr == "":
			ps = append(ps, bad(&c.DefaultCertificate, "needs the router to serve HTTPS: set --router-https-addr as well"))
		}
	}
	ps = append(ps, c.ACME.check(c.HTTPSAddr)...)
	for _, d := range []*time.Duration{&c.ReadHeaderTimeout, &c.BodyIdleTimeout, &c.WriteTimeout} {
		if *d < time.Second {
			ps = append(ps, bad(d, "must be a duration of at least 1s, like 60s: shorter cuts off clients on slow networks"))
		}
	}
	return ps
}

// deployConfig is the deployer's.
type deployConfig struct {
	// RolloutTimeout is how long a release may take to roll out before
	// it is undone; at least 10s.
	RolloutTimeout time.Duration
	// AppsDomain is the domain apps answer under, at <app>.<AppsDomain>.
	AppsDomain string
	// RouterCIDRs are where the router reaches pods from when it runs
	// outside the cluster, for tenants' network policies.
	RouterCIDRs []string
	// IngressClass is the class of the apps' Ingresses, which the router
	// serves; NamespacePrefix goes before a tenant's name to make its
	// namespace. Both let two platforms share a cluster.
	IngressClass    string
	NamespacePrefix string
	// ManageIngressClass makes platformd create IngressClass (and keep it)
	// at start; false where something else owns it, such as the Helm
	// chart, so that it goes with the install.
	ManageIngressClass bool
	// CPURequestPercent is the share of each size's CPU request apps'
	// processes ask for: below 100 overcommits the nodes, for small
	// development clusters.
	CPURequestPercent int
}

func (c *deployConfig) check() []problem {
	var ps []problem
	if c.RolloutTimeout < 10*time.Second {
		ps = append(ps, bad(&c.RolloutTimeout, "must be a duration of at least 10s, like 2m"))
	}
	if c.CPURequestPercent < 1 || c.CPURequestPercent > 100 {
		ps = append(ps, bad(&c.CPURequestPercent, "must be a percentage from 1 to 100, like 100 (25 runs four times the processes on a small development cluster)"))
	}
	if err := checkDNSName(c.AppsDomain); err != nil {
		ps = append(ps, bad(&c.AppsDomain, "%v", err))
	}
	if errs := validation.IsDNS1123Subdomain(c.IngressClass); len(errs) > 0 {
		ps = append(ps, bad(&c.IngressClass, "must be a name like platform: %s", errs[0]))
	}
	if c.NamespacePrefix == "" || len(validation.IsDNS1123Label(c.NamespacePrefix+"x")) > 0 || len(c.NamespacePrefix) > 20 {
		ps = append(ps, bad(&c.NamespacePrefix, "must be up to 20 lower-case letters, digits and dashes, starting with a letter, like t-"))
	}
	for _, cidr := range c.RouterCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			ps = append(ps, bad(&c.RouterCIDRs, "%q is not a CIDR like 10.0.0.1/32", cidr))
		}
	}
	return ps
}

// The values of --image-registry-auth.
const (
	registryAuthPlatform = "platform"
	registryAuthNone     = "none"
)

// addrOff is the value of --registry-addr, --git-addr and --router-addr
// that turns that listener off.
const addrOff = "off"

// The values of --mode: everything in one process (the API, git receiver,
// builds, deploys, registry and, unless --router-addr is off, the router),
// or the router alone, for running it as its own deployment.
const (
	modeAll    = "all"
	modeRouter = "router"
)

// makeKeyHint tells an operator how to make a secret key.
const makeKeyHint = "make one with: head -c32 /dev/urandom | base64"

// check validates the whole of c, filling in what derives from other
// settings, and returns every problem found. In router mode it checks only
// what that mode reads; inPod says platformd runs in a Kubernetes pod,
// where the router may use the pod's service account.
func (c *config) check(inPod bool) []problem {
	var ps []problem
	if c.Mode != modeAll && c.Mode != modeRouter {
		ps = append(ps, bad(&c.Mode, "must be %q or %q", modeAll, modeRouter))
	}
	ps = append(ps, c.HTTP.check()...)
	ps = append(ps, c.Log.check()...)
	if c.ShutdownTimeout <= 0 {
		ps = append(ps, bad(&c.ShutdownTimeout, "must be a positive duration like 20s"))
	}
	if c.Mode == modeRouter {
		ps = append(ps, c.checkKubeconfig(inPod)...)
		return append(ps, c.Router.check(true)...)
	}

	ps = append(ps, c.Metrics.check(c.HTTP.Addr)...)
	ps = append(ps, c.API.check()...)
	ps = append(ps, c.Store.check()...)
	if c.DataDir == "" {
		ps = append(ps, bad(&c.DataDir, "is required"))
	} else if abs, err := filepath.Abs(c.DataDir); err != nil {
		ps = append(ps, bad(&c.DataDir, "%v", err))
	} else {
		c.DataDir = abs
	}
	ps = append(ps, c.Registry.check(c.DataDir)...)
	ps = append(ps, c.Build.check(c.Registry.Addr)...)
	ps = append(ps, c.Registry.checkRealm(c.Build.ImageRegistry)...)
	ps = append(ps, c.Git.check(c.DataDir)...)
	ps = append(ps, c.Router.check(false)...)
	ps = append(ps, c.Deploy.check()...)
	if a, err := mail.ParseAddress(c.AdminEmail); err != nil || a.Address != c.AdminEmail {
		ps = append(ps, bad(&c.AdminEmail, "must be a plain e-mail address like admin@example.com"))
	}
	if c.AdminTokenFile != "" {
		if _, err := readAdminToken(c.AdminTokenFile); err != nil {
			ps = append(ps, bad(&c.AdminTokenFile, "%v", err))
		}
	}
	return ps
}

// checkKubeconfig checks the router's access to the cluster in router
// mode, where nothing else would notice a missing kubeconfig before the
// first request.
func (c *config) checkKubeconfig(inPod bool) []problem {
	if c.Kubeconfig == "" {
		if inPod {
			return nil
		}
		return []problem{bad(&c.Kubeconfig, "is required in router mode outside a Kubernetes pod: the kubeconfig of an identity that may list and watch ingresses, services and endpointslices (in a pod, leave it empty to use the pod's service account)")}
	}
	// clientcmd skips the files of a list that do not exist, and with
	// none left says only "no configuration has been provided".
	paths := filepath.SplitList(c.Kubeconfig)
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return []problem{bad(&c.Kubeconfig, "no such file: %s", strings.Join(paths, ", "))}
}

// problem is what is wrong with the value of the setting bound to field,
// a pointer to a field of config; loadConfig names the setting. The
// message never holds a secret value.
type problem struct {
	field any
	msg   string
}

func bad(field any, format string, a ...any) problem {
	return problem{field: field, msg: fmt.Sprintf(format, a...)}
}

// checkAddr checks the listen address *addr.
func checkAddr(addr *string) []problem {
	if err := checkListenAddr(*addr); err != nil {
		return []problem{bad(addr, "%v", err)}
	}
	return nil
}

// decodeKey decodes a secret key.
func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("is not valid base64; %s", makeKeyHint)
	}
	if len(key) != store.KeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d; %s", len(key), store.KeySize, makeKeyHint)
	}
	return key, nil
}

// readKeyFile reads and decodes the secret key file at path.
func readKeyFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("is empty")
	}
	b, err := readSmallFile(path, 1024)
	if err != nil {
		return nil, err
	}
	key, err := decodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading secret key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading secret key file: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("secret key file %s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// checkListenAddr accepts host:port with a numeric port; an empty host
// means every interface.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port: %w", err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" || host == "localhost" || net.ParseIP(host) != nil {
		return nil
	}
	if err := checkDNSName(host); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// checkDatabaseURL accepts what pgx does, a postgres:// URL or libpq
// key=value pairs, without echoing it (it may hold a password).
func checkDatabaseURL(s string) error {
	if !strings.Contains(s, "://") {
		if !strings.Contains(s, "=") {
			return errors.New("must be a postgres:// URL or libpq key=value pairs")
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q is not postgres:// or postgresql://", u.Scheme)
	}
	return nil
}

// checkDNSName accepts lower-case host names made of RFC 1123 labels.
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	if len(name) > 253 {
		return errors.New("is longer than 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return fmt.Errorf("%q has an empty label", name)
		}
		if len(label) > 63 {
			return fmt.Errorf("%q has a label longer than 63 characters", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q has a label that starts or ends with '-'", name)
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("%q is not a lower-case DNS name", name)
			}
		}
	}
	return nil
}

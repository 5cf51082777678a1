package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/platform-paas/platform/builder"
)

// setting is one configuration value: a flag, the environment variables
// that stand in for it (first non-empty wins), its default and the field
// of config it fills. A flag given on the command line beats the
// environment.
type setting struct {
	flag   string
	env    []string
	def    string
	usage  string
	router bool // applies in router mode too
	bind   binding
}

func (s *setting) name() string {
	return "--" + s.flag + " (" + strings.Join(s.env, " or ") + ")"
}

// settings binds every setting to its field of c. It is the one place a
// flag's name meets its field; a fresh slice every call, so no parse
// shares state with another.
func (c *config) settings() []*setting {
	n := &c.Build.Network
	return []*setting{
		{flag: "mode", env: []string{"PLATFORM_MODE"}, def: modeAll, router: true, bind: text(&c.Mode),
			usage: `"all" runs the whole platform; "router" runs only the router (the apps' HTTP edge) with its probes and metrics, needing no database, secret key, BuildKit or registry`},
		{flag: "http-addr", env: []string{"PLATFORM_HTTP_ADDR"}, def: "127.0.0.1:7800", router: true, bind: text(&c.HTTP.Addr),
			usage: "listen address of the HTTP API, the dashboard and the probes, whose /readyz says only ready or not (in router mode: probes and metrics)"},
		{flag: "metrics-addr", env: []string{"PLATFORM_METRICS_ADDR"}, def: "127.0.0.1:7801", bind: text(&c.Metrics.Addr),
			usage: `listen address of the operator's endpoints, which users must not reach: /metrics, and /readyz naming each check with its error (the API's /readyz says only "ready" or "not ready"); or "off"`},
		{flag: "password-hash-concurrency", env: []string{"PLATFORM_PASSWORD_HASH_CONCURRENCY"}, def: "4", bind: number(&c.API.PasswordHashes),
			usage: "how many sign-in password hashes run at once (each takes about 19 MiB and tens of ms of CPU); more wait their turn, up to 10s"},
		{flag: "trusted-proxies", env: []string{"PLATFORM_TRUSTED_PROXIES"}, bind: list(&c.API.TrustedProxies),
			usage: "comma-separated CIDRs (or addresses) of the reverse proxies in front of the API; of a request from one, the client's address is read from X-Forwarded-For, for sign-in limits, the audit log and the logs. Empty: X-Forwarded-For is ignored"},
		{flag: "public-url", env: []string{"PLATFORM_PUBLIC_URL"}, bind: text(&c.API.PublicURL),
			usage: "the URL users reach the API and dashboard at, such as https://platform.example.com; no app may claim its host name as a custom domain"},
		{flag: "domain-verification", env: []string{"PLATFORM_DOMAIN_VERIFICATION"}, def: domainVerificationDNS, bind: text(&c.API.DomainVerification),
			usage: `"dns": an app's custom domain is routed once a DNS TXT record _platform-challenge.<domain> holds the token the API gave; "off": at once, so anyone may route any name (only for a closed test stack)`},
		{flag: "database-url", env: []string{"PLATFORM_DATABASE_URL", "DATABASE_URL"}, bind: text(&c.Store.DatabaseURL),
			usage: "PostgreSQL connection string (required)"},
		{flag: "secret-key", env: []string{"PLATFORM_SECRET_KEY"}, bind: secretKey(&c.Store.SecretKey),
			usage: "base64 of 32 random bytes that encrypts config vars at rest (this or --secret-key-file is required; " + makeKeyHint + ")"},
		{flag: "secret-key-file", env: []string{"PLATFORM_SECRET_KEY_FILE"}, bind: secretKeyFile(&c.Store.SecretKey),
			usage: "file holding the secret key, instead of --secret-key"},
		{flag: "data-dir", env: []string{"PLATFORM_DATA_DIR"}, bind: text(&c.DataDir),
			usage: "directory for platformd's state: admin token, registry storage, repositories (required)"},
		{flag: "kubeconfig", env: []string{"PLATFORM_KUBECONFIG", "KUBECONFIG"}, router: true, bind: text(&c.Kubeconfig),
			usage: "kubeconfig file(s); empty means the in-cluster config"},
		{flag: "buildkit-addr", env: []string{"PLATFORM_BUILDKIT_ADDR"}, def: "unix:///run/buildkit/buildkitd.sock", bind: text(&c.Build.BuildkitAddr),
			usage: "address of the BuildKit daemon"},
		{flag: "image-registry-insecure", env: []string{"PLATFORM_IMAGE_REGISTRY_INSECURE"}, def: "false", bind: boolean(&c.Build.ImageRegistryInsecure),
			usage: "true when the image registry speaks plain HTTP at a non-loopback address (a registry on loopback is always reached over HTTP); the nodes' container runtime must allow it too"},
		{flag: "buildkit-tls-dir", env: []string{"PLATFORM_BUILDKIT_TLS_DIR"}, bind: text(&c.Build.BuildkitTLSDir),
			usage: "directory of the TLS files for a tcp:// BuildKit address: ca.crt (the daemon's CA), tls.crt and tls.key (platformd's client certificate), as a mounted Kubernetes TLS Secret holds them; empty: no TLS"},
		{flag: "registry-addr", env: []string{"PLATFORM_REGISTRY_ADDR"}, def: "127.0.0.1:5000", bind: text(&c.Registry.Addr),
			usage: `listen address of the embedded OCI registry and its token endpoint (/token), or "off"`},
		{flag: "registry-token-realm", env: []string{"PLATFORM_REGISTRY_TOKEN_REALM"}, bind: text(&c.Registry.Realm),
			usage: "URL of the embedded registry's token endpoint as builds, nodes and clients reach it; default: http://<image registry>/token"},
		{flag: "registry-s3-bucket", env: []string{"PLATFORM_REGISTRY_S3_BUCKET"}, bind: text(&c.Registry.S3.Bucket),
			usage: "keep the registry's images in this S3 (or S3-compatible) bucket instead of the data directory; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS SDK's other sources"},
		{flag: "registry-s3-region", env: []string{"PLATFORM_REGISTRY_S3_REGION"}, bind: text(&c.Registry.S3.Region),
			usage: "the bucket's region (default us-east-1; any for an S3-compatible store)"},
		{flag: "registry-s3-endpoint", env: []string{"PLATFORM_REGISTRY_S3_ENDPOINT"}, bind: text(&c.Registry.S3.Endpoint),
			usage: "URL of an S3-compatible store, such as https://minio.example.com; empty for Amazon S3"},
		{flag: "registry-s3-path-style", env: []string{"PLATFORM_REGISTRY_S3_PATH_STYLE"}, def: "false", bind: boolean(&c.Registry.S3.PathStyle),
			usage: "address the bucket in the URL's path, as most S3-compatible stores want"},
		{flag: "registry-s3-prefix", env: []string{"PLATFORM_REGISTRY_S3_PREFIX"}, bind: text(&c.Registry.S3.Prefix),
			usage: "directory in the bucket to keep the images under"},
		{flag: "registry-token-ttl", env: []string{"PLATFORM_REGISTRY_TOKEN_TTL"}, def: "5m", bind: duration(&c.Registry.TokenTTL),
			usage: "how long a token of the embedded registry is valid (30s to 1h)"},
		{flag: "registry-build-credential-ttl", env: []string{"PLATFORM_REGISTRY_BUILD_CREDENTIAL_TTL"}, def: "1h", bind: duration(&c.Registry.BuildCredentialTTL),
			usage: "how long a build's registry credential is valid: the longest a build may push for"},
		{flag: "registry-pull-credential-ttl", env: []string{"PLATFORM_REGISTRY_PULL_CREDENTIAL_TTL"}, def: "720h", bind: duration(&c.Registry.PullCredentialTTL),
			usage: "how long a tenant's registry pull credential is valid; each release of the tenant writes a fresh one to its namespace"},
		{flag: "image-registry", env: []string{"PLATFORM_IMAGE_REGISTRY"}, bind: text(&c.Build.ImageRegistry),
			usage: "host:port of the registry app images are pushed to and the cluster pulls from; default: the embedded registry's address"},
		{flag: "image-registry-auth", env: []string{"PLATFORM_IMAGE_REGISTRY_AUTH"}, bind: text(&c.Build.RegistryAuth),
			usage: `"platform": builds and nodes present credentials minted from the secret key to the image registry (the embedded one, or another platformd's with the same key); "none": they present none; default: platform with the embedded registry, else none`},
		{flag: "stack-images-registry", env: []string{"PLATFORM_STACK_IMAGES_REGISTRY"}, bind: text(&c.Build.StackImages),
			usage: "registry holding the build and run images of the language stacks as platform/stack-go:bookworm etc. (make up makes them); empty means the Docker Hub images"},
		{flag: "git-addr", env: []string{"PLATFORM_GIT_ADDR"}, def: "127.0.0.1:2222", bind: text(&c.Git.Addr),
			usage: `listen address of the SSH git receiver, or "off"`},
		{flag: "git-public-url", env: []string{"PLATFORM_GIT_PUBLIC_URL"}, bind: text(&c.Git.PublicURL),
			usage: "where users reach the SSH git receiver, as ssh://git@HOST:PORT, when that is not --git-addr (a container's published port, a load balancer): the base of apps' git remotes; empty: ssh://git@<git addr>"},
		{flag: "git-host-key-file", env: []string{"PLATFORM_GIT_HOST_KEY_FILE"}, bind: text(&c.Git.HostKeyPath),
			usage: "the SSH git receiver's private host key, such as a mounted Secret, so that every replica shows the same key; empty: <data dir>/ssh_host_ed25519_key, made on first start"},
		{flag: "router-addr", env: []string{"PLATFORM_ROUTER_ADDR"}, def: "127.0.0.1:7880", router: true, bind: text(&c.Router.Addr),
			usage: `listen address of the in-process router (the apps' HTTP edge), or "off" when it runs on its own (--mode=router)`},
		{flag: "router-trusted-proxies", env: []string{"PLATFORM_ROUTER_TRUSTED_PROXIES"}, router: true, bind: prefixes(&c.Router.TrustedProxies),
			usage: "comma-separated CIDRs or addresses of the proxies in front of the router (a load balancer, a CDN) whose X-Forwarded-For chain the router extends and whose X-Forwarded-Proto, X-Forwarded-Host and other client-address headers it believes; empty trusts no one, and a client's own are replaced"},
		{flag: "router-https-addr", env: []string{"PLATFORM_ROUTER_HTTPS_ADDR"}, def: "off", router: true, bind: text(&c.Router.HTTPSAddr),
			usage: `listen address where the router serves HTTPS with the certificates its Ingresses' spec.tls name (chosen by SNI), or "off"`},
		{flag: "router-https-port", env: []string{"PLATFORM_ROUTER_HTTPS_PORT"}, def: "443", router: true, bind: count(&c.Router.HTTPSPort),
			usage: "the port clients reach the router's HTTPS at (its load balancer's), where plain HTTP to a host with a certificate is redirected"},
		{flag: "router-default-certificate", env: []string{"PLATFORM_ROUTER_DEFAULT_CERTIFICATE"}, router: true, bind: text(&c.Router.DefaultCertificate),
			usage: "a kubernetes.io/tls Secret, as namespace/name, whose certificate (a wildcard for the apps domain) serves every host it covers that has no certificate of its own; no ACME is done for those hosts. Needs --router-https-addr"},
		{flag: "acme-directory", env: []string{"PLATFORM_ACME_DIRECTORY"}, router: true, bind: text(&c.Router.ACME.Directory),
			usage: "the ACME directory URL the router obtains certificates from for Ingresses annotated kubernetes.io/tls-acme=true, like https://acme-v02.api.letsencrypt.org/directory; empty turns ACME off. Needs --router-https-addr. The deployer, told it too, asks the router for a certificate for every app host without an uploaded one"},
		{flag: "acme-email", env: []string{"PLATFORM_ACME_EMAIL"}, router: true, bind: text(&c.Router.ACME.Email),
			usage: "the ACME account's contact address, for the CA's expiry and policy notices"},
		{flag: "acme-ca-roots", env: []string{"PLATFORM_ACME_CA_ROOTS"}, router: true, bind: pemFiles(&c.Router.ACME.CARoots),
			usage: "comma-separated PEM files of certificate authorities trusted for the ACME server's HTTPS besides the system's (a private CA, pebble's)"},
		{flag: "acme-namespace", env: []string{"PLATFORM_ACME_NAMESPACE", "POD_NAMESPACE"}, router: true, bind: text(&c.Router.ACME.Namespace),
			usage: "the router's own namespace, where the ACME account key Secret, the Lease that elects the replica that orders certificates and the pending challenges live; empty: the pod's namespace, or \"platform\" outside a pod"},
		{flag: "router-publish-address", env: []string{"PLATFORM_ROUTER_PUBLISH_ADDRESS"}, router: true, bind: list(&c.Router.PublishAddresses),
			usage: "comma-separated IP addresses or host names where clients reach the router (its load balancer's): written into the status of every Ingress it serves, for external-dns and the like; empty leaves the status alone"},
		{flag: "router-read-header-timeout", env: []string{"PLATFORM_ROUTER_READ_HEADER_TIMEOUT"}, def: "10s", router: true, bind: duration(&c.Router.ReadHeaderTimeout),
			usage: "how long a client may take to send a request head"},
		{flag: "router-body-idle-timeout", env: []string{"PLATFORM_ROUTER_BODY_IDLE_TIMEOUT"}, def: "60s", router: true, bind: duration(&c.Router.BodyIdleTimeout),
			usage: "how long a client may pause while it sends a request body before the router answers 408 and cuts it off; a slow upload that keeps coming goes on"},
		{flag: "router-write-timeout", env: []string{"PLATFORM_ROUTER_WRITE_TIMEOUT"}, def: "60s", router: true, bind: duration(&c.Router.WriteTimeout),
			usage: "how long a client may take none of a response before the router cuts it off; a slow download that keeps moving goes on"},
		{flag: "router-cidrs", env: []string{"PLATFORM_ROUTER_CIDRS"}, bind: list(&c.Deploy.RouterCIDRs),
			usage: "comma-separated CIDRs the router connects to pods from when it runs outside the cluster; tenants' network policies admit them"},
		{flag: "build-ca-file", env: []string{"PLATFORM_BUILD_CA_FILE"}, bind: pemFiles(&n.CACerts),
			usage: "comma-separated PEM files of certificate authorities that build steps trust besides their images' own (a TLS-inspecting proxy's CA, a mirror's); make up passes the host's trust store"},
		{flag: "build-http-proxy", env: []string{"PLATFORM_BUILD_HTTP_PROXY"}, bind: text(&n.HTTPProxy),
			usage: "HTTP_PROXY for build steps, e.g. http://proxy.example.com:3128"},
		{flag: "build-https-proxy", env: []string{"PLATFORM_BUILD_HTTPS_PROXY"}, bind: text(&n.HTTPSProxy),
			usage: "HTTPS_PROXY for build steps"},
		{flag: "build-no-proxy", env: []string{"PLATFORM_BUILD_NO_PROXY"}, bind: text(&n.NoProxy),
			usage: "NO_PROXY for build steps: comma-separated hosts, domains and CIDRs reached directly"},
		{flag: "build-goproxy", env: []string{"PLATFORM_BUILD_GOPROXY"}, bind: text(&n.GoProxy),
			usage: "GOPROXY for Go builds, e.g. https://goproxy.example.com,direct"},
		{flag: "build-gonosumdb", env: []string{"PLATFORM_BUILD_GONOSUMDB"}, bind: text(&n.GoNoSumDB),
			usage: "GONOSUMDB for Go builds: module path patterns not checked against the checksum database"},
		{flag: "build-goprivate", env: []string{"PLATFORM_BUILD_GOPRIVATE"}, bind: text(&n.GoPrivate),
			usage: "GOPRIVATE for Go builds: module path patterns fetched directly, unchecked"},
		{flag: "build-npm-registry", env: []string{"PLATFORM_BUILD_NPM_REGISTRY"}, bind: text(&n.NPMRegistry),
			usage: "npm registry (or mirror) URL for Node builds"},
		{flag: "build-pip-index-url", env: []string{"PLATFORM_BUILD_PIP_INDEX_URL"}, bind: text(&n.PipIndexURL),
			usage: "Python package index URL (PEP 503 simple API) for Python builds"},
		{flag: "build-timeout", env: []string{"PLATFORM_BUILD_TIMEOUT"}, def: builder.DefaultLimits.Timeout.String(), bind: duration(&c.Build.Limits.Timeout),
			usage: "wall-clock limit of one build"},
		{flag: "build-log-limit", env: []string{"PLATFORM_BUILD_LOG_LIMIT"}, def: "8MiB", bind: size(&c.Build.Limits.LogBytes),
			usage: "limit of one build's output; a build that writes more fails"},
		{flag: "build-memory", env: []string{"PLATFORM_BUILD_MEMORY"}, def: "2GiB", bind: size(&c.Build.Limits.Memory),
			usage: "memory limit of one build's steps together (applied when --build-cgroup-root is set)"},
		{flag: "build-cpus", env: []string{"PLATFORM_BUILD_CPUS"}, def: "2", bind: decimal(&c.Build.Limits.CPUs),
			usage: "CPU limit of one build's steps together, in cores (applied when --build-cgroup-root is set)"},
		{flag: "build-processes", env: []string{"PLATFORM_BUILD_PROCESSES"}, def: "2048", bind: count(&c.Build.Limits.Processes),
			usage: "limit of the processes and threads one build's steps run at once (applied when --build-cgroup-root is set)"},
		{flag: "build-cgroup-root", env: []string{"PLATFORM_BUILD_CGROUP_ROOT"}, bind: text(&c.Build.Limits.CgroupRoot),
			usage: "the cgroup file system (/sys/fs/cgroup) when BuildKit runs on this machine: each app's builds get a cgroup with the memory, CPU and process limits; empty when BuildKit runs in its own pod, whose limits then apply"},
		{flag: "push-max-pack", env: []string{"PLATFORM_PUSH_MAX_PACK"}, def: "1GiB", bind: size(&c.Git.MaxPackBytes),
			usage: "limit of the pack a git push sends"},
		{flag: "push-max-checkout", env: []string{"PLATFORM_PUSH_MAX_CHECKOUT"}, def: "1GiB", bind: size(&c.Git.Checkout.MaxBytes),
			usage: "limit of the total size of the files a pushed commit checks out (a small pack may expand to much more)"},
		{flag: "push-max-files", env: []string{"PLATFORM_PUSH_MAX_FILES"}, def: "100000", bind: count(&c.Git.Checkout.MaxFiles),
			usage: "limit of the number of files a pushed commit checks out"},
		{flag: "rollout-timeout", env: []string{"PLATFORM_ROLLOUT_TIMEOUT"}, def: "2m", bind: duration(&c.Deploy.RolloutTimeout),
			usage: "how long a release may take to roll out before it is undone"},
		{flag: "ingress-class", env: []string{"PLATFORM_INGRESS_CLASS"}, def: "platform", router: true, bind: text(&c.Deploy.IngressClass),
			usage: "the IngressClass of the apps' Ingresses, which the router serves (and platformd creates); two platforms in one cluster need two"},
		{flag: "manage-ingress-class", env: []string{"PLATFORM_MANAGE_INGRESS_CLASS"}, def: "true", bind: boolean(&c.Deploy.ManageIngressClass),
			usage: "create the IngressClass at start; false where the install owns it (the Helm chart does), so that uninstalling removes it for good"},
		{flag: "cpu-request-percent", env: []string{"PLATFORM_CPU_REQUEST_PERCENT"}, def: "100", bind: number(&c.Deploy.CPURequestPercent),
			usage: "the share of each size's CPU request that apps' processes ask the scheduler for, and tenants' quotas count; below 100 overcommits the nodes' CPU (limits stay whole), for small development clusters"},
		{flag: "namespace-prefix", env: []string{"PLATFORM_NAMESPACE_PREFIX"}, def: "t-", bind: text(&c.Deploy.NamespacePrefix),
			usage: "what goes before a tenant's name to make its Kubernetes namespace; two platforms in one cluster need two"},
		{flag: "apps-domain", env: []string{"PLATFORM_APPS_DOMAIN"}, def: "localhost", bind: text(&c.Deploy.AppsDomain),
			usage: "apps answer at <app>.<apps domain>; names under localhost reach this machine in browsers and curl with no DNS set-up"},
		{flag: "admin-email", env: []string{"PLATFORM_ADMIN_EMAIL"}, def: "admin@platform.test", bind: text(&c.AdminEmail),
			usage: "e-mail of the administrator created on first start"},
		{flag: "admin-token-file", env: []string{"PLATFORM_ADMIN_TOKEN_FILE"}, bind: text(&c.AdminTokenFile),
			usage: "file holding the API token the administrator gets on first start (plt_ and at least 32 more letters and digits), such as a mounted Secret; empty: a new token is written to <data dir>/admin-token"},
		{flag: "log-level", env: []string{"PLATFORM_LOG_LEVEL"}, def: "info", router: true, bind: level(&c.Log.Level),
			usage: "debug, info, warn or error"},
		{flag: "log-format", env: []string{"PLATFORM_LOG_FORMAT"}, def: "text", router: true, bind: text(&c.Log.Format),
			usage: "text or json"},
		{flag: "shutdown-timeout", env: []string{"PLATFORM_SHUTDOWN_TIMEOUT"}, def: "20s", router: true, bind: duration(&c.ShutdownTimeout),
			usage: "how long to wait for requests in flight on SIGINT or SIGTERM"},
	}
}

// binding is where a setting's value goes: a field of config, and how a
// value is parsed into it. Two settings bound to one field are
// alternatives (see loader.apply).
type binding struct {
	field any                // the pointer to the field
	parse func(string) error // stores the value; the error never holds it
}

func text(p *string) binding {
	return binding{p, func(v string) error { *p = v; return nil }}
}

func boolean(p *bool) binding {
	return binding{p, func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be true or false")
		}
		*p = b
		return nil
	}}
}

func number(p *int) binding {
	return binding{p, func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be a whole number")
		}
		*p = n
		return nil
	}}
}

func duration(p *time.Duration) binding {
	return binding{p, func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("must be a duration like 20s or 2m")
		}
		*p = d
		return nil
	}}
}

func level(p *slog.Level) binding {
	return binding{p, func(v string) error {
		if err := p.UnmarshalText([]byte(v)); err != nil {
			return errors.New("must be debug, info, warn or error")
		}
		return nil
	}}
}

// size parses a byte size: a whole number with an optional KiB, MiB or GiB.
func size(p *int64) binding {
	return binding{p, func(v string) error {
		mult := int64(1)
		for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
			if n, ok := strings.CutSuffix(v, suffix); ok {
				v, mult = n, m
				break
			}
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64/mult {
			return errors.New("must be a size like 512MiB, 2GiB or a number of bytes")
		}
		*p = n * mult
		return nil
	}}
}

// decimal parses a positive decimal number.
func decimal(p *float64) binding {
	return binding{p, func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			return errors.New("must be a positive number like 1.5")
		}
		*p = f
		return nil
	}}
}

// count parses a positive whole number.
func count(p *int64) binding {
	return binding{p, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return errors.New("must be a positive whole number")
		}
		*p = n
		return nil
	}}
}

// list parses a comma-separated list; empty is none.
func list(p *[]string) binding {
	return binding{p, func(v string) error {
		*p = nil
		if v == "" {
			return nil
		}
		for item := range strings.SplitSeq(v, ",") {
			*p = append(*p, strings.TrimSpace(item))
		}
		return nil
	}}
}

// prefixes parses a comma-separated list of CIDRs or addresses, an
// address standing for itself alone; empty is none.
func prefixes(p *[]netip.Prefix) binding {
	return binding{p, func(v string) error {
		*p = nil
		var errs []error
		for i, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if pfx, err := netip.ParsePrefix(item); err == nil {
				*p = append(*p, pfx.Masked())
				continue
			}
			a, err := netip.ParseAddr(item)
			if err != nil {
				errs = append(errs, fmt.Errorf("item %d is not a CIDR like 10.0.0.0/8 or an address like 192.0.2.1", i+1))
				continue
			}
			*p = append(*p, netip.PrefixFrom(a, a.BitLen()))
		}
		return errors.Join(errs...)
	}}
}

// secretKey decodes a base64 secret key.
func secretKey(p *[]byte) binding {
	return binding{p, func(v string) (err error) {
		*p, err = decodeKey(v)
		return err
	}}
}

// secretKeyFile reads a secret key from the file named.
func secretKeyFile(p *[]byte) binding {
	return binding{p, func(v string) (err error) {
		*p, err = readKeyFile(v)
		return err
	}}
}

// pemFiles reads and concatenates a comma-separated list of PEM files.
func pemFiles(p *[]byte) binding {
	return binding{p, func(v string) error {
		*p = nil
		if v == "" {
			return nil
		}
		var errs []error
		for f := range strings.SplitSeq(v, ",") {
			pem, err := os.ReadFile(strings.TrimSpace(f))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			*p = append(*p, pem...)
			*p = append(*p, '\n')
		}
		return errors.Join(errs...)
	}}
}

// errVersion and flag.ErrHelp tell run that the command line asked for
// something other than serving, and it was printed.
var errVersion = errors.New("version requested")

// loadConfig reads the command line and the environment into a config and
// checks it. Every problem found is reported in the one error returned,
// each naming its flag and variables; no secret value is ever echoed in
// it.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	all := cfg.settings()
	fs := flag.NewFlagSet("platformd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	given := make([]flagValue, len(all))
	for i, s := range all {
		fs.Var(&given[i], s.flag, s.usage)
	}
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() { usage(stderr, all) }

	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if *showVersion {
		return config{}, errVersion
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("platformd takes no arguments, got %q (see --help)", fs.Args())
	}

	l := &loader{settings: all, values: make([]value, len(all)), failed: make([]bool, len(all))}
	for i, s := range all {
		l.values[i] = resolve(s, given[i], getenv)
	}
	// The settings of both modes first: --mode says whether the others
	// apply.
	l.apply(func(s *setting) bool { return s.router })
	if cfg.Mode == modeRouter {
		// The router alone: what only the API, builds and deploys need
		// is neither required nor read. Its flag is an error, as it would
		// be silently ignored; its variable is ignored, so that one
		// environment can serve both modes.
		for i, s := range all {
			if !s.router && l.values[i].from == fromFlag {
				l.bad(i, fmt.Sprintf("does not apply with --mode=%s (the router alone needs no database, secret key, data directory, BuildKit, registry or git receiver)", modeRouter))
			}
		}
	} else {
		l.apply(func(s *setting) bool { return !s.router })
	}
	for _, p := range cfg.check(getenv("KUBERNETES_SERVICE_HOST") != "") {
		l.problem(p)
	}
	if err := l.err(); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// source is where a setting's value came from.
type source int

const (
	fromDefault source = iota
	fromEnv
	fromFlag
)

// value is a setting's resolved value.
type value struct {
	v    string
	from source
	env  string // the variable it came from
}

// resolve picks a setting's value: the flag if given, else the first
// non-empty environment variable, else the default.
func resolve(s *setting, f flagValue, getenv func(string) string) value {
	if f.given {
		return value{v: f.v, from: fromFlag}
	}
	for _, name := range s.env {
		if v := getenv(name); v != "" {
			return value{v: v, from: fromEnv, env: name}
		}
	}
	return value{v: s.def, from: fromDefault}
}

// flagValue is a flag as given on the command line.
type flagValue struct {
	given bool
	v     string
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.given, f.v = true, v; return nil }

// loader collects what is wrong with the settings, by setting.
type loader struct {
	settings []*setting
	values   []value // by setting
	failed   []bool  // by setting: its value could not be used
	errs     []settingError
}

type settingError struct {
	setting int
	msg     string
}

// apply parses the value of every setting that which selects into its
// field. Of two settings bound to one field (--secret-key and
// --secret-key-file), the one given is parsed, a flag beating both
// variables; both given the same way is a problem of the first, and
// neither leaves the field empty for check to report.
func (l *loader) apply(which func(*setting) bool) {
	done := make([]bool, len(l.settings))
	for i, s := range l.settings {
		if done[i] || !which(s) {
			continue
		}
		var alts []int
		for j := i; j < len(l.settings); j++ {
			if l.settings[j].bind.field == s.bind.field {
				alts = append(alts, j)
				done[j] = true
			}
		}
		if len(alts) == 1 {
			l.parse(i)
			continue
		}
		l.applyOneOf(alts)
	}
}

func (l *loader) applyOneOf(alts []int) {
	var flags, envs []string
	var byFlag, byEnv []int
	for _, i := range alts {
		switch v := l.values[i]; v.from {
		case fromFlag:
			byFlag, flags = append(byFlag, i), append(flags, "--"+l.settings[i].flag)
		case fromEnv:
			byEnv, envs = append(byEnv, i), append(envs, v.env)
		}
	}
	switch {
	case len(byFlag) > 1:
		l.bad(byFlag[0], "give only one of "+strings.Join(flags, " and "))
	case len(byFlag) == 1:
		l.parse(byFlag[0])
	case len(byEnv) > 1:
		l.bad(byEnv[0], "set only one of "+strings.Join(envs, " and "))
	case len(byEnv) == 1:
		l.parse(byEnv[0])
	}
}

func (l *loader) parse(i int) {
	err := l.settings[i].bind.parse(l.values[i].v)
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			l.bad(i, e.Error())
		}
		return
	}
	l.bad(i, err.Error())
}

// bad records what is wrong with setting i. The setting's field is then
// not checked further: a value that could not be used is reported once.
func (l *loader) bad(i int, msg string) {
	l.failed[i] = true
	l.errs = append(l.errs, settingError{i, msg})
}

// problem records p against the first setting bound to its field, unless
// a setting of that field failed already.
func (l *loader) problem(p problem) {
	at := -1
	for i, s := range l.settings {
		if s.bind.field != p.field {
			continue
		}
		if l.failed[i] {
			return
		}
		if at < 0 {
			at = i
		}
	}
	if at < 0 {
		// A check of a field no setting fills: a bug, still reported.
		l.errs = append(l.errs, settingError{-1, p.msg})
		return
	}
	l.errs = append(l.errs, settingError{at, p.msg})
}

// err returns every problem in one error, in the order of the settings.
func (l *loader) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(l.errs, func(a, b settingError) int { return a.setting - b.setting })
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, e := range l.errs {
		b.WriteString("\n  ")
		if e.setting >= 0 {
			b.WriteString(l.settings[e.setting].name() + ": ")
		}
		b.WriteString(strings.ReplaceAll(e.msg, "\n", "\n  "))
	}
	return errors.New(b.String())
}

func usage(w io.Writer, all []*setting) {
	fmt.Fprintf(w, "Usage: platformd [flags]\n\n")
	fmt.Fprintf(w, "platformd serves the platform's API, builds and deploys apps. Every flag\n")
	fmt.Fprintf(w, "can be set by its environment variable instead; a flag beats the variable.\n")
	var routerFlags []string
	for _, s := range all {
		if s.router {
			routerFlags = append(routerFlags, "--"+s.flag)
		}
	}
	fmt.Fprintf(w, "With --mode=%s only these apply:\n  %s.\n\n", modeRouter, strings.Join(routerFlags, ", "))
	for _, s := range all {
		fmt.Fprintf(w, "  --%s  (%s)\n", s.flag, strings.Join(s.env, ", "))
		fmt.Fprintf(w, "        %s", s.usage)
		if s.def != "" {
			fmt.Fprintf(w, " (default %q)", s.def)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  --version\n        print the version and exit\n")
}

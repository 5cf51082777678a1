package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/store"
)

// config is platformd's whole configuration, validated. In router mode
// only Mode, HTTPAddr, Kubeconfig, RouterAddr, the log settings and
// ShutdownTimeout are set.
type config struct {
	Mode            string // modeAll or modeRouter
	HTTPAddr        string
	DatabaseURL     string
	SecretKey       []byte // store.KeySize bytes
	DataDir         string // absolute
	Kubeconfig      string // empty: in-cluster
	BuildkitAddr    string
	RegistryAddr    string // empty: no embedded registry
	ImageRegistry   string // host:port app images are pushed to and pulled from
	StackImages     string // registry holding the local stack images; empty: Docker Hub defaults
	GitAddr         string // empty: no SSH git receiver
	RouterAddr      string // empty: no in-process router
	BuildNetwork    builder.Network
	RolloutTimeout  time.Duration
	RouterCIDRs     []string // where the router reaches pods from, for tenants' network policies
	AppsDomain      string
	AdminEmail      string
	LogLevel        slog.Level
	LogFormat       string // "text" or "json"
	ShutdownTimeout time.Duration
}

// registryOff is the --registry-addr value that disables the embedded
// registry.
const registryOff = "off"

// The values of --mode: everything in one process (the API, git receiver,
// builds, deploys, registry and, unless --router-addr is off, the router),
// or the router alone, for running it as its own deployment.
const (
	modeAll    = "all"
	modeRouter = "router"
)

// makeKeyHint tells an operator how to make a secret key.
const makeKeyHint = "make one with: head -c32 /dev/urandom | base64"

// setting is one configuration value: a flag, the environment variables
// that stand in for it (first non-empty wins) and its default. A flag given
// on the command line beats the environment.
type setting struct {
	flag    string
	env     []string
	def     string
	usage   string
	router  bool   // applies in router mode too
	present bool   // set on the command line
	value   string // resolved
}

func (s *setting) name() string {
	return "--" + s.flag + " (" + strings.Join(s.env, " or ") + ")"
}

// settings returns platformd's settings; a fresh slice every call, so no
// parse shares state with another.
func settings() []*setting {
	return []*setting{
		{flag: "mode", env: []string{"PLATFORM_MODE"}, def: modeAll, router: true,
			usage: `"all" runs the whole platform; "router" runs only the router (the apps' HTTP edge) with its probes and metrics, needing no database, secret key, BuildKit or registry`},
		{flag: "http-addr", env: []string{"PLATFORM_HTTP_ADDR"}, def: "127.0.0.1:7800", router: true,
			usage: "listen address of the HTTP API, probes and metrics (in router mode: probes and metrics)"},
		{flag: "database-url", env: []string{"PLATFORM_DATABASE_URL", "DATABASE_URL"},
			usage: "PostgreSQL connection string (required)"},
		{flag: "secret-key", env: []string{"PLATFORM_SECRET_KEY"},
			usage: "base64 of 32 random bytes that encrypts config vars at rest (this or --secret-key-file is required; " + makeKeyHint + ")"},
		{flag: "secret-key-file", env: []string{"PLATFORM_SECRET_KEY_FILE"},
			usage: "file holding the secret key, instead of --secret-key"},
		{flag: "data-dir", env: []string{"PLATFORM_DATA_DIR"},
			usage: "directory for platformd's state: admin token, registry storage, repositories (required)"},
		{flag: "kubeconfig", env: []string{"PLATFORM_KUBECONFIG", "KUBECONFIG"}, router: true,
			usage: "kubeconfig file(s); empty means the in-cluster config"},
		{flag: "buildkit-addr", env: []string{"PLATFORM_BUILDKIT_ADDR"}, def: "unix:///run/buildkit/buildkitd.sock",
			usage: "address of the BuildKit daemon"},
		{flag: "registry-addr", env: []string{"PLATFORM_REGISTRY_ADDR"}, def: "127.0.0.1:5000",
			usage: `loopback listen address of the embedded OCI registry, or "off"`},
		{flag: "image-registry", env: []string{"PLATFORM_IMAGE_REGISTRY"},
			usage: "host:port of the registry app images are pushed to and the cluster pulls from; default: the embedded registry's address"},
		{flag: "stack-images-registry", env: []string{"PLATFORM_STACK_IMAGES_REGISTRY"},
			usage: "registry holding the build and run images of the language stacks as platform/stack-go:bookworm etc. (make up makes them); empty means the Docker Hub images"},
		{flag: "git-addr", env: []string{"PLATFORM_GIT_ADDR"}, def: "127.0.0.1:2222",
			usage: `listen address of the SSH git receiver, or "off"`},
		{flag: "router-addr", env: []string{"PLATFORM_ROUTER_ADDR"}, def: "127.0.0.1:7880", router: true,
			usage: `listen address of the in-process router (the apps' HTTP edge), or "off" when it runs on its own (--mode=router)`},
		{flag: "router-cidrs", env: []string{"PLATFORM_ROUTER_CIDRS"},
			usage: "comma-separated CIDRs the router connects to pods from when it runs outside the cluster; tenants' network policies admit them"},
		{flag: "build-ca-file", env: []string{"PLATFORM_BUILD_CA_FILE"},
			usage: "comma-separated PEM files of certificate authorities that build steps trust besides their images' own (a TLS-inspecting proxy's CA, a mirror's); make up passes the host's trust store"},
		{flag: "build-http-proxy", env: []string{"PLATFORM_BUILD_HTTP_PROXY"},
			usage: "HTTP_PROXY for build steps, e.g. http://proxy.example.com:3128"},
		{flag: "build-https-proxy", env: []string{"PLATFORM_BUILD_HTTPS_PROXY"},
			usage: "HTTPS_PROXY for build steps"},
		{flag: "build-no-proxy", env: []string{"PLATFORM_BUILD_NO_PROXY"},
			usage: "NO_PROXY for build steps: comma-separated hosts, domains and CIDRs reached directly"},
		{flag: "build-goproxy", env: []string{"PLATFORM_BUILD_GOPROXY"},
			usage: "GOPROXY for Go builds, e.g. https://goproxy.example.com,direct"},
		{flag: "build-gonosumdb", env: []string{"PLATFORM_BUILD_GONOSUMDB"},
			usage: "GONOSUMDB for Go builds: module path patterns not checked against the checksum database"},
		{flag: "build-goprivate", env: []string{"PLATFORM_BUILD_GOPRIVATE"},
			usage: "GOPRIVATE for Go builds: module path patterns fetched directly, unchecked"},
		{flag: "build-npm-registry", env: []string{"PLATFORM_BUILD_NPM_REGISTRY"},
			usage: "npm registry (or mirror) URL for Node builds"},
		{flag: "build-pip-index-url", env: []string{"PLATFORM_BUILD_PIP_INDEX_URL"},
			usage: "Python package index URL (PEP 503 simple API) for Python builds"},
		{flag: "rollout-timeout", env: []string{"PLATFORM_ROLLOUT_TIMEOUT"}, def: "2m",
			usage: "how long a release may take to roll out before it is undone"},
		{flag: "apps-domain", env: []string{"PLATFORM_APPS_DOMAIN"}, def: "platform.test",
			usage: "apps answer at <app>.<apps domain>"},
		{flag: "admin-email", env: []string{"PLATFORM_ADMIN_EMAIL"}, def: "admin@platform.test",
			usage: "e-mail of the administrator created on first start"},
		{flag: "log-level", env: []string{"PLATFORM_LOG_LEVEL"}, def: "info", router: true,
			usage: "debug, info, warn or error"},
		{flag: "log-format", env: []string{"PLATFORM_LOG_FORMAT"}, def: "text", router: true,
			usage: "text or json"},
		{flag: "shutdown-timeout", env: []string{"PLATFORM_SHUTDOWN_TIMEOUT"}, def: "20s", router: true,
			usage: "how long to wait for requests in flight on SIGINT or SIGTERM"},
	}
}

// errVersion and flag.ErrHelp tell run that the command line asked for
// something other than serving, and it was printed.
var errVersion = errors.New("version requested")

// loadConfig reads the command line and the environment into a config.
// Every problem found is reported in the one error returned; no value of a
// setting is ever echoed in it, since some are secrets.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	all := settings()
	byFlag := make(map[string]*setting, len(all))
	fs := flag.NewFlagSet("platformd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := make(map[string]*string, len(all))
	for _, s := range all {
		byFlag[s.flag] = s
		values[s.flag] = fs.String(s.flag, "", s.usage)
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
	fs.Visit(func(f *flag.Flag) {
		if s, ok := byFlag[f.Name]; ok {
			s.present = true
		}
	})
	for _, s := range all {
		s.value = resolve(s, *values[s.flag], getenv)
	}

	var (
		cfg  config
		errs []error
	)
	bad := func(s *setting, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", s.name(), fmt.Sprintf(format, a...)))
	}

	mode := byFlag["mode"]
	switch mode.value {
	case modeAll, modeRouter:
		cfg.Mode = mode.value
	default:
		bad(mode, "must be %q or %q", modeAll, modeRouter)
	}

	httpAddr := byFlag["http-addr"]
	if err := checkListenAddr(httpAddr.value); err != nil {
		bad(httpAddr, "%v", err)
	}
	cfg.HTTPAddr = httpAddr.value

	logLevel := byFlag["log-level"]
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel.value)); err != nil {
		bad(logLevel, "must be debug, info, warn or error")
	}

	logFormat := byFlag["log-format"]
	if logFormat.value != "text" && logFormat.value != "json" {
		bad(logFormat, "must be text or json")
	}
	cfg.LogFormat = logFormat.value

	shutdownTimeout := byFlag["shutdown-timeout"]
	d, err := time.ParseDuration(shutdownTimeout.value)
	if err != nil || d <= 0 {
		bad(shutdownTimeout, "must be a positive duration like 20s")
	}
	cfg.ShutdownTimeout = d

	if cfg.Mode == modeRouter {
		// The router alone: what only the API, builds and deploys need is
		// neither required nor read.
		routerModeConfig(&cfg, all, byFlag, getenv, bad)
		return finish(cfg, errs)
	}

	dbURL := byFlag["database-url"]
	if dbURL.value == "" {
		bad(dbURL, "is required, e.g. postgres://platform@127.0.0.1:5432/platform?sslmode=disable")
	} else if err := checkDatabaseURL(dbURL.value); err != nil {
		bad(dbURL, "%v", err)
	} else {
		cfg.DatabaseURL = dbURL.value
	}

	key, keySetting, err := secretKey(byFlag["secret-key"], byFlag["secret-key-file"], getenv)
	if err != nil {
		bad(keySetting, "%v", err)
	}
	cfg.SecretKey = key

	dataDir := byFlag["data-dir"]
	if dataDir.value == "" {
		bad(dataDir, "is required")
	} else if abs, err := filepath.Abs(dataDir.value); err != nil {
		bad(dataDir, "%v", err)
	} else {
		cfg.DataDir = abs
	}

	cfg.Kubeconfig = byFlag["kubeconfig"].value

	buildkitAddr := byFlag["buildkit-addr"]
	if u, err := url.Parse(buildkitAddr.value); err != nil || u.Scheme == "" {
		bad(buildkitAddr, "must be an address like unix:///run/buildkit/buildkitd.sock or tcp://127.0.0.1:1234")
	}
	cfg.BuildkitAddr = buildkitAddr.value

	if registryAddr := byFlag["registry-addr"]; registryAddr.value != registryOff {
		if err := checkListenAddr(registryAddr.value); err != nil {
			bad(registryAddr, "%v", err)
		} else if !registry.IsLoopback(registryAddr.value) {
			bad(registryAddr, "must be a loopback address such as 127.0.0.1:5000 (the embedded registry has no authentication), or %q", registryOff)
		}
		cfg.RegistryAddr = registryAddr.value
	}

	cfg.ImageRegistry = byFlag["image-registry"].value
	if cfg.ImageRegistry == "" {
		cfg.ImageRegistry = cfg.RegistryAddr
	}
	if cfg.ImageRegistry == "" {
		bad(byFlag["image-registry"], "is required when the embedded registry is off")
	} else if _, _, err := net.SplitHostPort(cfg.ImageRegistry); err != nil && strings.Contains(cfg.ImageRegistry, "/") {
		bad(byFlag["image-registry"], "must be a registry host[:port] without a path")
	}
	cfg.StackImages = byFlag["stack-images-registry"].value
	for _, name := range []string{"git-addr", "router-addr"} {
		s := byFlag[name]
		if s.value == registryOff {
			continue
		}
		if err := checkListenAddr(s.value); err != nil {
			bad(s, "%v", err)
		}
		if name == "git-addr" {
			cfg.GitAddr = s.value
		} else {
			cfg.RouterAddr = s.value
		}
	}
	if v := byFlag["router-cidrs"].value; v != "" {
		for _, c := range strings.Split(v, ",") {
			c = strings.TrimSpace(c)
			if _, _, err := net.ParseCIDR(c); err != nil {
				bad(byFlag["router-cidrs"], "%q is not a CIDR like 10.0.0.1/32", c)
				continue
			}
			cfg.RouterCIDRs = append(cfg.RouterCIDRs, c)
		}
	}
	cfg.BuildNetwork = builder.Network{
		HTTPProxy:   byFlag["build-http-proxy"].value,
		HTTPSProxy:  byFlag["build-https-proxy"].value,
		NoProxy:     byFlag["build-no-proxy"].value,
		GoProxy:     byFlag["build-goproxy"].value,
		GoNoSumDB:   byFlag["build-gonosumdb"].value,
		GoPrivate:   byFlag["build-goprivate"].value,
		NPMRegistry: byFlag["build-npm-registry"].value,
		PipIndexURL: byFlag["build-pip-index-url"].value,
	}
	if caFiles := byFlag["build-ca-file"]; caFiles.value != "" {
		for _, f := range strings.Split(caFiles.value, ",") {
			pem, err := os.ReadFile(strings.TrimSpace(f))
			if err != nil {
				bad(caFiles, "%v", err)
				continue
			}
			cfg.BuildNetwork.CACerts = append(cfg.BuildNetwork.CACerts, pem...)
			cfg.BuildNetwork.CACerts = append(cfg.BuildNetwork.CACerts, '\n')
		}
	}
	if err := cfg.BuildNetwork.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("build network settings (--build-*): %w", err))
	}

	rollout := byFlag["rollout-timeout"]
	if d, err := time.ParseDuration(rollout.value); err != nil || d < 10*time.Second {
		bad(rollout, "must be a duration of at least 10s, like 2m")
	} else {
		cfg.RolloutTimeout = d
	}

	appsDomain := byFlag["apps-domain"]
	if err := checkDNSName(appsDomain.value); err != nil {
		bad(appsDomain, "%v", err)
	}
	cfg.AppsDomain = appsDomain.value

	adminEmail := byFlag["admin-email"]
	if a, err := mail.ParseAddress(adminEmail.value); err != nil || a.Address != adminEmail.value {
		bad(adminEmail, "must be a plain e-mail address like admin@example.com")
	}
	cfg.AdminEmail = adminEmail.value

	return finish(cfg, errs)
}

// finish returns cfg, or every problem found in one error.
func finish(cfg config, errs []error) (config, error) {
	if len(errs) > 0 {
		return config{}, fmt.Errorf("invalid configuration:\n%w", indent(errors.Join(errs...)))
	}
	return cfg, nil
}

// resolve picks a setting's value: the flag if given, else the first
// non-empty environment variable, else the default.
func resolve(s *setting, flagValue string, getenv func(string) string) string {
	if s.present {
		return flagValue
	}
	for _, name := range s.env {
		if v := getenv(name); v != "" {
			return v
		}
	}
	return s.def
}

// secretKey reads the key from --secret-key or --secret-key-file. A flag
// beats both variables, so an inherited PLATFORM_SECRET_KEY does not clash
// with --secret-key-file. It returns the setting to blame for an error.
func secretKey(keyS, fileS *setting, getenv func(string) string) ([]byte, *setting, error) {
	var useKey, useFile bool
	switch {
	case keyS.present && fileS.present:
		return nil, keyS, fmt.Errorf("give only one of --secret-key and --secret-key-file")
	case keyS.present:
		useKey = true
	case fileS.present:
		useFile = true
	default:
		keyEnv, fileEnv := getenv(keyS.env[0]), getenv(fileS.env[0])
		switch {
		case keyEnv != "" && fileEnv != "":
			return nil, keyS, fmt.Errorf("set only one of %s and %s", keyS.env[0], fileS.env[0])
		case keyEnv != "":
			useKey = true
		case fileEnv != "":
			useFile = true
		}
	}

	switch {
	case useKey:
		key, err := decodeKey(keyS.value)
		return key, keyS, err
	case useFile:
		if fileS.value == "" {
			return nil, fileS, fmt.Errorf("is empty")
		}
		b, err := readSmallFile(fileS.value, 1024)
		if err != nil {
			return nil, fileS, err
		}
		key, err := decodeKey(string(b))
		if err != nil {
			return nil, fileS, fmt.Errorf("%s: %w", fileS.value, err)
		}
		return key, fileS, nil
	}
	return nil, keyS, fmt.Errorf("is required: base64 of %d random bytes (or give --secret-key-file); %s", store.KeySize, makeKeyHint)
}

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

// indent puts each line of a joined error under a heading.
func indent(err error) error {
	return errors.New("  " + strings.ReplaceAll(err.Error(), "\n", "\n  "))
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

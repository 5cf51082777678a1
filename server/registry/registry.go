// Package registry embeds an OCI distribution registry in platformd.
//
// It owns serving the registry that builds push app images to and that the
// cluster pulls them from, with image storage on the local filesystem under
// the data directory or in an S3 (or S3-compatible) bucket, and who may do
// what in it. It uses the
// distribution/distribution library (the code behind the "registry" image)
// as a library.
//
// # Authentication
//
// Every request is authenticated with distribution's token auth, the
// protocol stock clients (docker, crane, containerd, BuildKit) speak: a
// request without a token is answered 401 with a challenge
// `Bearer realm=...,service=...,scope=...`; the client asks the realm for
// a token with Basic credentials and retries with it. The realm is served
// here too, at /token on the registry's own listener: it signs JWTs valid
// for minutes (Config.TokenTTL) for the repositories and actions asked
// for, granting only what the credential also allows. The tokens are
// signed with an Ed25519 key, and the credentials (the Basic password;
// the user name is not read) with an HMAC key, both derived from
// platformd's secret key (Auth): a credential names its subject, its
// expiry and its scopes, and is checked without a database.
//
// There are three kinds of credential. Platformd's own (PlatformCredential,
// and `platformd registry-credential` for the local stack's base images)
// may do everything, delete included. A build's (BuildCredential), minted
// by the pipeline for one build, may push and pull its app's repository
// <tenant>/<app> and pull the base images (platform/*, library/*). A
// tenant's pull credential (PullCredential), which the deployer puts in the
// tenant's namespace for the kubelet, may pull <tenant>/*. The base
// namespaces are read-only to all but platformd's credential, and no
// tenant's credential is minted for a tenant named like one of them.
// Deletes are enabled in storage for platformd's credential; removing an
// app's images (DeleteRepository) acts on the storage directly.
//
// Since its auth does not depend on where it listens, the registry may
// serve on any address. It does not own TLS: in front of a network, put
// it behind a TLS terminator and give the realm's https URL.
//
// The library logs through logrus's process-wide standard logger, which
// this package leaves alone; the binary decides where that goes.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"

	"github.com/platform-paas/platform/server/registry/internal/regtoken"

	// The token access controller registers itself with the library.
	_ "github.com/distribution/distribution/v3/registry/auth/token"

	// The storage drivers register themselves with the library.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
)

// S3 is a bucket of Amazon S3 or an S3-compatible store (MinIO, Ceph,
// R2, ...) that holds the registry's blobs and manifests instead of
// RootDir, so that replicas share them without a shared volume.
type S3 struct {
	Bucket string
	// Region is the bucket's region; an S3-compatible store takes any,
	// such as us-east-1.
	Region string
	// Endpoint is the store's URL for an S3-compatible one, such as
	// https://minio.example.com; empty for Amazon S3.
	Endpoint string
	// PathStyle addresses the bucket in the path rather than the host
	// name, as most S3-compatible stores want.
	PathStyle bool
	// Prefix is a directory in the bucket to keep everything under.
	Prefix string
	// AccessKey and SecretKey are the store's credentials; empty means
	// the AWS SDK's own chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
	// a web identity, an instance role).
	AccessKey, SecretKey string
}

func (c *S3) validate() error {
	if c.Bucket == "" {
		return errors.New("registry S3 storage: the bucket is required")
	}
	if c.Region == "" {
		return errors.New("registry S3 storage: the region is required (any, such as us-east-1, for an S3-compatible store)")
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("registry S3 storage: endpoint %q is not an http(s) URL", c.Endpoint)
		}
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("registry S3 storage: give both the access key and the secret key, or neither")
	}
	return nil
}

// storage is the library's storage driver configuration: the bucket, or
// the filesystem under root.
func storage(root string, s3 *S3) (string, configuration.Parameters) {
	if s3 == nil {
		return "filesystem", configuration.Parameters{"rootdirectory": root}
	}
	p := configuration.Parameters{
		"bucket":         s3.Bucket,
		"region":         s3.Region,
		"forcepathstyle": s3.PathStyle,
		"rootdirectory":  "/" + strings.Trim(s3.Prefix, "/"),
	}
	if s3.Endpoint != "" {
		u, _ := url.Parse(s3.Endpoint) // validate parsed it
		p["regionendpoint"] = s3.Endpoint
		p["secure"] = u.Scheme == "https"
	}
	if s3.AccessKey != "" {
		p["accesskey"], p["secretkey"] = s3.AccessKey, s3.SecretKey
	}
	return "s3", p
}

// Config configures a Registry.
type Config struct {
	// RootDir is where blobs and manifests are stored, unless S3 is set;
	// it is created with mode 0700 if missing. Required.
	RootDir string
	// S3, when set, stores blobs and manifests in a bucket instead.
	S3 *S3
	// Logger receives the server's own messages. Required.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Serve waits for requests in flight
	// once its context is done. Zero means 10s.
	ShutdownTimeout time.Duration
	// Auth checks the credentials of token requests and signs the
	// tokens. Required.
	Auth *Auth
	// Realm is the URL of the token endpoint (this registry's /token) as
	// clients reach it, such as http://127.0.0.1:5000/token. Required.
	Realm string
	// TokenTTL is how long a token is valid. Zero means 5 minutes.
	TokenTTL time.Duration
}

const (
	defaultShutdownTimeout = 10 * time.Second
	defaultTokenTTL        = 5 * time.Minute
	// Service and Issuer are the token auth's service (the audience of
	// its tokens) and issuer.
	Service = "platform-registry"
	Issuer  = "platformd"
)

func (c *Config) validate() error {
	var errs []error
	if c.RootDir == "" {
		errs = append(errs, errors.New("registry root directory is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("registry logger is required"))
	}
	if c.S3 != nil {
		if err := c.S3.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("registry shutdown timeout must not be negative"))
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("registry auth is required"))
	}
	if u, err := url.Parse(c.Realm); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("registry token realm %q is not an http(s) URL", c.Realm))
	}
	if c.TokenTTL < 0 {
		errs = append(errs, errors.New("registry token lifetime must not be negative"))
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = defaultTokenTTL
	}
	return errors.Join(errs...)
}

// Registry is an OCI registry backed by a directory, with its token
// endpoint. Serve it once; Ping is safe for concurrent use.
type Registry struct {
	app             *handlers.App
	tokens          *regtoken.Server
	log             *slog.Logger
	shutdownTimeout time.Duration
	client          *http.Client
	driver          storagedriver.StorageDriver // where the library stores

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
	tokens, err := regtoken.New(regtoken.Config{
		Issuer:     Issuer,
		Service:    Service,
		TTL:        cfg.TokenTTL,
		Key:        cfg.Auth.tokenKey,
		Authorizer: cfg.Auth,
		Logger:     cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	app, err := newAuthenticatedApp(cfg.RootDir, cfg.S3, cfg.Realm, cfg.Auth.uploadSecret, tokens)
	if err != nil {
		return nil, err
	}
	// The same storage, for removing a destroyed app's repository.
	driverName, params := storage(cfg.RootDir, cfg.S3)
	driver, err := factory.Create(context.Background(), driverName, params)
	if err != nil {
		return nil, fmt.Errorf("configuring registry storage: %w", err)
	}
	return &Registry{
		app:             app,
		tokens:          tokens,
		log:             cfg.Logger,
		shutdownTimeout: cfg.ShutdownTimeout,
		client:          &http.Client{Timeout: 5 * time.Second},
		driver:          driver,
	}, nil
}

// newAuthenticatedApp makes the library's app, its token auth trusting
// the key that tokens signs with. The library reads that key from a file
// once, when the app is made: it is written to a private file for the
// moment and removed.
func newAuthenticatedApp(root string, s3 *S3, realm, uploadSecret string, tokens *regtoken.Server) (*handlers.App, error) {
	jwks, err := tokens.JWKS()
	if err != nil {
		return nil, fmt.Errorf("configuring registry auth: %w", err)
	}
	f, err := os.CreateTemp(root, ".token-jwks-*.json")
	if err != nil {
		return nil, fmt.Errorf("configuring registry auth: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(jwks)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("configuring registry auth: %w", err)
	}
	cfg := libraryConfig(root, s3, uploadSecret)
	cfg.Auth = configuration.Auth{"token": configuration.Parameters{
		"realm":   realm,
		"service": Service,
		"issuer":  Issuer,
		"jwks":    f.Name(),
		// Only what the key set's key signs: no algorithm is taken
		// from a token's header.
		"signingalgorithms": []any{"EdDSA"},
	}}
	return newApp(cfg)
}

// libraryConfig is what the library would read from its config.yml; it is
// built here so that no REGISTRY_* environment variable or file changes it.
// Deletes are enabled: only platformd's credential is granted them.
func libraryConfig(root string, s3 *S3, uploadSecret string) *configuration.Configuration {
	driver, params := storage(root, s3)
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			driver:   params,
			"delete": configuration.Parameters{"enabled": true},
			// Blobs are served through the registry, never by a
			// redirect to the bucket: the nodes and BuildKit reach the
			// registry, and may not reach the store.
			"redirect": configuration.Parameters{"disable": true},
		},
	}
	// Upload state is signed with this secret, which every replica
	// derives alike (Auth.uploadSecret).
	cfg.HTTP.Secret = uploadSecret
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

// Serve serves the registry's HTTP API and its token endpoint (/token) on
// ln until ctx is done, then shuts down gracefully within the configured
// timeout and returns nil. It closes ln.
func (r *Registry) Serve(ctx context.Context, ln net.Listener) error {
	defer r.Close()
	srv := &http.Server{
		Handler:           r.Handler(),
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

// TokenPath is where the registry serves its token endpoint.
const TokenPath = "/token"

// Handler is what Serve serves: the token endpoint at TokenPath, the
// registry's API everywhere else.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == TokenPath {
			r.tokens.ServeHTTP(w, req)
			return
		}
		r.app.ServeHTTP(w, req)
	})
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

// Ping reports whether the registry answers GET /v2/ where Serve listens,
// with a token it signs for itself: the API and its auth both work.
func (r *Registry) Ping(ctx context.Context) error {
	r.mu.Lock()
	addr := r.addr
	r.mu.Unlock()
	if addr == "" {
		return errors.New("registry is not serving")
	}
	tok, _, err := r.tokens.Sign("platformd-ping", nil)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("building registry ping: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := r.client.Do(req)
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
	err := r.driver.Delete(context.Background(), "/docker/registry/v2/repositories/"+name)
	if err != nil && !errors.As(err, new(storagedriver.PathNotFoundError)) {
		return fmt.Errorf("deleting registry repository %s: %w", name, err)
	}
	return nil
}

// Package builder turns an app's source tree into an OCI image in the
// platform's registry.
//
// It owns stack detection (Detect: a Dockerfile, Go, Node, Python or a
// static site), Procfile parsing (ParseProcfile), the Dockerfiles of the
// language stacks, the build cache (BuildKit cache mounts per app) and
// driving BuildKit through its Go client (Builder.Build). It does not own
// where the source comes from (gitreceive checks it out), the record of a
// build (the store) or running the image (the deployer).
//
// The package imports nothing of ours and no BuildKit type crosses its
// boundary: callers hand in plain values and get plain values back.
//
// # Registry credentials
//
// A build presents Request.RegistryAuth, the credential its caller minted
// for it, to the registry (Config.Registry) and to no other host: BuildKit
// asks the build's session for the credentials of the host it sends a
// request to, which is the registry's also when it serves as Docker Hub's
// mirror, and fetches the registry's tokens with them. The pushes of the
// image and the pulls of its base images use them; what the credential
// does not allow (another tenant's image in FROM or COPY --from) fails the
// build.
//
// # The image contract
//
// An image built from a language stack (every stack but Dockerfile):
//
//   - has the app in /app, owned by uid 1000, and /app as working
//     directory; Go binaries (every main package of the module) and the
//     static file server are in /app/bin, a Node app is /app with its
//     production node_modules, a Python app is /app with its virtualenv in
//     /app/.venv;
//   - runs as USER 1000:1000, with HOME=/app and PATH starting with the
//     stack's directories (/app/bin, /app/node_modules/.bin,
//     /app/.venv/bin);
//   - has no ENTRYPOINT and CMD ["/bin/sh", "-c", <the web command>], so it
//     serves on $PORT when run as is;
//   - holds no compiler, package manager cache or (for Go and static)
//     source, and none of the app's config values.
//
// Without a Procfile web entry, web is the stack's default: for Go the
// module's root command (or its only command under cmd/), for Node the
// start script (run by the shell: the run image has no npm; node_modules/.bin
// is on PATH), else `node <main>`, else `node server.js`, for Python
// `python3 app.py` or `python3 main.py`, for a static site
// `static-server /app/public`.
//
// A process type is run by starting the image with the command
// ["/bin/sh", "-c", Processes[type]] (ProcessCommand), replacing both
// ENTRYPOINT and CMD, in the image's working directory and as its user,
// with the app's config vars and, for web, PORT in the environment. The
// release command runs the same way. For the Dockerfile stack the same
// holds for the Procfile's entries, and a web process without a Procfile
// entry (an empty command) runs the image's own ENTRYPOINT and CMD.
//
// # Config vars at build time
//
// The app's config vars reach the build as a BuildKit secret, never as
// build arguments or ENV: the generated Dockerfiles mount the secret "env"
// (NAME='value' lines) in every RUN of their build stage and their SHELL
// sources it, so build commands see the vars in their environment while no
// layer, image config, history entry or cache key holds them. A user
// Dockerfile can do the same with
// `RUN --mount=type=secret,id=env,target=/run/secrets/env ...` or take one
// var with `RUN --mount=type=secret,id=NAME,env=NAME ...`. Since secrets are
// not part of BuildKit's cache keys, changing a config var alone does not
// rebuild a cached step. Any config value of four characters or more is
// replaced by "***" in the output the user sees.
//
// # Build cache
//
// Dependency manifests (go.mod and go.sum, package.json and its lockfile,
// requirements.txt) are copied and installed before the rest of the
// source, so a change to the code alone reuses the dependency layer; Go
// modules and build cache, npm's and pip's caches are BuildKit cache
// mounts. Every cache mount id of a build, including those a user
// Dockerfile names, is put under the app's namespace (<tenant>/<app>/), and
// the results of RUN steps are kept per app too (the build containers' host
// name, part of every RUN's cache key, is the app's), so one app's build can
// neither read nor poison another's cache. DeleteCache drops an app's cache
// mounts.
package builder

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// staticServerSource is the static file server compiled into the images of
// static sites.
//
//go:embed staticserver/main.go
var staticServerSource []byte

// Config configures a Builder.
type Config struct {
	// Addr is the address of the BuildKit daemon, as buildctl's --addr
	// takes it: unix:///run/buildkit/buildkitd.sock, tcp://127.0.0.1:1234,
	// docker-container://name, ... Required.
	Addr string
	// TLSDir, when not empty, holds the client's TLS files for a tcp://
	// Addr: ca.crt (the CA that signed the daemon's certificate), tls.crt
	// and tls.key (the client's certificate, which the daemon checks), as
	// a Kubernetes TLS Secret with a ca.crt key mounts them.
	TLSDir string
	// Registry is the registry (host[:port]) images are pushed to, as
	// <Registry>/<tenant>/<app>. Required by Build; a Builder without one
	// can only Ping.
	Registry string
	// InsecureRegistry allows pushing to Registry over plain HTTP.
	InsecureRegistry bool
	// Images are the stack images builds start from; empty fields take
	// DefaultImages (Docker Hub). The local stack uses LocalStackImages.
	Images Images
	// Network is the outbound network set-up every build gets: extra CAs,
	// a proxy, package mirrors.
	Network Network
	// Limits bound each build; zero fields take DefaultLimits.
	Limits Limits
	// Logger receives the builder's own log; build output goes to
	// Request.Out instead. Nil discards it.
	Logger *slog.Logger
}

var (
	registryRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$`)
	imageRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`)
	labelRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	commitRE   = regexp.MustCompile(`^[0-9a-f]{4,64}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	exitCodeRE = regexp.MustCompile(`exit code: [0-9]+`)
)

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
	if c.TLSDir != "" {
		if u.Scheme != "tcp" {
			return fmt.Errorf("buildkit TLS files are for a tcp:// address, not %q", c.Addr)
		}
		for _, f := range []string{"ca.crt", "tls.crt", "tls.key"} {
			if _, err := os.Stat(filepath.Join(c.TLSDir, f)); err != nil {
				return fmt.Errorf("buildkit TLS directory %s lacks %s (want ca.crt, tls.crt and tls.key): %w", c.TLSDir, f, err)
			}
		}
	}
	if c.Registry != "" && !registryRE.MatchString(c.Registry) {
		return fmt.Errorf("registry %q is not host[:port]", c.Registry)
	}
	if err := c.Network.Validate(); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	for _, img := range c.Images.all() {
		if img != "" && !imageRE.MatchString(img) {
			return fmt.Errorf("stack image %q is not an image reference", img)
		}
	}
	return nil
}

// Builder drives image builds on one BuildKit daemon. It is safe for
// concurrent use.
type Builder struct {
	client   *bkclient.Client
	registry string
	insecure bool
	images   Images
	network  Network
	limits   Limits
	log      *slog.Logger
	now      func() time.Time
	wait     time.Duration // BuilderWait
}

// New returns a Builder for the daemon at cfg.Addr. It does not wait for
// the daemon: the connection is made lazily and Ping tells whether it is
// usable.
func New(cfg Config) (*Builder, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var opts []bkclient.ClientOpt
	if cfg.TLSDir != "" {
		u, _ := url.Parse(cfg.Addr) // validate parsed it
		opts = append(opts,
			bkclient.WithServerConfig(u.Hostname(), filepath.Join(cfg.TLSDir, "ca.crt")),
			bkclient.WithCredentials(filepath.Join(cfg.TLSDir, "tls.crt"), filepath.Join(cfg.TLSDir, "tls.key")))
	}
	// The context only seeds tracing: client.New does not block on it.
	c, err := bkclient.New(context.Background(), cfg.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating buildkit client for %s: %w", cfg.Addr, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Builder{
		client:   c,
		registry: cfg.Registry,
		insecure: cfg.InsecureRegistry,
		images:   cfg.Images.withDefaults(),
		network:  cfg.Network,
		limits:   cfg.Limits.withDefaults(),
		log:      log.With("component", "builder"),
		now:      time.Now,
		wait:     BuilderWait,
	}, nil
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

// Request is one build.
type Request struct {
	// Tenant and App name the image: <registry>/<Tenant>/<App>. Both are
	// lower-case DNS labels. Required.
	Tenant string
	App    string
	// SourceDir is the checked-out tree to build. It is only read. Required.
	SourceDir string
	// Commit is the commit being built (hex), used as the image tag and its
	// org.opencontainers.image.revision label. Optional.
	Commit string
	// Config holds the app's config vars, visible to the build's commands
	// and masked in Out.
	Config map[string]string
	// Out receives what the person building sees, line by line as it
	// happens: the build's headers (the stack detected, the process types
	// and their commands, the image pushed) and one line per build step
	// with its time, with the whole output of a step that fails; or, with
	// Verbose, everything Log gets. Nil discards it.
	Out io.Writer
	// Log receives the build's whole output, whatever Verbose says: the
	// headers and every line BuildKit shows of every step. It is what a
	// build keeps. Nil discards it.
	Log io.Writer
	// Verbose shows Out the whole output.
	Verbose bool
	// RegistryAuth is what the build's pushes and pulls present to the
	// registry (Config.Registry, and it alone): the build's own
	// credential, which its caller mints for this build. Empty means
	// none, for a registry without auth.
	RegistryAuth Credentials
}

func (r Request) validate() error {
	switch {
	case !labelRE.MatchString(r.Tenant):
		return fmt.Errorf("tenant %q is not a lower-case DNS label", r.Tenant)
	case !labelRE.MatchString(r.App):
		return fmt.Errorf("app %q is not a lower-case DNS label", r.App)
	case r.SourceDir == "":
		return errors.New("source directory is required")
	case r.Commit != "" && !commitRE.MatchString(r.Commit):
		return fmt.Errorf("commit %q is not a hex commit id", r.Commit)
	}
	for name, v := range r.Config {
		if !envNameRE.MatchString(name) {
			return fmt.Errorf("config var name %q is not a valid environment variable name", name)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("config var %s contains a NUL byte", name)
		}
	}
	return nil
}

// Result is a successful build.
type Result struct {
	// ImageRef is the pushed image by digest: <registry>/<tenant>/<app>@sha256:...
	ImageRef string
	// Digest is the image manifest's digest (sha256:...).
	Digest string
	// Stack is how the app was built.
	Stack Stack
	// Processes maps process types to commands, as in Plan.
	Processes map[string]string
	// ReleaseCommand is the release-phase command, or "".
	ReleaseCommand string
	// HealthPath is the web process's declared readiness path, or "".
	HealthPath string
	// Steps is the number of build steps shown; CachedSteps of them came
	// from BuildKit's cache.
	Steps       int
	CachedSteps int
	Timings     Timings
}

// Timings says where a build's time went.
type Timings struct {
	Detect time.Duration // reading the source tree
	Solve  time.Duration // the BuildKit solve, export included
	Export time.Duration // exporting and pushing the image (part of Solve)
	Total  time.Duration
}

// BuildError is a build that failed in BuildKit: a step did not succeed.
// Its message names the step and ends with the step's last lines of
// output, with config values masked.
type BuildError struct {
	// Step is the failing step as the output shows it, or "" when the
	// failure was not in a step (a Dockerfile that does not parse).
	Step string
	// Reason is why it failed, like "exit code: 2".
	Reason string
	// Output holds the step's last lines of output.
	Output []string
	// Hint, when the output points at the network (an untrusted
	// certificate, a name that does not resolve, a refused connection or
	// proxy), names the likely cause and the setting to look at.
	Hint string
}

// Error returns the message a push shows: the step, why it failed, and its
// last lines of output, indented.
func (e *BuildError) Error() string {
	var sb strings.Builder
	if e.Step != "" {
		fmt.Fprintf(&sb, "step %s failed: %s", e.Step, e.Reason)
	} else {
		fmt.Fprintf(&sb, "build failed: %s", e.Reason)
	}
	for _, l := range e.Output {
		sb.WriteString("\n    ")
		sb.WriteString(l)
	}
	if e.Hint != "" {
		sb.WriteString("\n")
		sb.WriteString(e.Hint)
	}
	return sb.String()
}

// ProcessCommand returns the command (in the sense of a container's
// entrypoint) that runs a process type's command in an image Build made.
// An empty command returns nil: run the image's own ENTRYPOINT and CMD.
func ProcessCommand(command string) []string {
	if command == "" {
		return nil
	}
	return []string{"/bin/sh", "-c", command}
}

// Build detects req.SourceDir's stack, builds its image with BuildKit and
// pushes it to <registry>/<tenant>/<app>, streaming the build output to
// req.Out. A build that fails in BuildKit returns an error wrapping a
// *BuildError (errors.As); cancelling ctx cancels the build and returns an
// error wrapping ctx.Err().
func (b *Builder) Build(ctx context.Context, req Request) (Result, error) {
	if b.registry == "" {
		return Result{}, errors.New("building: no registry configured")
	}
	if err := req.validate(); err != nil {
		return Result{}, fmt.Errorf("building: %w", err)
	}
	parent := ctx
	// The build's own limits end it with a *LimitError as the cause.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, b.limits.Timeout, b.limits.timeoutError())
	defer cancelTimeout()
	userOut, logOut := req.Out, req.Log
	if userOut == nil {
		userOut = io.Discard
	}
	if logOut == nil {
		logOut = io.Discard
	}
	// The limit is on the whole output, which the build keeps.
	logged := &logLimiter{out: logOut, limit: b.limits.LogBytes, cancel: cancel}
	out := tee{logged, userOut}
	steps, summary := io.Writer(logged), userOut
	if req.Verbose {
		steps, summary = out, nil
	}
	start := b.now()
	plan, err := Detect(req.SourceDir)
	if err != nil {
		return Result{}, err
	}
	detected := b.now()
	fmt.Fprintf(out, "-----> %s app detected\n", plan.Stack)

	cg, err := b.limits.prepareCgroup(req.Tenant, req.App)
	if err != nil {
		return Result{}, fmt.Errorf("building %s: %w", req.App, err)
	}
	if err := b.waitBuilder(ctx, out); err != nil {
		if ctxErr := parent.Err(); ctxErr != nil {
			return Result{}, fmt.Errorf("building %s: %w", req.App, ctxErr)
		}
		return Result{}, fmt.Errorf("building %s: %w", req.App, err)
	}
	res, err := b.solve(ctx, req, plan, steps, summary, cg != nil)
	if err != nil {
		if ctxErr := parent.Err(); ctxErr != nil {
			return Result{}, fmt.Errorf("building %s: %w", req.App, ctxErr)
		}
		var le *LimitError
		if errors.As(context.Cause(ctx), &le) {
			fmt.Fprintf(tee{logOut, userOut}, "-----> %s\n", le)
			return Result{}, fmt.Errorf("building %s: %w", req.App, le)
		}
		var be *BuildError
		if errors.As(err, &be) {
			if le := cg.exceeded(b.limits, be); le != nil {
				be.Hint = le.Error()
				// The wrapping message was made with the old hint.
				err = fmt.Errorf("building %s: %w", req.App, be)
			}
			if be.Hint != "" {
				fmt.Fprintf(out, "-----> %s\n", be.Hint)
			}
		}
		return Result{}, err
	}
	res.Stack = plan.Stack
	res.Processes = plan.Processes
	res.ReleaseCommand = plan.ReleaseCommand
	res.HealthPath = plan.HealthPath
	res.Timings.Detect = detected.Sub(start)
	res.Timings.Total = b.now().Sub(start)

	m := b.masker(req)
	fmt.Fprintln(out, "-----> Process types and their commands")
	for _, t := range plan.Types() {
		fmt.Fprintf(out, "       %s: %s  (%s)\n", t, m.mask(plan.CommandText(t)), plan.Origins[t])
	}
	if _, ok := plan.Processes["web"]; !ok {
		fmt.Fprintln(out, "-----> No web process type: the app gets no HTTP requests, and its URL answers 503; add a line \"web: <command>\" to the Procfile to serve HTTP on $PORT")
	}
	if plan.ReleaseCommand != "" {
		fmt.Fprintf(out, "-----> Release command: %s  (Procfile)\n", m.mask(plan.ReleaseCommand))
	}
	if plan.HealthPath != "" {
		fmt.Fprintf(out, "-----> Health check: web is ready when GET %s answers 2xx or 3xx\n", plan.HealthPath)
	}
	fmt.Fprintf(out, "-----> Pushed %s\n", res.ImageRef)
	fmt.Fprintf(out, "-----> Built in %.1fs (%d steps, %d cached): detect %s, solve %s (of which export and push %s)\n",
		res.Timings.Total.Seconds(), res.Steps, res.CachedSteps, res.Timings.Detect.Round(time.Millisecond),
		res.Timings.Solve.Round(time.Millisecond), res.Timings.Export.Round(time.Millisecond))
	b.log.Info("build finished", "app", req.App, "commit", req.Commit, "stack", string(plan.Stack),
		"digest", res.Digest, "duration", res.Timings.Total)
	return res, nil
}

// solve runs the BuildKit part of a build.
// Every step's output goes to out; summary, if not nil, gets a line per
// step (see renderer).
func (b *Builder) solve(ctx context.Context, req Request, plan Plan, out, summary io.Writer, limited bool) (Result, error) {
	tmp, err := os.MkdirTemp("", "platform-build-")
	if err != nil {
		return Result{}, fmt.Errorf("building %s: %w", req.App, err)
	}
	defer os.RemoveAll(tmp)

	opt, err := b.solveOpt(req, plan, tmp)
	if err != nil {
		return Result{}, fmt.Errorf("building %s: %w", req.App, err)
	}
	if limited {
		opt.FrontendAttrs["cgroup-parent"] = cgroupParent(req.Tenant, req.App)
	}

	m := b.masker(req)
	r := newRenderer(out, m)
	if summary != nil {
		r.withSummary(summary)
	}
	ch := make(chan *bkclient.SolveStatus)
	var resp *bkclient.SolveResponse
	solveStart := b.now()
	var eg errgroup.Group
	eg.Go(func() error {
		var err error
		resp, err = b.client.Solve(ctx, nil, opt, ch) // closes ch
		return err
	})
	eg.Go(func() error {
		r.run(ch)
		return nil
	})
	err = eg.Wait()
	solveTime := b.now().Sub(solveStart)
	if err != nil {
		return Result{}, fmt.Errorf("building %s: %w", req.App, b.buildError(r, m, err))
	}
	dgst := resp.ExporterResponse["containerimage.digest"]
	if dgst == "" {
		return Result{}, fmt.Errorf("building %s: buildkit returned no image digest", req.App)
	}
	steps, cached := r.counts()
	return Result{
		ImageRef:    b.repository(req) + "@" + dgst,
		Digest:      dgst,
		Steps:       steps,
		CachedSteps: cached,
		Timings:     Timings{Solve: solveTime, Export: r.exportDuration()},
	}, nil
}

// masker hides the build's secret values in what the user sees: config
// values and the passwords of the operator's proxy URLs.
func (b *Builder) masker(req Request) masker {
	return newMasker(req.Config, b.network.secretValues()...)
}

// registryAuth is the session's answer to BuildKit's requests for
// registry credentials: creds, for the registry only.
func (b *Builder) registryAuth(creds Credentials) session.Attachable {
	return &registryAuth{host: b.registry, creds: creds}
}

func (b *Builder) repository(req Request) string {
	return b.registry + "/" + req.Tenant + "/" + req.App
}

// solveOpt sets up the Dockerfile frontend for plan, writing what it
// generates under tmp.
func (b *Builder) solveOpt(req Request, plan Plan, tmp string) (bkclient.SolveOpt, error) {
	tag := req.Commit
	if tag == "" {
		tag = "latest"
	}
	export := bkclient.ExportEntry{
		Type: bkclient.ExporterImage,
		Attrs: map[string]string{
			"name": b.repository(req) + ":" + tag,
			"push": "true",
		},
	}
	if b.insecure {
		export.Attrs["registry.insecure"] = "true"
	}

	excludes := []string{".git"}
	switch plan.Stack {
	case StackNode:
		excludes = append(excludes, "node_modules")
	case StackPython:
		excludes = append(excludes, ".venv", "**/__pycache__")
	case StackRuby:
		excludes = append(excludes, "vendor/bundle", ".bundle")
	}
	src, err := fsutil.NewFS(req.SourceDir)
	if err != nil {
		return bkclient.SolveOpt{}, fmt.Errorf("reading source tree: %w", err)
	}
	src, err = fsutil.NewFilterFS(src, &fsutil.FilterOpt{ExcludePatterns: excludes})
	if err != nil {
		return bkclient.SolveOpt{}, fmt.Errorf("filtering source tree: %w", err)
	}
	mounts := map[string]fsutil.FS{"context": src}
	attrs := map[string]string{
		"filename": "Dockerfile",
		// Every cache mount id, ours and those a user Dockerfile names, is
		// put under the app's namespace: no build can read or write the
		// caches of another app.
		"build-arg:BUILDKIT_CACHE_MOUNT_NS": req.Tenant + "/" + req.App,
		// BuildKit leaves cache mount ids out of its cache keys, so a step
		// whose output a poisoned cache mount could change would be reused
		// by any app with the same inputs. The build containers' host name
		// is part of every RUN's cache key: naming it after the app keeps
		// RUN results per app (FROM and COPY layers, which run no code,
		// are still shared).
		"hostname": req.App + "." + req.Tenant,
	}

	if plan.usesAppContext() {
		// The app's files as the run image has them: the source tree less
		// what .slugignore names.
		app, err := fsutil.NewFS(req.SourceDir)
		if err != nil {
			return bkclient.SolveOpt{}, fmt.Errorf("reading source tree: %w", err)
		}
		if mounts[appContext], err = fsutil.NewFilterFS(app, &fsutil.FilterOpt{ExcludePatterns: append(excludes, plan.slugIgnore...)}); err != nil {
			return bkclient.SolveOpt{}, fmt.Errorf("filtering source tree with .slugignore: %w", err)
		}
		attrs["context:"+appContext] = "local:" + appContext
	}
	if plan.Stack == StackDockerfile {
		mounts["dockerfile"] = src
		for k, v := range b.network.proxyArgs() {
			attrs["build-arg:"+k] = v
		}
	} else {
		df, err := generateDockerfile(dockerfileParams{
			plan:   plan,
			images: b.images.forStack(plan.Stack),
			commit: req.Commit,
			web:    plan.Processes["web"],
		})
		if err != nil {
			return bkclient.SolveOpt{}, err
		}
		dfDir := filepath.Join(tmp, "dockerfile")
		if err := writeFile(dfDir, "Dockerfile", []byte(df)); err != nil {
			return bkclient.SolveOpt{}, err
		}
		if mounts["dockerfile"], err = fsutil.NewFS(dfDir); err != nil {
			return bkclient.SolveOpt{}, fmt.Errorf("reading generated Dockerfile: %w", err)
		}
		if plan.Stack == StackStatic {
			srvDir := filepath.Join(tmp, staticServerContext)
			if err := writeFile(srvDir, "main.go", staticServerSource); err != nil {
				return bkclient.SolveOpt{}, err
			}
			if mounts[staticServerContext], err = fsutil.NewFS(srvDir); err != nil {
				return bkclient.SolveOpt{}, fmt.Errorf("reading static server source: %w", err)
			}
			attrs["context:"+staticServerContext] = "local:" + staticServerContext
		}
	}

	return bkclient.SolveOpt{
		Exports:       []bkclient.ExportEntry{export},
		LocalMounts:   mounts,
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		Session:       []session.Attachable{&secretStore{m: b.secrets(req.Config)}, b.registryAuth(req.RegistryAuth)},
		// Keyed per app, so BuildKit sends only what changed since the
		// app's last build.
		SharedKey: req.Tenant + "/" + req.App,
	}, nil
}

func (im Images) forStack(s Stack) StackImages {
	switch s {
	case StackGo:
		return im.Go
	case StackNode:
		return im.Node
	case StackPython:
		return im.Python
	case StackRuby:
		return im.Ruby
	case StackStatic:
		return im.Static
	}
	return StackImages{}
}

func writeFile(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// secrets returns the build's secrets: the operator's network set-up (see
// Network) and the app's config vars, which win over a network variable of
// the same name.
func (b *Builder) secrets(config map[string]string) map[string][]byte {
	s := b.network.secrets()
	for k, v := range configSecrets(config) {
		s[k] = v
	}
	return s
}

// configSecrets returns the secrets of the app's config vars: "env", the
// env file the generated build stages source, and one secret per config var
// for user Dockerfiles.
func configSecrets(config map[string]string) map[string][]byte {
	names := make([]string, 0, len(config))
	for n := range config {
		names = append(names, n)
	}
	sort.Strings(names)
	var env strings.Builder
	secrets := map[string][]byte{}
	for _, n := range names {
		v := config[n]
		fmt.Fprintf(&env, "%s=%s\n", n, shellQuote(v))
		secrets[n] = []byte(v)
	}
	secrets[envSecretID] = []byte(env.String())
	return secrets
}

// buildError turns a failed solve into a *BuildError naming the failing
// step and its last output.
func (b *Builder) buildError(r *renderer, m masker, err error) error {
	if builderLost(err) {
		return &BuildError{Reason: "lost the connection to the builder (BuildKit): it is restarting, or its pod moved",
			Hint: "Nothing was released: the running release still serves. Push again in a minute; if this repeats, an administrator should look at BuildKit's pods and logs."}
	}
	msg := m.mask(err.Error())
	v := r.failed()
	if v == nil {
		return &BuildError{Reason: strings.TrimPrefix(msg, "failed to solve: "), Hint: networkHint(msg)}
	}
	return &BuildError{Step: m.mask(displayName(v.name)), Reason: m.mask(errorReason(v.err)), Output: v.tail,
		Hint: networkHint(append([]string{msg}, v.tail...)...)}
}

// DeleteCache drops the build cache mounts of an app (Go modules and build
// cache, npm, pip, and those its Dockerfile declares), for instance when the
// app is deleted. Its cached layers are left to BuildKit's garbage
// collection.
func (b *Builder) DeleteCache(ctx context.Context, tenant, app string) error {
	if !labelRE.MatchString(tenant) || !labelRE.MatchString(app) {
		return fmt.Errorf("deleting build cache: invalid tenant %q or app %q", tenant, app)
	}
	// BuildKit describes a cache mount as `cached mount <target> from exec
	// <command> with id "<id>"`, and every id of the app starts with its
	// namespace.
	filter := fmt.Sprintf(`type==%s,description~="with id \"%s/%s/"`, bkclient.UsageRecordTypeCacheMount, tenant, app)
	ch := make(chan bkclient.UsageInfo)
	var freed int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			freed += u.Size
		}
	}()
	err := b.client.Prune(ctx, ch, bkclient.WithFilter([]string{filter})) // does not close ch
	close(ch)
	<-done
	if err != nil {
		return fmt.Errorf("deleting build cache of %s: %w", app, err)
	}
	b.log.Info("build cache deleted", "app", app, "bytes", freed)
	return nil
}

// builderLost reports whether err says the connection to BuildKit broke
// during a solve (gRPC's Unavailable), rather than that the build failed.
func builderLost(err error) bool {
	if status.Code(err) == codes.Unavailable {
		return true
	}
	// BuildKit's client wraps some errors in its own types, which hide the
	// status from status.Code but keep its text.
	return strings.Contains(err.Error(), "code = Unavailable")
}

// BuilderWait is how long a build waits for BuildKit to answer when it
// does not at once (restarting, or its pod moving) before it fails.
const BuilderWait = time.Minute

// waitBuilder returns once BuildKit answers, telling out when it has to
// wait, or a BuildError when it does not answer within BuilderWait. A
// client whose connection failed waits out gRPC's growing reconnect delay
// (up to two minutes) unless asked: waiting resets it, so a BuildKit back
// from a restart builds the next push at once.
func (b *Builder) waitBuilder(ctx context.Context, out io.Writer) error {
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := b.client.Wait(qctx)
	cancel()
	if err == nil || ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintf(out, "-----> Waiting for the builder (BuildKit), which does not answer yet\n")
	wctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.client.Wait(wctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		reason := fmt.Sprintf("the builder (BuildKit) did not answer within %s", b.wait)
		if !waitedOut(wctx, err) {
			reason = "the builder (BuildKit) refused the connection: " + err.Error()
		}
		be := &BuildError{Reason: reason,
			Hint: "Nothing was released: the running release still serves. Push again later; an administrator should look at BuildKit's pods and logs."}
		fmt.Fprintf(out, "-----> %s\n", be.Hint)
		return be
	}
	return nil
}

// waitedOut reports whether a wait under ctx failed because its time
// ran out. gRPC reports that as a status of code DeadlineExceeded, which
// does not wrap context.DeadlineExceeded, when its own deadline (taken
// from ctx) fires first.
func waitedOut(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded || ctx.Err() != nil
}

// tee writes to every one of its writers, whatever the others do: a pushing
// terminal that went away does not stop the build's log. It never fails.
type tee []io.Writer

func (t tee) Write(p []byte) (int, error) {
	for _, w := range t {
		_, _ = w.Write(p)
	}
	return len(p), nil
}

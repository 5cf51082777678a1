package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/server/store"
)

// ErrNoAccess is what a user who may not touch an app is told, whether the
// app does not exist or they are not allowed: the two are not told apart.
var ErrNoAccess = errors.New("no such app, or no access")

// RoleError refuses a member of the app's tenant whose role does not allow
// what they asked: they can see the app, so they are told why, and whom
// to ask.
type RoleError struct{ Message string }

func (e *RoleError) Error() string { return e.Message }

// imageBuilder is the part of the builder the pipeline uses.
type imageBuilder interface {
	Build(ctx context.Context, req builder.Request) (builder.Result, error)
}

// Releaser takes a built image through the rest of a deploy: recording the
// release and rolling it out. The pipeline calls it with the app's deploy
// lock held; out is the pushing terminal.
type Releaser interface {
	ReleaseBuild(ctx context.Context, b BuiltImage, out io.Writer) error
	// Reconcile brings an app back to its latest succeeded release, after
	// a restart.
	Reconcile(ctx context.Context, app store.App, tenant store.Tenant) error
}

// BuiltImage is what a successful build hands to the release step.
type BuiltImage struct {
	App            store.App
	Tenant         store.Tenant
	Build          store.Build
	User           store.User
	ImageRef       string // registry/tenant/app@sha256:...
	Digest         string
	Processes      map[string]string // process type → command, from the Procfile or the stack
	ReleaseCommand string
	HealthPath     string // the web process's declared readiness path, or ""
}

// buildCredentials mints the registry credential of one build.
type buildCredentials interface {
	// BuildCredential returns what a build of tenant's app presents to
	// the registry: push and pull on the app's repository, pull on the
	// base images, for as long as a build may take.
	BuildCredential(tenant, app string) (builder.Credentials, error)
}

// PipelineConfig configures the push pipeline.
type PipelineConfig struct {
	Logger *slog.Logger
	Lock   LockConfig
	// RegistryCredentials mints each build's registry credential. Nil
	// means builds present none (a registry without auth).
	RegistryCredentials buildCredentials
}

// Pipeline takes a pushed commit through build and release, one deploy per
// app at a time. It is safe for concurrent use.
type Pipeline struct {
	st      *store.Store
	builder imageBuilder
	release Releaser
	creds   buildCredentials // nil: none
	log     *slog.Logger
	lock    LockConfig
	now     func() time.Time
}

// NewPipeline returns a pipeline over st that builds with b and hands
// built images to r.
func NewPipeline(cfg PipelineConfig, st *store.Store, b imageBuilder, r Releaser) (*Pipeline, error) {
	if cfg.Logger == nil {
		return nil, errors.New("pipeline: a logger is required")
	}
	if st == nil || b == nil || r == nil {
		return nil, errors.New("pipeline: store, builder and releaser are required")
	}
	return &Pipeline{st: st, builder: b, release: r, creds: cfg.RegistryCredentials, log: cfg.Logger, lock: cfg.Lock.withDefaults(), now: time.Now}, nil
}

// UserForKey resolves the user whose SSH key has the given fingerprint. The
// user is returned as their id, which Authorize and Deploy take.
func (p *Pipeline) UserForKey(ctx context.Context, authorizedKey, fingerprint string) (string, error) {
	u, err := p.st.UserByFingerprint(ctx, fingerprint)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(u.ID, 10), nil
}

// Authorize reports whether the user may read (clone) or, with write, push
// to app. A viewer's push is refused with a *RoleError that says why; any
// other refusal is ErrNoAccess, with the reason in the log only.
func (p *Pipeline) Authorize(ctx context.Context, userID, appName string, write bool) error {
	_, _, _, err := p.authorize(ctx, userID, appName, write)
	return err
}

func (p *Pipeline) authorize(ctx context.Context, userID, appName string, write bool) (store.User, store.App, store.Tenant, error) {
	deny := func(why string, err error) (store.User, store.App, store.Tenant, error) {
		p.log.Info("git access refused", "user", userID, "app", appName, "write", write, "reason", why, "err", err)
		return store.User{}, store.App{}, store.Tenant{}, ErrNoAccess
	}
	id, err := strconv.ParseInt(userID, 10, 64)
	if err != nil {
		return deny("bad user id", err)
	}
	// The key was checked when the connection opened; the user may have
	// been deactivated since.
	u, err := p.st.SignedInUser(ctx, id)
	if err != nil {
		return deny("user lookup", err)
	}
	app, err := p.st.GetApp(ctx, appName)
	if err != nil {
		return deny("app lookup", err)
	}
	t, err := p.st.GetTenantByID(ctx, app.TenantID)
	if err != nil {
		return deny("tenant lookup", err)
	}
	role, err := p.st.RoleOf(ctx, u.ID, app.TenantID)
	if err != nil {
		return deny("not a member", err)
	}
	need := store.Viewer
	if write {
		need = store.Member
	}
	if !role.AtLeast(need) {
		p.log.Info("git access refused", "user", userID, "app", appName, "write", write, "reason", "role "+string(role))
		ask, err := p.st.AskAnOwner(ctx, t, need)
		if err != nil {
			return deny("owner lookup", err)
		}
		return store.User{}, store.App{}, store.Tenant{}, &RoleError{Message: fmt.Sprintf(
			"you are a %s of tenant %s: %ss cannot deploy %s; %s", role, t.Name, role, app.Name, ask)}
	}
	return u, app, t, nil
}

// DeployInput is one push to deploy.
type DeployInput struct {
	UserID    string // as returned by UserForKey
	App       string
	SourceDir string // the pushed commit, checked out
	Commit    string // 40 hex digits
	// Verbose shows the push every line of the build's output, rather
	// than a line per build step (git push -o verbose).
	Verbose bool
}

// Deploy builds the pushed commit and releases it, writing everything the
// user should see to out as it happens. It holds the app's deploy lock
// throughout; a second deploy of the same app waits for it. A returned error
// is short and meant for the pushing terminal (the push is rejected with
// it); the build's full log is kept with the build.
func (p *Pipeline) Deploy(ctx context.Context, in DeployInput, out io.Writer) error {
	u, app, tenant, err := p.authorize(ctx, in.UserID, in.App, true)
	if err != nil {
		return err
	}
	if tenant.SuspendedAt != nil {
		return fmt.Errorf("tenant %s is suspended: deploys are refused until an admin lifts the suspension", tenant.Name)
	}
	short := in.Commit
	if len(short) > 7 {
		short = short[:7]
	}
	log := p.log.With("app", app.Name, "commit", short, "user", u.Email)

	lctx, unlock, err := LockApp(ctx, p.st, p.lock, log, app.ID, fmt.Sprintf("deploy of %s by %s", short, u.Email), out)
	if err != nil {
		return err
	}
	defer unlock()
	ctx = lctx

	var regAuth builder.Credentials
	if p.creds != nil {
		if regAuth, err = p.creds.BuildCredential(tenant.Name, app.Name); err != nil {
			log.Error("minting the build's registry credential", "err", err)
			return errors.New("the build cannot reach the registry (the platform's log says why); ask an administrator")
		}
	}
	b, err := p.st.CreateBuild(ctx, app.ID, in.Commit, u)
	if err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	log = log.With("build_id", b.ID)
	if b, err = p.st.MarkBuildRunning(ctx, b.ID); err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	config, err := p.st.GetConfig(ctx, app.ID)
	if err != nil {
		return fmt.Errorf("reading config vars: %w", err)
	}

	blog := newBuildLog(ctx, p.st, b.ID, log)
	// What the push shows goes to the build's log too, which has the
	// build's whole output besides.
	w := io.MultiWriter(blog, out)
	fmt.Fprintf(w, "-----> Building %s (%s) for %s\n", app.Name, short, u.Email)
	start := p.now()
	res, buildErr := p.builder.Build(ctx, builder.Request{
		Tenant:    tenant.Name,
		App:       app.Name,
		SourceDir: in.SourceDir,
		Commit:    in.Commit,
		Config:    config,
		Out:       out,
		Log:       blog,
		Verbose:   in.Verbose,
		// Minted for this build alone: its app's repository and the
		// base images, nothing else.
		RegistryAuth: regAuth,
	})
	elapsed := p.now().Sub(start).Round(100 * time.Millisecond)
	if buildErr != nil {
		fmt.Fprintf(w, "-----> Build failed after %s\n", elapsed)
		if !in.Verbose {
			fmt.Fprintf(out, "       The build's whole output: platform builds:output %d -a %s (or push again with git push -o verbose)\n", b.ID, app.Name)
		}
	}
	blog.Close()

	// Recording the outcome must happen even when the push was cancelled.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if buildErr != nil {
		status := store.BuildFailed
		reason := buildFailure(buildErr)
		if ctx.Err() != nil {
			status, reason = store.BuildCancelled, "cancelled: the push was interrupted"
		}
		if _, err := p.st.FinishBuild(fctx, b.ID, store.BuildResult{Status: status, Stack: string(res.Stack), Error: reason}); err != nil {
			log.Error("recording failed build", "err", err)
		}
		log.Info("build failed", "err", buildErr, "duration", elapsed)
		return errors.New(reason)
	}
	b, err = p.st.FinishBuild(fctx, b.ID, store.BuildResult{
		Status: store.BuildSucceeded, Stack: string(res.Stack),
		ImageRef: res.ImageRef, ImageDigest: res.Digest,
	})
	if err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	log.Info("build succeeded", "image", res.ImageRef, "duration", elapsed)

	return p.release.ReleaseBuild(ctx, BuiltImage{
		App: app, Tenant: tenant, Build: b, User: u,
		ImageRef: res.ImageRef, Digest: res.Digest,
		Processes: res.Processes, ReleaseCommand: res.ReleaseCommand, HealthPath: res.HealthPath,
	}, out)
}

// buildFailure is the one-line reason a failed build gives the push.
func buildFailure(err error) string {
	var be *builder.BuildError
	if errors.As(err, &be) {
		if be.Step != "" {
			return "build failed at " + firstLine(be.Step) + ": " + firstLine(be.Reason)
		}
		return "build failed: " + firstLine(be.Reason)
	}
	return "build failed: " + firstLine(err.Error())
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// buildLog keeps a build's output in the store as it is written, in chunks
// (at most one write a second), so the log of a running or crashed build can
// be read later. It is safe for concurrent use.
type buildLog struct {
	// ctx is detached from the push's cancellation on purpose: the last
	// flushes happen after a cancelled push, and that log matters most.
	ctx   context.Context
	st    *store.Store
	id    int64
	log   *slog.Logger
	mu    sync.Mutex
	buf   []byte
	timer *time.Timer
}

func newBuildLog(ctx context.Context, st *store.Store, id int64, log *slog.Logger) *buildLog {
	return &buildLog{ctx: context.WithoutCancel(ctx), st: st, id: id, log: log}
}

func (l *buildLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) >= 64<<10 {
		l.flushLocked()
	} else if l.timer == nil {
		l.timer = time.AfterFunc(time.Second, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.timer = nil
			l.flushLocked()
		})
	}
	return len(p), nil
}

// Close writes what is buffered.
func (l *buildLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.flushLocked()
}

func (l *buildLog) flushLocked() {
	if len(l.buf) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	if err := l.st.AppendBuildLog(ctx, l.id, string(l.buf)); err != nil {
		l.log.Warn("saving build log", "err", err)
	}
	l.buf = l.buf[:0]
}

// Reconcile brings every app to its latest succeeded release, one app at a
// time under its deploy lock: run at start, it resumes from a platformd that
// stopped mid-deploy (the stopped holder's lease expires, then its release
// is marked failed and the one before it restored). Failures are logged per
// app; Reconcile returns when every app was tried or ctx is done.
func (p *Pipeline) Reconcile(ctx context.Context) error {
	// Long enough for a crashed holder's lease to run out.
	lockCfg := LockConfig{TTL: p.lock.TTL, Wait: p.lock.TTL + 15*time.Second, Poll: p.lock.Poll}
	var after int64
	for {
		apps, err := p.st.ListApps(ctx, store.ListOptions{After: after, Limit: 100})
		if err != nil {
			return fmt.Errorf("listing apps: %w", err)
		}
		if len(apps) == 0 {
			return nil
		}
		for _, app := range apps {
			after = app.ID
			if err := p.reconcileApp(ctx, lockCfg, app); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				p.log.Error("reconciling app", "app", app.Name, "err", err)
			}
		}
	}
}

func (p *Pipeline) reconcileApp(ctx context.Context, lockCfg LockConfig, app store.App) error {
	tenant, err := p.st.GetTenantByID(ctx, app.TenantID)
	if err != nil {
		return err
	}
	if tenant.Suspended() {
		return nil
	}
	lctx, unlock, err := LockApp(ctx, p.st, lockCfg, p.log, app.ID, "reconcile after restart", io.Discard)
	if err != nil {
		return err
	}
	defer unlock()
	return p.release.Reconcile(lctx, app, tenant)
}

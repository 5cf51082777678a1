package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/store"
)

// appDeployer is the part of the deployer that releases use.
type appDeployer interface {
	EnsureTenant(ctx context.Context, tenant string, quota deployer.TenantQuota) error
	Apply(ctx context.Context, rel deployer.Release, prev *deployer.Release, out io.Writer) error
}

// ReleasesConfig configures how releases are made and rolled out.
type ReleasesConfig struct {
	Logger *slog.Logger
	// AppURL returns the address an app answers at, for the push's last
	// line ("Released v3 — http://...").
	AppURL func(app string) string
}

// Releases records releases and rolls them out. It implements Releaser for
// the push pipeline. It is safe for concurrent use; callers hold the app's
// deploy lock.
type Releases struct {
	st     *store.Store
	dep    appDeployer
	log    *slog.Logger
	appURL func(string) string
}

var _ Releaser = (*Releases)(nil)

// NewReleases returns releases over st rolled out by dep.
func NewReleases(cfg ReleasesConfig, st *store.Store, dep appDeployer) (*Releases, error) {
	if cfg.Logger == nil || cfg.AppURL == nil {
		return nil, errors.New("releases: a logger and AppURL are required")
	}
	if st == nil || dep == nil {
		return nil, errors.New("releases: store and deployer are required")
	}
	return &Releases{st: st, dep: dep, log: cfg.Logger, appURL: cfg.AppURL}, nil
}

// ReleaseBuild records release vN of a built image, with the app's current
// config and a formation updated from the build's process types, and rolls
// it out. The previous release keeps serving if the rollout fails.
func (r *Releases) ReleaseBuild(ctx context.Context, b BuiltImage, out io.Writer) error {
	short := b.Build.CommitSHA
	if len(short) > 7 {
		short = short[:7]
	}
	var rel store.Release
	err := r.st.InTx(ctx, func(tx *store.Store) error {
		current, err := tx.ListFormation(ctx, b.App.ID)
		if err != nil {
			return err
		}
		procs, removed := formationFor(current, b.Processes, b.HealthPath)
		if _, err := tx.UpsertFormation(ctx, b.App.ID, procs); err != nil {
			return err
		}
		for _, t := range removed {
			if err := tx.RemoveProcess(ctx, b.App.ID, t); err != nil {
				return err
			}
		}
		buildID := b.Build.ID
		rel, err = tx.CreateRelease(ctx, store.NewRelease{
			AppID:          b.App.ID,
			BuildID:        &buildID,
			ImageRef:       b.ImageRef,
			ImageDigest:    b.Digest,
			CommitSHA:      b.Build.CommitSHA,
			ReleaseCommand: b.ReleaseCommand,
			Description:    "Deploy " + short,
			Author:         b.User,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("recording the release: %w", err)
	}
	return r.rollOut(ctx, b.App, b.Tenant, rel, out)
}

// formationFor merges a build's process types into the current formation:
// types already there keep their scale and take the new command; new types
// start with one web process and no others (Heroku's defaults); types the
// build no longer has are returned to be removed.
func formationFor(current []store.Process, processes map[string]string, webHealthPath string) (procs []store.Process, removed []string) {
	have := make(map[string]store.Process, len(current))
	for _, p := range current {
		have[p.Type] = p
	}
	for typ, cmd := range processes {
		p, ok := have[typ]
		if !ok {
			p = store.Process{Type: typ, Size: store.DefaultSize}
			if typ == "web" {
				p.Quantity = 1
			}
		}
		p.Command = cmd
		p.HealthPath = ""
		if typ == deployer.WebProcess {
			p.HealthPath = webHealthPath
		}
		procs = append(procs, p)
	}
	for _, p := range current {
		if _, ok := processes[p.Type]; !ok {
			removed = append(removed, p.Type)
		}
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].Type < procs[j].Type })
	return procs, removed
}

// rollOut applies release rel, its release command first, and records how
// it went.
func (r *Releases) rollOut(ctx context.Context, app store.App, tenant store.Tenant, rel store.Release, out io.Writer) error {
	log := r.log.With("app", app.Name, "release", rel.Version)
	// The release the cluster runs, if any: a config change made before
	// the first build succeeded without running anything, so it is not one.
	var prev *deployer.Release
	if p, err := r.st.RunningRelease(ctx, app.ID); err == nil {
		dp, err := r.deployerRelease(ctx, app, tenant, p)
		if err != nil {
			return err
		}
		prev = &dp
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("reading the running release: %w", err)
	}
	next, err := r.deployerRelease(ctx, app, tenant, rel)
	if err != nil {
		return err
	}
	next.ReleaseCommand = rel.ReleaseCommand

	if _, err := r.st.SetReleaseStatus(ctx, app.ID, rel.Version, store.ReleaseDeploying, ""); err != nil {
		return fmt.Errorf("recording the release: %w", err)
	}
	fmt.Fprintf(out, "-----> Releasing v%d: %s\n", rel.Version, next.Formation())
	start := time.Now()
	err = r.dep.EnsureTenant(ctx, tenant.Name, deployer.TenantQuota{
		MaxProcesses: tenant.Quota.MaxProcesses,
		MaxSize:      string(tenant.Quota.MaxSize),
	})
	if err == nil {
		progress := &indented{w: out}
		err = r.dep.Apply(ctx, next, prev, progress)
		progress.end()
	}

	// The outcome is recorded even if the push was interrupted.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		reason := releaseFailure(err)
		if ctx.Err() != nil {
			reason = "interrupted: " + reason
		}
		if _, serr := r.st.SetReleaseStatus(fctx, app.ID, rel.Version, store.ReleaseFailed, reason); serr != nil {
			log.Error("recording failed release", "err", serr)
		}
		log.Info("release failed", "err", err, "duration", time.Since(start))
		var re *deployer.RolloutError
		errors.As(err, &re)
		if rest, ok := strings.CutPrefix(reason, "release "); ok {
			// A rollout's own reason: "release v2 failed: ..."
			fmt.Fprintf(out, "-----> Release %s\n", rest)
		} else {
			fmt.Fprintf(out, "-----> v%d failed: %s\n", rel.Version, reason)
		}
		if re != nil && re.Reason == deployer.ReasonReleaseCommand {
			fmt.Fprintf(out, "       v%d was not started\n", rel.Version)
		}
		if re != nil && len(re.Logs) > 0 {
			fmt.Fprintf(out, "       last lines of %s:\n", re.Pod)
			for _, l := range re.Logs {
				fmt.Fprintf(out, "       | %s\n", l)
			}
		}
		if prev != nil {
			fmt.Fprintf(out, "       v%d is still running\n", prev.Version)
		}
		return errors.New(firstLine(reason))
	}
	if _, err := r.st.SetReleaseStatus(fctx, app.ID, rel.Version, store.ReleaseSucceeded, ""); err != nil {
		return fmt.Errorf("recording the release: %w", err)
	}
	took := time.Since(start)
	log.Info("released", "duration", took)
	fmt.Fprintf(out, "-----> Released v%d in %s — %s\n", rel.Version, took.Round(100*time.Millisecond), r.appURL(app.Name))
	return nil
}

// releaseFailure is the reason recorded for a failed release: a rollout's
// own diagnosis ("release v2 failed: web: crash loop: ...") when there is
// one.
func releaseFailure(err error) string {
	var re *deployer.RolloutError
	if errors.As(err, &re) {
		return re.Error()
	}
	return fmt.Sprintf("release failed: %v", err)
}

// ShortReason is the first line of a failed build's or release's reason,
// cut at 200 bytes: what a pushing terminal or an API client is shown.
func ShortReason(reason string) string {
	return firstLine(reason)
}

// deployerRelease turns a recorded release into what the deployer applies.
func (r *Releases) deployerRelease(ctx context.Context, app store.App, tenant store.Tenant, rel store.Release) (deployer.Release, error) {
	if rel.Config == nil {
		full, err := r.st.GetRelease(ctx, app.ID, rel.Version)
		if err != nil {
			return deployer.Release{}, fmt.Errorf("reading release v%d: %w", rel.Version, err)
		}
		rel = full
	}
	domains, err := r.st.ListRoutedDomains(ctx, app.ID)
	if err != nil {
		return deployer.Release{}, fmt.Errorf("reading domains: %w", err)
	}
	dr := deployer.Release{
		Tenant:  tenant.Name,
		App:     app.Name,
		Version: rel.Version,
		Image:   rel.ImageRef,
		Config:  rel.Config,
		Commit:  rel.CommitSHA,
	}
	for _, d := range domains {
		dr.Domains = append(dr.Domains, d.Host)
	}
	certs, err := r.st.ListCertificatesWithKeys(ctx, app.ID)
	if err != nil {
		return deployer.Release{}, fmt.Errorf("reading certificates: %w", err)
	}
	for _, c := range certs {
		dr.Certificates = append(dr.Certificates, deployer.Certificate{
			ID: c.ID, ChainPEM: c.ChainPEM, KeyPEM: c.KeyPEM, Names: c.Hosts, NotAfter: c.NotAfter,
		})
	}
	https, err := r.st.GetHTTPSSettings(ctx, app.ID)
	if err != nil {
		return deployer.Release{}, fmt.Errorf("reading HTTPS settings: %w", err)
	}
	dr.HTTPS = deployer.HTTPS{
		NoRedirect: !https.Redirect, HSTSMaxAge: https.HSTSMaxAge, HSTSIncludeSubdomains: https.HSTSIncludeSubdomains,
		H2C: https.BackendProtocol == store.BackendH2C,
	}
	for _, p := range rel.Formation {
		q := p.Quantity
		if tenant.Suspended() {
			q = 0 // a suspended tenant runs nothing; its formation is kept for later
		}
		if p.Type == deployer.WebProcess {
			dr.HealthPath = p.HealthPath
		}
		dr.Processes = append(dr.Processes, deployer.Process{
			Type: p.Type, Command: p.Command, Quantity: q, Size: string(p.Size),
		})
	}
	return dr, nil
}

// Reconcile brings one app back to its latest succeeded release after a
// restart: releases left pending or deploying by a platformd that stopped
// mid-rollout are marked failed, and the latest succeeded release is applied
// again (which changes nothing when the cluster already runs it).
func (r *Releases) Reconcile(ctx context.Context, app store.App, tenant store.Tenant) error {
	rels, err := r.st.ListReleases(ctx, app.ID, store.ListOptions{Limit: 20})
	if err != nil {
		return fmt.Errorf("listing releases: %w", err)
	}
	for _, rel := range rels {
		if rel.Status.Final() {
			continue
		}
		if _, err := r.st.SetReleaseStatus(ctx, app.ID, rel.Version, store.ReleaseFailed,
			"interrupted: platformd stopped during the rollout; the latest succeeded release was restored"); err != nil {
			return fmt.Errorf("failing interrupted release v%d: %w", rel.Version, err)
		}
		r.log.Warn("interrupted release marked failed", "app", app.Name, "release", rel.Version)
	}
	// The latest succeeded release, applied again; an app never built
	// runs nothing.
	return r.Reapply(ctx, app, tenant)
}

// indented passes lines to w indented under the push's "----->" headers.
// It is safe for concurrent use.
type indented struct {
	w       io.Writer
	mu      sync.Mutex
	midLine bool // the last write ended within a line
}

const indent = "       "

func (i *indented) Write(p []byte) (int, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	var b []byte
	for rest := p; len(rest) > 0; {
		if !i.midLine {
			b = append(b, indent...)
		}
		n := bytes.IndexByte(rest, '\n') + 1
		if n == 0 {
			n = len(rest)
		}
		b = append(b, rest[:n]...)
		i.midLine = rest[n-1] != '\n'
		rest = rest[n:]
	}
	if _, err := i.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// end ends a line left unfinished.
func (i *indented) end() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.midLine {
		_, _ = io.WriteString(i.w, "\n")
		i.midLine = false
	}
}

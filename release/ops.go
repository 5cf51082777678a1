package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/store"
)

// Releases made by the API rather than by a push: config changes and
// rollbacks. Callers hold the app's deploy lock. Each records a release,
// rolls it out, and, if the rollout fails, puts the app's config and
// formation back as they were, so the next push does not carry a change
// that never ran; the failed release stays in the history.

// ErrNothingToRollBack is returned by Rollback when there is no release it
// could roll back to.
var ErrNothingToRollBack = errors.New("nothing to roll back to")

// ConfigChange is a change of an app's config vars.
type ConfigChange struct {
	Set   map[string]string
	Unset []string
}

// Keys returns the names the change touches, sorted.
func (c ConfigChange) Keys() []string {
	keys := make([]string, 0, len(c.Set)+len(c.Unset))
	for k := range c.Set {
		keys = append(keys, k)
	}
	keys = append(keys, c.Unset...)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// description is the release's description, as Heroku words it.
func (c ConfigChange) description() string {
	set := make([]string, 0, len(c.Set))
	for k := range c.Set {
		set = append(set, k)
	}
	slices.Sort(set)
	unset := slices.Clone(c.Unset)
	slices.Sort(unset)
	var d string
	switch {
	case len(set) > 0 && len(unset) > 0:
		d = fmt.Sprintf("Set %s and unset %s config vars", strings.Join(set, ", "), strings.Join(unset, ", "))
	case len(set) > 0:
		d = fmt.Sprintf("Set %s config vars", strings.Join(set, ", "))
	default:
		d = fmt.Sprintf("Unset %s config vars", strings.Join(unset, ", "))
	}
	if len(d) > 500 {
		d = d[:497] + "..."
	}
	return d
}

// ReleaseConfig applies a config change and rolls out a release with it
// and the running release's image, whose release command runs first with
// the new config, as Heroku's release phase does. An app that has never
// been built gets a release that runs nothing. It returns the release,
// whose status says how the rollout went, and the rollout's error.
func (r *Releases) ReleaseConfig(ctx context.Context, app store.App, tenant store.Tenant, user store.User, change ConfigChange, out io.Writer) (store.Release, error) {
	if len(change.Set) == 0 && len(change.Unset) == 0 {
		return store.Release{}, fmt.Errorf("%w: no config vars to set or unset", store.ErrInvalid)
	}
	before, err := r.st.GetConfig(ctx, app.ID)
	if err != nil {
		return store.Release{}, err
	}
	// The new release runs the image the app runs now, if any.
	running, err := r.st.RunningRelease(ctx, app.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Release{}, fmt.Errorf("reading the running release: %w", err)
	}
	var rel store.Release
	err = r.st.InTx(ctx, func(tx *store.Store) error {
		if len(change.Set) > 0 {
			if _, err := tx.SetConfig(ctx, app.ID, change.Set); err != nil {
				return err
			}
		}
		if len(change.Unset) > 0 {
			if _, err := tx.UnsetConfig(ctx, app.ID, change.Unset); err != nil {
				return err
			}
		}
		rel, err = tx.CreateRelease(ctx, store.NewRelease{
			AppID:          app.ID,
			BuildID:        running.BuildID,
			ImageRef:       running.ImageRef,
			ImageDigest:    running.ImageDigest,
			CommitSHA:      running.CommitSHA,
			ReleaseCommand: running.ReleaseCommand,
			Description:    change.description(),
			Author:         user,
		})
		return err
	})
	if err != nil {
		return store.Release{}, err
	}
	rel, err = r.rollOutOrRestore(ctx, app, tenant, rel, out, func(ctx context.Context) error {
		return r.st.ReplaceConfig(ctx, app.ID, before)
	})
	return rel, err
}

// Rollback makes a new release with release version's image and config,
// or with the succeeded release before the running one when version is 0,
// and rolls it out, that release's release command first. Process types
// and their commands come from that release; quantities and sizes stay as
// they are now (a rollback does not scale). Rolling back to a release that
// failed, that never ran an image, or that is the running one is refused
// with store.ErrConflict; to one that does not exist with
// store.ErrNotFound.
func (r *Releases) Rollback(ctx context.Context, app store.App, tenant store.Tenant, user store.User, version int, out io.Writer) (store.Release, error) {
	running, err := r.st.RunningRelease(ctx, app.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Release{}, fmt.Errorf("%w: %s has not run a build yet (git push to deploy one)", ErrNothingToRollBack, app.Name)
	}
	if err != nil {
		return store.Release{}, fmt.Errorf("reading the running release: %w", err)
	}
	if version == 0 {
		if version, err = r.previousSucceeded(ctx, app, running.Version); err != nil {
			return store.Release{}, err
		}
	}
	target, err := r.st.GetRelease(ctx, app.ID, version)
	if errors.Is(err, store.ErrNotFound) {
		return store.Release{}, fmt.Errorf("%w: %s has no release v%d", store.ErrNotFound, app.Name, version)
	}
	if err != nil {
		return store.Release{}, err
	}
	switch {
	case target.Version == running.Version:
		return store.Release{}, fmt.Errorf("%w: v%d is the running release", ErrNothingToRollBack, version)
	case target.Status != store.ReleaseSucceeded:
		return store.Release{}, fmt.Errorf("%w: v%d is %s: only a release that succeeded can be rolled back to", ErrNothingToRollBack, version, target.Status)
	case target.ImageRef == "":
		return store.Release{}, fmt.Errorf("%w: v%d ran no build (a config change made before the first push); roll back to a release that ran one", ErrNothingToRollBack, version)
	}

	beforeConfig, err := r.st.GetConfig(ctx, app.ID)
	if err != nil {
		return store.Release{}, err
	}
	beforeFormation, err := r.st.ListFormation(ctx, app.ID)
	if err != nil {
		return store.Release{}, err
	}
	formation := rollbackFormation(beforeFormation, target.Formation)
	var rel store.Release
	err = r.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.ReplaceConfig(ctx, app.ID, target.Config); err != nil {
			return err
		}
		if _, err := tx.ReplaceFormation(ctx, app.ID, formation); err != nil {
			return err
		}
		rel, err = tx.CreateRelease(ctx, store.NewRelease{
			AppID:          app.ID,
			BuildID:        target.BuildID,
			ImageRef:       target.ImageRef,
			ImageDigest:    target.ImageDigest,
			CommitSHA:      target.CommitSHA,
			ReleaseCommand: target.ReleaseCommand,
			Description:    fmt.Sprintf("Rollback to v%d", target.Version),
			Author:         user,
		})
		return err
	})
	if err != nil {
		return store.Release{}, err
	}
	return r.rollOutOrRestore(ctx, app, tenant, rel, out, func(ctx context.Context) error {
		return r.st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.ReplaceConfig(ctx, app.ID, beforeConfig); err != nil {
				return err
			}
			_, err := tx.ReplaceFormation(ctx, app.ID, beforeFormation)
			return err
		})
	})
}

// previousSucceeded is the newest succeeded release with an image older
// than version.
func (r *Releases) previousSucceeded(ctx context.Context, app store.App, version int) (int, error) {
	opts := store.ListOptions{Limit: 100}
	for {
		rels, err := r.st.ListReleases(ctx, app.ID, opts)
		if err != nil {
			return 0, fmt.Errorf("listing releases: %w", err)
		}
		for _, rel := range rels {
			if rel.Version < version && rel.Status == store.ReleaseSucceeded && rel.ImageRef != "" {
				return rel.Version, nil
			}
		}
		if len(rels) < opts.Limit {
			return 0, fmt.Errorf("%w: %s has no succeeded release before v%d", ErrNothingToRollBack, app.Name, version)
		}
		opts.After = int64(rels[len(rels)-1].Version)
	}
}

// rollbackFormation is the formation a rollback to a release with formation
// target sets: target's process types and commands, with the scale each
// type has now; a type that is not running now gets target's scale.
func rollbackFormation(current, target []store.Process) []store.Process {
	out := make([]store.Process, 0, len(target))
	for _, t := range target {
		p := t
		if i := slices.IndexFunc(current, func(c store.Process) bool { return c.Type == t.Type }); i >= 0 {
			p.Quantity, p.Size = current[i].Quantity, current[i].Size
		}
		out = append(out, p)
	}
	return out
}

// rollOutOrRestore rolls rel out, or records it succeeded at once if it
// has no image (nothing runs before the first build). If the rollout
// fails, restore puts back what rel's making changed.
func (r *Releases) rollOutOrRestore(ctx context.Context, app store.App, tenant store.Tenant, rel store.Release, out io.Writer, restore func(context.Context) error) (store.Release, error) {
	var err error
	if rel.ImageRef == "" {
		fmt.Fprintf(out, "-----> v%d recorded: %s has not been built yet, so nothing runs\n", rel.Version, app.Name)
	} else {
		err = r.rollOut(ctx, app, tenant, rel, out)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rel.ImageRef == "" {
		if _, serr := r.st.SetReleaseStatus(fctx, app.ID, rel.Version, store.ReleaseDeploying, ""); serr != nil {
			return rel, serr
		}
		if _, serr := r.st.SetReleaseStatus(fctx, app.ID, rel.Version, store.ReleaseSucceeded, ""); serr != nil {
			return rel, serr
		}
	}
	if err != nil {
		if rerr := restore(fctx); rerr != nil {
			r.log.Error("restoring config and formation after a failed release", "app", app.Name,
				"release", rel.Version, "err", rerr)
		}
	}
	if got, gerr := r.st.GetRelease(fctx, app.ID, rel.Version); gerr == nil {
		rel = got
	}
	return rel, err
}

// Reapply applies the app's running release again: at start (Reconcile),
// after its domains, certificates or HTTPS settings change, and when its tenant is suspended (every
// process stops) or the suspension ends. An app never built has nothing to
// apply.
func (r *Releases) Reapply(ctx context.Context, app store.App, tenant store.Tenant) error {
	cur, err := r.st.RunningRelease(ctx, app.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the running release: %w", err)
	}
	dr, err := r.deployerRelease(ctx, app, tenant, cur)
	if err != nil {
		return err
	}
	if err := r.dep.EnsureTenant(ctx, tenant.Name, deployer.TenantQuota{
		MaxProcesses: tenant.Quota.MaxProcesses,
		MaxSize:      string(tenant.Quota.MaxSize),
	}); err != nil {
		return err
	}
	return r.dep.Apply(ctx, dr, nil, io.Discard)
}

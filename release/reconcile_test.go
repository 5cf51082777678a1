package release_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/release/releasetest"
	"github.com/platform-paas/platform/server/store"
)

// TestReconcileAfterCrashMidRollout stands for a platformd that died while
// rolling out v2: the cluster is half-way to v2, the release row says
// deploying and the dead holder's deploy lock has not expired yet. A new
// platformd's Reconcile waits out the lease, marks v2 failed and brings the
// app back to v1, the latest succeeded release, so the app ends on one
// consistent release and every release's status is true.
func TestReconcileAfterCrashMidRollout(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	ctx := context.Background()
	app := s.CreateApp(t, "rec")
	dir := s.Repo(t, "go", app.Name)
	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	v1, err := s.Store.LatestSucceededRelease(ctx, app.ID)
	require.NoError(t, err)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dep, err := deployer.New(deployer.Config{
		Kubeconfig: s.Env.Kubeconfig, AppsDomain: s.Env.AppsDomain, Logger: log, PullCredentials: s.PullCredentials(),
	})
	require.NoError(t, err)

	// v2: the same image with a config change, rolled half-way: the
	// rollout is abandoned once the cluster has begun it, as a crash
	// would.
	_, err = s.Store.SetConfig(ctx, app.ID, map[string]string{"CRASH_TEST": "v2"})
	require.NoError(t, err)
	v2, err := s.Store.CreateRelease(ctx, store.NewRelease{
		AppID: app.ID, ImageRef: v1.ImageRef, ImageDigest: v1.ImageDigest,
		CommitSHA: v1.CommitSHA, Description: "Set CRASH_TEST config vars", Author: s.User,
	})
	require.NoError(t, err)
	_, err = s.Store.SetReleaseStatus(ctx, app.ID, v2.Version, store.ReleaseDeploying, "")
	require.NoError(t, err)
	procs := []deployer.Process{}
	for _, p := range v1.Formation {
		procs = append(procs, deployer.Process{Type: p.Type, Command: p.Command, Quantity: p.Quantity, Size: string(p.Size)})
	}
	rollCtx, cancelRoll := context.WithCancel(ctx)
	rolled := make(chan error, 1)
	go func() {
		rolled <- dep.Apply(rollCtx, deployer.Release{
			Tenant: s.Tenant.Name, App: app.Name, Version: v2.Version, Image: v1.ImageRef,
			Config: map[string]string{"CRASH_TEST": "v2"}, Processes: procs, Commit: v1.CommitSHA,
		}, nil, io.Discard)
	}()
	// Half-way: a process type is set to run v2 (its Deployment has
	// v2's template) and Apply is still waiting for the rollout.
	require.Eventually(t, func() bool {
		status, err := dep.Status(ctx, s.Tenant.Name, app.Name)
		if err != nil {
			return false
		}
		for _, ps := range status {
			if ps.Release == v2.Version {
				return true
			}
		}
		return false
	}, time.Minute, 50*time.Millisecond, "the rollout of v2 begins")
	select {
	case err := <-rolled:
		t.Fatalf("the rollout of v2 ended before the crash, not half-way: %v", err)
	default:
	}
	cancelRoll()
	<-rolled
	ok, _, err := s.Store.AcquireDeployLock(ctx, app.ID, "crashed-platformd", "deploy of v2 by a platformd that died", 3*time.Second)
	require.NoError(t, err)
	require.True(t, ok)

	// The new platformd.
	b, err := builder.New(builder.Config{Addr: s.Env.BuildKitAddr, Registry: s.Env.Registry})
	require.NoError(t, err)
	defer b.Close()
	rels, err := release.NewReleases(release.ReleasesConfig{Logger: log, AppURL: func(a string) string { return a }}, s.Store, dep)
	require.NoError(t, err)
	p, err := release.NewPipeline(release.PipelineConfig{Logger: log, Lock: release.LockConfig{TTL: 3 * time.Second, Poll: 200 * time.Millisecond}}, s.Store, b, rels)
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	require.NoError(t, p.Reconcile(rctx))

	got, err := s.Store.GetRelease(ctx, app.ID, v2.Version)
	require.NoError(t, err)
	assert.Equal(t, store.ReleaseFailed, got.Status)
	assert.Contains(t, got.StatusReason, "interrupted")
	cur, err := s.Store.LatestSucceededRelease(ctx, app.ID)
	require.NoError(t, err)
	assert.Equal(t, v1.Version, cur.Version)

	status, err := dep.Status(ctx, s.Tenant.Name, app.Name)
	require.NoError(t, err)
	require.NotEmpty(t, status)
	for _, ps := range status {
		assert.Equal(t, v1.Version, ps.Release, "%s runs v1 again", ps.Type)
		assert.Equal(t, ps.Desired, ps.Updated, "%s has no pods of another release", ps.Type)
	}
	code, body := s.Get(t, app.Name, "/")
	assert.Equal(t, 200, code, body)
	assert.Contains(t, body, "hello from go")

	// The lock is free again: a push goes through.
	src, err := os.ReadFile(filepath.Join(dir, "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(strings.Replace(string(src), "hello from go", "hello from go, after the crash", 1)), 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "after")
	out, err = s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "Released v3")
}

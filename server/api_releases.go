package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// releaseView is what the API says about a release; current is the
// version of the app's running release (0 if none).
func releaseView(rel store.Release, current int) api.Release {
	v := api.Release{
		Version:      rel.Version,
		Status:       string(rel.Status),
		StatusReason: rel.StatusReason,
		Description:  rel.Description,
		Author:       rel.AuthorEmail,
		Commit:       rel.CommitSHA,
		Image:        rel.ImageRef,
		Current:      rel.Version == current,
		CreatedAt:    rel.CreatedAt,
		FinishedAt:   rel.FinishedAt,
	}
	if rel.BuildID != nil {
		v.Build = *rel.BuildID
	}
	for _, p := range rel.Formation {
		v.Formation = append(v.Formation, api.Process{Type: p.Type, Quantity: p.Quantity, Size: string(p.Size), Command: p.Command})
	}
	if rel.Config != nil {
		v.ConfigKeys = sortedKeys(rel.Config)
	}
	return v
}

// currentVersion is the version of the app's running release, 0 if none.
func (s *Server) currentVersion(ctx context.Context, app store.App) (int, error) {
	cur, err := s.st.LatestSucceededRelease(ctx, app.ID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return cur.Version, nil
}

// listReleases lists an app's releases, newest first: GET
// /apps/{app}/releases. The cursor is the version.
func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	var current int // the app's current version, for the view
	list := func(o store.ListOptions) ([]store.Release, error) {
		rels, err := s.st.ListReleases(r.Context(), app.ID, o)
		if err != nil {
			return nil, err
		}
		current, err = s.currentVersion(r.Context(), app)
		return rels, err
	}
	return listPageByID(w, r, list,
		func(rel store.Release) api.Release { return releaseView(rel, current) },
		func(rel store.Release) int64 { return int64(rel.Version) })
}

// versionParam reads a release version, "7" or "v7".
func versionParam(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V"))
	if err != nil || n < 1 {
		return 0, invalid("version", "release version %q is not a version such as v7", s)
	}
	return n, nil
}

// getRelease shows one release, with the names of its config vars: GET
// /apps/{app}/releases/{version}.
func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	version, err := versionParam(urlParam(r, "version"))
	if err != nil {
		return err
	}
	rel, err := s.st.GetRelease(r.Context(), app.ID, version)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("%s has no release v%d", app.Name, version)
	}
	if err != nil {
		return err
	}
	current, err := s.currentVersion(r.Context(), app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, releaseView(rel, current))
	return nil
}

// rollback makes a release with an earlier release's image and config and
// rolls it out: POST /apps/{app}/releases {"rollback_to": N}. It answers
// once the release runs.
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	var req api.RollbackRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if req.RollbackTo < 0 {
		return invalid("rollback_to", "rollback_to must be a release version, or 0 for the one before the running release")
	}
	if tenant.Suspended() {
		return forbidden("tenant %s is suspended: its apps cannot be changed until a platform admin lifts the suspension", tenant.Name)
	}
	if s.releases == nil {
		return errNoReleases
	}
	ctx, unlock, err := s.lockForAPI(r, app, "rollback")
	if err != nil {
		return err
	}
	defer unlock()

	var out bytes.Buffer
	rel, err := s.releases.Rollback(ctx, app, tenant, userFrom(ctx), req.RollbackTo, &out)
	switch {
	case errors.Is(err, release.ErrNothingToRollBack):
		return &apiError{Status: http.StatusConflict, Code: api.CodeConflict, Message: "cannot roll back: " + strings.TrimPrefix(err.Error(), release.ErrNothingToRollBack.Error()+": ")}
	case errors.Is(err, store.ErrNotFound) && rel.Version == 0:
		return notFound("cannot roll back: %s", strings.TrimPrefix(err.Error(), store.ErrNotFound.Error()+": "))
	case rel.Version == 0 && err != nil:
		return err
	}
	if aerr := s.st.InTx(context.WithoutCancel(ctx), func(tx *store.Store) error {
		return s.audit(r, tx, store.AuditEvent{
			Action:   "release.rollback",
			TenantID: &tenant.ID,
			AppName:  app.Name,
			Target:   "v" + strconv.Itoa(rel.Version),
			Details:  map[string]any{"release": rel.Version, "description": rel.Description, "succeeded": err == nil},
		})
	}); aerr != nil {
		return aerr
	}
	if err != nil {
		return releaseFailed(rel, err, "its config and formation were put back")
	}
	w.Header().Set("Location", api.Version+"/apps/"+app.Name+"/releases/"+strconv.Itoa(rel.Version))
	writeJSON(w, http.StatusCreated, releaseView(rel, rel.Version))
	return nil
}

func buildView(b store.Build) api.Build {
	return api.Build{
		ID:         b.ID,
		Status:     string(b.Status),
		Commit:     b.CommitSHA,
		Author:     b.UserEmail,
		Stack:      b.Stack,
		Image:      b.ImageRef,
		Error:      b.Error,
		CreatedAt:  b.CreatedAt,
		StartedAt:  b.StartedAt,
		FinishedAt: b.FinishedAt,
	}
}

// listBuilds lists an app's builds, newest first: GET /apps/{app}/builds.
// The cursor is the build ID.
func (s *Server) listBuilds(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	return listPageByID(w, r, func(o store.ListOptions) ([]store.Build, error) {
		return s.st.ListBuilds(r.Context(), app.ID, o)
	}, buildView, func(b store.Build) int64 { return b.ID })
}

// buildFor returns the request's build ({id}) of app.
func (s *Server) buildFor(r *http.Request, app store.App) (store.Build, error) {
	id, err := strconv.ParseInt(urlParam(r, "id"), 10, 64)
	if err != nil || id < 1 {
		return store.Build{}, invalid("id", "build id %q is not a build id: see platform builds", urlParam(r, "id"))
	}
	b, err := s.st.GetBuild(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.AppID != app.ID) {
		return store.Build{}, notFound("%s has no build %d", app.Name, id)
	}
	return b, err
}

// getBuild shows one build: GET /apps/{app}/builds/{id}.
func (s *Server) getBuild(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	b, err := s.buildFor(r, app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, buildView(b))
	return nil
}

// getBuildLog answers a build's output as the push showed it, as text:
// GET /apps/{app}/builds/{id}/log.
func (s *Server) getBuildLog(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	b, err := s.buildFor(r, app)
	if err != nil {
		return err
	}
	log, err := s.st.BuildLog(r.Context(), b.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(log))
	return nil
}

// maxLogLines bounds lines= of GET /apps/{app}/logs.
const maxLogLines = 10000

// getLogs answers an app's runtime log lines as text, each prefixed with
// its time and process ("app[web.1]:"), merged by time: GET
// /apps/{app}/logs?process=web&lines=100&follow=true. With follow the
// response streams until the client goes away.
func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	opts := deployer.LogOptions{Type: q.Get("process"), Tail: 100}
	if opts.Type != "" {
		if err := store.ValidateProcessType(opts.Type); err != nil {
			return invalidField("process", err)
		}
	}
	if v := q.Get("lines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLogLines {
			return invalid("lines", "lines must be a whole number from 1 to %d", maxLogLines)
		}
		opts.Tail = n
	}
	if v := q.Get("follow"); v != "" {
		f, err := strconv.ParseBool(v)
		if err != nil {
			return invalid("follow", "follow must be true or false")
		}
		opts.Follow = f
	}
	if s.ops == nil {
		return errNoOps
	}
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if opts.Follow {
		// A proxy in front must not buffer the stream.
		w.Header().Set("X-Accel-Buffering", "no")
		_ = fw.rc.SetWriteDeadline(time.Time{})
	}
	err = s.ops.Logs(r.Context(), tenant.Name, app.Name, opts, fw)
	if err != nil && !fw.wrote && r.Context().Err() == nil {
		if errors.Is(err, deployer.ErrNotFound) {
			w.WriteHeader(http.StatusOK) // an app that runs nothing has no logs
			return nil
		}
		return fmt.Errorf("reading logs of %s: %w", app.Name, err)
	}
	if err != nil && r.Context().Err() == nil {
		s.log.WarnContext(r.Context(), "log stream ended", "app", app.Name, "err", err)
	}
	if !fw.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// flushWriter sends each write to the client at once.
type flushWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

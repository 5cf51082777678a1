package store

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// BuildStatus is where a build is in its life.
type BuildStatus string

// Build statuses. Pending and running are live; the others are final.
const (
	BuildPending   BuildStatus = "pending"
	BuildRunning   BuildStatus = "running"
	BuildSucceeded BuildStatus = "succeeded"
	BuildFailed    BuildStatus = "failed"
	BuildCancelled BuildStatus = "cancelled"
)

// Final reports whether a build in status st is over.
func (st BuildStatus) Final() bool {
	return st == BuildSucceeded || st == BuildFailed || st == BuildCancelled
}

// Build is one build of an app from a commit.
type Build struct {
	ID          int64
	AppID       int64
	CommitSHA   string
	UserID      *int64 // nil once the user is deleted
	UserEmail   string
	Status      BuildStatus
	Stack       string // detected stack, such as "go" or "dockerfile"
	ImageRef    string // set when succeeded
	ImageDigest string // sha256:..., set when succeeded
	Error       string // why it failed or was cancelled
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
}

// BuildResult is how a build ended, for FinishBuild.
type BuildResult struct {
	// Status is BuildSucceeded, BuildFailed or BuildCancelled.
	Status BuildStatus
	// Stack is the detected stack, if known.
	Stack string
	// ImageRef and ImageDigest are required for BuildSucceeded.
	ImageRef    string
	ImageDigest string
	// Error says why a build failed or was cancelled; shown to the user.
	Error string
}

var (
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

const buildColumns = `id, app_id, commit_sha, user_id, user_email, status, stack, image_ref,
	image_digest, error, created_at, started_at, finished_at`

func scanBuild(row pgx.Row) (Build, error) {
	var b Build
	err := row.Scan(&b.ID, &b.AppID, &b.CommitSHA, &b.UserID, &b.UserEmail, &b.Status, &b.Stack,
		&b.ImageRef, &b.ImageDigest, &b.Error, &b.CreatedAt, &b.StartedAt, &b.FinishedAt)
	return b, err
}

// CreateBuild records a pending build of the app at commitSHA (a full hex
// object name) by user.
func (s *Store) CreateBuild(ctx context.Context, appID int64, commitSHA string, user User) (Build, error) {
	commitSHA = strings.ToLower(commitSHA)
	if !commitRE.MatchString(commitSHA) {
		return Build{}, invalidf("commit %q is not a full commit hash", truncate(commitSHA, 80))
	}
	var userID *int64
	if user.ID != 0 {
		userID = &user.ID
	}
	b, err := scanBuild(s.db.QueryRow(ctx, `
		INSERT INTO builds (app_id, commit_sha, user_id, user_email)
		VALUES ($1, $2, $3, $4)
		RETURNING `+buildColumns, appID, commitSHA, userID, user.Email))
	if err != nil {
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return Build{}, notFoundf("app %d or user %d", appID, user.ID)
		}
		return Build{}, mapErr(err)
	}
	return b, nil
}

// GetBuild returns the build with the given ID, without its log.
func (s *Store) GetBuild(ctx context.Context, id int64) (Build, error) {
	b, err := scanBuild(s.db.QueryRow(ctx, `SELECT `+buildColumns+` FROM builds WHERE id = $1`, id))
	if err != nil {
		return Build{}, notFoundOr(err, "build %d", id)
	}
	return b, nil
}

// BuildLog returns the build's log as appended so far.
func (s *Store) BuildLog(ctx context.Context, id int64) (string, error) {
	var log string
	if err := s.db.QueryRow(ctx, `SELECT log FROM builds WHERE id = $1`, id).Scan(&log); err != nil {
		return "", notFoundOr(err, "build %d", id)
	}
	return log, nil
}

// ListBuilds returns the app's builds, newest first; the cursor is the build
// ID.
func (s *Store) ListBuilds(ctx context.Context, appID int64, opts ListOptions) ([]Build, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+buildColumns+` FROM builds
		WHERE app_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, appID, opts.afterDesc(), opts.limit())
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanBuild)
}

// MarkBuildRunning moves a pending build to running. A build that is not
// pending is a *ConflictError.
func (s *Store) MarkBuildRunning(ctx context.Context, id int64) (Build, error) {
	b, err := scanBuild(s.db.QueryRow(ctx, `
		UPDATE builds SET status = 'running', started_at = now()
		WHERE id = $1 AND status = 'pending'
		RETURNING `+buildColumns, id))
	if err == nil {
		return b, nil
	}
	return Build{}, s.buildStateErr(ctx, id, err, "start")
}

// FinishBuild records how a pending or running build ended. A build already
// finished is a *ConflictError, so the first outcome recorded wins.
func (s *Store) FinishBuild(ctx context.Context, id int64, r BuildResult) (Build, error) {
	switch r.Status {
	case BuildSucceeded:
		if r.ImageRef == "" || !digestRE.MatchString(r.ImageDigest) {
			return Build{}, invalidf("a succeeded build needs an image reference and a sha256 digest")
		}
	case BuildFailed, BuildCancelled:
		r.ImageRef, r.ImageDigest = "", ""
	default:
		return Build{}, invalidf("build status %q is not a final status", r.Status)
	}
	b, err := scanBuild(s.db.QueryRow(ctx, `
		UPDATE builds
		SET status = $2, stack = CASE WHEN $3 = '' THEN stack ELSE $3 END,
		    image_ref = $4, image_digest = $5, error = $6,
		    started_at = coalesce(started_at, now()), finished_at = now()
		WHERE id = $1 AND status IN ('pending', 'running')
		RETURNING `+buildColumns, id, r.Status, r.Stack, r.ImageRef, r.ImageDigest, r.Error))
	if err == nil {
		return b, nil
	}
	return Build{}, s.buildStateErr(ctx, id, err, "finish")
}

// buildStateErr explains why a guarded update of build id matched no row.
func (s *Store) buildStateErr(ctx context.Context, id int64, err error, verb string) error {
	if !isNoRows(err) {
		return mapErr(err)
	}
	b, gerr := s.GetBuild(ctx, id)
	if gerr != nil {
		return gerr
	}
	return conflictf("cannot %s build %d: it is %s", verb, id, b.Status)
}

// AppendBuildLog appends text to the build's log. NUL bytes and invalid
// UTF-8, which Postgres text cannot hold, are replaced.
func (s *Store) AppendBuildLog(ctx context.Context, id int64, text string) error {
	if text == "" {
		return nil
	}
	text = strings.ToValidUTF8(strings.ReplaceAll(text, "\x00", "\uFFFD"), "\uFFFD")
	tag, err := s.db.Exec(ctx, `UPDATE builds SET log = log || $2 WHERE id = $1`, id, text)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("build %d", id)
	}
	return nil
}

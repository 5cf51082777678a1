package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReleaseStatus is where a release is in its rollout.
type ReleaseStatus string

// Release statuses. Succeeded and failed are final.
const (
	ReleasePending   ReleaseStatus = "pending"
	ReleaseDeploying ReleaseStatus = "deploying"
	ReleaseSucceeded ReleaseStatus = "succeeded"
	ReleaseFailed    ReleaseStatus = "failed"
)

// Final reports whether a release in status st is over.
func (st ReleaseStatus) Final() bool { return st == ReleaseSucceeded || st == ReleaseFailed }

// Release is version N of an app: an image, a config and a formation,
// immutable once created except for its status. Versions count 1, 2, 3...
// per app with no gaps.
type Release struct {
	ID          int64
	AppID       int64
	Version     int
	BuildID     *int64 // nil for a release not made by a build
	ImageRef    string // empty before the app's first build
	ImageDigest string
	// Config is the release's config vars. Only GetRelease and
	// LatestSucceededRelease fill it; lists leave it nil.
	Config map[string]string
	// Formation is the process types at the time of the release, by type.
	Formation []Process
	CommitSHA string
	// ReleaseCommand runs to completion before the release's processes
	// replace the running ones (the Procfile's release: type); "" for none.
	ReleaseCommand string
	Description    string // "Deploy 1a2b3c4", "Set FOO config vars", "Rollback to v3"
	AuthorID       *int64 // nil once the user is deleted
	AuthorEmail    string
	Status         ReleaseStatus
	StatusReason   string
	CreatedAt      time.Time
	FinishedAt     *time.Time
}

// NewRelease is what CreateRelease records.
type NewRelease struct {
	AppID int64
	// BuildID is the build that produced the image, if any.
	BuildID *int64
	// ImageRef and ImageDigest name the image; both or neither.
	ImageRef    string
	ImageDigest string
	// Config is the config vars of the release. Nil means the app's
	// current config vars, read in the same transaction; an empty map means
	// none.
	Config map[string]string
	// Formation is the process types of the release. Nil means the app's
	// current formation, read in the same transaction.
	Formation []Process
	CommitSHA string
	// ReleaseCommand is the release phase's command: a deploy's from its
	// Procfile, a config change's or rollback's from the release whose
	// image it runs.
	ReleaseCommand string
	Description    string
	Author         User
}

// formationJSON is the stored form of a formation snapshot.
type formationJSON map[string]struct {
	Quantity   int    `json:"quantity"`
	Size       Size   `json:"size"`
	Command    string `json:"command"`
	HealthPath string `json:"health_path,omitempty"`
}

func encodeFormation(procs []Process) ([]byte, error) {
	m := formationJSON{}
	for _, p := range procs {
		e := m[p.Type]
		e.Quantity, e.Size, e.Command, e.HealthPath = p.Quantity, p.Size, p.Command, p.HealthPath
		m[p.Type] = e
	}
	return json.Marshal(m)
}

func decodeFormation(b []byte) ([]Process, error) {
	var m formationJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding formation snapshot: %w", err)
	}
	procs := make([]Process, 0, len(m))
	for t, e := range m {
		procs = append(procs, Process{Type: t, Quantity: e.Quantity, Size: e.Size, Command: e.Command, HealthPath: e.HealthPath})
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].Type < procs[j].Type })
	return procs, nil
}

const releaseColumns = `id, app_id, version, build_id, image_ref, image_digest, config, formation,
	commit_sha, release_command, description, author_user_id, author_email, status, status_reason, created_at, finished_at`

// scanRelease scans a release; with decrypt it opens the config snapshot.
func (s *Store) scanRelease(row pgx.Row, decrypt bool) (Release, error) {
	var (
		r         Release
		sealed    []byte
		formation []byte
	)
	err := row.Scan(&r.ID, &r.AppID, &r.Version, &r.BuildID, &r.ImageRef, &r.ImageDigest, &sealed, &formation,
		&r.CommitSHA, &r.ReleaseCommand, &r.Description, &r.AuthorID, &r.AuthorEmail, &r.Status, &r.StatusReason, &r.CreatedAt, &r.FinishedAt)
	if err != nil {
		return Release{}, err
	}
	if r.Formation, err = decodeFormation(formation); err != nil {
		return Release{}, err
	}
	if decrypt {
		pt, err := s.open(sealed, releaseConfigAD(r.AppID, r.Version))
		if err != nil {
			return Release{}, fmt.Errorf("release v%d of app %d: %w", r.Version, r.AppID, err)
		}
		if err := json.Unmarshal(pt, &r.Config); err != nil {
			return Release{}, fmt.Errorf("release v%d of app %d: decoding config: %w", r.Version, r.AppID, err)
		}
	}
	return r, nil
}

// validate checks nr and fills defaults in its formation, which must not be
// the caller's slice.
func (nr NewRelease) validate() error {
	if strings.TrimSpace(nr.Description) == "" || len(nr.Description) > 500 {
		return invalidf("release description must be 1 to 500 characters")
	}
	if (nr.ImageRef == "") != (nr.ImageDigest == "") {
		return invalidf("a release needs both an image reference and a digest, or neither")
	}
	if len(nr.ReleaseCommand) > 4096 {
		return invalidf("release command must be at most 4096 bytes")
	}
	if nr.ImageDigest != "" && !digestRE.MatchString(nr.ImageDigest) {
		return invalidf("image digest %q is not a sha256 digest", truncate(nr.ImageDigest, 80))
	}
	for k, v := range nr.Config {
		if err := validateConfigVar(k, v); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i := range nr.Formation {
		p := &nr.Formation[i]
		if err := p.validate(); err != nil {
			return err
		}
		if seen[p.Type] {
			return invalidf("process type %q appears twice", p.Type)
		}
		seen[p.Type] = true
	}
	return nil
}

// CreateRelease records the next release of the app, in status pending, and
// returns it with its version. Versions are handed out by incrementing the
// app's counter in the same transaction: concurrent callers queue on the app
// row and a rolled-back transaction gives its number back, so versions have
// neither gaps nor duplicates.
func (s *Store) CreateRelease(ctx context.Context, nr NewRelease) (Release, error) {
	if nr.Formation != nil {
		nr.Formation = append([]Process{}, nr.Formation...)
	}
	if err := nr.validate(); err != nil {
		return Release{}, err
	}
	var rel Release
	err := s.tx(ctx, func(tx *Store) error {
		var version int
		err := tx.db.QueryRow(ctx, `
			UPDATE apps SET release_counter = release_counter + 1 WHERE id = $1
			RETURNING release_counter`, nr.AppID).Scan(&version)
		if err != nil {
			return notFoundOr(err, "app %d", nr.AppID)
		}
		config := nr.Config
		if config == nil {
			if config, err = tx.GetConfig(ctx, nr.AppID); err != nil {
				return err
			}
		}
		formation := nr.Formation
		if formation == nil {
			if formation, err = tx.ListFormation(ctx, nr.AppID); err != nil {
				return err
			}
		}
		plain, err := json.Marshal(config)
		if err != nil {
			return fmt.Errorf("encoding config snapshot: %w", err)
		}
		fj, err := encodeFormation(formation)
		if err != nil {
			return fmt.Errorf("encoding formation snapshot: %w", err)
		}
		var authorID *int64
		if nr.Author.ID != 0 {
			authorID = &nr.Author.ID
		}
		row := tx.db.QueryRow(ctx, `
			INSERT INTO releases (app_id, version, build_id, image_ref, image_digest, config, formation,
			                      commit_sha, release_command, description, author_user_id, author_email)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			RETURNING `+releaseColumns,
			nr.AppID, version, nr.BuildID, nr.ImageRef, nr.ImageDigest,
			tx.seal(plain, releaseConfigAD(nr.AppID, version)), fj,
			strings.ToLower(nr.CommitSHA), nr.ReleaseCommand, nr.Description, authorID, nr.Author.Email)
		rel, err = tx.scanRelease(row, false)
		if err != nil {
			if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
				return notFoundf("build or author of release v%d of app %d", version, nr.AppID)
			}
			return mapErr(err)
		}
		rel.Config = config
		return nil
	})
	if err != nil {
		return Release{}, err
	}
	return rel, nil
}

// GetRelease returns version v of the app, config included.
func (s *Store) GetRelease(ctx context.Context, appID int64, version int) (Release, error) {
	r, err := s.scanRelease(s.db.QueryRow(ctx, `
		SELECT `+releaseColumns+` FROM releases WHERE app_id = $1 AND version = $2`, appID, version), true)
	if err != nil {
		return Release{}, notFoundOr(err, "release v%d of app %d", version, appID)
	}
	return r, nil
}

// LatestSucceededRelease returns the app's newest succeeded release, config
// included: the app's current config and formation. Before the first build
// it has no image; RunningRelease is the one the cluster runs.
func (s *Store) LatestSucceededRelease(ctx context.Context, appID int64) (Release, error) {
	r, err := s.scanRelease(s.db.QueryRow(ctx, `
		SELECT `+releaseColumns+` FROM releases
		WHERE app_id = $1 AND status = 'succeeded'
		ORDER BY version DESC LIMIT 1`, appID), true)
	if err != nil {
		return Release{}, notFoundOr(err, "succeeded release of app %d", appID)
	}
	return r, nil
}

// RunningRelease returns the app's newest succeeded release that runs an
// image, config included: what the cluster runs. An app whose succeeded
// releases are all config changes made before its first build (or whose
// builds all failed) runs nothing and gets ErrNotFound.
func (s *Store) RunningRelease(ctx context.Context, appID int64) (Release, error) {
	r, err := s.scanRelease(s.db.QueryRow(ctx, `
		SELECT `+releaseColumns+` FROM releases
		WHERE app_id = $1 AND status = 'succeeded' AND image_ref <> ''
		ORDER BY version DESC LIMIT 1`, appID), true)
	if err != nil {
		return Release{}, notFoundOr(err, "running release of app %d", appID)
	}
	return r, nil
}

// ListReleases returns the app's releases without their config, newest
// first; the cursor is the release version.
func (s *Store) ListReleases(ctx context.Context, appID int64, opts ListOptions) ([]Release, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+releaseColumns+` FROM releases
		WHERE app_id = $1 AND version < $2::bigint ORDER BY version DESC LIMIT $3`,
		appID, opts.afterDesc(), opts.limit())
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, func(row pgx.Row) (Release, error) { return s.scanRelease(row, false) })
}

// SetReleaseStatus moves release v of the app to status with a reason (why
// it failed; may be empty). Allowed: pending to deploying, and pending or
// deploying to succeeded or failed. A final release is a *ConflictError.
func (s *Store) SetReleaseStatus(ctx context.Context, appID int64, version int, status ReleaseStatus, reason string) (Release, error) {
	var from []string
	switch status {
	case ReleaseDeploying:
		from = []string{string(ReleasePending)}
	case ReleaseSucceeded, ReleaseFailed:
		from = []string{string(ReleasePending), string(ReleaseDeploying)}
	default:
		return Release{}, invalidf("release status %q cannot be set: use deploying, succeeded or failed", status)
	}
	r, err := s.scanRelease(s.db.QueryRow(ctx, `
		UPDATE releases
		SET status = $3, status_reason = $4,
		    finished_at = CASE WHEN $3 IN ('succeeded', 'failed') THEN now() END
		WHERE app_id = $1 AND version = $2 AND status = ANY ($5)
		RETURNING `+releaseColumns, appID, version, status, reason, from), false)
	if err == nil {
		return r, nil
	}
	if !isNoRows(err) {
		return Release{}, mapErr(err)
	}
	var cur ReleaseStatus
	if err := s.db.QueryRow(ctx, `SELECT status FROM releases WHERE app_id = $1 AND version = $2`,
		appID, version).Scan(&cur); err != nil {
		return Release{}, notFoundOr(err, "release v%d of app %d", version, appID)
	}
	return Release{}, conflictf("cannot mark release v%d %s: it is %s", version, status, cur)
}

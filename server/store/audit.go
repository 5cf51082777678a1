package store

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEvent is one recorded action: who did what to which thing, and from
// where. Names are snapshots, so events outlive the user, tenant or app.
type AuditEvent struct {
	ID         int64
	At         time.Time // set by the database on record
	ActorID    *int64    // nil for the platform itself or a deleted user
	ActorEmail string
	TenantID   *int64 // nil if not about a tenant, or the tenant is gone
	TenantName string
	AppName    string
	// Action is a dotted lower-case verb such as "config.set",
	// "app.create", "release.rollback".
	Action string
	Target string // what was acted on: "FOO,BAR", "v7", "alice@example.com"
	// Details adds structured facts. It must never hold a config value, a
	// token or a key: name the config vars, do not copy them.
	Details    map[string]any
	RemoteAddr string
}

// AuditFilter selects audit events for ListAudit. Zero fields do not filter.
type AuditFilter struct {
	TenantID *int64
	// TenantName matches the tenant's name as recorded, so it finds the
	// events of a deleted tenant too (and of an earlier tenant of that
	// name); TenantID does not.
	TenantName string
	AppName    string
	ActorID    *int64
	// ActorEmail matches the actor's address as recorded, in any case.
	ActorEmail string
	// Action is one action ("config.set"), or a prefix ending in "."
	// ("config.") for every action under it.
	Action string
	Since  time.Time // events at or after
	// ListOptions pages newest first; the cursor is the event ID.
	ListOptions
}

var actionRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

const auditColumns = `id, at, actor_user_id, actor_email, tenant_id, coalesce(tenant_name, ''),
	coalesce(app_name, ''), action, target, details, remote_addr`

func scanAudit(row pgx.Row) (AuditEvent, error) {
	var e AuditEvent
	var details []byte
	err := row.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorEmail, &e.TenantID, &e.TenantName,
		&e.AppName, &e.Action, &e.Target, &details, &e.RemoteAddr)
	if err != nil {
		return AuditEvent{}, err
	}
	if err := json.Unmarshal(details, &e.Details); err != nil {
		return AuditEvent{}, fmt.Errorf("decoding audit details: %w", err)
	}
	return e, nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RecordAudit stores e (its ID and At are ignored) and returns it as
// stored. If TenantID is set and TenantName is empty, the name is read from
// the tenant.
func (s *Store) RecordAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if !actionRE.MatchString(e.Action) {
		return AuditEvent{}, invalidf("audit action %q is invalid: use a dotted lower-case name such as config.set", e.Action)
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	details, err := json.Marshal(e.Details)
	if err != nil {
		return AuditEvent{}, invalidf("audit details cannot be encoded as JSON: %v", err)
	}
	out, err := scanAudit(s.db.QueryRow(ctx, `
		INSERT INTO audit_events (actor_user_id, actor_email, tenant_id, tenant_name, app_name,
		                          action, target, details, remote_addr)
		VALUES ($1, $2, $3,
		        coalesce($4, (SELECT name FROM tenants WHERE id = $3)),
		        $5, $6, $7, $8, $9)
		RETURNING `+auditColumns,
		e.ActorID, e.ActorEmail, e.TenantID, nullIfEmpty(e.TenantName), nullIfEmpty(e.AppName),
		e.Action, e.Target, details, e.RemoteAddr))
	if err != nil {
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return AuditEvent{}, notFoundf("audit actor or tenant")
		}
		return AuditEvent{}, mapErr(err)
	}
	return out, nil
}

// ListAudit returns the events matching f, newest first. An Action that
// is neither an action nor a prefix of one is ErrInvalid.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	var action, prefix *string
	switch {
	case f.Action == "":
	case strings.HasSuffix(f.Action, ".") && actionRE.MatchString(f.Action+"x"):
		prefix = &f.Action
	case actionRE.MatchString(f.Action):
		action = &f.Action
	default:
		return nil, invalidf("action %q is invalid: give an action such as config.set, or a prefix ending in a dot such as config.", f.Action)
	}
	rows, err := s.db.Query(ctx, `
		SELECT `+auditColumns+` FROM audit_events
		WHERE id < $1
		  AND ($2::bigint IS NULL OR tenant_id = $2)
		  AND ($3::text IS NULL OR app_name = $3)
		  AND ($4::bigint IS NULL OR actor_user_id = $4)
		  AND ($5::timestamptz IS NULL OR at >= $5)
		  AND ($7::text IS NULL OR tenant_name = $7)
		  AND ($8::text IS NULL OR lower(actor_email) = lower($8))
		  AND ($9::text IS NULL OR action = $9)
		  AND ($10::text IS NULL OR starts_with(action, $10))
		ORDER BY id DESC LIMIT $6`,
		f.afterDesc(), f.TenantID, nullIfEmpty(f.AppName), f.ActorID, since, f.limit(),
		nullIfEmpty(f.TenantName), nullIfEmpty(strings.TrimSpace(f.ActorEmail)), action, prefix)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanAudit)
}

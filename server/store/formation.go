package store

import (
	"context"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Process is one process type of an app's formation: how many processes of
// which size run which command.
type Process struct {
	Type     string // "web", "worker", ...
	Quantity int
	Size     Size   // empty means DefaultSize
	Command  string // empty means the image's default command
	// HealthPath is the HTTP path that answers 2xx or 3xx once a process
	// is ready (app.json); empty means once its port accepts connections.
	HealthPath string
}

// ProcessScale changes one process type, for ScaleFormation. A nil
// Quantity or an empty Size leaves that field as it is.
type ProcessScale struct {
	Type     string
	Quantity *int
	Size     Size
}

const maxQuantity = 1000

func (p *Process) validate() error {
	if err := ValidateProcessType(p.Type); err != nil {
		return err
	}
	if p.Quantity < 0 || p.Quantity > maxQuantity {
		return invalidf("quantity of %s must be 0 to %d", p.Type, maxQuantity)
	}
	if p.Size == "" {
		p.Size = DefaultSize
	}
	if !p.Size.Valid() {
		return invalidf("size %q of %s is unknown: use small, standard or large", p.Size, p.Type)
	}
	if len(p.Command) > 4096 {
		return invalidf("command of %s is too long", p.Type)
	}
	if p.HealthPath != "" && !healthPathRE.MatchString(p.HealthPath) {
		return invalidf("health check path of %s must start with / and be at most 200 printable characters", p.Type)
	}
	return nil
}

func scanProcess(row pgx.Row) (Process, error) {
	var p Process
	err := row.Scan(&p.Type, &p.Quantity, &p.Size, &p.Command, &p.HealthPath)
	return p, err
}

// ListFormation returns the app's process types, by type name.
func (s *Store) ListFormation(ctx context.Context, appID int64) ([]Process, error) {
	rows, err := s.db.Query(ctx, `
		SELECT process_type, quantity, size, command, health_path FROM formation
		WHERE app_id = $1 ORDER BY process_type`, appID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanProcess)
}

// UpsertFormation records the process types a deploy declares (from the
// Procfile). A new type is created with the given quantity, size and
// command; an existing type gets the new command and keeps its scale, which
// only ScaleFormation changes. Types not listed are left alone (see
// RemoveProcess). New processes count against the tenant's quota. It
// returns the whole formation.
func (s *Store) UpsertFormation(ctx context.Context, appID int64, procs []Process) ([]Process, error) {
	procs = append([]Process(nil), procs...)
	seen := map[string]bool{}
	for i := range procs {
		if err := procs[i].validate(); err != nil {
			return nil, err
		}
		if seen[procs[i].Type] {
			return nil, invalidf("process type %q appears twice", procs[i].Type)
		}
		seen[procs[i].Type] = true
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].Type < procs[j].Type })
	return s.changeFormation(ctx, appID, func(tx *Store, q tenantQuota) error {
		for _, p := range procs {
			var inserted bool
			var size Size
			err := tx.db.QueryRow(ctx, `
				INSERT INTO formation (app_id, process_type, quantity, size, command, health_path)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (app_id, process_type) DO UPDATE
				SET command = EXCLUDED.command, health_path = EXCLUDED.health_path, updated_at = now()
				RETURNING xmax = 0, size`, appID, p.Type, p.Quantity, p.Size, p.Command, p.HealthPath).Scan(&inserted, &size)
			if err != nil {
				return mapErr(err)
			}
			if inserted && p.Quantity > 0 && !size.AtMost(q.maxSize) {
				return quotaf("tenant %q allows processes up to size %s, not %s", q.name, q.maxSize, size)
			}
		}
		return nil
	})
}

// ScaleFormation changes the quantity and/or size of existing process types
// in one transaction, within the tenant's quota, and returns the whole
// formation. An unknown type is ErrNotFound.
func (s *Store) ScaleFormation(ctx context.Context, appID int64, changes []ProcessScale) ([]Process, error) {
	if len(changes) == 0 {
		return nil, invalidf("nothing to scale")
	}
	changes = append([]ProcessScale(nil), changes...)
	for _, c := range changes {
		if err := ValidateProcessType(c.Type); err != nil {
			return nil, err
		}
		if c.Quantity != nil && (*c.Quantity < 0 || *c.Quantity > maxQuantity) {
			return nil, invalidf("quantity of %s must be 0 to %d", c.Type, maxQuantity)
		}
		if c.Size != "" && !c.Size.Valid() {
			return nil, invalidf("size %q of %s is unknown: use small, standard or large", c.Size, c.Type)
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Type < changes[j].Type })
	return s.changeFormation(ctx, appID, func(tx *Store, q tenantQuota) error {
		for _, c := range changes {
			var p Process
			err := tx.db.QueryRow(ctx, `
				UPDATE formation
				SET quantity = coalesce($3, quantity), size = coalesce(nullif($4, ''), size), updated_at = now()
				WHERE app_id = $1 AND process_type = $2
				RETURNING process_type, quantity, size, command, health_path`,
				appID, c.Type, c.Quantity, string(c.Size)).Scan(&p.Type, &p.Quantity, &p.Size, &p.Command, &p.HealthPath)
			if err != nil {
				return notFoundOr(err, "process type %q", c.Type)
			}
			if c.Size != "" && p.Quantity > 0 && !p.Size.AtMost(q.maxSize) {
				return quotaf("tenant %q allows processes up to size %s, not %s", q.name, q.maxSize, p.Size)
			}
		}
		return nil
	})
}

// ReplaceFormation makes procs the app's whole formation, quantities,
// sizes and commands included, and removes the types not in it: what a
// rollback sets, and what undoes a change whose release failed. It is
// refused if it raises the tenant's process count above its quota.
func (s *Store) ReplaceFormation(ctx context.Context, appID int64, procs []Process) ([]Process, error) {
	procs = append([]Process(nil), procs...)
	types := make([]string, 0, len(procs))
	for i := range procs {
		if err := procs[i].validate(); err != nil {
			return nil, err
		}
		if slices.Contains(types, procs[i].Type) {
			return nil, invalidf("process type %q appears twice", procs[i].Type)
		}
		types = append(types, procs[i].Type)
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].Type < procs[j].Type })
	return s.changeFormation(ctx, appID, func(tx *Store, q tenantQuota) error {
		if _, err := tx.db.Exec(ctx, `DELETE FROM formation WHERE app_id = $1 AND NOT process_type = ANY ($2)`, appID, types); err != nil {
			return mapErr(err)
		}
		for _, p := range procs {
			if _, err := tx.db.Exec(ctx, `
				INSERT INTO formation (app_id, process_type, quantity, size, command, health_path)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (app_id, process_type) DO UPDATE
				SET quantity = EXCLUDED.quantity, size = EXCLUDED.size, command = EXCLUDED.command,
				    health_path = EXCLUDED.health_path, updated_at = now()`,
				appID, p.Type, p.Quantity, p.Size, p.Command, p.HealthPath); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}

// RemoveProcess removes a process type from the app's formation.
func (s *Store) RemoveProcess(ctx context.Context, appID int64, processType string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM formation WHERE app_id = $1 AND process_type = $2`, appID, processType)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("process type %q", processType)
	}
	return nil
}

type tenantQuota struct {
	id           int64
	name         string
	maxProcesses int
	maxSize      Size
}

// changeFormation runs change in a transaction that holds the app's tenant
// row, then refuses the change if it raises the tenant's process count above
// its quota. A tenant already above a lowered quota may still scale down.
func (s *Store) changeFormation(ctx context.Context, appID int64, change func(tx *Store, q tenantQuota) error) ([]Process, error) {
	var out []Process
	err := s.tx(ctx, func(tx *Store) error {
		var q tenantQuota
		err := tx.db.QueryRow(ctx, `
			SELECT t.id, t.name, t.max_processes, t.max_size
			FROM apps a JOIN tenants t ON t.id = a.tenant_id
			WHERE a.id = $1
			FOR UPDATE OF t`, appID).Scan(&q.id, &q.name, &q.maxProcesses, &q.maxSize)
		if err != nil {
			return notFoundOr(err, "app %d", appID)
		}
		before, err := tx.tenantProcesses(ctx, q.id)
		if err != nil {
			return err
		}
		if err := change(tx, q); err != nil {
			return err
		}
		after, err := tx.tenantProcesses(ctx, q.id)
		if err != nil {
			return err
		}
		if after > q.maxProcesses && after > before {
			return quotaf("tenant %q may run at most %d processes; this change would make %d", q.name, q.maxProcesses, after)
		}
		out, err = tx.ListFormation(ctx, appID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) tenantProcesses(ctx context.Context, tenantID int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `
		SELECT coalesce(sum(f.quantity), 0)
		FROM formation f JOIN apps a ON a.id = f.app_id
		WHERE a.tenant_id = $1`, tenantID).Scan(&n)
	return n, mapErr(err)
}

package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Config vars are encrypted one value at a time with AES-256-GCM, bound to
// their app and key (see crypto.go), and never logged.

func validateConfigVar(key, value string) error {
	if err := ValidateConfigKey(key); err != nil {
		return err
	}
	if len(value) > maxConfigValueLen {
		return invalidf("config var %s is too long: at most %d bytes", key, maxConfigValueLen)
	}
	if !utf8.ValidString(value) || strings.ContainsRune(value, 0) {
		return invalidf("config var %s must be UTF-8 text without NUL bytes", key)
	}
	return nil
}

// GetConfig returns the app's config vars, decrypted. An app without vars
// has an empty map; an unknown app is ErrNotFound.
func (s *Store) GetConfig(ctx context.Context, appID int64) (map[string]string, error) {
	// The LEFT JOIN tells an app without vars from a missing app.
	rows, err := s.db.Query(ctx, `
		SELECT c.key, c.value
		FROM apps a LEFT JOIN config_vars c ON c.app_id = a.id
		WHERE a.id = $1`, appID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	config := map[string]string{}
	found := false
	for rows.Next() {
		found = true
		var key *string
		var sealed []byte
		if err := rows.Scan(&key, &sealed); err != nil {
			return nil, mapErr(err)
		}
		if key == nil {
			continue
		}
		v, err := s.open(sealed, configVarAD(appID, *key))
		if err != nil {
			return nil, fmt.Errorf("config var %s of app %d: %w", *key, appID, err)
		}
		config[*key] = string(v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if !found {
		return nil, notFoundf("app %d", appID)
	}
	return config, nil
}

// SetConfig sets the given config vars of the app, keeping the others, in
// one transaction, and returns the app's full config afterwards.
func (s *Store) SetConfig(ctx context.Context, appID int64, vars map[string]string) (map[string]string, error) {
	if len(vars) == 0 {
		return nil, invalidf("no config vars to set")
	}
	keys := make([]string, 0, len(vars))
	for k, v := range vars {
		if err := validateConfigVar(k, v); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable order keeps concurrent writers from deadlocking
	var config map[string]string
	err := s.tx(ctx, func(tx *Store) error {
		batch := &pgx.Batch{}
		for _, k := range keys {
			batch.Queue(`
				INSERT INTO config_vars (app_id, key, value) VALUES ($1, $2, $3)
				ON CONFLICT (app_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
				appID, k, tx.seal([]byte(vars[k]), configVarAD(appID, k)))
		}
		if err := tx.db.SendBatch(ctx, batch).Close(); err != nil {
			if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
				return notFoundf("app %d", appID)
			}
			return mapErr(err)
		}
		var err error
		if config, err = tx.GetConfig(ctx, appID); err != nil {
			return err
		}
		return checkConfigTotal(config)
	})
	if err != nil {
		return nil, err
	}
	return config, nil
}

// checkConfigTotal refuses a config whose names and values together are
// over maxConfigTotal.
func checkConfigTotal(config map[string]string) error {
	total := 0
	for k, v := range config {
		total += len(k) + len(v)
	}
	if total > maxConfigTotal {
		return invalidf("config vars would total %d bytes; the limit is %d: keep large values elsewhere", total, maxConfigTotal)
	}
	return nil
}

// ReplaceConfig makes vars the app's whole config, in one transaction: what
// a rollback restores, and what undoes a change whose release failed.
func (s *Store) ReplaceConfig(ctx context.Context, appID int64, vars map[string]string) error {
	for k, v := range vars {
		if err := validateConfigVar(k, v); err != nil {
			return err
		}
	}
	if err := checkConfigTotal(vars); err != nil {
		return err
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return s.tx(ctx, func(tx *Store) error {
		var exists bool
		if err := tx.db.QueryRow(ctx, `SELECT true FROM apps WHERE id = $1 FOR UPDATE`, appID).Scan(&exists); err != nil {
			return notFoundOr(err, "app %d", appID)
		}
		if _, err := tx.db.Exec(ctx, `DELETE FROM config_vars WHERE app_id = $1 AND NOT key = ANY ($2)`, appID, keys); err != nil {
			return mapErr(err)
		}
		batch := &pgx.Batch{}
		for _, k := range keys {
			batch.Queue(`
				INSERT INTO config_vars (app_id, key, value) VALUES ($1, $2, $3)
				ON CONFLICT (app_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
				appID, k, tx.seal([]byte(vars[k]), configVarAD(appID, k)))
		}
		return mapErr(tx.db.SendBatch(ctx, batch).Close())
	})
}

// UnsetConfig removes the given config vars of the app (names not set are
// ignored) and returns the app's full config afterwards.
func (s *Store) UnsetConfig(ctx context.Context, appID int64, keys []string) (map[string]string, error) {
	if len(keys) == 0 {
		return nil, invalidf("no config vars to unset")
	}
	for _, k := range keys {
		if err := ValidateConfigKey(k); err != nil {
			return nil, err
		}
	}
	var config map[string]string
	err := s.tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `DELETE FROM config_vars WHERE app_id = $1 AND key = ANY ($2)`, appID, keys); err != nil {
			return mapErr(err)
		}
		var err error
		config, err = tx.GetConfig(ctx, appID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return config, nil
}

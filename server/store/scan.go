package store

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// collect scans every row with scan and closes rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// notFoundOr names what was not found when err is pgx.ErrNoRows, and maps
// err otherwise.
func notFoundOr(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return notFoundf(format, args...)
	}
	return mapErr(fmt.Errorf(format+": %w", append(args, err)...))
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

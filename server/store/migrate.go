package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/platform-paas/platform/migrations"
)

// migrateLockTimeout is how long Migrate waits for another process that is
// migrating the same database.
const migrateLockTimeout = 2 * time.Minute

// Migrate brings the database at databaseURL to the newest schema in package
// migrations. It is meant to run on every start: a database already up to
// date is left alone, and processes starting together serialise on
// golang-migrate's advisory lock so that exactly one applies each migration.
// A database left dirty by a failed migration is an error that needs a
// human; Migrate does not force it.
//
// databaseURL is anything pgx accepts (postgres://, postgresql:// or a
// key=value string); it is opened with golang-migrate's pgx/v5 driver
// directly rather than through a rewritten pgx5:// URL, so every form works
// and the password never passes through another parser's error messages.
func Migrate(ctx context.Context, databaseURL string) error {
	m, err := newMigrate(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("migrating database: %w", err)
	}
	defer closeMigrate(m)

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			// Stops between migrations; one in flight finishes.
			m.GracefulStop <- true
		case <-done:
		}
	}()

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrating database: %w", err)
	}
	return ctx.Err()
}

// newMigrate returns a golang-migrate instance over the embedded migrations
// and databaseURL. The caller closes it with closeMigrate.
func newMigrate(ctx context.Context, databaseURL string) (*migrate.Migrate, error) {
	cc, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("database url is not a valid postgres connection string")
	}
	db := stdlib.OpenDB(*cc)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connecting to database: %w", err)
	}
	// WithInstance takes ownership of db: the driver's Close closes it.
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("preparing migration driver: %w", err)
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		_ = driver.Close()
		return nil, fmt.Errorf("reading embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		_ = src.Close()
		_ = driver.Close()
		return nil, fmt.Errorf("preparing migrations: %w", err)
	}
	m.LockTimeout = migrateLockTimeout
	return m, nil
}

func closeMigrate(m *migrate.Migrate) {
	// Errors closing an embedded source and a finished connection carry
	// nothing the caller could act on.
	_, _ = m.Close()
}

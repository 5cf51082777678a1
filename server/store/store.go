// Package store is the platform's data package: it owns every SQL statement
// the product runs against PostgreSQL and the encryption of config values at
// rest. It applies the schema from package migrations (Migrate) and returns
// the product's own types; no pgx type crosses its boundary.
//
// It does not decide who may do what (that is the server's authorization),
// and it talks to nothing but Postgres: no Kubernetes, no registry, no git.
// It does enforce the invariants only the database can keep under concurrent
// writers: unique names, gap-free release versions, tenant quotas, the deploy
// lease, the immutability of releases.
//
// Errors wrap the sentinels ErrNotFound, ErrConflict, ErrInvalid,
// ErrQuotaExceeded, ErrTokenExpired, ErrDeactivated, ErrLockNotHeld and
// ErrDecrypt; their messages are short and safe to show to the user who
// caused them.
package store

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rollbackTimeout bounds the rollback of a failed transaction, which runs
// even after the caller's context is cancelled.
const rollbackTimeout = 5 * time.Second

// KeySize is the length in bytes of the config encryption key (AES-256).
const KeySize = 32

// Config configures Open.
type Config struct {
	// DatabaseURL is a libpq connection string or URL, as pgx accepts it
	// (postgres://user@host:5432/db?sslmode=disable). Required.
	DatabaseURL string
	// Key encrypts config values at rest with AES-256-GCM. It must be exactly
	// KeySize bytes; there is no default. Losing it loses every config value.
	Key []byte
	// Logger receives the package's few log lines. Nil discards them.
	Logger *slog.Logger
	// MaxConns bounds the connection pool. Zero means pgx's default
	// (the larger of 4 and the number of CPUs).
	MaxConns int32
}

// Store is the handle on the platform database. It is safe for concurrent
// use; the *Store given to the function passed to InTx is not.
type Store struct {
	pool   *pgxpool.Pool
	db     querier
	aead   cipher.AEAD
	logger *slog.Logger
	inTx   bool
}

// querier is what both the pool and a transaction offer; methods run
// against it so they work the same inside and outside InTx.
type querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var (
	_ querier = (*pgxpool.Pool)(nil)
	_ querier = (pgx.Tx)(nil)
)

// Open validates cfg, connects to the database and checks the connection.
// It does not migrate: call Migrate first. The caller closes the Store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("opening store: database url is required")
	}
	if len(cfg.Key) != KeySize {
		return nil, fmt.Errorf("opening store: encryption key must be %d bytes, got %d", KeySize, len(cfg.Key))
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("opening store: max conns must not be negative, got %d", cfg.MaxConns)
	}
	aead, err := newAEAD(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx's parse error can echo the URL, password included.
		return nil, errors.New("opening store: database url is not a valid postgres connection string")
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening store: connecting to database: %w", err)
	}
	return &Store{
		pool:   pool,
		db:     pool,
		aead:   aead,
		logger: logger.With("component", "store"),
	}, nil
}

// Close closes the connection pool, waiting for connections in use to be
// returned. Calling it on the Store given to an InTx function does nothing.
func (s *Store) Close() {
	if s.inTx {
		return
	}
	s.pool.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging database: %w", err)
	}
	return nil
}

// InTx runs fn in one database transaction: every Store method called on the
// *Store passed to fn joins it, and it commits if fn returns nil and rolls
// back otherwise, leaving the database as it was. Use it to make several
// writes atomic, such as setting config vars and recording the release that
// carries them. The *Store passed to fn is valid only during fn and must not
// be used from several goroutines. Calling InTx inside fn uses a savepoint.
//
// Lock order, to avoid deadlocks between transactions: tenant rows before
// app rows (quota checks lock the tenant, releases lock the app).
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	return s.tx(ctx, fn)
}

func (s *Store) tx(ctx context.Context, fn func(tx *Store) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	// Rollback after Commit is a no-op; after a failure it restores the
	// database. It must run even if ctx is already cancelled.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()

	txs := *s
	txs.db = tx
	txs.inTx = true
	if err := fn(&txs); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return mapErr(fmt.Errorf("committing transaction: %w", err))
	}
	return nil
}

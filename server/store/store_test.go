package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
)

const defaultTestDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// testDatabaseURL is the server tests create their databases on.
func testDatabaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return defaultTestDatabaseURL
}

// adminConn connects to the test server's maintenance database. A missing
// Postgres stops the test as localstack.Need says: a failure under make
// test, else a skip.
func adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDatabaseURL())
	if err != nil {
		localstack.Need(t, "PostgreSQL", fmt.Sprintf("run it on 127.0.0.1:5432 or set DATABASE_URL (`make up` and `. .platform/env` do); connecting: %v", err))
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// newTestDatabase creates an empty database with a random name, drops it
// when the test ends, and returns its URL. Each test gets its own database,
// so tests run in parallel and see real commits.
func newTestDatabase(t *testing.T) string {
	t.Helper()
	admin := adminConn(t)
	name := "store_test_" + hex.EncodeToString(randomBytes(t, 6))
	ctx := context.Background()
	_, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(testDatabaseURL())
	require.NoError(t, err, "DATABASE_URL must be a postgres:// URL for the tests")
	u.Path = "/" + name
	return u.String()
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func newKey(t *testing.T) []byte { return randomBytes(t, KeySize) }

// openStore opens a Store on databaseURL with key, closed at cleanup.
func openStore(t *testing.T, databaseURL string, key []byte) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{DatabaseURL: databaseURL, Key: key, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// newTestStore returns a Store on a fresh, migrated database, and the
// database's URL.
func newTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	dbURL := newMigratedDatabase(t)
	return openStore(t, dbURL, newKey(t)), dbURL
}

// newMigratedDatabase returns the URL of a fresh database with the schema.
func newMigratedDatabase(t *testing.T) string {
	t.Helper()
	dbURL := newTestDatabase(t)
	require.NoError(t, Migrate(context.Background(), dbURL))
	return dbURL
}

// fixture is a tenant, a user who owns it and an app, for tests that need
// something to hang rows on.
type fixture struct {
	tenant Tenant
	user   User
	app    App
}

func newFixture(t *testing.T, s *Store) fixture {
	t.Helper()
	ctx := context.Background()
	tenant, err := s.CreateTenant(ctx, "acme", DefaultQuota())
	require.NoError(t, err)
	user, err := s.CreateUser(ctx, "alice@example.com", false)
	require.NoError(t, err)
	require.NoError(t, s.AddMember(ctx, tenant.ID, user.ID, Owner))
	app, err := s.CreateApp(ctx, tenant.ID, "shop")
	require.NoError(t, err)
	return fixture{tenant: tenant, user: user, app: app}
}

const (
	testDigest  = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testCommit  = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
	testEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
)

func TestOpenValidatesConfig(t *testing.T) {
	t.Parallel()
	dbURL := newTestDatabase(t)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "missing key", cfg: Config{DatabaseURL: dbURL}, wantErr: "encryption key must be 32 bytes, got 0"},
		{name: "short key", cfg: Config{DatabaseURL: dbURL, Key: make([]byte, 16)}, wantErr: "encryption key must be 32 bytes, got 16"},
		{name: "long key", cfg: Config{DatabaseURL: dbURL, Key: make([]byte, 33)}, wantErr: "encryption key must be 32 bytes, got 33"},
		{name: "missing url", cfg: Config{Key: make([]byte, 32)}, wantErr: "database url is required"},
		{name: "malformed url", cfg: Config{DatabaseURL: "postgres://user:s3cret@host:notaport/db", Key: make([]byte, 32)}, wantErr: "not a valid postgres connection string"},
		{name: "negative max conns", cfg: Config{DatabaseURL: dbURL, Key: make([]byte, 32), MaxConns: -1}, wantErr: "max conns must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.cfg)
			require.Error(t, err)
			require.Nil(t, s)
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "s3cret", "errors must not echo the password")
		})
	}

	t.Run("valid", func(t *testing.T) {
		s := openStore(t, dbURL, newKey(t))
		require.NoError(t, s.Ping(context.Background()))
	})
}

// Package testdb gives a test a PostgreSQL database of its own, with the
// platform's schema, dropped when the test ends. Tests that use it run in
// parallel and see real commits.
//
// It reaches the server named by DATABASE_URL (as `. .platform/env` sets
// it), else postgres://postgres@127.0.0.1:5432/postgres. A server that
// does not answer stops the test as localstack.Need says: a failure under
// make test, else a skip. It is for tests only: nothing else may import it.
package testdb

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/server/store"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func serverURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return defaultURL
}

// URL creates a database with the platform's schema and returns its URL.
func URL(t testing.TB) string {
	t.Helper()
	dbURL := Empty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, store.Migrate(ctx, dbURL))
	return dbURL
}

// Empty creates a database without any schema, for a test of what
// migrates it (platformd's start, say), and returns its URL.
func Empty(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		localstack.Need(t, "PostgreSQL", fmt.Sprintf("run it on 127.0.0.1:5432 or set DATABASE_URL (`make up` and `. .platform/env` do); connecting: %v", err))
	}
	name := "test_" + strings.ToLower(rand.Text()[:12])
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
		_ = admin.Close(ctx)
	})
	u, err := url.Parse(serverURL())
	require.NoError(t, err, "DATABASE_URL must be a postgres:// URL for the tests")
	u.Path = "/" + name
	return u.String()
}

// Open returns a Store on a database of its own, closed when the test
// ends, and the database's URL, for the rare test that must reach past
// the store (to age a token, say).
func Open(t testing.TB) (*store.Store, string) {
	t.Helper()
	dbURL := URL(t)
	key := make([]byte, store.KeySize)
	_, _ = rand.Read(key)
	st, err := store.Open(context.Background(), store.Config{DatabaseURL: dbURL, Key: key, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st, dbURL
}

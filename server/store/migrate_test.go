package store

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var schemaTables = []string{
	"api_tokens", "apps", "audit_events", "builds", "certificates", "config_vars", "deploy_locks", "domains",
	"formation", "invitations", "memberships", "releases", "ssh_keys", "tenants", "users", "web_sessions",
}

func tablesIn(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
		ORDER BY table_name`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func schemaVersion(t *testing.T, dbURL string) (version int64, dirty bool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, conn.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty))
	return version, dirty
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := newTestDatabase(t)
	require.Empty(t, tablesIn(t, dbURL), "a new database is empty")

	require.NoError(t, Migrate(ctx, dbURL))
	assert.Equal(t, schemaTables, tablesIn(t, dbURL))
	v1, dirty := schemaVersion(t, dbURL)
	assert.False(t, dirty)
	assert.Positive(t, v1)

	// Every start calls Migrate: the second run is a no-op.
	require.NoError(t, Migrate(ctx, dbURL))
	v2, dirty := schemaVersion(t, dbURL)
	assert.Equal(t, v1, v2)
	assert.False(t, dirty)
	assert.Equal(t, schemaTables, tablesIn(t, dbURL))

	// Down removes everything the migrations created.
	m, err := newMigrate(ctx, dbURL)
	require.NoError(t, err)
	require.NoError(t, m.Down())
	closeMigrate(m)
	assert.Empty(t, tablesIn(t, dbURL))

	// And up works again after down.
	require.NoError(t, Migrate(ctx, dbURL))
	assert.Equal(t, schemaTables, tablesIn(t, dbURL))
}

func TestMigrateConcurrentStarts(t *testing.T) {
	t.Parallel()
	dbURL := newTestDatabase(t)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = Migrate(context.Background(), dbURL) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "migrate #%d", i)
	}
	assert.Equal(t, schemaTables, tablesIn(t, dbURL))
	_, dirty := schemaVersion(t, dbURL)
	assert.False(t, dirty)
}

func TestMigrateRefusesBadURL(t *testing.T) {
	t.Parallel()
	err := Migrate(context.Background(), "postgres://user:s3cret@host:notaport/db")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

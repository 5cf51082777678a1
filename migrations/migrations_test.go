package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFilesArePaired checks the naming golang-migrate relies on: every
// file is NNNN_name.up.sql or NNNN_name.down.sql, versions are unique and
// consecutive from 1, and every up has its down.
func TestFilesArePaired(t *testing.T) {
	entries, err := fs.ReadDir(FS, ".")
	require.NoError(t, err)
	require.NotEmpty(t, entries)

	nameRE := regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$`)
	ups := map[string]string{}
	downs := map[string]string{}
	for _, e := range entries {
		m := nameRE.FindStringSubmatch(e.Name())
		require.NotNil(t, m, "%s does not match NNNN_name.(up|down).sql", e.Name())
		body, err := fs.ReadFile(FS, e.Name())
		require.NoError(t, err)
		assert.NotEmpty(t, strings.TrimSpace(string(body)), "%s is empty", e.Name())
		target := ups
		if m[3] == "down" {
			target = downs
		}
		_, dup := target[m[1]]
		require.False(t, dup, "version %s appears twice", m[1])
		target[m[1]] = m[2]
	}
	assert.Equal(t, ups, downs, "every up migration has a down migration with the same name")
	for i := 1; i <= len(ups); i++ {
		v := fmt.Sprintf("%04d", i)
		assert.Contains(t, ups, v, "versions are consecutive from 0001")
	}
}

package regtoken

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScope(t *testing.T) {
	tests := map[string]Scope{
		"repository:acme/shop:pull,push":      {"repository", "acme/shop", []string{"pull", "push"}},
		"repository:acme/shop:pull,pull":      {"repository", "acme/shop", []string{"pull"}},
		"registry:catalog:*":                  {"registry", "catalog", []string{"*"}},
		"repository:127.0.0.1:5000/acme:pull": {"repository", "127.0.0.1:5000/acme", []string{"pull"}},
		"repository(plugin):acme/shop:pull":   {"repository(plugin)", "acme/shop", []string{"pull"}},
	}
	for s, want := range tests {
		got, err := ParseScope(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	assert.Equal(t, "repository:acme/shop:pull,push", Scope{"repository", "acme/shop", []string{"pull", "push"}}.String())
	for _, bad := range []string{"", "repository", "repository:acme", "repository::pull", ":acme:pull", "repository:acme:", "repository:acme:pull,,push"} {
		_, err := ParseScope(bad)
		assert.Error(t, err, "%q", bad)
	}
	many := make([]string, maxScopes+1)
	for i := range many {
		many[i] = "repository:acme/shop:pull"
	}
	_, err := parseScopes(many)
	assert.Error(t, err)
	got, err := parseScopes([]string{"repository:a/b:pull repository:c/d:push", "registry:catalog:*"})
	require.NoError(t, err)
	assert.Len(t, got, 3)
}

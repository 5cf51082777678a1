package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/platform-paas/platform/server/api"
)

// openAPIOperations are the keys of an OpenAPI path item that are
// operations.
var openAPIOperations = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPICoversRoutes holds openapi.yaml and the routes together: every
// /api/v1 route is documented, and everything documented is routed.
func TestOpenAPICoversRoutes(t *testing.T) {
	f := newFixture(t)

	routed := map[string]bool{}
	err := chi.Walk(f.srv.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, api.Version+"/") {
			routed[method+" "+route] = true
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, routed, "GET /api/v1/apps/{app}", "the walk sees the API's routes")

	var doc struct {
		OpenAPI string `yaml:"openapi"`
		Servers []struct {
			URL string `yaml:"url"`
		} `yaml:"servers"`
		Paths map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(openAPIDoc, &doc))
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "an OpenAPI 3 document")
	require.Len(t, doc.Servers, 1)
	require.Equal(t, api.Version, doc.Servers[0].URL)

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(openAPIOperations, key) {
				documented[strings.ToUpper(key)+" "+api.Version+path] = true
			}
		}
	}
	for route := range routed {
		assert.True(t, documented[route], "%s is routed but missing from server/openapi.yaml", route)
	}
	for op := range documented {
		assert.True(t, routed[op], "%s is in server/openapi.yaml but not routed", op)
	}
}

// TestOpenAPIRefsResolve catches a $ref to a component that is not there.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(openAPIDoc, &doc))
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	require.NotEmpty(t, refs)
	for _, ref := range refs {
		var node any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, ok := node.(map[string]any)
			require.True(t, ok, "%s does not resolve", ref)
			node, ok = m[part]
			require.True(t, ok, "%s does not resolve", ref)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, http.MethodGet, "/api/v1/openapi.yaml", nil)
	require.Equal(t, http.StatusOK, rec.Code, "served without a token")
	assert.Equal(t, "application/yaml", rec.Header().Get("Content-Type"))
	assert.Equal(t, string(openAPIDoc), rec.Body.String())
}

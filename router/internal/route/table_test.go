package route

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"app.test":       "app.test",
		"APP.Test":       "app.test",
		"app.test:8080":  "app.test",
		"app.test.":      "app.test",
		"app.test.:80":   "app.test",
		"[::1]:80":       "[::1]",
		"[::1]":          "[::1]",
		"10.0.0.1:80":    "10.0.0.1",
		"":               "",
		"xn--bcher-kva.": "xn--bcher-kva",
	} {
		assert.Equal(t, want, CanonicalHost(in), in)
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct {
		in    string
		exact bool
		want  string
		ok    bool
	}{
		{"", false, "/", true},
		{"/", false, "/", true},
		{"/api/", false, "/api", true},
		{"/api//", false, "/api", true},
		{"/api/", true, "/api/", true},
		{"api", false, "", false},
	} {
		got, ok := NormalizePath(tc.in, tc.exact)
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestTableLookup(t *testing.T) {
	tab := NewTable([]Spec{
		{Host: "app.test", Path: "/"},
		{Host: "app.test", Path: "/api"},
		{Host: "app.test", Path: "/api", Exact: true},
		{Host: "*.wild.test", Path: "/"},
		{Path: "/only"},
		{Host: "app.test", Path: "/"}, // the same as the first, which wins
	})
	assert.Equal(t, 6, tab.Len())
	assert.Equal(t, 1, tab.Hosts())
	for _, tc := range []struct {
		name, host, path string
		want             int
	}{
		{"root", "app.test", "/", 0},
		{"exact before prefix", "app.test", "/api", 2},
		{"longest prefix", "app.test", "/api/v1", 1},
		{"prefix by element", "app.test", "/apix", 0},
		{"wildcard", "x.wild.test", "/a", 3},
		{"wildcard of one label only", "y.x.wild.test", "/only", 4},
		{"any host", "other.test", "/only", 4},
		{"no path", "other.test", "/", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tab.Lookup(tc.host, tc.path))
		})
	}
}

func TestHSTSOf(t *testing.T) {
	for in, want := range map[string]string{
		"true":                             "max-age=31536000",
		" max-age=600; includeSubDomains ": "max-age=600; includeSubDomains",
		"":                                 "",
		"false":                            "",
		"includeSubDomains":                "",
		"max-age=60\r\nSet-Cookie: x=y":    "",
	} {
		assert.Equal(t, want, hstsOf(in), "%q", in)
	}
}

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStandardLibraryOnly keeps the package what the CLI can link: nothing
// but the standard library.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, []string{"github.com/platform-paas/platform/server/api"}, strings.Fields(string(out)))
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:7800":        "http://127.0.0.1:7800",
		"https://paas.example.com/":    "https://paas.example.com",
		" http://h/prefix/ ":           "http://h/prefix",
		"127.0.0.1:7800":               "",
		"ftp://h":                      "",
		"http://":                      "",
		"http://h/?token=plt_x":        "",
		"http://h/#frag":               "",
		"postgres://u:p@h:5432/db":     "",
		"http://[::1]:7800/api/../x/y": "http://[::1]:7800/api/../x/y",
	} {
		u, err := ParseURL(in)
		if want == "" {
			assert.Error(t, err, in)
			continue
		}
		require.NoError(t, err, in)
		assert.Equal(t, want, u.String(), in)
	}
}

func TestClientRequests(t *testing.T) {
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+r.Header.Get("Authorization")+" "+r.Header.Get("User-Agent"))
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Query().Get("after") == "":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"items":[{"name":"a"},{"name":"b"}],"next_after":"7"}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"items":[{"name":"c"}]}`)
		}
	}))
	t.Cleanup(ts.Close)
	c, err := NewClient(ClientConfig{URL: ts.URL + "/base/", Token: "plt_t", UserAgent: "test/1"})
	require.NoError(t, err)

	apps, err := All(context.Background(), func(ctx context.Context, o ListOptions) (Page[App], error) {
		o.Limit = 2
		return c.ListApps(ctx, o)
	})
	require.NoError(t, err)
	assert.Len(t, apps, 3)
	require.NoError(t, c.RemoveSSHKey(context.Background(), "SHA256:a/b+c"))
	assert.Equal(t, []string{
		"GET /base/api/v1/apps?limit=2 Bearer plt_t test/1",
		"GET /base/api/v1/apps?after=7&limit=2 Bearer plt_t test/1",
		"DELETE /base/api/v1/account/keys/SHA256:a%2Fb+c? Bearer plt_t test/1",
	}, got)
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        ErrorDetail
	}{
		{"an API error", 409, "application/json", `{"error":{"code":"conflict","message":"app name \"x\" is already taken"}}`,
			ErrorDetail{Code: "conflict", Message: `app name "x" is already taken`}},
		{"with a field", 400, "application/json", `{"error":{"code":"invalid","message":"name is required","field":"name"}}`,
			ErrorDetail{Code: "invalid", Message: "name is required", Field: "name"}},
		{"a proxy's page", 502, "text/html", `<html>Bad Gateway</html>`,
			ErrorDetail{Code: "http_502", Message: "the API answered 502 Bad Gateway without an error message: is the API URL right?"}},
		{"JSON of another shape", 404, "application/json", `{"message":"nope"}`,
			ErrorDetail{Code: "http_404", Message: "the API answered 404 Not Found without an error message: is the API URL right?"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			t.Cleanup(ts.Close)
			c, err := NewClient(ClientConfig{URL: ts.URL})
			require.NoError(t, err)
			_, err = c.GetApp(context.Background(), "x")
			var ae *Error
			require.True(t, errors.As(err, &ae), "%v", err)
			assert.Equal(t, tt.status, ae.Status)
			assert.Equal(t, tt.want, ae.ErrorDetail)
			assert.Equal(t, tt.want.Message, err.Error())
		})
	}

	t.Run("a 200 that is not JSON", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "<html>welcome</html>")
		}))
		t.Cleanup(ts.Close)
		c, err := NewClient(ClientConfig{URL: ts.URL})
		require.NoError(t, err)
		_, err = c.Account(context.Background())
		assert.ErrorContains(t, err, "not JSON: is it platformd?")
	})
}

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func site(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

func TestHandler(t *testing.T) {
	dir := site(t, map[string]string{
		"index.html":      "<h1>home</h1>",
		"about.html":      "<h1>about</h1>",
		"404.html":        "<h1>custom 404</h1>",
		"style.css":       "body{}",
		"app.js":          "console.log(1)",
		"data.json":       "{}",
		"font.woff2":      "w",
		"notes.txt":       "text",
		"docs/index.html": "<h1>docs</h1>",
		"empty/x.bin":     "x",
		".env":            "SECRET=1",
		".git/config":     "[core]",
	})
	outside := site(t, map[string]string{"secret.txt": "outside"})
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "link.txt")))
	h, err := newHandler(dir)
	require.NoError(t, err)

	tests := []struct {
		method, path string
		status       int
		body         string
		contentType  string
		location     string
	}{
		{path: "/", status: 200, body: "<h1>home</h1>", contentType: "text/html; charset=utf-8"},
		{path: "/index.html", status: 200, body: "<h1>home</h1>"},
		{path: "/about", status: 200, body: "<h1>about</h1>"},
		{path: "/about.html", status: 200, body: "<h1>about</h1>"},
		{path: "/style.css", status: 200, contentType: "text/css; charset=utf-8"},
		{path: "/app.js", status: 200, contentType: "text/javascript; charset=utf-8"},
		{path: "/data.json", status: 200, contentType: "application/json"},
		{path: "/font.woff2", status: 200, contentType: "font/woff2"},
		{path: "/notes.txt", status: 200, contentType: "text/plain; charset=utf-8"},
		{path: "/docs", status: 301, location: "/docs/"},
		{path: "/docs/", status: 200, body: "<h1>docs</h1>"},
		{path: "/empty/", status: 404, body: "<h1>custom 404</h1>"},
		{path: "/missing", status: 404, body: "<h1>custom 404</h1>", contentType: "text/html; charset=utf-8"},
		{path: "/.env", status: 404},
		{path: "/.git/config", status: 404},
		{path: "/docs/../.env", status: 404},
		{path: "/link.txt", status: 404},
		{method: "POST", path: "/", status: 405},
		{method: "HEAD", path: "/", status: 200, body: ""},
	}
	for _, tt := range tests {
		method := tt.method
		if method == "" {
			method = "GET"
		}
		t.Run(method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(method, tt.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.status, rec.Code)
			if tt.body != "" || method == "HEAD" {
				assert.Equal(t, tt.body, rec.Body.String())
			}
			if tt.contentType != "" {
				assert.Equal(t, tt.contentType, rec.Header().Get("Content-Type"))
			}
			if tt.location != "" {
				assert.Equal(t, tt.location, rec.Header().Get("Location"))
			}
			assert.NotContains(t, rec.Body.String(), "outside")
			assert.NotContains(t, rec.Body.String(), "SECRET")
		})
	}
}

func TestHandlerPlain404(t *testing.T) {
	h, err := newHandler(site(t, map[string]string{"index.html": "hi"}))
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	assert.Equal(t, 404, rec.Code)
	assert.Equal(t, "404 page not found\n", rec.Body.String())
}

// TestRun starts the server on $PORT and stops it with the context.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())

	dir := site(t, map[string]string{"index.html": "served"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs strings.Builder
	go func() {
		done <- run(ctx, []string{dir}, func(k string) string {
			if k == "PORT" {
				return port
			}
			return ""
		}, &logs)
	}()

	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	}, 5*time.Second, 50*time.Millisecond)
	assert.Equal(t, "served", body)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop")
	}
	assert.Contains(t, logs.String(), "serving "+dir+" on port "+port)
}

func TestRunUsage(t *testing.T) {
	err := run(context.Background(), []string{"a", "b"}, func(string) string { return "" }, io.Discard)
	assert.Error(t, err)
}

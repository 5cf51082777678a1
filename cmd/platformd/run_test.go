package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
	"github.com/platform-paas/platform/server/testdb"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string { return localstack.FreeAddr(t) }

// unreachableKubeconfig names an API server on a loopback port nothing
// listens on.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://%s", insecure-skip-tls-verify: true}
users:
- name: nobody
  user: {token: not-a-token}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody}
current-context: nowhere
`, freeAddr(t))
	require.NoError(t, os.WriteFile(path, []byte(kc), 0o600))
	return path
}

// instance is one platformd started by startPlatformd.
type instance struct {
	base string // http://host:port
	logs *syncbuf.Buffer
	stop func() error // cancels run and returns its error
}

func startPlatformd(t *testing.T, getenv func(string) string, args ...string) *instance {
	t.Helper()
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, io.Discard, logs) }()

	var httpAddr string
	for i, a := range args {
		if a == "--http-addr" {
			httpAddr = args[i+1]
		}
	}
	inst := &instance{
		base: "http://" + httpAddr,
		logs: logs,
		stop: func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Second):
				return fmt.Errorf("run did not return within 10s of cancel")
			}
		},
	}

	// Migrations run first; wait for the HTTP server to answer.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned before serving: %v\nlogs:\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(inst.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return inst
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("platformd did not serve /healthz within 60s\nlogs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// TestRun starts platformd against a real Postgres, with the registry on
// and Kubernetes and BuildKit deliberately unreachable, twice over the
// same database and data directory.
func TestRun(t *testing.T) {
	dbURL := testdb.Empty(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	httpAddr, registryAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	gitAddr, routerAddr := freeAddr(t), freeAddr(t)
	getenv := env(map[string]string{
		"PLATFORM_DATABASE_URL": dbURL,
		"PLATFORM_SECRET_KEY":   goodKey,
		"PLATFORM_DATA_DIR":     dataDir,
		"PLATFORM_KUBECONFIG":   unreachableKubeconfig(t),
		"PLATFORM_LOG_LEVEL":    "debug",
	})
	args := []string{
		"--http-addr", httpAddr,
		"--metrics-addr", metricsAddr,
		"--registry-addr", registryAddr,
		"--git-addr", gitAddr,
		"--router-addr", routerAddr,
		"--buildkit-addr", "unix://" + filepath.Join(t.TempDir(), "no-buildkitd.sock"),
		"--shutdown-timeout", "5s",
	}

	p := startPlatformd(t, getenv, args...)

	resp, body := get(t, p.base+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)

	// The API's listener says not ready, and nothing more; the operator's
	// says why, and serves the metrics.
	resp, body = get(t, p.base+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.Equal(t, "not ready\n", body)
	resp, body = get(t, p.base+"/metrics")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no metrics on the API's listener")
	assert.NotContains(t, body, "go_goroutines")

	operator := "http://" + metricsAddr
	resp, body = get(t, operator+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ready), body)
	assert.Equal(t, "unavailable", ready.Status)
	assert.Equal(t, "ok", ready.Checks["postgres"])
	assert.Equal(t, "ok", ready.Checks["registry"])
	assert.True(t, strings.HasPrefix(ready.Checks["kubernetes"], "error: "), ready.Checks["kubernetes"])
	assert.True(t, strings.HasPrefix(ready.Checks["buildkit"], "error: "), ready.Checks["buildkit"])
	assert.True(t, strings.HasPrefix(ready.Checks["router"], "error: "), "the router has not synced with an unreachable API: %s", ready.Checks["router"])

	resp, body = get(t, operator+"/metrics")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	assert.Contains(t, body, "# TYPE go_goroutines gauge")
	assert.Contains(t, body, "process_cpu_seconds_total")
	assert.Contains(t, body, `platformd_build_info{version="dev"} 1`)
	assert.Contains(t, body, `platformd_http_requests_total{code="503",method="GET",route="/readyz"} 2`, "both listeners' requests are counted")

	resp, body = get(t, p.base+"/api/v1/apps")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.JSONEq(t, `{"error":{"code":"unauthorized","message":"missing API token: run platform login"}}`, body)

	// The registry asks for a token from its own realm, and answers one
	// minted with the secret key.
	resp, _ = get(t, "http://"+registryAddr+"/v2/")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Bearer realm="http://`+registryAddr+`/token",service="platform-registry"`, resp.Header.Get("WWW-Authenticate"))
	var cred bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"registry-credential"}, getenv, &cred, io.Discard))
	req, err := http.NewRequest(http.MethodGet, "http://"+registryAddr+"/token?service=platform-registry", nil)
	require.NoError(t, err)
	req.SetBasicAuth("platform", strings.TrimSpace(cred.String()))
	tokResp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var tok struct{ Token string }
	require.NoError(t, json.NewDecoder(tokResp.Body).Decode(&tok))
	tokResp.Body.Close()
	req, err = http.NewRequest(http.MethodGet, "http://"+registryAddr+"/v2/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	tokenPath := filepath.Join(dataDir, adminTokenFile)
	fi, err := os.Stat(tokenPath)
	require.NoError(t, err, "admin token written")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(dataDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	token, err := os.ReadFile(tokenPath)
	require.NoError(t, err)
	require.NotEmpty(t, strings.TrimSpace(string(token)))

	// The admin token works on the API, which knows the git receiver's
	// and the router's addresses.
	req, err = http.NewRequest(http.MethodPost, p.base+"/api/v1/tenants", strings.NewReader(`{"name":"acme"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	req, err = http.NewRequest(http.MethodPost, p.base+"/api/v1/apps", strings.NewReader(`{"name":"shop","tenant":"acme"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	var app struct {
		GitURL string `json:"git_url"`
		WebURL string `json:"web_url"`
	}
	require.NoError(t, json.Unmarshal(b, &app))
	assert.Equal(t, "ssh://git@"+gitAddr+"/shop.git", app.GitURL)
	_, routerPort, _ := net.SplitHostPort(routerAddr)
	assert.Equal(t, "http://shop.localhost:"+routerPort, app.WebURL)

	start := time.Now()
	require.NoError(t, p.stop())
	assert.Less(t, time.Since(start), 5*time.Second, "shutdown is prompt")
	logs := p.logs.String()
	assert.Contains(t, logs, "admin created; token written")
	assert.NotContains(t, logs, strings.TrimSpace(string(token)), "the token is never logged")
	assert.NotContains(t, logs, goodKey, "the key is never logged")

	// A second start finds the admin and leaves the token file alone.
	p = startPlatformd(t, getenv, args...)
	require.NoError(t, p.stop())
	again, err := os.ReadFile(tokenPath)
	require.NoError(t, err)
	assert.Equal(t, token, again)
	fi2, err := os.Stat(tokenPath)
	require.NoError(t, err)
	assert.Equal(t, fi.ModTime(), fi2.ModTime())
	assert.NotContains(t, p.logs.String(), "token written")

	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), "."), "temporary file %s left behind", e.Name())
	}
}

// TestRunFailsOnBusyPort checks that a listener that cannot be opened is
// a start-up error, returned, not hung on, and that the listeners already
// open are closed.
func TestRunFailsOnBusyPort(t *testing.T) {
	dbURL := testdb.Empty(t)
	getenv := env(map[string]string{
		"PLATFORM_DATABASE_URL": dbURL,
		"PLATFORM_SECRET_KEY":   goodKey,
		"PLATFORM_DATA_DIR":     t.TempDir(),
		"PLATFORM_KUBECONFIG":   unreachableKubeconfig(t),
	})
	for _, busy := range []string{"http", "metrics", "registry", "git", "router"} {
		t.Run(busy, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = ln.Close() })
			addrs := map[string]string{"http": freeAddr(t), "metrics": freeAddr(t), "registry": freeAddr(t), "git": freeAddr(t), "router": freeAddr(t)}
			addrs[busy] = ln.Addr().String()

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err = run(ctx, []string{"--http-addr", addrs["http"], "--metrics-addr", addrs["metrics"], "--registry-addr", addrs["registry"], "--git-addr", addrs["git"], "--router-addr", addrs["router"]}, getenv, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "listening for "+busy)
			assertFree(t, addrs, busy)
		})
	}
}

// assertFree checks that every address but that of except can be listened
// on: whatever listened there is closed.
func assertFree(t *testing.T, addrs map[string]string, except string) {
	t.Helper()
	for name, addr := range addrs {
		if name == except {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if assert.NoError(t, err, "the %s listener is closed", name) {
			_ = ln.Close()
		}
	}
}

// TestRunCancelledDuringStartUp checks that a stop requested before
// platformd serves is a clean exit.
func TestRunCancelledDuringStartUp(t *testing.T) {
	dbURL := testdb.Empty(t)
	getenv := env(map[string]string{
		"PLATFORM_DATABASE_URL": dbURL,
		"PLATFORM_SECRET_KEY":   goodKey,
		"PLATFORM_DATA_DIR":     t.TempDir(),
		"PLATFORM_KUBECONFIG":   unreachableKubeconfig(t),
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, []string{"--http-addr", freeAddr(t), "--metrics-addr", "off", "--registry-addr", "off", "--image-registry", "registry.example.com", "--git-addr", "off", "--router-addr", "off"}, getenv, io.Discard, io.Discard)
	assert.NoError(t, err)
}

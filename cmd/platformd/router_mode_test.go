package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/router"
)

// TestConfigRouterMode checks what --mode=router needs: a kubeconfig (or
// a pod's in-cluster config) and the router's address, and nothing of the
// database, secret key, data directory, BuildKit, registry or git
// receiver; every problem is reported at once.
func TestConfigRouterMode(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	missing := filepath.Join(t.TempDir(), "nope")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string // substrings of the error
		check   func(t *testing.T, cfg config)
	}{
		{
			name: "defaults",
			args: []string{"--mode=router"},
			env:  map[string]string{"KUBECONFIG": kubeconfig},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, modeRouter, cfg.Mode)
				assert.Equal(t, kubeconfig, cfg.Kubeconfig)
				assert.Equal(t, "127.0.0.1:7880", cfg.Router.Addr)
				assert.Equal(t, "127.0.0.1:7800", cfg.HTTP.Addr)
				assert.Equal(t, 20*time.Second, cfg.ShutdownTimeout)
				assert.Equal(t, "text", cfg.Log.Format)
				assert.Empty(t, cfg.Store.DatabaseURL)
				assert.Empty(t, cfg.Store.SecretKey)
				assert.Empty(t, cfg.DataDir)
				assert.Empty(t, cfg.Git.Addr)
				assert.Empty(t, cfg.Registry.Addr)
			},
		},
		{
			name: "from the environment",
			env: map[string]string{
				"PLATFORM_MODE": "router", "PLATFORM_KUBECONFIG": kubeconfig,
				"PLATFORM_ROUTER_ADDR": "0.0.0.0:8080", "PLATFORM_HTTP_ADDR": ":9090",
				"PLATFORM_LOG_FORMAT": "json", "PLATFORM_SHUTDOWN_TIMEOUT": "45s",
				"PLATFORM_ROUTER_TRUSTED_PROXIES": "10.0.0.0/8", "PLATFORM_ROUTER_WRITE_TIMEOUT": "5m",
			},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, modeRouter, cfg.Mode)
				assert.Equal(t, "0.0.0.0:8080", cfg.Router.Addr)
				assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, cfg.Router.TrustedProxies)
				assert.Equal(t, 5*time.Minute, cfg.Router.WriteTimeout)
				assert.Equal(t, ":9090", cfg.HTTP.Addr)
				assert.Equal(t, "json", cfg.Log.Format)
				assert.Equal(t, 45*time.Second, cfg.ShutdownTimeout)
			},
		},
		{
			name: "the settings of the full platformd in the environment are ignored",
			args: []string{"--mode=router", "--kubeconfig", kubeconfig},
			env: map[string]string{
				"DATABASE_URL": "mysql://root:hunter2@db/x", "PLATFORM_SECRET_KEY": "not base64!!",
				"PLATFORM_BUILDKIT_ADDR": "nonsense", "PLATFORM_REGISTRY_ADDR": "0.0.0.0:5000",
				"PLATFORM_GIT_ADDR": "nope", "PLATFORM_APPS_DOMAIN": "Not_A_Domain",
			},
			check: func(t *testing.T, cfg config) {
				assert.Empty(t, cfg.Store.DatabaseURL)
				assert.Empty(t, cfg.Store.SecretKey)
			},
		},
		{
			name: "in a pod the in-cluster config",
			args: []string{"--mode=router"},
			env:  map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1"},
			check: func(t *testing.T, cfg config) {
				assert.Empty(t, cfg.Kubeconfig)
			},
		},
		{
			name:    "no kubeconfig outside a pod",
			args:    []string{"--mode=router"},
			wantErr: []string{"--kubeconfig (PLATFORM_KUBECONFIG or KUBECONFIG)", "is required in router mode outside a Kubernetes pod", "service account"},
		},
		{
			name:    "kubeconfig that does not exist",
			args:    []string{"--mode=router", "--kubeconfig", missing},
			wantErr: []string{"--kubeconfig (PLATFORM_KUBECONFIG or KUBECONFIG)", "no such file: " + missing},
		},
		{
			name: "one of several kubeconfigs is enough",
			args: []string{"--mode=router"},
			env:  map[string]string{"KUBECONFIG": missing + string(filepath.ListSeparator) + kubeconfig},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, missing+string(filepath.ListSeparator)+kubeconfig, cfg.Kubeconfig)
			},
		},
		{
			name:    "router off",
			args:    []string{"--mode=router", "--kubeconfig", kubeconfig, "--router-addr=off"},
			wantErr: []string{"--router-addr (PLATFORM_ROUTER_ADDR)", `cannot be "off" with --mode=router`},
		},
		{
			name:    "flags of the full platformd",
			args:    []string{"--mode=router", "--kubeconfig", kubeconfig, "--database-url", "postgres://x/y", "--secret-key", goodKey, "--router-cidrs=10.0.0.1/32"},
			wantErr: []string{"--database-url", "--secret-key", "--router-cidrs", "does not apply with --mode=router"},
		},
		{
			name:    "unknown mode",
			args:    []string{"--mode=proxy"},
			wantErr: []string{"--mode (PLATFORM_MODE)", `must be "all" or "router"`},
		},
		{
			name: "every problem at once",
			args: []string{"--mode=router", "--router-addr=nowhere", "--http-addr=:http", "--log-level=loud", "--shutdown-timeout=0s", "--data-dir=/x"},
			wantErr: []string{
				"--router-addr", "--http-addr", "--log-level", "--shutdown-timeout", "--data-dir", "--kubeconfig",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, want := range tt.wantErr {
					assert.Contains(t, err.Error(), want)
				}
				assert.NotContains(t, err.Error(), goodKey)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

// TestConfigModeAllUnchanged checks that the default mode is the whole
// platform, which still needs its database and key.
func TestConfigModeAllUnchanged(t *testing.T) {
	cfg, err := loadConfig(nil, env(minimalEnv()), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, modeAll, cfg.Mode)
	assert.Equal(t, "127.0.0.1:7880", cfg.Router.Addr)

	_, err = loadConfig([]string{"--mode=all"}, env(map[string]string{"KUBECONFIG": "/x"}), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PLATFORM_DATABASE_URL")
	assert.Contains(t, err.Error(), "PLATFORM_SECRET_KEY")
}

// routerInstance is a platformd in router mode started by startRouterMode.
type routerInstance struct {
	*instance
	routerURL string
}

func startRouterMode(t *testing.T, kubeconfig string) *routerInstance {
	t.Helper()
	httpAddr, routerAddr := freeAddr(t), freeAddr(t)
	// Only what router mode reads: no database, key or data directory.
	getenv := env(map[string]string{"PLATFORM_KUBECONFIG": kubeconfig, "PLATFORM_LOG_LEVEL": "debug"})
	p := startPlatformd(t, getenv, "--mode", "router", "--http-addr", httpAddr, "--router-addr", routerAddr, "--shutdown-timeout", "5s")
	return &routerInstance{instance: p, routerURL: "http://" + routerAddr}
}

// TestRouterModeWithoutCluster runs platformd in router mode with no
// database and an API server that does not answer: it serves its probes
// and metrics, is not ready, answers apps' users 503, and stops cleanly.
func TestRouterModeWithoutCluster(t *testing.T) {
	p := startRouterMode(t, unreachableKubeconfig(t))

	resp, body := get(t, p.base+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)

	resp, body = get(t, p.base+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ready), body)
	assert.Equal(t, "unavailable", ready.Status)
	assert.Equal(t, "error: routing table not built yet", ready.Checks["router"])

	resp, body = get(t, p.base+"/metrics")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, `platformd_build_info{version="dev"} 1`)
	assert.Contains(t, body, "# TYPE platform_router_requests_total counter")
	assert.Contains(t, body, "process_cpu_seconds_total")

	resp, _ = get(t, p.base+"/api/v1/apps")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "router mode serves no API")

	resp, body = get(t, p.routerURL+"/")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no routing table yet: %s", body)

	start := time.Now()
	require.NoError(t, p.stop())
	assert.Less(t, time.Since(start), 5*time.Second, "shutdown is prompt")
	assert.Contains(t, p.logs.String(), "mode=router")
	_, err := net.DialTimeout("tcp", strings.TrimPrefix(p.routerURL, "http://"), time.Second)
	assert.Error(t, err, "the router's port is closed")
}

// TestRouterModeFailsOnBusyPort checks that router mode returns a
// listener it cannot open as an error and leaves no other listener open.
func TestRouterModeFailsOnBusyPort(t *testing.T) {
	for _, busy := range []string{"http", "router"} {
		t.Run(busy, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = ln.Close() })
			addrs := map[string]string{"http": freeAddr(t), "router": freeAddr(t)}
			addrs[busy] = ln.Addr().String()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			getenv := env(map[string]string{"PLATFORM_KUBECONFIG": unreachableKubeconfig(t)})
			err = run(ctx, []string{"--mode=router", "--http-addr", addrs["http"], "--router-addr", addrs["router"]}, getenv, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "listening for "+busy)
			assertFree(t, addrs, busy)
		})
	}
}

// TestRouterModeLocalStack runs platformd in router mode in-process on
// the local stack's Kubernetes, beside the stack's own platformd: an app
// made of a Deployment, a Service and an Ingress of class platform answers
// through it by host name, /readyz is 200, /metrics counts the request,
// and a cancel (what SIGTERM does) shuts it down cleanly.
func TestRouterModeLocalStack(t *testing.T) {
	stack := localstack.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	kube, err := kubeClient(stack.Kubeconfig, "platformd-test")
	require.NoError(t, err)

	ns := fmt.Sprintf("routermode-%08x", rand.Uint32())
	domain := stack.AppsDomain
	if domain == "" {
		domain = "platform.test"
	}
	host := ns + "." + domain
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	localstack.CreateStaticApp(ctx, t, kube, stack, router.DefaultClass, ns, host)

	p := startRouterMode(t, stack.Kubeconfig)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = p.stop()
		}
	})

	require.Eventually(t, func() bool {
		resp, err := http.Get(p.base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 100*time.Millisecond, "router mode ready\nlogs:\n%s", p.logs)

	start := time.Now()
	var (
		code int
		body string
	)
	for ctx.Err() == nil {
		code, body, err = getHost(ctx, p.routerURL+"/", host)
		if err == nil && code == http.StatusOK {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	require.Equal(t, http.StatusOK, code, "the app answers through the router-only platformd: %v %.300s\npods: %s", err, body, localstack.PodReport(kube, ns))
	assert.Contains(t, body, "Directory listing")
	t.Logf("app answered through router mode %v after it was ready", time.Since(start).Round(time.Millisecond))

	resp, body := get(t, p.base+"/metrics")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	n := metricValue(body, `platform_router_requests_total{code="2xx",host="`+host+`"`)
	assert.GreaterOrEqual(t, n, 1.0, "the router's request counter counts the app's 200:\n%s", grepLines(body, "platform_router_requests_total"))

	start = time.Now()
	require.NoError(t, p.stop(), "logs:\n%s", p.logs)
	stopped = true
	assert.Less(t, time.Since(start), 5*time.Second, "shutdown is prompt")
	logs := p.logs.String()
	assert.Contains(t, logs, "router shutting down")
	assert.Contains(t, logs, "platformd stopped")
	_, err = net.DialTimeout("tcp", strings.TrimPrefix(p.routerURL, "http://"), time.Second)
	assert.Error(t, err, "the router's port is closed")
}

// getHost GETs u with the Host header host.
func getHost(ctx context.Context, u, host string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metricValue sums the samples of the Prometheus text exposition whose
// line starts with prefix.
func metricValue(exposition, prefix string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func grepLines(text, substr string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

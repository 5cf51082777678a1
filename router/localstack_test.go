package router_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/router"
)

// TestLocalStackRoutesToPods runs the router against the local stack's
// Kubernetes: an app (a Deployment of Python's http.server, its Service
// and an Ingress of class "platform") is reached through the router by its
// host, straight at the pod's address (the stack has no kube-proxy); scaled
// to zero it answers 503.
func TestLocalStackRoutesToPods(t *testing.T) {
	env := localstack.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	require.NoError(t, err)
	// The clientset's key pair and connections are the test's: with the
	// key and certificate read into the config, client-go starts no
	// process-wide controller that reloads their files, and the
	// connections are closed when the test is done (after the cleanups
	// below, which use them), so that the leak check in TestMain finds
	// no goroutine of the client.
	require.NoError(t, rest.LoadTLSFiles(cfg))
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { utilnet.CloseIdleConnectionsFor(hc.Transport) })
	kube, err := kubernetes.NewForConfigAndClient(cfg, hc)
	require.NoError(t, err)

	ns := fmt.Sprintf("routertest-%08x", rand.Uint32())
	domain := env.AppsDomain
	if domain == "" {
		domain = "platform.test"
	}
	host := ns + "." + domain
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	localstack.CreateStaticApp(ctx, t, kube, env, router.DefaultClass, ns, host)

	reg := prometheus.NewRegistry()
	rt, err := router.New(router.Config{
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Metrics:        reg,
		RequestTimeout: 10 * time.Second,
	}, kube)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- rt.Run(runCtx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- rt.Serve(runCtx, ln) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-served)
		assert.NoError(t, <-ran)
	})
	require.Eventually(t, rt.HasSynced, time.Minute, 50*time.Millisecond)

	get := func() (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
		if err != nil {
			return 0, "", err
		}
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), err
	}
	waitFor := func(what string, want int, text string) {
		t.Helper()
		start := time.Now()
		var (
			code int
			body string
			err  error
		)
		for ctx.Err() == nil {
			code, body, err = get()
			if err == nil && code == want {
				assert.Contains(t, body, text)
				t.Logf("%s: %d after %v", what, code, time.Since(start).Round(time.Millisecond))
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("%s: last answer %d %v: %.300s\npods: %s", what, code, err, body, localstack.PodReport(kube, ns))
	}

	waitFor("app ready", http.StatusOK, "Directory listing")
	for range 5 {
		code, _, err := get()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code)
	}

	scale, err := kube.AppsV1().Deployments(ns).GetScale(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	scale.Spec.Replicas = 0
	_, err = kube.AppsV1().Deployments(ns).UpdateScale(ctx, "web", scale, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitFor("scaled to zero", http.StatusServiceUnavailable, "platform ps:scale web=1")
}

// testWriter sends the router's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

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
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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
	createApp(ctx, t, kube, env.Registry, ns, host)

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
		t.Fatalf("%s: last answer %d %v: %.300s\npods: %s", what, code, err, body, podReport(kube, ns))
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

func createApp(ctx context.Context, t *testing.T, kube kubernetes.Interface, registry, ns, host string) {
	t.Helper()
	if registry == "" {
		registry = "127.0.0.1:5000"
	}
	labels := map[string]string{"app": "web"}
	replicas := int32(1)
	_, err := kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  new(false),
					TerminationGracePeriodSeconds: new(int64(1)),
					Containers: []corev1.Container{{
						Name:    "web",
						Image:   registry + "/platform/run-python:bookworm",
						Command: []string{"python3", "-m", "http.server", "8080"},
						Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	_, err = kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	prefix := networkingv1.PathTypePrefix
	_, err = kube.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: new(router.DefaultClass),
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func podReport(kube kubernetes.Interface, ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	out := ""
	for _, p := range pods.Items {
		out += fmt.Sprintf("\n%s %s ip=%s", p.Name, p.Status.Phase, p.Status.PodIP)
		for _, cs := range p.Status.ContainerStatuses {
			out += fmt.Sprintf(" ready=%v state=%+v", cs.Ready, cs.State)
		}
	}
	events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, e := range events.Items {
			out += fmt.Sprintf("\nevent %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	return out
}

// testWriter sends the router's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

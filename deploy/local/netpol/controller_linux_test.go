package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/platform-paas/platform/deploy/localstack"
)

// TestControllerFollowsTheCluster runs the controller against a real API
// server (KUBECONFIG's: the local stack's under make test) with the rules
// going to a pod network in network namespaces of the test's own, on
// 10.219.0.0/24 so that no pod of the cluster is on it but the test's.
// Its pods are API objects bound to a node that does not exist, their
// addresses set in their status to those of the namespaces' pods. Each
// change to a policy, a namespace's labels or a pod shows in real
// connections, and the rules stay when the controller stops.
func TestControllerFollowsTheCluster(t *testing.T) {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		localstack.Need(t, "a Kubernetes API server (KUBECONFIG)", "run `make up` and `. .platform/env`, or `make test`")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root, to make network namespaces and iptables rules in them (make test runs as root)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	kube := testClient(t, kubeconfig)

	l := newLab(t, "10.219.0")
	suffix := fmt.Sprintf("%08x", rand.Uint32())
	nsA, nsB := "netpol-a-"+suffix, "netpol-b-"+suffix
	pods := []struct{ ns, name, ip string }{
		{nsA, "web", "10.219.0.10"}, {nsA, "client", "10.219.0.11"}, {nsB, "other", "10.219.0.20"},
	}
	for _, ns := range []string{nsA, nsB} {
		createNamespace(ctx, t, kube, ns)
	}
	for _, p := range pods {
		l.addPod(p.ns+"/"+p.name, p.ip)
		createPod(ctx, t, kube, p.ns, p.name, p.ip)
	}

	logs := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	enf := &enforcer{ipt: iptables{wrap: []string{"ip", "netns", "exec", l.node}}, net: network{
		Bridge: "plat0", PodCIDR: netip.MustParsePrefix("10.219.0.0/24"), NodeIP: netip.MustParseAddr("10.219.0.1"),
	}}
	ctl, err := newController(kube, enf, 50*time.Millisecond, time.Hour, logs)
	require.NoError(t, err)
	health := httptest.NewServer(healthHandler(ctl.health))
	defer health.Close()
	assert.Equal(t, http.StatusServiceUnavailable, status(t, health.URL+"/healthz"), "before the first sync")

	runCtx, stop := context.WithCancel(ctx)
	var runErr error
	ran := make(chan struct{})
	go func() {
		runErr = ctl.run(runCtx)
		close(ran)
	}()
	defer func() {
		stop()
		<-ran
	}()
	require.Eventually(t, func() bool { return status(t, health.URL+"/healthz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond)

	web, client, other := nsA+"/web", nsA+"/client", nsB+"/other"
	connects := func(from, to string) func() bool {
		return func() bool { return l.connect(from, to) == nil }
	}
	refused := func(from, to string) func() bool {
		return func() bool { return l.connect(from, to) != nil }
	}
	const wait, tick = 10 * time.Second, 50 * time.Millisecond
	require.True(t, connects(other, "10.219.0.10:8080")(), "no policy yet")

	// A policy: web takes connections from its namespace only.
	_, err = kube.NetworkingV1().NetworkPolicies(nsA).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sel("app=web"),
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{fromPods(sel()), fromNamespaces(sel("netpol-test=friend"))},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, refused(other, "10.219.0.10:8080"), wait, tick, "another namespace's pod, once the policy is made")
	assert.True(t, connects(client, "10.219.0.10:8080")(), "a pod of web's namespace")

	// A namespace's labels: other's namespace becomes a friend.
	_, err = kube.CoreV1().Namespaces().Patch(ctx, nsB, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"netpol-test":"friend"}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.Eventually(t, connects(other, "10.219.0.10:8080"), wait, tick, "a friendly namespace's pod")

	// A pod that goes is no peer.
	require.NoError(t, kube.CoreV1().Pods(nsB).Delete(ctx, "other", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}))
	require.Eventually(t, refused(other, "10.219.0.10:8080"), wait, tick, "a pod deleted is no peer")
	assert.True(t, connects(client, "10.219.0.10:8080")())
	assert.True(t, connects(web, "10.219.0.11:8080")(), "client is not restricted")

	// Stopped, the controller leaves its rules.
	stop()
	<-ran
	require.NoError(t, runErr)
	assert.True(t, refused(other, "10.219.0.10:8080")(), "the rules stay when the controller stops")
	assert.True(t, connects(client, "10.219.0.10:8080")())
}

// testClient is a clientset for kubeconfig whose key pair is read into
// memory and whose connections are closed when the test ends, so that
// client-go leaves no goroutine behind for the leak check.
func testClient(t *testing.T, kubeconfig string) kubernetes.Interface {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	require.NoError(t, rest.LoadTLSFiles(rc))
	hc, err := rest.HTTPClientFor(rc)
	require.NoError(t, err)
	t.Cleanup(func() { utilnet.CloseIdleConnectionsFor(hc.Transport) })
	kube, err := kubernetes.NewForConfigAndClient(rc, hc)
	require.NoError(t, err)
	return kube
}

// createNamespace makes a namespace, with its default service account
// (which no controller may have made yet), and deletes it when the test
// ends.
func createNamespace(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns string) {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The pods' node does not exist: nothing would confirm their end.
		_ = kube.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}, metav1.ListOptions{})
		_ = kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	_, err = kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// createPod makes a pod labelled app=name, bound to a node that does not
// exist, and sets it Running at ip.
func createPod(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns, name, ip string) {
	p, err := kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                     "netpol-test-nowhere",
			AutomountServiceAccountToken: new(false),
			Containers: []corev1.Container{{
				Name: name, Image: "netpol.test/none:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	_, err = kube.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func status(t *testing.T, url string) int {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// testWriter writes to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

package router

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/platform-paas/platform/router/internal/route/routetest"
)

func fakeClient() kubernetes.Interface { return fake.NewClientset() }

// runFake makes a router of cfg on kube (a fake clientset) and runs it
// until the test ends, when Run must have returned nil; it returns once
// the first table is built.
func runFake(t testing.TB, cfg Config, kube kubernetes.Interface) *Router {
	t.Helper()
	rt, err := New(cfg, kube)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- rt.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-ran)
	})
	require.Eventually(t, rt.HasSynced, 10*time.Second, 10*time.Millisecond)
	return rt
}

// TestRunFollowsTheCluster runs the router against client-go's fake
// clientset: the table follows Ingresses, Services and EndpointSlices as
// they change, with endpoints on loopback standing in for pods.
func TestRunFollowsTheCluster(t *testing.T) {
	hello := func(name string) (ip string, port int32) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		host, p, err := net.SplitHostPort(addrOf(srv))
		require.NoError(t, err)
		n, err := strconv.Atoi(p)
		require.NoError(t, err)
		return host, int32(n)
	}
	ip1, port1 := hello("pod-1")
	ip2, port2 := hello("pod-2")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kube := fake.NewClientset(
		routetest.Service("app", "web", corev1.ServicePort{Name: "http", Port: 80}),
		routetest.Ingress("app", "web", "platform", "app.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}),
		routetest.Ingress("app", "other-class", "nginx", "nginx.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}),
	)
	reg := prometheus.NewRegistry()
	rt, err := New(Config{Metrics: reg}, kube)
	require.NoError(t, err)
	ran := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { ran <- rt.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-ran)
	})
	require.Eventually(t, rt.HasSynced, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, rt.Ready(ctx))

	get := func(host string) (int, string) {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		rt.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	eventually := func(host string, code int, body string) {
		t.Helper()
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			gotCode, gotBody := get(host)
			assert.Equal(c, code, gotCode)
			assert.Contains(c, gotBody, body)
		}, 10*time.Second, 10*time.Millisecond)
	}

	// No endpoints yet.
	eventually("app.test", 503, "no running web processes")
	code, _ := get("nginx.test")
	assert.Equal(t, 404, code, "another class's Ingress is not served")

	// A pod becomes ready.
	sl := routetest.Slice("app", "web-abc", "web", discoveryv1.AddressTypeIPv4, port1, "http", routetest.Endpoint{IP: ip1, Ready: new(true), UID: "uid-1"})
	sl, err = kube.DiscoveryV1().EndpointSlices("app").Create(ctx, sl, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually("app.test", 200, "pod-1")

	// A rollout: the new pod is ready, the old one terminates. The old
	// one gets no request from the moment the slice says so.
	// (The two test servers differ in port, so each has its own slice.)
	sl2 := routetest.Slice("app", "web-def", "web", discoveryv1.AddressTypeIPv4, port2, "http", routetest.Endpoint{IP: ip2, Ready: new(true), UID: "uid-2"})
	_, err = kube.DiscoveryV1().EndpointSlices("app").Create(ctx, sl2, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return len(rt.table.Load().lookup("app.test", "/").backend.eps) == 2
	}, 10*time.Second, 10*time.Millisecond)

	sl.Endpoints = []discoveryv1.Endpoint{{
		Addresses:  []string{ip1},
		Conditions: discoveryv1.EndpointConditions{Ready: new(false), Serving: new(true), Terminating: new(true)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", UID: "uid-1"},
	}}
	_, err = kube.DiscoveryV1().EndpointSlices("app").Update(ctx, sl, metav1.UpdateOptions{})
	require.NoError(t, err)
	// Until the table has the update, either pod may answer: wait for the
	// table, not for an answer from pod-2, which can come before it.
	require.Eventually(t, func() bool {
		return len(rt.table.Load().lookup("app.test", "/").backend.eps) == 1
	}, 10*time.Second, 10*time.Millisecond)
	for range 10 {
		code, body := get("app.test")
		require.Equal(t, 200, code)
		require.Equal(t, "pod-2", body, "the terminating pod gets nothing")
	}

	// A second host on the Ingress; then the Ingress moves to another
	// class and its hosts go.
	ing, err := kube.NetworkingV1().Ingresses("app").Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: "www.app.test", IngressRuleValue: ing.Spec.Rules[0].IngressRuleValue})
	ing, err = kube.NetworkingV1().Ingresses("app").Update(ctx, ing, metav1.UpdateOptions{})
	require.NoError(t, err)
	eventually("www.app.test", 200, "pod-2")
	ing.Spec.IngressClassName = new("nginx")
	_, err = kube.NetworkingV1().Ingresses("app").Update(ctx, ing, metav1.UpdateOptions{})
	require.NoError(t, err)
	eventually("app.test", 404, "no app at this address")

	// Back, and then the Service goes.
	ing.Spec.IngressClassName = new("platform")
	_, err = kube.NetworkingV1().Ingresses("app").Update(ctx, ing, metav1.UpdateOptions{})
	require.NoError(t, err)
	eventually("app.test", 200, "pod-2")
	require.NoError(t, kube.CoreV1().Services("app").Delete(ctx, "web", metav1.DeleteOptions{}))
	eventually("app.test", 503, "no running web processes")

	assert.Positive(t, counter(t, reg, "platform_router_table_updates_total", nil))
	assert.Positive(t, counter(t, reg, "platform_router_requests_total", map[string]string{"host": "", "ingress": "", "code": "4xx"}))

	err = rt.Run(ctx)
	assert.ErrorContains(t, err, "already running")
}

// TestUnroutedEventsAreIgnored: EndpointSlices of Services no Ingress
// routes to do not rebuild the table.
func TestUnroutedEventsAreIgnored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kube := fake.NewClientset(
		routetest.Service("app", "web", corev1.ServicePort{Port: 80}),
		routetest.Ingress("app", "web", "platform", "app.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}),
	)
	reg := prometheus.NewRegistry()
	rt, err := New(Config{Metrics: reg}, kube)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- rt.Run(runCtx) }()
	defer func() {
		stop()
		<-ran
	}()
	require.Eventually(t, rt.HasSynced, 10*time.Second, 10*time.Millisecond)
	// The first table has the objects the watch started with, and no
	// rebuild for them follows.
	before := counter(t, reg, "platform_router_table_updates_total", nil)
	require.Equal(t, 1.0, before)

	for i := range 5 {
		_, err := kube.DiscoveryV1().EndpointSlices("kube-system").Create(ctx,
			routetest.Slice("kube-system", "dns-"+strconv.Itoa(i), "kube-dns", discoveryv1.AddressTypeIPv4, 53, "dns", routetest.Endpoint{IP: "10.1.0.1"}),
			metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err = kube.DiscoveryV1().EndpointSlices("app").Create(ctx,
		routetest.Slice("app", "web-1", "web", discoveryv1.AddressTypeIPv4, 8080, "", routetest.Endpoint{IP: "10.2.0.1"}), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return len(rt.table.Load().lookup("app.test", "/").backend.eps) == 1
	}, 10*time.Second, 10*time.Millisecond)
	assert.LessOrEqual(t, counter(t, reg, "platform_router_table_updates_total", nil)-before, 2.0,
		"only the routed Service's slice made a rebuild")
}

// TestRunPublishesIngressStatus checks that the router writes where it is
// reached into the status of the Ingresses it serves, and of no other.
func TestRunPublishesIngressStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kube := fake.NewClientset(
		routetest.Ingress("app", "web", "platform", "app.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}),
		routetest.Ingress("app", "other-class", "nginx", "nginx.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}),
	)
	runFake(t, Config{PublishAddresses: []string{"203.0.113.7", "router.example.com"}}, kube)
	want := []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "router.example.com"}}
	status := func(name string) []networkingv1.IngressLoadBalancerIngress {
		ing, err := kube.NetworkingV1().Ingresses("app").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return ing.Status.LoadBalancer.Ingress
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, want, status("web"))
	}, 10*time.Second, 20*time.Millisecond)

	// A new Ingress gets it too, and one of another class never does.
	_, err := kube.NetworkingV1().Ingresses("app").Create(ctx, routetest.Ingress("app", "api", "platform", "api.test", time.Now(),
		routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}), metav1.CreateOptions{})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, want, status("api"))
	}, 10*time.Second, 20*time.Millisecond)
	assert.Empty(t, status("other-class"))
}

// TestRunServesClasslessIngressesWhenDefault checks that Ingresses naming
// no class are served once the router's IngressClass is the cluster's
// default, and not before.
func TestRunServesClasslessIngressesWhenDefault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "classless") }))
	t.Cleanup(backend.Close)
	host, p, err := net.SplitHostPort(addrOf(backend))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	class := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "platform"}, Spec: networkingv1.IngressClassSpec{Controller: "platform.io/router"}}
	kube := fake.NewClientset(
		class,
		routetest.Service("app", "web", corev1.ServicePort{Name: "http", Port: 80}),
		routetest.Slice("app", "web-a", "web", discoveryv1.AddressTypeIPv4, int32(port), "http", routetest.Endpoint{IP: host}),
		routetest.Ingress("app", "web", "", "classless.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}),
	)
	rt := runFake(t, Config{}, kube)
	get := func() int {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://classless.test/", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		rt.ServeHTTP(w, req)
		return w.Code
	}
	assert.Equal(t, http.StatusNotFound, get(), "an Ingress of no class is another controller's while ours is not the default")

	class.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	_, err = kube.NetworkingV1().IngressClasses().Update(ctx, class, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return get() == http.StatusOK }, 10*time.Second, 20*time.Millisecond)
}

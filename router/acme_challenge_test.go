package router

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/router/internal/route/routetest"
)

// TestACMEChallengeAnsweredBeforeRedirect checks, against client-go's
// fake clientset, that a router answers a pending HTTP-01 challenge over
// plain HTTP for any host, ahead of the redirect to HTTPS and of routing
// (a host with no route at all included), passes a token it does not
// know on to the app, and answers none over HTTPS; and that the default
// certificate serves the hosts it covers and no others.
func TestACMEChallengeAnsweredBeforeRedirect(t *testing.T) {
	ca := localstack.NewCA(t)
	ing := routetest.Ingress("app", "web", "platform", "secure.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)})
	ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "tls"}}
	kube := fake.NewClientset(ing, ca.TLSSecret(t, "app", "tls", 1, "secure.test"), ca.TLSSecret(t, "edge", "wild", 2, "*.apps.test"))
	rt := runFake(t, Config{
		TLS:                true,
		DefaultCertificate: "edge/wild",
		// Nothing listens there: the elected issuer's account setup
		// fails and waits to retry, which this test does not need.
		ACME: ACMEConfig{DirectoryURL: "https://127.0.0.1:1/dir", Namespace: "edge"},
	}, kube)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	remove, err := rt.challenges.put(ctx, "tok-EN_1", "tok-EN_1.thumbprint")
	require.NoError(t, err)

	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 2)
	go func() { served <- rt.Serve(sctx, httpLn) }()
	go func() { served <- rt.ServeTLS(sctx, httpsLn) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-served)
		assert.NoError(t, <-served)
	})

	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if _, port, _ := net.SplitHostPort(addr); port == "443" {
					return (&net.Dialer{}).DialContext(ctx, network, httpsLn.Addr().String())
				}
				return (&net.Dialer{}).DialContext(ctx, network, httpLn.Addr().String())
			},
		},
	}
	t.Cleanup(client.CloseIdleConnections)
	get := func(url string) (int, string) {
		t.Helper()
		res, err := client.Get(url)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}

	code, body := get("http://secure.test/.well-known/acme-challenge/tok-EN_1")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "tok-EN_1.thumbprint", body)
	code, body = get("http://unrouted.test/.well-known/acme-challenge/tok-EN_1")
	assert.Equal(t, http.StatusOK, code, "any host")
	assert.Equal(t, "tok-EN_1.thumbprint", body)
	code, _ = get("http://secure.test/.well-known/acme-challenge/other")
	assert.Equal(t, http.StatusPermanentRedirect, code, "a token the router does not know goes the app's way")
	code, _ = get("https://secure.test/.well-known/acme-challenge/tok-EN_1")
	assert.NotEqual(t, http.StatusOK, code, "challenges are answered over plain HTTP only")

	remove()
	require.Eventually(t, func() bool {
		code, _ := get("http://unrouted.test/.well-known/acme-challenge/tok-EN_1")
		return code == http.StatusNotFound
	}, 5*time.Second, 20*time.Millisecond, "a removed challenge is no longer answered")

	// A challenge a dead leader left is swept once older than an
	// attempt may last; a fresh one is kept.
	// The times are the ConfigMap's own (the fake cluster leaves its
	// creation time unset).
	_, err = rt.challenges.put(ctx, "left-behind", "left-behind.thumbprint")
	require.NoError(t, err)
	cm, err := kube.CoreV1().ConfigMaps("edge").Get(ctx, challengeName("left-behind"), metav1.GetOptions{})
	require.NoError(t, err)
	created := cm.CreationTimestamp.Time
	rt.challenges.sweep(ctx, time.Hour, created.Add(time.Minute))
	_, ok := rt.challenges.keyAuthorization("left-behind")
	assert.True(t, ok, "a fresh challenge is kept")
	rt.challenges.sweep(ctx, time.Hour, created.Add(2*time.Hour))
	require.Eventually(t, func() bool {
		_, ok := rt.challenges.keyAuthorization("left-behind")
		return !ok
	}, 5*time.Second, 20*time.Millisecond, "an old challenge is swept")

	// The default certificate serves what it covers.
	conn, err := tls.Dial("tcp", httpsLn.Addr().String(), &tls.Config{ServerName: "x.apps.test", RootCAs: ca.Pool})
	require.NoError(t, err)
	assert.Equal(t, int64(2), conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64())
	require.NoError(t, conn.Close())
	_, err = tls.Dial("tcp", httpsLn.Addr().String(), &tls.Config{ServerName: "x.y.apps.test", RootCAs: ca.Pool})
	assert.Error(t, err, "a wildcard covers one label")
	assert.True(t, rt.certs.Load().fallbackCovers("a.apps.test"))
	assert.False(t, rt.certs.Load().fallbackCovers("secure.test"))
}

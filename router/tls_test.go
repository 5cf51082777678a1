package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/router/internal/route/routetest"
)

// TestServeTLSFromIngressSecrets checks HTTPS through the router with the
// certificates Ingresses name in spec.tls: chosen by the name the client
// asks for, a wildcard covering one label, the app told the request came
// over HTTPS, a renewed Secret served without a restart, and old TLS
// versions and unknown names refused.
func TestServeTLSFromIngressSecrets(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "proto="+r.Header.Get("X-Forwarded-Proto")+" "+r.Method+" "+string(b)+" id="+strconv.FormatBool(r.Header.Get("X-Request-Id") != ""))
	}))
	t.Cleanup(backend.Close)
	host, p, err := net.SplitHostPort(addrOf(backend))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)

	ca := localstack.NewCA(t)
	ing := routetest.Ingress("app", "web", "platform", "app.test", time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)})
	ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: "*.wild.test", IngressRuleValue: ing.Spec.Rules[0].IngressRuleValue})
	ing.Annotations = map[string]string{"platform.io/hsts": "true"}
	ing.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"app.test"}, SecretName: "web-tls"},
		{Hosts: []string{"*.wild.test"}, SecretName: "wild-tls"},
		{Hosts: []string{"missing.test"}, SecretName: "nope"},
	}
	kube := fake.NewClientset(
		routetest.Service("app", "web", corev1.ServicePort{Name: "http", Port: 80}),
		routetest.Slice("app", "web-a", "web", discoveryv1.AddressTypeIPv4, int32(port), "http", routetest.Endpoint{IP: host}),
		ing,
		ca.TLSSecret(t, "app", "web-tls", 10, "app.test"),
		ca.TLSSecret(t, "app", "wild-tls", 20, "*.wild.test"),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt := runFake(t, Config{TLS: true}, kube)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- rt.ServeTLS(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-served)
	})

	client := func(cfg *tls.Config) *http.Client {
		cfg.RootCAs = ca.Pool
		return &http.Client{Transport: &http.Transport{
			TLSClientConfig: cfg,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
			},
		}}
	}
	var hsts string
	get := func(name string, cfg *tls.Config) (string, *x509.Certificate, error) {
		c := client(cfg)
		defer c.CloseIdleConnections()
		res, err := c.Get("https://" + name + "/")
		if err != nil {
			return "", nil, err
		}
		defer res.Body.Close()
		hsts = res.Header.Get("Strict-Transport-Security")
		b, err := io.ReadAll(res.Body)
		return string(b), res.TLS.PeerCertificates[0], err
	}

	body, cert, err := get("app.test", &tls.Config{})
	require.NoError(t, err, "HTTPS to app.test verifies against the CA")
	assert.Equal(t, "proto=https GET  id=true", body)
	assert.Equal(t, int64(10), cert.SerialNumber.Int64())
	assert.Equal(t, "max-age=31536000", hsts, "the Ingress asked for HSTS")

	// HTTP/2, for a client that offers it: the same proxy behind it.
	h2 := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
		},
	}}
	res, err := h2.Post("https://app.test/", "text/plain", strings.NewReader("over h2"))
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "HTTP/2.0", res.Proto)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "proto=https POST over h2 id=true", string(b))
	h2.CloseIdleConnections()

	_, cert, err = get("a.wild.test", &tls.Config{})
	require.NoError(t, err)
	assert.Equal(t, int64(20), cert.SerialNumber.Int64(), "the wildcard's certificate")
	_, _, err = get("b.a.wild.test", &tls.Config{})
	assert.Error(t, err, "a wildcard covers one label")
	_, _, err = get("missing.test", &tls.Config{})
	assert.Error(t, err, "a Secret that does not exist gives no certificate")
	_, _, err = get("app.test", &tls.Config{MaxVersion: tls.VersionTLS11})
	assert.Error(t, err, "TLS 1.1 is refused")

	// A renewed certificate is served once its Secret changes.
	_, err = kube.CoreV1().Secrets("app").Update(ctx, ca.TLSSecret(t, "app", "web-tls", 11, "app.test"), metav1.UpdateOptions{})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, cert, err := get("app.test", &tls.Config{})
		if assert.NoError(c, err) {
			assert.Equal(c, int64(11), cert.SerialNumber.Int64())
		}
	}, 10*time.Second, 20*time.Millisecond)
}

// TestRedirectToHTTPS checks that plain HTTP to a host with a certificate
// is redirected to HTTPS, keeping the path and query (308 keeps the method
// and body), unless the route's Ingress opts out or a trusted proxy says
// the client came over HTTPS; hosts without a certificate are proxied.
func TestRedirectToHTTPS(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "app") }))
	t.Cleanup(backend.Close)
	host, p, err := net.SplitHostPort(addrOf(backend))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	ca := localstack.NewCA(t)
	path := routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)}
	secure := routetest.Ingress("app", "secure", "platform", "secure.test", time.Now(), path)
	secure.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "tls"}}
	optOut := routetest.Ingress("app", "opt-out", "platform", "optout.test", time.Now(), path)
	optOut.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "tls"}}
	optOut.Annotations = map[string]string{"platform.io/https-redirect": "false"}
	kube := fake.NewClientset(
		routetest.Service("app", "web", corev1.ServicePort{Name: "http", Port: 80}),
		routetest.Slice("app", "web-a", "web", discoveryv1.AddressTypeIPv4, int32(port), "http", routetest.Endpoint{IP: host}),
		secure, optOut,
		routetest.Ingress("app", "plain", "platform", "plain.test", time.Now(), path),
		ca.TLSSecret(t, "app", "tls", 1, "secure.test", "optout.test"),
	)
	rt := runFake(t, Config{TLS: true, HTTPSPort: 8443, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, kube)
	do := func(remote, target string, header http.Header) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader("body"))
		req.RemoteAddr = remote
		for k, v := range header {
			req.Header[k] = v
		}
		rt.ServeHTTP(w, req)
		return w
	}
	require.Eventually(t, func() bool {
		return do("192.0.2.1:1234", "http://secure.test/a?b=c", nil).Code == http.StatusPermanentRedirect
	}, 10*time.Second, 20*time.Millisecond, "the certificate is installed")
	w := do("192.0.2.1:1234", "http://secure.test/a%2Fb?b=c", nil)
	assert.Equal(t, http.StatusPermanentRedirect, w.Code)
	assert.Equal(t, "https://secure.test:8443/a%2Fb?b=c", w.Header().Get("Location"))

	assert.Equal(t, http.StatusOK, do("192.0.2.1:1234", "http://optout.test/", nil).Code, "the Ingress opted out")
	assert.Equal(t, http.StatusOK, do("192.0.2.1:1234", "http://plain.test/", nil).Code, "no certificate, no redirect")
	xfp := http.Header{"X-Forwarded-Proto": {"https"}}
	assert.Equal(t, http.StatusOK, do("10.1.2.3:1234", "http://secure.test/", xfp).Code, "a trusted proxy took HTTPS")
	assert.Equal(t, http.StatusPermanentRedirect, do("192.0.2.1:1234", "http://secure.test/", xfp).Code, "a client's own claim is not believed")
}

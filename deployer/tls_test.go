package deployer_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/router"
)

func TestAutoSecretName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "tls-www.shop.example", deployer.AutoSecretName("WWW.Shop.Example."))
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + ".example"
	n := deployer.AutoSecretName(long)
	assert.LessOrEqual(t, len(n), 253)
	assert.True(t, strings.HasPrefix(n, "tls-aaaa"))
	assert.Equal(t, n, deployer.AutoSecretName(long), "the name is deterministic")
	assert.NotEqual(t, n, deployer.AutoSecretName(strings.Replace(long, "example", "exampla", 1)))
}

// TestCertificatesOnIngress: an uploaded certificate becomes a TLS Secret
// named in the Ingress's spec.tls for the hosts it covers, automatic
// certificates are asked for the other custom domains, the HTTPS settings
// become annotations, and taking the certificate away takes its Secret and
// entry away.
func TestCertificatesOnIngress(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 4}, func(c *deployer.Config) { c.AutoCertificates = true })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ca := localstack.NewCA(t)
	chain, key := ca.ServerCertPEM(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), "www.shop.example", "shop.example")
	const app = "tlsapp"
	v1 := r.release(app, 1, "hello", web(1))
	v1.Domains = []string{"www.shop.example", "api.shop.example"}
	v1.Certificates = []deployer.Certificate{{ID: 7, ChainPEM: string(chain), KeyPEM: string(key),
		Names: []string{"shop.example", "www.shop.example"}, NotAfter: time.Now().Add(time.Hour)}}
	_, _, err := r.apply(ctx, v1, nil)
	require.NoError(t, err)

	ing := r.ingress(ctx, app)
	defaultHost := app + "." + r.cfg.AppsDomain
	assert.ElementsMatch(t, []networkingv1.IngressTLS{
		{Hosts: []string{"www.shop.example"}, SecretName: app + "-tls-7"},
		{Hosts: []string{"api.shop.example"}, SecretName: "tls-api.shop.example"},
		// The default host too, which the router skips when its default
		// certificate (the operator's, for the apps domain) covers it.
		{Hosts: []string{defaultHost}, SecretName: "tls-" + defaultHost},
	}, ing.Spec.TLS)
	assert.Equal(t, "true", ing.Annotations["kubernetes.io/tls-acme"])
	assert.NotContains(t, ing.Annotations, "platform.io/https-redirect", "HTTP is redirected by default")
	assert.NotContains(t, ing.Annotations, "platform.io/hsts")

	sec, err := r.kc.CoreV1().Secrets(r.ns).Get(ctx, app+"-tls-7", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeTLS, sec.Type)
	assert.Equal(t, string(chain), string(sec.Data["tls.crt"]))
	assert.Equal(t, string(key), string(sec.Data["tls.key"]))

	// The router's record of an automatic certificate is read back.
	auto := ca.TLSSecret(t, r.ns, "tls-api.shop.example", 1, "api.shop.example")
	auto.ResourceVersion = ""
	// The names are the router's own: the contract between the two.
	auto.Labels = map[string]string{router.LabelACMEManaged: "true"}
	auto.Annotations = map[string]string{router.AnnotationACMEManaged: "true", router.AnnotationACMEStatus: router.ACMEStatusFailed,
		router.AnnotationACMELastError: "rate limited", router.AnnotationACMENextAttempt: "2030-01-02T03:04:05Z"}
	_, err = r.kc.CoreV1().Secrets(r.ns).Create(ctx, auto, metav1.CreateOptions{})
	require.NoError(t, err)
	hcs, err := r.d.Certificates(ctx, r.tenant, app)
	require.NoError(t, err)
	require.Len(t, hcs, 3)
	byHost := map[string]deployer.HostCertificate{}
	for _, hc := range hcs {
		byHost[hc.Host] = hc
	}
	up := byHost["www.shop.example"]
	assert.Equal(t, deployer.SourceUploaded, up.Source)
	assert.True(t, up.Present)
	assert.Equal(t, "test CA", up.Issuer)
	a := byHost["api.shop.example"]
	assert.Equal(t, deployer.SourceAutomatic, a.Source)
	assert.Equal(t, "failed", a.Status)
	assert.Equal(t, "rate limited", a.Error)
	assert.Equal(t, 2030, a.NextAttempt.Year())
	d := byHost[defaultHost]
	assert.Equal(t, deployer.SourceAutomatic, d.Source)
	assert.False(t, d.Present, "no certificate yet")

	// Settings follow: no redirect, HSTS; the certificate removed.
	v1.Certificates = nil
	v1.HTTPS = deployer.HTTPS{NoRedirect: true, HSTSMaxAge: 600, HSTSIncludeSubdomains: true, H2C: true}
	_, _, err = r.apply(ctx, v1, nil)
	require.NoError(t, err)
	ing = r.ingress(ctx, app)
	assert.ElementsMatch(t, []networkingv1.IngressTLS{
		{Hosts: []string{"www.shop.example"}, SecretName: "tls-www.shop.example"},
		{Hosts: []string{"api.shop.example"}, SecretName: "tls-api.shop.example"},
		{Hosts: []string{defaultHost}, SecretName: "tls-" + defaultHost},
	}, ing.Spec.TLS)
	assert.Equal(t, "false", ing.Annotations["platform.io/https-redirect"])
	assert.Equal(t, "max-age=600; includeSubDomains", ing.Annotations["platform.io/hsts"])
	assert.Equal(t, "h2c", ing.Annotations["platform.io/backend-protocol"], "the router speaks h2c to the pods")
	_, err = r.kc.CoreV1().Secrets(r.ns).Get(ctx, app+"-tls-7", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the removed certificate's secret is deleted: %v", err)
	_, err = r.kc.CoreV1().Secrets(r.ns).Get(ctx, "tls-api.shop.example", metav1.GetOptions{})
	assert.NoError(t, err, "the router's secret is left alone")

	// Without automatic certificates nothing is asked of the router.
	manual, err := deployer.New(func() deployer.Config { c := r.cfg; c.AutoCertificates = false; return c }())
	require.NoError(t, err)
	v1.HTTPS = deployer.HTTPS{}
	require.NoError(t, manual.Apply(ctx, v1, nil, nil))
	ing = r.ingress(ctx, app)
	assert.Empty(t, ing.Spec.TLS)
	assert.NotContains(t, ing.Annotations, "kubernetes.io/tls-acme")
	assert.NotContains(t, ing.Annotations, "platform.io/https-redirect")
	assert.NotContains(t, ing.Annotations, "platform.io/hsts")
	assert.NotContains(t, ing.Annotations, "platform.io/backend-protocol")
}

func (r *rig) ingress(ctx context.Context, app string) *networkingv1.Ingress {
	r.t.Helper()
	ing, err := r.kc.NetworkingV1().Ingresses(r.ns).Get(ctx, app, metav1.GetOptions{})
	require.NoError(r.t, err)
	return ing
}

// TestUploadedCertificateServedOverHTTPS runs a router against the local
// stack's Kubernetes: an app applied with an uploaded certificate for its
// custom domain answers HTTPS on it with that certificate (verified
// against its CA), plain HTTP is redirected to HTTPS with HSTS on the
// HTTPS answer, and with the redirect turned off plain HTTP is answered.
func TestUploadedCertificateServedOverHTTPS(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 2}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const app, domain = "tlsweb", "www.tls-e2e.example"
	ca := localstack.NewCA(t)
	mid := ca.Intermediate(t, "E2E Intermediate")
	leaf, key := mid.ServerCertPEM(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), domain)
	rel := r.release(app, 1, "secure hello", web(1))
	rel.Domains = []string{domain}
	rel.Certificates = []deployer.Certificate{{ID: 1, ChainPEM: string(leaf) + string(mid.CertPEM()), KeyPEM: string(key),
		Names: []string{domain}, NotAfter: time.Now().Add(time.Hour)}}
	rel.HTTPS = deployer.HTTPS{HSTSMaxAge: 120}
	_, _, err := r.apply(ctx, rel, nil)
	require.NoError(t, err)

	// The router's client is its own, with the key pair read in, so that
	// client-go starts no certificate reloader of the process's shared
	// transport for it; its connections are closed once the router has
	// stopped, watches and all.
	rc, err := clientcmd.BuildConfigFromFlags("", r.env.Kubeconfig)
	require.NoError(t, err)
	require.NoError(t, rest.LoadTLSFiles(rc))
	var conns connSet
	rc.Dial = conns.dial
	t.Cleanup(conns.closeAll)
	hc, err := rest.HTTPClientFor(rc)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfigAndClient(rc, hc)
	require.NoError(t, err)
	rt, err := router.New(router.Config{TLS: true, HTTPSPort: 8443, RequestTimeout: 10 * time.Second, DisableAccessLog: true}, kube)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	ran, served, servedTLS := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { ran <- rt.Run(runCtx) }()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { served <- rt.Serve(runCtx, plain) }()
	go func() { servedTLS <- rt.ServeTLS(runCtx, secure) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-served)
		assert.NoError(t, <-servedTLS)
		assert.NoError(t, <-ran)
	})
	require.Eventually(t, rt.HasSynced, time.Minute, 50*time.Millisecond)

	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			to := plain.Addr().String()
			if strings.HasSuffix(addr, ":443") {
				to = secure.Addr().String()
			}
			return (&net.Dialer{}).DialContext(ctx, "tcp", to)
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res, err := client.Get("https://" + domain + "/greeting")
		if !assert.NoError(c, err, "HTTPS verifies against the uploaded chain's CA") {
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		assert.Equal(c, http.StatusOK, res.StatusCode)
		assert.Equal(c, "secure hello", string(b))
		assert.Equal(c, "max-age=120", res.Header.Get("Strict-Transport-Security"))
		assert.Equal(c, "E2E Intermediate", res.TLS.PeerCertificates[0].Issuer.CommonName)
	}, time.Minute, 100*time.Millisecond)

	res, err := client.Get("http://" + domain + "/greeting?x=1")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusPermanentRedirect, res.StatusCode)
	assert.Equal(t, "https://"+domain+":8443/greeting?x=1", res.Header.Get("Location"))

	rel.HTTPS = deployer.HTTPS{NoRedirect: true}
	_, _, err = r.apply(ctx, rel, nil)
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res, err := client.Get("http://" + domain + "/greeting")
		if !assert.NoError(c, err) {
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		assert.Equal(c, http.StatusOK, res.StatusCode, "with the redirect off, plain HTTP is answered")
		assert.Equal(c, "secure hello", string(b))
	}, time.Minute, 100*time.Millisecond)
}

// connSet dials connections and closes them all at once.
type connSet struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (s *connSet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
	return c, err
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
}

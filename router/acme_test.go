package router_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
	"github.com/platform-paas/platform/router"
)

// TestACMEIssuesCertificate runs the router against the local stack's
// Kubernetes and Let's Encrypt's test CA, pebble: an app whose Ingress
// asks for a certificate (kubernetes.io/tls-acme) for a custom domain gets
// one, written to the Secret its spec.tls names and served over HTTPS, and
// plain HTTP to it is redirected there. Hosts the default certificate
// covers get no ACME and are served with it; a Secret the operator
// uploaded is left alone.
func TestACMEIssuesCertificate(t *testing.T) {
	s := newACMEStack(t, 90)
	ca := localstack.NewCA(t)
	host := "www." + s.ns + ".example.com"
	covered := "app." + s.ns + ".apps.test"
	uploaded := "own." + s.ns + ".example.com"
	wild := ca.TLSSecret(t, s.ns, "apps-wildcard", 7, "*."+s.ns+".apps.test")
	own := ca.TLSSecret(t, s.ns, "own-tls", 8, uploaded)
	for _, sec := range []*corev1.Secret{wild, own} {
		sec.ResourceVersion = ""
		_, err := s.kube.CoreV1().Secrets(s.ns).Create(s.ctx, sec, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	s.createApp(t, []string{host, covered, uploaded}, []networkingv1.IngressTLS{
		{Hosts: []string{host}, SecretName: "web-tls"},
		{Hosts: []string{covered}, SecretName: "covered-tls"},
		{Hosts: []string{uploaded}, SecretName: "own-tls"},
	})
	r := s.startRouter(t, "a", s.httpAddr, s.ns+"/apps-wildcard")

	sec := s.waitStatus(t, "web-tls", router.ACMEStatusIssued)
	a := sec.Annotations
	assert.Equal(t, "true", sec.Labels[router.LabelACMEManaged])
	assert.Equal(t, s.directory, a[router.AnnotationACMEIssuer])
	assert.Equal(t, host, a[router.AnnotationACMEHosts])
	assert.Empty(t, a[router.AnnotationACMELastError])
	leaf := parseLeaf(t, sec.Data[corev1.TLSCertKey])
	assert.Equal(t, []string{host}, leaf.DNSNames)
	notAfter, err := time.Parse(time.RFC3339, a[router.AnnotationACMENotAfter])
	require.NoError(t, err)
	assert.WithinDuration(t, leaf.NotAfter, notAfter, time.Second)
	next, err := time.Parse(time.RFC3339, a[router.AnnotationACMENextAttempt])
	require.NoError(t, err)
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	assert.WithinDuration(t, leaf.NotBefore.Add(life*2/3), next, time.Second, "renewal is due two thirds into the certificate's life")

	// The certificate's private key is encrypted at rest: the local
	// stack's API server encrypts Secrets in etcd.
	raw := etcdValue(t, s.ctx, s.env, "/registry/secrets/"+s.ns+"/web-tls")
	assert.True(t, bytes.HasPrefix(raw, []byte("k8s:enc:aescbc:v1:")), "stored as %.40q", raw)
	assert.False(t, bytes.Contains(raw, sec.Data[corev1.TLSPrivateKeyKey]), "the private key is not in etcd in the clear")

	// HTTPS verifies against pebble's root alone, and reaches the app.
	client := r.httpsClient(t, s.pebbleRoots)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res, err := client.Get("https://" + host + "/")
		if !assert.NoError(c, err) {
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		assert.Equal(c, http.StatusOK, res.StatusCode)
		assert.Contains(c, string(b), "Directory listing")
		assert.Equal(c, leaf.SerialNumber, res.TLS.PeerCertificates[0].SerialNumber)
	}, 2*time.Minute, 250*time.Millisecond, "pods: %s", func() string { return localstack.PodReport(s.kube, s.ns) })

	// Plain HTTP is redirected to HTTPS.
	res := r.plainGet(t, host, "/shop?item=1")
	assert.Equal(t, http.StatusPermanentRedirect, res.StatusCode)
	assert.Equal(t, "https://"+net.JoinHostPort(host, strconv.Itoa(r.httpsPort))+"/shop?item=1", res.Header.Get("Location"))

	// The default certificate serves the host it covers, which got no
	// Secret of its own.
	dc := r.httpsClient(t, ca.Pool)
	res, err = dc.Get("https://" + covered + "/")
	require.NoError(t, err, "the default certificate covers %s", covered)
	res.Body.Close()
	assert.Equal(t, big.NewInt(7), res.TLS.PeerCertificates[0].SerialNumber)
	_, err = s.kube.CoreV1().Secrets(s.ns).Get(s.ctx, "covered-tls", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no ACME for a host the default certificate covers: %v", err)

	// The uploaded certificate is served and left as it was.
	res, err = dc.Get("https://" + uploaded + "/")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, big.NewInt(8), res.TLS.PeerCertificates[0].SerialNumber)
	got, err := s.kube.CoreV1().Secrets(s.ns).Get(s.ctx, "own-tls", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, got.Annotations[router.AnnotationACMEManaged])
	assert.Equal(t, own.Data, got.Data)
	assert.Equal(t, 1, s.orders(), "one order: the certificate for %s", host)
}

// TestACMERenewsCertificate checks that a certificate is renewed two
// thirds into its life (pebble issues them for 30s here) and the new one
// served, while a client requesting over HTTPS all along, with a new TLS
// handshake each time, sees no request fail.
func TestACMERenewsCertificate(t *testing.T) {
	s := newACMEStack(t, 30)
	host := "renew." + s.ns + ".example.com"
	s.createApp(t, []string{host}, []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: "web-tls"}})
	r := s.startRouter(t, "a", s.httpAddr, "")
	first := parseLeaf(t, s.waitStatus(t, "web-tls", router.ACMEStatusIssued).Data[corev1.TLSCertKey])

	client := r.httpsClient(t, s.pebbleRoots)
	client.Transport.(*http.Transport).DisableKeepAlives = true
	get := func() (*x509.Certificate, int, error) {
		res, err := client.Get("https://" + host + "/")
		if err != nil {
			return nil, 0, err
		}
		defer res.Body.Close()
		_, err = io.Copy(io.Discard, res.Body)
		return res.TLS.PeerCertificates[0], res.StatusCode, err
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, code, err := get()
		assert.NoError(c, err)
		assert.Equal(c, http.StatusOK, code)
	}, 2*time.Minute, 250*time.Millisecond, "the app is up")

	deadline := time.Now().Add(90 * time.Second)
	requests := 0
	pace := time.NewTicker(50 * time.Millisecond) // the client's request rate
	defer pace.Stop()
	for range pace.C {
		cert, code, err := get()
		require.NoError(t, err, "request %d over HTTPS", requests)
		require.Equal(t, http.StatusOK, code, "request %d over HTTPS", requests)
		requests++
		if cert.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Logf("renewed after %v of the first certificate's %v, %d requests", time.Since(first.NotBefore).Round(time.Second), first.NotAfter.Sub(first.NotBefore).Round(time.Second), requests)
			assert.True(t, cert.NotBefore.After(first.NotBefore))
			assert.True(t, time.Now().Before(first.NotAfter), "renewed before the first expired")
			break
		}
		require.True(t, time.Now().Before(deadline), "no renewal by %v: %+v", deadline, s.secret(t, "web-tls").Annotations)
	}
	a := s.secret(t, "web-tls").Annotations
	assert.Equal(t, router.ACMEStatusIssued, a[router.AnnotationACMEStatus])
	assert.Equal(t, 2, s.orders())
}

// TestACMERecordsFailure checks that a domain whose challenge cannot
// succeed (its DNS names an address where no router listens) has the
// CA's error recorded on its Secret, and the next attempt put off; the
// Secret, empty, serves nothing and hides nothing.
func TestACMERecordsFailure(t *testing.T) {
	s := newACMEStack(t, 90)
	host := "unreachable." + s.ns + ".example.com"
	s.createApp(t, []string{host}, []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: "web-tls"}})
	r := s.startRouter(t, "a", s.httpAddr, "")

	sec := s.waitStatus(t, "web-tls", router.ACMEStatusFailed)
	a := sec.Annotations
	t.Logf("last error: %s", a[router.AnnotationACMELastError])
	assert.Contains(t, a[router.AnnotationACMELastError], "127.0.0.2", "the CA's detail names where it tried")
	assert.NotContains(t, a[router.AnnotationACMELastError], "acme:", "the CA's words, not the client's")
	assert.Equal(t, "1", a[router.AnnotationACMEFailures])
	next, err := time.Parse(time.RFC3339, a[router.AnnotationACMENextAttempt])
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Minute), next, 15*time.Second, "retried after the first backoff")
	assert.Empty(t, sec.Data[corev1.TLSCertKey])

	res := r.plainGet(t, host, "/")
	assert.NotEqual(t, http.StatusPermanentRedirect, res.StatusCode, "no certificate, no redirect")
}

// TestACMETwoReplicasOneOrder runs two routers, each with its own
// listeners: the one elected orders the certificate once, the CA fetches
// the challenge from the other (its HTTP port is the one pebble
// validates on), and both serve the certificate.
func TestACMETwoReplicasOneOrder(t *testing.T) {
	s := newACMEStack(t, 90)
	host := "two." + s.ns + ".example.com"
	a := s.startRouter(t, "a", localstack.FreeAddr(t), "")
	s.waitLeader(t, "a")
	b := s.startRouter(t, "b", s.httpAddr, "")
	s.createApp(t, []string{host}, []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: "web-tls"}})

	leaf := parseLeaf(t, s.waitStatus(t, "web-tls", router.ACMEStatusIssued).Data[corev1.TLSCertKey])
	for _, r := range []*acmeRouter{a, b} {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			conn, err := tls.Dial("tcp", r.httpsAddr, &tls.Config{ServerName: host, RootCAs: s.pebbleRoots})
			if !assert.NoError(c, err) {
				return
			}
			defer conn.Close()
			assert.Equal(c, leaf.SerialNumber, conn.ConnectionState().PeerCertificates[0].SerialNumber)
		}, 10*time.Second, 50*time.Millisecond, "router %s serves the certificate", r.name)
	}
	assert.Equal(t, 1, s.orders(), "one order for both replicas")
	assert.Contains(t, b.logs.String(), "answering ACME challenge", "the CA asked the replica that was not elected")

	// When the elected replica stops, the other takes over, and finds
	// nothing to order.
	a.stop()
	s.waitLeader(t, "b")
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "certificates checked") }, 30*time.Second, 20*time.Millisecond, "router b looks")
	assert.Equal(t, 1, s.orders(), "the new leader orders nothing already issued")
}

// waitLeader waits until the replica named name holds the ACME Lease.
func (s *acmeStack) waitLeader(t *testing.T, name string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		l, err := s.kube.CoordinationV1().Leases(s.ns).Get(s.ctx, router.ACMELease, metav1.GetOptions{})
		if assert.NoError(c, err) && assert.NotNil(c, l.Spec.HolderIdentity) {
			assert.Equal(c, name, *l.Spec.HolderIdentity)
		}
	}, time.Minute, 50*time.Millisecond, "router %s is elected", name)
}

// acmeStack is one test's ACME world: a scratch namespace of the local
// stack's Kubernetes (also the routers' own), pebble, and a DNS server
// for pebble that answers every name with 127.0.0.1, or 127.0.0.2 (where
// nothing listens) for names starting "unreachable.".
type acmeStack struct {
	ctx         context.Context
	env         localstack.Env
	kube        kubernetes.Interface
	ns          string
	httpAddr    string // where pebble validates HTTP-01
	directory   string
	caRoots     *x509.CertPool // pebble's own HTTPS
	pebbleRoots *x509.CertPool // what pebble issues
	pebbleLog   *syncbuf.Buffer
}

func newACMEStack(t *testing.T, validitySeconds int) *acmeStack {
	env := localstack.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	s := &acmeStack{ctx: ctx, env: env, kube: testKube(t, env), ns: fmt.Sprintf("acmetest-%08x", rand.Uint32())}
	_, err := s.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.kube.CoreV1().Namespaces().Delete(context.Background(), s.ns, metav1.DeleteOptions{})
	})
	s.httpAddr = localstack.FreeAddr(t)
	s.startPebble(t, validitySeconds, serveDNS(t))
	return s
}

// testKube is a client of the local stack's Kubernetes that leaves no
// goroutine behind (see TestLocalStackRoutesToPods).
func testKube(t *testing.T, env localstack.Env) kubernetes.Interface {
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	require.NoError(t, err)
	require.NoError(t, rest.LoadTLSFiles(cfg))
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { utilnet.CloseIdleConnectionsFor(hc.Transport) })
	kube, err := kubernetes.NewForConfigAndClient(cfg, hc)
	require.NoError(t, err)
	return kube
}

// serveDNS serves pebble's DNS on a loopback port, over UDP and TCP
// (pebble's resolver asks over TCP), until the test ends, and returns its
// address.
func serveDNS(t *testing.T) string {
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype != dns.TypeA {
				continue // no AAAA, CAA, ...: an empty answer
			}
			ip := net.IPv4(127, 0, 0, 1)
			if strings.HasPrefix(strings.ToLower(qq.Name), "unreachable.") {
				ip = net.IPv4(127, 0, 0, 2)
			}
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: ip})
		}
		_ = w.WriteMsg(m)
	})
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 100 { // a port free for both
		addr := localstack.FreeAddr(t)
		if ln, err = net.Listen("tcp", addr); err != nil {
			continue
		}
		if pc, err = net.ListenPacket("udp", addr); err == nil {
			break
		}
		require.NoError(t, ln.Close())
	}
	require.NoError(t, err, "a loopback port for DNS over UDP and TCP")
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		served := make(chan error, 1)
		go func() { served <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-served:
			t.Fatalf("serving DNS: %v", err)
		}
		t.Cleanup(func() {
			assert.NoError(t, srv.Shutdown())
			<-served
		})
	}
	return ln.Addr().String()
}

// startPebble builds pebble (go.mod's tool) and runs it, validating
// HTTP-01 on s.httpAddr's port, resolving with dnsAddr and issuing
// certificates valid for validitySeconds, until the test ends.
func (s *acmeStack) startPebble(t *testing.T, validitySeconds int, dnsAddr string) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pebble")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput(); err != nil {
		localstack.Need(t, "pebble, Let's Encrypt's test CA (a tool in go.mod)", fmt.Sprintf("go mod download github.com/letsencrypt/pebble/v2 (go build said: %v: %s)", err, out))
	}
	ca := localstack.NewCA(t)
	tlsSec := ca.TLSSecret(t, "x", "pebble", 1, "localhost")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, tlsSec.Data[corev1.TLSCertKey], 0o600))
	require.NoError(t, os.WriteFile(keyFile, tlsSec.Data[corev1.TLSPrivateKeyKey], 0o600))
	_, httpPort, err := net.SplitHostPort(s.httpAddr)
	require.NoError(t, err)
	port, err := strconv.Atoi(httpPort)
	require.NoError(t, err)
	listen, mgmt, tlsAddr := localstack.FreeAddr(t), localstack.FreeAddr(t), localstack.FreeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	tp, _ := strconv.Atoi(tlsPort)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        mgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       port,
		"tlsPort":                        tp,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "test", "validityPeriod": validitySeconds,
		}},
	}}
	b, err := json.Marshal(conf)
	require.NoError(t, err)
	confFile := filepath.Join(dir, "pebble.json")
	require.NoError(t, os.WriteFile(confFile, b, 0o600))

	s.pebbleLog = &syncbuf.Buffer{}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = s.pebbleLog, s.pebbleLog
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble:\n%s", s.pebbleLog.String())
		}
	})

	s.caRoots = ca.Pool
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	s.directory = "https://" + strings.Replace(listen, "127.0.0.1", "localhost", 1) + "/dir"
	var root []byte
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res, err := hc.Get("https://" + strings.Replace(mgmt, "127.0.0.1", "localhost", 1) + "/roots/0")
		if !assert.NoError(c, err) {
			return
		}
		defer res.Body.Close()
		root, err = io.ReadAll(res.Body)
		assert.NoError(c, err)
		assert.Equal(c, http.StatusOK, res.StatusCode)
		res, err = hc.Get(s.directory)
		if assert.NoError(c, err) {
			res.Body.Close()
			assert.Equal(c, http.StatusOK, res.StatusCode)
		}
	}, 30*time.Second, 50*time.Millisecond, "pebble starts: %s", s.pebbleLog)
	s.pebbleRoots = x509.NewCertPool()
	require.True(t, s.pebbleRoots.AppendCertsFromPEM(root), "pebble's root: %s", root)
}

// orders counts the orders pebble took.
func (s *acmeStack) orders() int {
	return strings.Count(s.pebbleLog.String(), "Added order")
}

// createApp creates the stack's static app in s.ns, its Ingress of the
// test's own class for hosts, asking for certificates for tlsEntries.
func (s *acmeStack) createApp(t *testing.T, hosts []string, tlsEntries []networkingv1.IngressTLS) {
	localstack.CreatePullSecret(s.ctx, t, s.kube, s.env, s.ns)
	dep, svc, ing := localstack.StaticApp(s.env.Registry, s.ns, hosts[0])
	for _, h := range hosts[1:] {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: h, IngressRuleValue: ing.Spec.Rules[0].IngressRuleValue})
	}
	ing.Annotations = map[string]string{router.AnnotationTLSACME: "true"}
	ing.Spec.TLS = tlsEntries
	_, err := s.kube.AppsV1().Deployments(s.ns).Create(s.ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = s.kube.CoreV1().Services(s.ns).Create(s.ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = s.kube.NetworkingV1().Ingresses(s.ns).Create(s.ctx, ing, metav1.CreateOptions{})
	require.NoError(t, err)
}

func (s *acmeStack) secret(t *testing.T, name string) *corev1.Secret {
	sec, err := s.kube.CoreV1().Secrets(s.ns).Get(s.ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	return sec
}

// waitStatus waits until the Secret name records status, and returns it.
func (s *acmeStack) waitStatus(t *testing.T, name, status string) *corev1.Secret {
	t.Helper()
	var sec *corev1.Secret
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		sec, err = s.kube.CoreV1().Secrets(s.ns).Get(s.ctx, name, metav1.GetOptions{})
		if assert.NoError(c, err) {
			assert.Equal(c, status, sec.Annotations[router.AnnotationACMEStatus], "annotations: %v", sec.Annotations)
		}
	}, 2*time.Minute, 100*time.Millisecond, "secret %s/%s becomes %s", s.ns, name, status)
	return sec
}

// acmeRouter is a Router with ACME run by a test, on its own listeners.
type acmeRouter struct {
	name      string
	httpAddr  string
	httpsAddr string
	httpsPort int
	logs      *syncbuf.Buffer
	// stop stops the router and waits for it; the test's end does too.
	stop func()
}

// startRouter runs a router of the test's class named name (its identity
// in the Lease), serving HTTP on httpAddr and HTTPS on a port of its own,
// until the test ends.
func (s *acmeStack) startRouter(t *testing.T, name, httpAddr, defaultCert string) *acmeRouter {
	r := &acmeRouter{name: name, httpAddr: httpAddr, logs: &syncbuf.Buffer{}}
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r.httpsAddr = httpsLn.Addr().String()
	r.httpsPort = httpsLn.Addr().(*net.TCPAddr).Port
	httpLn, err := net.Listen("tcp", httpAddr)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(r.logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt, err := router.New(router.Config{
		Class:              s.ns,
		Logger:             logger.With("replica", name),
		DisableAccessLog:   true,
		TLS:                true,
		HTTPSPort:          r.httpsPort,
		DefaultCertificate: defaultCert,
		RequestTimeout:     10 * time.Second,
		ShutdownTimeout:    5 * time.Second,
		ACME: router.ACMEConfig{
			DirectoryURL:  s.directory,
			Email:         "ops@example.com",
			RootCAs:       s.caRoots,
			Namespace:     s.ns,
			Identity:      name,
			LeaseDuration: 3 * time.Second,
		},
	}, s.kube)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	errs := make(chan error, 3)
	go func() { errs <- rt.Run(ctx) }()
	go func() { errs <- rt.Serve(ctx, httpLn) }()
	go func() { errs <- rt.ServeTLS(ctx, httpsLn) }()
	r.stop = sync.OnceFunc(func() {
		stop()
		for range 3 {
			assert.NoError(t, <-errs)
		}
	})
	t.Cleanup(r.stop)
	require.Eventually(t, rt.HasSynced, time.Minute, 20*time.Millisecond)
	return r
}

// httpsClient is a client of r's HTTPS whatever the host, trusting roots.
func (r *acmeRouter) httpsClient(t *testing.T, roots *x509.CertPool) *http.Client {
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", r.httpsAddr)
			},
		},
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// plainGet asks r over plain HTTP for path of host, not following
// redirects.
func (r *acmeRouter) plainGet(t *testing.T, host, path string) *http.Response {
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodGet, "http://"+r.httpAddr+path, nil)
	require.NoError(t, err)
	req.Host = host
	res, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	c.CloseIdleConnections()
	return res
}

// etcdValue reads key from the local stack's etcd, with etcd's own
// client and the API server's etcd certificate.
func etcdValue(t *testing.T, ctx context.Context, env localstack.Env, key string) []byte {
	t.Helper()
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		localstack.Need(t, "etcdctl", "apt-get install etcd-client (make up installs it)")
	}
	pki := filepath.Join(filepath.Dir(env.Kubeconfig), "pki")
	cert := filepath.Join(pki, "etcd", "apiserver")
	cmd := exec.CommandContext(ctx, etcdctl, "--endpoints="+localstack.EtcdURL, "--cacert="+filepath.Join(pki, "etcd", "ca.crt"),
		"--cert="+cert+".crt", "--key="+cert+".key", "get", "--print-value-only", key)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	raw, err := cmd.Output()
	require.NoError(t, err, "etcdctl get %s", key)
	require.NotEmpty(t, raw, "%s is in etcd", key)
	return raw
}

func parseLeaf(t *testing.T, chain []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(chain)
	require.NotNil(t, block, "a certificate in %q", chain)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

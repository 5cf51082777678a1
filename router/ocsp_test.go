package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ocsp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/router/internal/route/routetest"
)

// TestOCSPStapling serves three certificates, each named by an Ingress's
// spec.tls, whose OCSP responder is a test one: one good, one revoked,
// and one from a CA the router does not trust for stapling (a tenant's
// own, say). Only the good one is stapled, with its CA's signed answer;
// the revoked one is asked about but not stapled; the untrusted one's
// responder, though it names the same, is never asked. A staple past its
// validity is dropped rather than served.
func TestOCSPStapling(t *testing.T) {
	ca, stranger := localstack.NewCA(t), localstack.NewCA(t)
	const revokedSerial = 2
	url, asked := ca.OCSPResponder(t, func(serial *big.Int) int {
		if serial.Int64() == revokedSerial {
			return ocsp.Revoked
		}
		return ocsp.Good
	})
	ca.OCSPServer, stranger.OCSPServer = url, url

	var objects []runtime.Object
	for i, h := range []struct {
		host string
		ca   *localstack.CA
	}{{"good.test", ca}, {"revoked.test", ca}, {"untrusted.test", stranger}} {
		ing := routetest.Ingress("app", h.host, "platform", h.host, time.Now(), routetest.Path{Path: "/", Service: "web", Port: routetest.PortNumber(80)})
		ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: h.host}}
		objects = append(objects, ing, h.ca.TLSSecret(t, "app", h.host, int64(i+1), h.host))
	}
	objects = append(objects, routetest.Service("app", "web", corev1.ServicePort{Name: "http", Port: 80}))
	rt := runFake(t, Config{TLS: true, OCSPRoots: ca.Pool}, fake.NewClientset(objects...))
	addr := serveTLS(t, rt)

	// The staple a handshake for host gets, nil for none.
	stapled := func(host string, roots *x509.CertPool) []byte {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: host, RootCAs: roots})
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().OCSPResponse
	}
	require.Eventually(t, func() bool { return stapled("good.test", ca.Pool) != nil }, 10*time.Second, 20*time.Millisecond)
	block, _ := pem.Decode(ca.PEM())
	issuer, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	res, err := ocsp.ParseResponse(stapled("good.test", ca.Pool), issuer)
	require.NoError(t, err, "the staple is the CA's signed answer")
	assert.Equal(t, ocsp.Good, res.Status)
	assert.EqualValues(t, 1, res.SerialNumber.Int64())

	// The loop's pass that stapled good.test went over the others too:
	// a pass of its own, with nothing due, waits for it to end.
	rt.refreshStaples(context.Background(), time.Now())
	assert.Nil(t, stapled("revoked.test", ca.Pool), "a revoked certificate is served without a staple")
	assert.Nil(t, stapled("untrusted.test", stranger.Pool), "an untrusted chain is not stapled")
	assert.EqualValues(t, 2, asked.Load(), "the responder was asked for good.test and revoked.test only")

	// Two hours on, the staple has expired, and the responder's new one
	// (valid for an hour from the real now) is no better.
	rt.refreshStaples(context.Background(), time.Now().Add(2*time.Hour))
	assert.Nil(t, stapled("good.test", ca.Pool), "an expired staple is not served")
}

package router

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/platform-paas/platform/router/internal/route"
)

// certStore is one immutable set of certificates by host name, swapped in
// whole as the routing table is: a TLS handshake reads it without locks.
type certStore struct {
	exact     map[string]*tls.Certificate
	wildcards map[string]*tls.Certificate // "*.example.com" under "example.com"
}

// lookup returns the certificate for a client's server name, or nil. A
// wildcard covers one label, as in the routing table.
func (s *certStore) lookup(name string) *tls.Certificate {
	if s == nil {
		return nil
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if c := s.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return s.wildcards[name[i+1:]]
	}
	return nil
}

// parsedCert is a certificate parsed from one version of its Secret.
type parsedCert struct {
	version string
	cert    *tls.Certificate
}

// installCerts makes the store of certs, parsing only those whose Secret
// changed since the last time, and swaps it in. A Secret that does not
// hold a key pair is logged and left out.
func (rt *Router) installCerts(certs []route.Cert) {
	rt.certMu.Lock()
	defer rt.certMu.Unlock()
	s := &certStore{exact: map[string]*tls.Certificate{}, wildcards: map[string]*tls.Certificate{}}
	parsed := make(map[string]parsedCert, len(certs))
	for _, c := range certs {
		p, ok := rt.parsed[c.Secret]
		if !ok || p.version != c.Version || c.Version == "" {
			kp, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
			if err != nil {
				rt.log.Warn("ingress TLS secret holds no usable key pair", "secret", c.Secret, "ingress", c.Ingress, "err", err)
				continue
			}
			p = parsedCert{version: c.Version, cert: &kp}
		}
		parsed[c.Secret] = p
		for _, h := range c.Hosts {
			if strings.HasPrefix(h, "*.") {
				s.wildcards[h[2:]] = p.cert
			} else {
				s.exact[h] = p.cert
			}
		}
	}
	rt.parsed = parsed
	rt.certs.Store(s)
}

// getCertificate is the TLS configuration's: the certificate of the name
// the client asks for (SNI).
func (rt *Router) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := rt.certs.Load().lookup(hello.ServerName); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
}

// TLSConfig is the router's TLS configuration: TLS 1.2 and 1.3 only, with
// Go's modern cipher suites, the certificate chosen by the name the
// client asks for from the Secrets its Ingresses' spec.tls name, and
// HTTP/1.1 by ALPN.
func (rt *Router) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: rt.getCertificate,
	}
}

// ServeTLS is Serve over TLS (TLSConfig) on ln: HTTPS.
func (rt *Router) ServeTLS(ctx context.Context, ln net.Listener) error {
	return rt.Serve(ctx, tls.NewListener(ln, rt.TLSConfig()))
}

// redirectsToHTTPS reports whether a request for host on the exchange's
// route goes to HTTPS instead: it came over plain HTTP (neither over TLS
// nor, by a trusted proxy's word, to a proxy over HTTPS), the router
// serves HTTPS, the host has a certificate, and the route's Ingress did
// not opt out.
func (ex *exchange) redirectsToHTTPS(host string) bool {
	rt, r := ex.rt, ex.r
	if r.TLS != nil || !rt.cfg.TLS || ex.target.noRedirect {
		return false
	}
	if rt.fromTrustedProxy(r.RemoteAddr) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	return rt.certs.Load().lookup(host) != nil
}

// redirectHTTPS answers 308 with the same URL over HTTPS, so that the
// method and body are kept.
func (ex *exchange) redirectHTTPS(host string) {
	if p := ex.rt.cfg.HTTPSPort; p != 0 && p != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(p))
	}
	u := url.URL{Scheme: "https", Host: host, Path: ex.r.URL.Path, RawPath: ex.r.URL.RawPath, RawQuery: ex.r.URL.RawQuery}
	ex.status = http.StatusPermanentRedirect
	h := ex.w.Header()
	h["Location"] = []string{u.String()}
	h["X-Request-Id"] = []string{ex.reqID}
	h["Content-Length"] = []string{"0"}
	ex.w.WriteHeader(http.StatusPermanentRedirect)
}

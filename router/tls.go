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

	"github.com/platform-paas/platform/router/internal/h2"
	"github.com/platform-paas/platform/router/internal/route"
	"github.com/platform-paas/platform/router/internal/sock"
)

// certStore is one immutable set of certificates by host name, swapped in
// whole as the routing table is: a TLS handshake reads it without locks.
type certStore struct {
	exact     map[string]*tls.Certificate
	wildcards map[string]*tls.Certificate // "*.example.com" under "example.com"
	// fallback is the default certificate, for the names its leaf
	// covers that have no certificate of their own; nil for none.
	fallback *tls.Certificate
	// staples are the OCSP staples of the certificates above.
	staples map[*tls.Certificate]*staple
}

// fallbackCovers reports whether the default certificate covers name.
func (s *certStore) fallbackCovers(name string) bool {
	return s != nil && s.fallback != nil && s.fallback.Leaf.VerifyHostname(name) == nil
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
		if c := s.wildcards[name[i+1:]]; c != nil {
			return c
		}
	}
	if s.fallbackCovers(name) {
		return s.fallback
	}
	return nil
}

// parsedCert is a certificate parsed from one version of its Secret.
type parsedCert struct {
	version string
	cert    *tls.Certificate
	staple  *staple
}

// installCerts makes the store of certs and the default certificate def
// (nil for none), parsing only those whose Secret changed since the last
// time, and swaps it in. A Secret that does not hold a key pair is logged
// and left out.
func (rt *Router) installCerts(certs []route.Cert, def *route.Cert) {
	rt.certMu.Lock()
	defer rt.certMu.Unlock()
	s := &certStore{exact: map[string]*tls.Certificate{}, wildcards: map[string]*tls.Certificate{}, staples: map[*tls.Certificate]*staple{}}
	parsed := make(map[string]parsedCert, len(certs)+1)
	parse := func(c route.Cert) (parsedCert, bool) {
		p, ok := rt.parsed[c.Secret]
		if !ok || p.version != c.Version || c.Version == "" {
			kp, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
			if err != nil {
				rt.log.Warn("ingress TLS secret holds no usable key pair", "secret", c.Secret, "ingress", c.Ingress, "err", err)
				return p, false
			}
			p = parsedCert{version: c.Version, cert: &kp, staple: &staple{}}
		}
		parsed[c.Secret] = p
		s.staples[p.cert] = p.staple
		return p, true
	}
	if def != nil {
		if p, ok := parse(*def); ok {
			s.fallback = p.cert
		}
	}
	for _, c := range certs {
		p, ok := parse(c)
		if !ok {
			continue
		}
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
	select {
	case rt.certsChanged <- struct{}{}: // new certificates are stapled at once
	default:
	}
}

// getCertificate is the TLS configuration's: the certificate of the name
// the client asks for (SNI).
func (rt *Router) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := rt.certs.Load()
	if c := s.lookup(hello.ServerName); c != nil {
		return s.withStaple(c), nil
	}
	return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
}

// modernSuites are the TLS 1.2 cipher suites the router accepts: forward
// secret (ECDHE) and authenticated encryption (AES-GCM, ChaCha20-Poly1305)
// only, no CBC, RC4, 3DES or RSA key exchange. TLS 1.3's suites are all of
// that kind and not configurable.
var modernSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig is the router's TLS configuration: TLS 1.2 and 1.3 only, with
// modern cipher suites (modernSuites), the certificate chosen by the name
// the client asks for from the Secrets its Ingresses' spec.tls name (with
// its OCSP staple, if it has one: ocsp.go), and
// HTTP/2 or HTTP/1.1 by ALPN. Sessions resume by ticket, with keys that
// Go's TLS stack makes and rotates itself.
func (rt *Router) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   modernSuites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: rt.getCertificate,
	}
}

// ServeTLS is Serve over TLS (TLSConfig) on ln: HTTPS. Clients that choose
// HTTP/2 are served by the router's HTTP/2 server (package h2), with the
// same handler (the proxy), so the same routing, forwarded headers,
// request ids, limits and retries; the rest by its HTTP/1.1 server.
func (rt *Router) ServeTLS(ctx context.Context, ln net.Listener) error {
	return rt.serve(ctx, tls.NewListener(sock.Listener{Listener: ln}, rt.TLSConfig()), rt.newHTTP2Server(ctx))
}

// http2Server serves the HTTP/2 connections the HTTP/1.1 server hands
// over.
type http2Server struct {
	srv  *h2.Server
	base context.Context // the requests' contexts derive from it
}

func (rt *Router) newHTTP2Server(ctx context.Context) *http2Server {
	srv := h2.NewServer(rt, rt.log, h2.Timeouts{
		ReadHeader: rt.cfg.ReadHeaderTimeout,
		BodyIdle:   rt.cfg.BodyIdleTimeout,
		Write:      rt.cfg.WriteTimeout,
	})
	return &http2Server{srv: srv, base: context.WithoutCancel(ctx)}
}

// take serves a connection whose client chose HTTP/2, on the HTTP/1.1
// server's goroutine for it, until it ends.
func (h *http2Server) take(c *tls.Conn) { h.srv.ServeConn(h.base, c) }

// shutdown sends GOAWAY on every connection and waits for their streams
// to end, until ctx is done; then it cuts them.
func (h *http2Server) shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if err != nil {
		h.srv.Close()
	}
	return err
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

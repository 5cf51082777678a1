package router

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP stapling. The router fetches, for each certificate it serves, the
// OCSP response its CA signs for it, and sends it in the TLS handshake
// (the status_request extension): clients learn that the certificate is
// not revoked without asking the CA themselves, which is slower and tells
// the CA who visits which site.
//
// A certificate is stapled only when its chain verifies against
// Config.OCSPRoots (by default the system's roots): the OCSP responder's
// address comes from the certificate, and a tenant's certificate must not
// send the router to an address of the tenant's choosing (its own
// self-signed certificate could name any address inside the cluster). A
// staple is fetched when the certificate is installed, again halfway
// through the response's validity, and, after a failure, with a backoff
// from a minute to an hour; a staple past its validity is dropped. Only a
// "good" answer is stapled: a revoked certificate is logged, for the
// operator to replace, and served without one.

const (
	ocspTick       = time.Minute      // how often due staples are looked for
	ocspTimeout    = 10 * time.Second // an OCSP exchange's limit
	ocspMaxBackoff = time.Hour
	ocspMaxSize    = 64 << 10 // an OCSP response's, far above real ones
)

// staple is the OCSP state of one parsed certificate.
type staple struct {
	// stapled is the certificate with its OCSP response, made once per
	// response and served as it is; nil for none.
	stapled atomic.Pointer[tls.Certificate]

	// The rest belongs to the stapling loop (stapleMu).
	next    time.Time // when to fetch, zero at first
	backoff time.Duration
	expires time.Time // the held response's NextUpdate, zero for none
}

// withStaple returns c, or its copy with its OCSP staple if it has one.
func (s *certStore) withStaple(c *tls.Certificate) *tls.Certificate {
	if sp := s.staples[c]; sp != nil {
		if cc := sp.stapled.Load(); cc != nil {
			return cc
		}
	}
	return c
}

// keepStaples keeps the served certificates' staples fresh until ctx is
// done: it looks for due ones every ocspTick, and at once when the
// certificates change.
func (rt *Router) keepStaples(ctx context.Context) {
	tick := time.NewTicker(ocspTick)
	defer tick.Stop()
	for {
		rt.refreshStaples(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-rt.certsChanged:
		}
	}
}

// refreshStaples fetches the staples that are due at now.
func (rt *Router) refreshStaples(ctx context.Context, now time.Time) {
	rt.stapleMu.Lock()
	defer rt.stapleMu.Unlock()
	s := rt.certs.Load()
	if s == nil {
		return // no certificates yet
	}
	for c, sp := range s.staples {
		if ctx.Err() != nil {
			return
		}
		if sp.next.After(now) {
			continue
		}
		if !sp.expires.IsZero() && now.After(sp.expires) {
			sp.stapled.Store(nil) // stale: no staple beats a stale one
			sp.expires = time.Time{}
		}
		rt.fetchStaple(ctx, c, sp, now)
	}
}

// errNoStaple marks a certificate that is not stapled at all.
var errNoStaple = errors.New("not stapled")

// fetchStaple asks the certificate's OCSP responder for its status and
// staples a good answer.
func (rt *Router) fetchStaple(ctx context.Context, c *tls.Certificate, sp *staple, now time.Time) {
	leaf := c.Leaf // tls.X509KeyPair, which made c, parsed it
	issuer, responder, err := rt.ocspTarget(c, now)
	if errors.Is(err, errNoStaple) {
		sp.next = leaf.NotAfter // never, for this certificate
		return
	}
	var res *ocsp.Response
	var der []byte
	if err == nil {
		der, res, err = rt.askOCSP(ctx, leaf, issuer, responder, now)
	}
	names := leaf.DNSNames
	switch {
	case err != nil:
		sp.backoff = min(max(2*sp.backoff, time.Minute), ocspMaxBackoff)
		sp.next = now.Add(sp.backoff)
		rt.log.Warn("OCSP staple not fetched, retrying", "names", names, "responder", responder, "retry_in", sp.backoff, "err", err)
	case res.Status == ocsp.Good:
		cc := *c
		cc.OCSPStaple = der
		sp.stapled.Store(&cc)
		sp.expires = res.NextUpdate
		sp.backoff = 0
		sp.next = now.Add(time.Hour)
		if !res.NextUpdate.IsZero() {
			sp.next = res.ThisUpdate.Add(res.NextUpdate.Sub(res.ThisUpdate) / 2)
		}
		rt.log.Debug("OCSP staple fetched", "names", names, "next_update", res.NextUpdate)
	default:
		sp.stapled.Store(nil)
		sp.expires = time.Time{}
		sp.backoff = 0
		sp.next = now.Add(time.Hour)
		status := "unknown"
		if res.Status == ocsp.Revoked {
			status = "revoked"
		}
		rt.log.Warn("the CA says a served certificate is not good: replace it", "names", names, "status", status, "revoked_at", res.RevokedAt)
	}
}

// ocspTarget returns the issuer of c's leaf and the OCSP responder to
// ask, or errNoStaple for a certificate that names none or whose chain
// does not verify against the OCSP roots.
func (rt *Router) ocspTarget(c *tls.Certificate, now time.Time) (issuer *x509.Certificate, responder string, err error) {
	leaf := c.Leaf
	if len(leaf.OCSPServer) == 0 {
		return nil, "", errNoStaple
	}
	responder = leaf.OCSPServer[0]
	if u, perr := url.Parse(responder); perr != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, "", errNoStaple
	}
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, perr := x509.ParseCertificate(der); perr == nil {
			inter.AddCert(ic)
		}
	}
	chains, verr := leaf.Verify(x509.VerifyOptions{
		Roots: rt.cfg.OCSPRoots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if verr != nil || len(chains[0]) < 2 {
		rt.log.Debug("certificate not stapled: its chain does not verify against the OCSP roots", "names", leaf.DNSNames, "err", verr)
		return nil, "", errNoStaple
	}
	return chains[0][1], responder, nil
}

// askOCSP sends the OCSP request for leaf to responder and returns the
// response, checked: signed for leaf by its issuer (or the issuer's
// delegate), and current.
func (rt *Router) askOCSP(ctx context.Context, leaf, issuer *x509.Certificate, responder string, now time.Time) ([]byte, *ocsp.Response, error) {
	body, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, nil, fmt.Errorf("making the OCSP request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, ocspTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responder, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	res, err := rt.ocspClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	der, err := io.ReadAll(io.LimitReader(res.Body, ocspMaxSize+1))
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("reading the OCSP response: %w", err)
	case res.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("the OCSP responder answered %s", res.Status)
	case len(der) > ocspMaxSize:
		return nil, nil, errors.New("the OCSP response is too large")
	}
	r, err := ocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("the OCSP response: %w", err)
	}
	if !r.NextUpdate.IsZero() && now.After(r.NextUpdate) {
		return nil, nil, fmt.Errorf("the OCSP response expired at %s", r.NextUpdate)
	}
	return der, r, nil
}

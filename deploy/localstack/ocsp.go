package localstack

import (
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSPResponder is an OCSP responder for ca's certificates on loopback,
// until the test ends: it answers each request with the status status
// gives the certificate's serial number (ocsp.Good, ocsp.Revoked, ...),
// signed by ca, valid for an hour. It returns its URL, for
// CA.OCSPServer, and the count of requests it answered.
func (ca *CA) OCSPResponder(t testing.TB, status func(serial *big.Int) int) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
		if err != nil {
			return
		}
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		tmpl := ocsp.Response{
			Status:       status(req.SerialNumber),
			SerialNumber: req.SerialNumber,
			ThisUpdate:   now.Add(-time.Minute),
			NextUpdate:   now.Add(time.Hour),
		}
		if tmpl.Status == ocsp.Revoked {
			tmpl.RevokedAt = now.Add(-time.Minute)
		}
		der, err := ocsp.CreateResponse(ca.cert, ca.cert, tmpl, ca.key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n.Add(1)
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(der)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

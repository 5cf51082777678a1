package router

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/crypto/acme"
)

// TestACMEBackoff checks the wait after failures in a row: doubling from
// the minimum to the maximum, or what a CA that limits the rate asks for
// when that is longer.
func TestACMEBackoff(t *testing.T) {
	is := &issuer{cfg: ACMEConfig{RetryMin: time.Minute, RetryMax: 24 * time.Hour}}
	plain := errors.New("connection refused")
	limited := func(after string) error {
		return fmt.Errorf("ordering a certificate: %w", &acme.Error{StatusCode: http.StatusTooManyRequests,
			ProblemType: "urn:ietf:params:acme:error:rateLimited", Detail: "too many certificates", Header: http.Header{"Retry-After": {after}}})
	}
	for _, tt := range []struct {
		name     string
		failures int
		err      error
		want     time.Duration
	}{
		{"first", 1, plain, time.Minute},
		{"second", 2, plain, 2 * time.Minute},
		{"tenth", 10, plain, 512 * time.Minute},
		{"capped", 12, plain, 24 * time.Hour},
		{"many", 1000, plain, 24 * time.Hour},
		{"rate limited for longer", 1, limited("7200"), 2 * time.Hour},
		{"rate limited for less", 3, limited("60"), 4 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, is.backoff(tt.failures, tt.err))
		})
	}
}

// TestACMEProblemDetail checks that the error recorded on a Secret is the
// CA's own words where the CA gave them.
func TestACMEProblemDetail(t *testing.T) {
	prob := &acme.Error{StatusCode: 400, ProblemType: "urn:ietf:params:acme:error:connection", Detail: "dial tcp 192.0.2.1:80: connection refused"}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"authorization", fmt.Errorf("validating a.test: %w", &acme.AuthorizationError{Identifier: "a.test", Errors: []error{prob, prob}}), prob.Detail},
		{"order", &acme.OrderError{Status: "invalid", Problem: &acme.Error{Detail: "order expired"}}, "order expired"},
		{"problem", fmt.Errorf("ordering: %w", &acme.Error{Detail: "domain name is blocked"}), "domain name is blocked"},
		{"no word from the CA", errors.New("finalizing the order: timeout"), "finalizing the order: timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, problemDetail(tt.err))
		})
	}
}

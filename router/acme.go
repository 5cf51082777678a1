package router

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Automatic certificates. An Ingress of the router's class annotated
// AnnotationTLSACME "true" asks for a certificate for the hosts of each of
// its spec.tls entries, obtained by ACME (HTTP-01) into the
// kubernetes.io/tls Secret the entry names, in the Ingress's namespace.
// A Secret that exists without AnnotationACMEManaged is the operator's
// (an uploaded certificate) and is left alone. The router marks the
// Secrets it manages with LabelACMEManaged and records on them how the
// last attempt went, in the annotations below, which the platform's API
// and CLI show.
const (
	// AnnotationTLSACME on an Ingress, "true", asks for certificates by
	// ACME for its spec.tls entries (as kube-lego and cert-manager's
	// ingress-shim read it).
	AnnotationTLSACME = "kubernetes.io/tls-acme"

	// LabelACMEManaged and AnnotationACMEManaged, "true", mark a
	// kubernetes.io/tls Secret whose certificate the router obtains and
	// renews. The label is for listing them (a label selector), the
	// annotation for deciding who owns a Secret.
	LabelACMEManaged      = "platform.io/acme-managed"
	AnnotationACMEManaged = "platform.io/acme-managed"
	// AnnotationACMEIssuer is the ACME directory URL the certificate is
	// obtained from.
	AnnotationACMEIssuer = "platform.io/acme-issuer"
	// AnnotationACMEHosts is the comma-separated host names the router
	// last asked a certificate for, in order.
	AnnotationACMEHosts = "platform.io/acme-hosts"
	// AnnotationACMEStatus is ACMEStatusPending, ACMEStatusIssued or
	// ACMEStatusFailed: how the last attempt went.
	AnnotationACMEStatus = "platform.io/acme-status"
	// AnnotationACMELastError is the reason the last attempt failed, as
	// the CA's problem detail says it when the CA refused (for example
	// why it could not fetch the challenge), empty after a success.
	AnnotationACMELastError = "platform.io/acme-last-error"
	// AnnotationACMEFailures is how many attempts in a row have failed,
	// in decimal; the wait before the next doubles with each.
	AnnotationACMEFailures = "platform.io/acme-failures"
	// AnnotationACMENextAttempt is when the router next tries (RFC 3339,
	// UTC): the renewal time (two thirds into the certificate's life)
	// after a success, the retry time after a failure.
	AnnotationACMENextAttempt = "platform.io/acme-next-attempt"
	// AnnotationACMENotAfter is when the certificate held expires
	// (RFC 3339, UTC), absent while there is none.
	AnnotationACMENotAfter = "platform.io/acme-not-after"

	// ACMEStatusPending: no certificate has been obtained yet, and no
	// attempt has failed since the hosts last changed.
	ACMEStatusPending = "pending"
	// ACMEStatusIssued: the Secret holds the certificate for the hosts
	// in AnnotationACMEHosts.
	ACMEStatusIssued = "issued"
	// ACMEStatusFailed: the last attempt failed (AnnotationACMELastError
	// says why); a certificate obtained before, if any, is still served
	// until it expires.
	ACMEStatusFailed = "failed"
)

// Objects in the router's own namespace (ACMEConfig.Namespace).
const (
	// ACMEAccountSecret holds the ACME account's private key
	// (ACMEAccountKey, PEM), made on first use.
	ACMEAccountSecret = "platform-router-acme-account"
	// ACMEAccountKey is the key of the account Secret's data.
	ACMEAccountKey = "key.pem"
	// ACMELease is the coordination.k8s.io Lease the routers elect the
	// one that obtains and renews certificates with.
	ACMELease = "platform-router-acme"
	// LabelACMEChallenge, "true", marks the ConfigMaps that hold the
	// key authorizations of pending HTTP-01 challenges, which every
	// replica watches and serves.
	LabelACMEChallenge = "platform.io/acme-http01"
)

// ACMEConfig configures automatic certificates (see AnnotationTLSACME).
// The zero value turns them off.
type ACMEConfig struct {
	// DirectoryURL is the ACME server's directory, like
	// https://acme-v02.api.letsencrypt.org/directory. Empty turns ACME
	// off.
	DirectoryURL string
	// Email is the account's contact, for the CA's expiry and policy
	// notices. Empty registers the account without one.
	Email string
	// RootCAs verify the ACME server's TLS certificate; nil means the
	// system's roots.
	RootCAs *x509.CertPool
	// Namespace is the router's own namespace: the account Secret, the
	// Lease and the challenge ConfigMaps go there. Required.
	Namespace string
	// Identity names this replica in the Lease; empty means the host
	// name with a random suffix.
	Identity string
	// LeaseDuration is how long a leader's claim lasts without renewal,
	// so how long the others wait after a leader dies. Zero means 15s.
	LeaseDuration time.Duration
	// RetryMin and RetryMax bound the wait after a failed attempt: it
	// starts at RetryMin and doubles with each failure in a row, up to
	// RetryMax, or is what the CA asks for when it limits the rate.
	// Zero means 1m and 24h.
	RetryMin, RetryMax time.Duration
	// Timeout bounds one attempt at a certificate, from the order to
	// the certificate. Zero means 5m.
	Timeout time.Duration
}

func (c ACMEConfig) enabled() bool { return c.DirectoryURL != "" }

// withDefaults validates c for a router whose HTTPS is tls.
func (c ACMEConfig) withDefaults(tls bool) (ACMEConfig, error) {
	if !c.enabled() {
		return c, nil
	}
	u, err := url.Parse(c.DirectoryURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return c, fmt.Errorf("invalid ACME directory %q: must be an https URL like https://acme-v02.api.letsencrypt.org/directory", c.DirectoryURL)
	}
	if !tls {
		return c, fmt.Errorf("ACME needs the router to serve HTTPS (Config.TLS) to serve the certificates it obtains")
	}
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		return c, fmt.Errorf("invalid ACME namespace %q: must be the router's own namespace (%s)", c.Namespace, errs[0])
	}
	if strings.ContainsAny(c.Email, " \t\r\n,") || (c.Email != "" && !strings.Contains(c.Email, "@")) {
		return c, fmt.Errorf("invalid ACME email %q: must be one address like ops@example.com", c.Email)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ACME lease duration", &c.LeaseDuration, 15 * time.Second},
		{"ACME minimum retry", &c.RetryMin, time.Minute},
		{"ACME maximum retry", &c.RetryMax, 24 * time.Hour},
		{"ACME timeout", &c.Timeout, 5 * time.Minute},
	} {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("invalid %s %v: must not be negative", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.LeaseDuration < 3*time.Second {
		return c, fmt.Errorf("invalid ACME lease duration %v: must be at least 3s", c.LeaseDuration)
	}
	if c.RetryMax < c.RetryMin {
		return c, fmt.Errorf("invalid ACME retries: the maximum %v is below the minimum %v", c.RetryMax, c.RetryMin)
	}
	return c, nil
}

// splitSecretRef parses a "namespace/name" Secret reference.
func splitSecretRef(ref string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(ref, "/")
	if !ok || len(validation.IsDNS1123Label(namespace)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return "", "", fmt.Errorf("invalid default certificate %q: must name a kubernetes.io/tls Secret as namespace/name, like platform/apps-wildcard-tls", ref)
	}
	return namespace, name, nil
}

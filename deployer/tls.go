package deployer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
)

// HTTPS for an app's hosts. The router serves the certificates of the
// kubernetes.io/tls Secrets that its Ingresses' spec.tls entries name, for
// the hosts each entry lists. An app's Ingress gets:
//
//   - one entry per uploaded certificate, for the app's hosts it covers,
//     naming the Secret <app>-tls-<id> that Apply writes from the
//     Certificate (labelled platform.io/role=tls);
//   - with Config.AutoCertificates, one entry for the app's default host
//     and one per custom domain no uploaded certificate covers, naming the
//     Secret tls-<host> (see
//     AutoSecretName), and the annotation kubernetes.io/tls-acme: "true":
//     the router obtains those certificates by ACME and writes them there,
//     recording how it went in the Secret's annotations;
//   - platform.io/https-redirect: "false" when the app turned the
//     redirect of plain HTTP to HTTPS off, and platform.io/hsts with the
//     Strict-Transport-Security value when it asked for HSTS.

// Certificate is an uploaded certificate of an app: its chain (leaf
// first) and private key as PEM, and the DNS names it covers.
type Certificate struct {
	ID       int64
	ChainPEM string
	KeyPEM   string
	Names    []string // lower case; "*.example.com" for a wildcard
	NotAfter time.Time
}

// HTTPS are an app's settings for HTTPS.
type HTTPS struct {
	// NoRedirect keeps plain HTTP answering on hosts with a certificate;
	// the zero value redirects it to HTTPS.
	NoRedirect bool
	// HSTSMaxAge, when positive, adds Strict-Transport-Security with this
	// max-age (seconds) to HTTPS responses.
	HSTSMaxAge int
	// HSTSIncludeSubdomains adds includeSubDomains to it.
	HSTSIncludeSubdomains bool
	// H2C has the router speak HTTP/2 without TLS to the web processes
	// (gRPC servers).
	H2C bool
}

// Annotations and labels of the HTTPS contract with the router.
const (
	annTLSACME       = "kubernetes.io/tls-acme"
	annHTTPSRedirect = "platform.io/https-redirect"
	annHSTS          = "platform.io/hsts"
	// The router speaks HTTP/2 without TLS to the pods: "h2c".
	annBackendProtocol = "platform.io/backend-protocol"
	annCertificateID   = "platform.io/certificate-id"

	// Written by the router on the Secrets it manages (package router's
	// AnnotationACME* and LabelACMEManaged; the deployer may not import
	// it, and a test holds the two to the same names).
	annACMEStatus      = "platform.io/acme-status" // pending, issued or failed
	annACMEError       = "platform.io/acme-last-error"
	annACMEIssuer      = "platform.io/acme-issuer"
	annACMENextAttempt = "platform.io/acme-next-attempt" // RFC 3339
	annACMEManaged     = "platform.io/acme-managed"      // "true", as a label and an annotation

	roleTLS = "tls"
)

// maxSecretName is the longest name a Secret may have.
const maxSecretName = 253

// AutoSecretName is the Secret that holds the automatic certificate of
// host: tls-<host>, or, for a host too long for that, its first part and
// a hash of the whole.
func AutoSecretName(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	name := "tls-" + strings.ReplaceAll(host, "*", "wildcard")
	if len(name) <= maxSecretName {
		return name
	}
	sum := sha256.Sum256([]byte(host))
	suffix := "-" + hex.EncodeToString(sum[:8])
	return strings.TrimRight(name[:maxSecretName-len(suffix)], ".-") + suffix
}

func uploadedSecretName(app string, id int64) string {
	return app + "-tls-" + strconv.FormatInt(id, 10)
}

// coversHost reports whether a certificate for names is valid for host.
func coversHost(names []string, host string) bool {
	for _, n := range names {
		if n == host {
			return true
		}
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			if _, parent, ok := strings.Cut(host, "."); ok && parent == rest {
				return true
			}
		}
	}
	return false
}

// tlsEntry is one spec.tls entry of an app's Ingress.
type tlsEntry struct {
	secret string
	hosts  []string
	cert   *Certificate // nil for an automatic one
}

// tlsEntries decides which certificate serves each custom domain of rel:
// of the uploaded ones covering it, the one valid longest; else, with
// automatic certificates on, its own automatic one.
func (d *Deployer) tlsEntries(rel Release, hosts []string) []tlsEntry {
	var entries []tlsEntry
	byCert := map[int64]int{}
	for _, h := range hosts {
		// Only custom domains take uploaded certificates: the default
		// host is the platform's to serve, whatever names an uploaded
		// certificate has. With automatic certificates on, the router gets
		// it one, unless the operator's certificate for the apps domain
		// (the router's default certificate) covers it already.
		if !slices.Contains(rel.Domains, h) {
			if d.cfg.AutoCertificates {
				entries = append(entries, tlsEntry{secret: AutoSecretName(h), hosts: []string{h}})
			}
			continue
		}
		var best *Certificate
		for i := range rel.Certificates {
			c := &rel.Certificates[i]
			if coversHost(c.Names, h) && (best == nil || c.NotAfter.After(best.NotAfter)) {
				best = c
			}
		}
		switch {
		case best != nil:
			i, ok := byCert[best.ID]
			if !ok {
				i = len(entries)
				byCert[best.ID] = i
				entries = append(entries, tlsEntry{secret: uploadedSecretName(rel.App, best.ID), cert: best})
			}
			entries[i].hosts = append(entries[i].hosts, h)
		case d.cfg.AutoCertificates:
			entries = append(entries, tlsEntry{secret: AutoSecretName(h), hosts: []string{h}})
		}
	}
	return entries
}

// ingressTLS puts rel's certificates and HTTPS settings on its Ingress.
func (d *Deployer) ingressTLS(ing *networkingv1ac.IngressApplyConfiguration, rel Release, entries []tlsEntry) {
	annotations := map[string]string{}
	auto := false
	for _, e := range entries {
		ing.Spec.WithTLS(networkingv1ac.IngressTLS().WithSecretName(e.secret).WithHosts(e.hosts...))
		auto = auto || e.cert == nil
	}
	if auto {
		annotations[annTLSACME] = "true"
	}
	if rel.HTTPS.NoRedirect {
		annotations[annHTTPSRedirect] = "false"
	}
	if v := rel.HTTPS.hsts(); v != "" {
		annotations[annHSTS] = v
	}
	if rel.HTTPS.H2C {
		annotations[annBackendProtocol] = "h2c"
	}
	if len(annotations) > 0 {
		ing.WithAnnotations(annotations)
	}
}

func (h HTTPS) hsts() string {
	if h.HSTSMaxAge <= 0 {
		return ""
	}
	v := "max-age=" + strconv.Itoa(h.HSTSMaxAge)
	if h.HSTSIncludeSubdomains {
		v += "; includeSubDomains"
	}
	return v
}

// applyCertificates writes the Secrets of rel's uploaded certificates
// that serve a host.
func (d *Deployer) applyCertificates(ctx context.Context, ns string, rel Release, entries []tlsEntry) error {
	for _, e := range entries {
		if e.cert == nil {
			continue
		}
		s := corev1ac.Secret(e.secret, ns).
			WithLabels(appLabels(rel.Tenant, rel.App, roleTLS)).
			WithAnnotations(map[string]string{annCertificateID: strconv.FormatInt(e.cert.ID, 10)}).
			WithType(corev1.SecretTypeTLS).
			WithData(map[string][]byte{
				corev1.TLSCertKey:       []byte(e.cert.ChainPEM),
				corev1.TLSPrivateKeyKey: []byte(e.cert.KeyPEM),
			})
		if _, err := d.client.CoreV1().Secrets(ns).Apply(ctx, s, applyOpts); err != nil {
			return fmt.Errorf("applying certificate secret %s: %w", e.secret, err)
		}
	}
	return nil
}

// removeStaleCertificates deletes the app's certificate Secrets that rel's
// Ingress no longer names. The Secrets of automatic certificates are the
// router's: they are left alone.
func (d *Deployer) removeStaleCertificates(ctx context.Context, ns string, rel Release, keep []tlsEntry) error {
	list, err := d.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(rel.App) + "," + labelRole + "=" + roleTLS})
	if err != nil {
		return fmt.Errorf("listing certificate secrets of %s: %w", rel.App, err)
	}
	for _, s := range list.Items {
		if slices.ContainsFunc(keep, func(e tlsEntry) bool { return e.secret == s.Name }) {
			continue
		}
		if err := d.deleteObject(ctx, "secret", s.Name, d.client.CoreV1().Secrets(ns).Delete); err != nil {
			return err
		}
	}
	return nil
}

// Certificate sources of HostCertificate.
const (
	SourceUploaded  = "uploaded"
	SourceAutomatic = "automatic"
)

// HostCertificate is what an app's Ingress serves one host with.
type HostCertificate struct {
	Host   string
	Secret string
	Source string // SourceUploaded or SourceAutomatic
	// Present reports whether the Secret holds a certificate.
	Present  bool
	Issuer   string
	NotAfter time.Time // zero when not Present
	// Status, Error, NextAttempt are what the router recorded of an
	// automatic certificate: pending, issued or failed, the CA's reason,
	// and when it tries again. Empty for uploaded ones.
	Status      string
	Error       string
	NextAttempt time.Time
}

// Certificates returns, for every host the app's Ingress has a
// certificate entry for, what serves it, read from the cluster: the
// Secret, the certificate's issuer and expiry, and for automatic ones
// how the router's ACME is going. An app without an Ingress has none.
func (d *Deployer) Certificates(ctx context.Context, tenant, app string) ([]HostCertificate, error) {
	if err := validApp(tenant, app); err != nil {
		return nil, err
	}
	ns := d.namespace(tenant)
	ing, err := d.client.NetworkingV1().Ingresses(ns).Get(ctx, ingressName(app), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ingress of %s: %w", app, err)
	}
	var out []HostCertificate
	for _, t := range ing.Spec.TLS {
		sec, err := d.client.CoreV1().Secrets(ns).Get(ctx, t.SecretName, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading certificate secret %s: %w", t.SecretName, err)
		}
		hc := HostCertificate{Secret: t.SecretName, Source: SourceAutomatic}
		if strings.HasPrefix(t.SecretName, app+"-tls-") {
			hc.Source = SourceUploaded
		}
		if sec != nil && err == nil {
			if sec.Labels[labelRole] == roleTLS && sec.Labels[labelApp] == app {
				hc.Source = SourceUploaded
			}
			if c := leafOf(sec.Data[corev1.TLSCertKey]); c != nil && sec.Type == corev1.SecretTypeTLS {
				hc.Present = true
				hc.NotAfter = c.NotAfter
				hc.Issuer = c.Issuer.CommonName
				if hc.Issuer == "" {
					hc.Issuer = c.Issuer.String()
				}
			}
			if hc.Source == SourceAutomatic && routerManaged(sec.ObjectMeta) {
				hc.Status = sec.Annotations[annACMEStatus]
				hc.Error = sec.Annotations[annACMEError]
				if v := sec.Annotations[annACMEIssuer]; v != "" && hc.Issuer == "" {
					hc.Issuer = v
				}
				if at, err := time.Parse(time.RFC3339, sec.Annotations[annACMENextAttempt]); err == nil {
					hc.NextAttempt = at
				}
			}
		}
		for _, h := range t.Hosts {
			c := hc
			c.Host = h
			out = append(out, c)
		}
	}
	return out, nil
}

// routerManaged reports whether the router manages a Secret: its
// annotation decides, as it does for the router.
func routerManaged(m metav1.ObjectMeta) bool {
	return m.Annotations[annACMEManaged] == "true"
}

// leafOf parses the first certificate of a PEM chain, nil if none.
func leafOf(chain []byte) *x509.Certificate {
	b, _ := pem.Decode(chain)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	return c
}

package store

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Certificates an app's owner uploads are kept with their chains as PEM
// and their private keys sealed like config values (see crypto.go), bound
// to the app and the certificate's fingerprint.

// maxChainPEM bounds an uploaded chain; real ones are a few kilobytes.
const maxChainPEM = 64 << 10

// maxKeyPEM bounds an uploaded private key.
const maxKeyPEM = 16 << 10

// ParsedCertificate is an uploaded certificate that passed
// ParseCertificate: its chain, leaf first, and its private key, both PEM.
type ParsedCertificate struct {
	ChainPEM    string
	KeyPEM      string
	Fingerprint string   // SHA-256 of the leaf's DER, hex
	Hosts       []string // the DNS names the leaf covers, lower case
	Issuer      string   // the issuer's common name, or its whole name
	NotBefore   time.Time
	NotAfter    time.Time
}

// Certificate is an uploaded certificate of an app. KeyPEM is set only by
// the calls that say so.
type Certificate struct {
	ID          int64
	AppID       int64
	ChainPEM    string
	KeyPEM      string
	Fingerprint string
	Hosts       []string
	Issuer      string
	NotBefore   time.Time
	NotAfter    time.Time
	CreatedAt   time.Time
}

// Covers reports whether the certificate is valid for host: one of its
// names is host, or a wildcard "*.parent" whose parent is host's.
func (c Certificate) Covers(host string) bool { return CoversHost(c.Hosts, host) }

// CoversHost reports whether a certificate for names is valid for host.
func CoversHost(names []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
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

// ParseCertificate checks an uploaded certificate chain and private key:
// both parse as PEM, the key is the leaf's, every certificate of the chain
// is signed by the next one (leaf first), and the leaf is valid at now.
// Each refusal is ErrInvalid, saying what is wrong and what to do.
func ParseCertificate(chainPEM, keyPEM string, now time.Time) (ParsedCertificate, error) {
	if strings.TrimSpace(chainPEM) == "" {
		return ParsedCertificate{}, invalidf("the certificate is empty: give the PEM file that starts with -----BEGIN CERTIFICATE-----")
	}
	if strings.TrimSpace(keyPEM) == "" {
		return ParsedCertificate{}, invalidf("the private key is empty: give the PEM file that starts with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)")
	}
	if len(chainPEM) > maxChainPEM {
		return ParsedCertificate{}, invalidf("the certificate file is %d bytes, more than the %d a chain may have: give only the certificate and its intermediates", len(chainPEM), maxChainPEM)
	}
	if len(keyPEM) > maxKeyPEM {
		return ParsedCertificate{}, invalidf("the private key file is %d bytes, more than the %d a key may have: give only the key", len(keyPEM), maxKeyPEM)
	}

	var chain []*x509.Certificate
	var ders [][]byte
	rest := []byte(chainPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			return ParsedCertificate{}, invalidf("the certificate file holds a private key: give the certificate (-----BEGIN CERTIFICATE-----) first and the key second")
		default:
			return ParsedCertificate{}, invalidf("the certificate file holds a %q PEM block: give only CERTIFICATE blocks, the certificate first and then its intermediates", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return ParsedCertificate{}, invalidf("certificate %d of the file does not parse (%v): give the PEM your certificate authority issued", len(chain)+1, err)
		}
		chain = append(chain, c)
		ders = append(ders, b.Bytes)
	}
	if len(chain) == 0 {
		return ParsedCertificate{}, invalidf("the certificate file holds no PEM certificate: give the file that starts with -----BEGIN CERTIFICATE-----")
	}
	if len(bytes.TrimSpace(rest)) > 0 && bytes.Contains(rest, []byte("-----BEGIN")) {
		return ParsedCertificate{}, invalidf("the certificate file has a PEM block that does not parse after certificate %d: check the file is not cut or edited", len(chain))
	}
	leaf := chain[0]
	if leaf.IsCA && len(chain) > 1 {
		return ParsedCertificate{}, invalidf("the certificate file starts with a CA certificate (%s): put your site's certificate first, then its intermediates", certName(leaf))
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return ParsedCertificate{}, invalidf("certificate %d (%s) is not signed by certificate %d (%s): order the file as your certificate first, then each intermediate after the certificate it signed",
				i+1, certName(chain[i]), i+2, certName(chain[i+1]))
		}
	}

	key, err := parseKey([]byte(keyPEM))
	if err != nil {
		return ParsedCertificate{}, err
	}
	if !publicKeyMatches(leaf.PublicKey, key) {
		return ParsedCertificate{}, invalidf("the private key does not belong to the certificate %s: give the key you made the certificate's signing request with", certName(leaf))
	}
	// What the router will do with it must work too.
	if _, err := tls.X509KeyPair([]byte(chainPEM), []byte(keyPEM)); err != nil {
		return ParsedCertificate{}, invalidf("the certificate and key do not make a TLS key pair (%v): give the PEM files your certificate authority issued", err)
	}

	if now.After(leaf.NotAfter) {
		return ParsedCertificate{}, invalidf("the certificate %s expired on %s: renew it with your certificate authority and upload the new one",
			certName(leaf), leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if now.Before(leaf.NotBefore) {
		return ParsedCertificate{}, invalidf("the certificate %s is valid only from %s: upload it then, or check this machine's clock",
			certName(leaf), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	for i, c := range chain[1:] {
		if now.After(c.NotAfter) {
			return ParsedCertificate{}, invalidf("intermediate certificate %d (%s) expired on %s: get the current chain from your certificate authority",
				i+2, certName(c), c.NotAfter.UTC().Format(time.DateOnly))
		}
	}

	var hosts []string
	for _, n := range leaf.DNSNames {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && !slices.Contains(hosts, n) {
			hosts = append(hosts, n)
		}
	}
	if len(hosts) == 0 {
		return ParsedCertificate{}, invalidf("the certificate %s names no DNS host (no subject alternative name): get one issued for your domain's name", certName(leaf))
	}
	slices.Sort(hosts)
	issuer := leaf.Issuer.CommonName
	if issuer == "" {
		issuer = leaf.Issuer.String()
	}
	sum := sha256.Sum256(ders[0])
	var out strings.Builder
	for _, der := range ders {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return ParsedCertificate{
		ChainPEM:    out.String(),
		KeyPEM:      keyPEM,
		Fingerprint: hex.EncodeToString(sum[:]),
		Hosts:       hosts,
		Issuer:      issuer,
		NotBefore:   leaf.NotBefore,
		NotAfter:    leaf.NotAfter,
	}, nil
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	if len(c.DNSNames) > 0 {
		return fmt.Sprintf("%q", c.DNSNames[0])
	}
	return fmt.Sprintf("with serial %s", c.SerialNumber)
}

// parseKey reads the first private key of a PEM file: PKCS#8, PKCS#1 or
// SEC 1.
func parseKey(keyPEM []byte) (crypto.PrivateKey, error) {
	rest := keyPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, invalidf("the private key file holds no PEM private key: give the file that starts with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)")
		}
		switch b.Type {
		case "CERTIFICATE":
			return nil, invalidf("the private key file holds a certificate: give the certificate first and the private key second")
		case "ENCRYPTED PRIVATE KEY":
			return nil, invalidf("the private key is encrypted with a passphrase: decrypt it first (openssl pkey -in KEY -out KEY.plain) and upload that")
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, invalidf("the private key does not parse (%v): give the key in PEM (PKCS#8, PKCS#1 or EC)", err)
			}
			return k, nil
		case "RSA PRIVATE KEY":
			if _, ok := b.Headers["DEK-Info"]; ok {
				return nil, invalidf("the private key is encrypted with a passphrase: decrypt it first (openssl rsa -in KEY -out KEY.plain) and upload that")
			}
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, invalidf("the RSA private key does not parse (%v): give the key in PEM", err)
			}
			return k, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, invalidf("the EC private key does not parse (%v): give the key in PEM", err)
			}
			return k, nil
		}
		// Other blocks ("EC PARAMETERS") come before the key.
	}
}

func publicKeyMatches(pub crypto.PublicKey, key crypto.PrivateKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	var kp crypto.PublicKey
	switch k := key.(type) {
	case *rsa.PrivateKey:
		kp = k.Public()
	case *ecdsa.PrivateKey:
		kp = k.Public()
	case ed25519.PrivateKey:
		kp = k.Public()
	default:
		return false
	}
	e, ok := kp.(equaler)
	return ok && e.Equal(pub)
}

func certificateKeyAD(appID int64, fingerprint string) []byte {
	b := append([]byte("certificate_key\x00"), binary.BigEndian.AppendUint64(nil, uint64(appID))...)
	return append(b, fingerprint...)
}

const certificateColumns = `id, app_id, chain_pem, fingerprint, hosts, issuer, not_before, not_after, created_at`

func scanCertificate(row pgx.Row) (Certificate, error) {
	var c Certificate
	err := row.Scan(&c.ID, &c.AppID, &c.ChainPEM, &c.Fingerprint, &c.Hosts, &c.Issuer, &c.NotBefore, &c.NotAfter, &c.CreatedAt)
	return c, err
}

// AddCertificate stores a certificate that passed ParseCertificate for
// the app, its key sealed. The same certificate twice is a
// *ConflictError.
func (s *Store) AddCertificate(ctx context.Context, appID int64, p ParsedCertificate) (Certificate, error) {
	if p.Fingerprint == "" || p.ChainPEM == "" || p.KeyPEM == "" {
		return Certificate{}, invalidf("certificate not parsed: use ParseCertificate")
	}
	sealed := s.seal([]byte(p.KeyPEM), certificateKeyAD(appID, p.Fingerprint))
	c, err := scanCertificate(s.db.QueryRow(ctx, `
		INSERT INTO certificates (app_id, chain_pem, key_sealed, fingerprint, hosts, issuer, not_before, not_after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING `+certificateColumns, appID, p.ChainPEM, sealed, p.Fingerprint, p.Hosts, p.Issuer, p.NotBefore, p.NotAfter))
	switch {
	case isViolation(err, codeUniqueViolation, "certificates_app_id_fingerprint_key"):
		return Certificate{}, conflictf("this certificate is uploaded to the app already")
	case err != nil:
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return Certificate{}, notFoundf("app %d", appID)
		}
		return Certificate{}, mapErr(err)
	}
	return c, nil
}

// ListCertificates returns the app's uploaded certificates, oldest first,
// without their keys.
func (s *Store) ListCertificates(ctx context.Context, appID int64) ([]Certificate, error) {
	rows, err := s.db.Query(ctx, `SELECT `+certificateColumns+` FROM certificates WHERE app_id = $1 ORDER BY id`, appID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanCertificate)
}

// ListCertificatesWithKeys returns the app's uploaded certificates, oldest
// first, with their private keys decrypted: what the deployer installs.
func (s *Store) ListCertificatesWithKeys(ctx context.Context, appID int64) ([]Certificate, error) {
	rows, err := s.db.Query(ctx, `SELECT `+certificateColumns+`, key_sealed FROM certificates WHERE app_id = $1 ORDER BY id`, appID)
	if err != nil {
		return nil, mapErr(err)
	}
	type sealedCert struct {
		c      Certificate
		sealed []byte
	}
	all, err := collect(rows, func(row pgx.Row) (sealedCert, error) {
		var sc sealedCert
		c := &sc.c
		err := row.Scan(&c.ID, &c.AppID, &c.ChainPEM, &c.Fingerprint, &c.Hosts, &c.Issuer, &c.NotBefore, &c.NotAfter, &c.CreatedAt, &sc.sealed)
		return sc, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Certificate, 0, len(all))
	for _, sc := range all {
		key, err := s.open(sc.sealed, certificateKeyAD(appID, sc.c.Fingerprint))
		if err != nil {
			return nil, fmt.Errorf("key of certificate %d of app %d: %w", sc.c.ID, appID, err)
		}
		sc.c.KeyPEM = string(key)
		out = append(out, sc.c)
	}
	return out, nil
}

// RemoveCertificate removes one of the app's certificates. A certificate
// of another app is ErrNotFound.
func (s *Store) RemoveCertificate(ctx context.Context, appID, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM certificates WHERE app_id = $1 AND id = $2`, appID, id)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("certificate %d", id)
	}
	return nil
}

// HTTPSSettings are how an app answers plain HTTP and HTTPS.
type HTTPSSettings struct {
	// Redirect sends plain HTTP requests for a host with a certificate to
	// HTTPS. On unless turned off.
	Redirect bool
	// HSTSMaxAge is the Strict-Transport-Security max-age HTTPS responses
	// carry, in seconds; 0 sends none.
	HSTSMaxAge int
	// HSTSIncludeSubdomains adds includeSubDomains to it.
	HSTSIncludeSubdomains bool
	// BackendProtocol is how the router talks to the app's web
	// processes: BackendHTTP1 (the default) or BackendH2C.
	BackendProtocol string
}

// The backend protocols of HTTPSSettings.
const (
	BackendHTTP1 = "http1" // HTTP/1.1
	BackendH2C   = "h2c"   // HTTP/2 without TLS, for gRPC servers
)

// MaxHSTSMaxAge is the longest HSTS max-age an app may ask for: two years.
const MaxHSTSMaxAge = 63072000

// GetHTTPSSettings returns the app's HTTPS settings.
func (s *Store) GetHTTPSSettings(ctx context.Context, appID int64) (HTTPSSettings, error) {
	var h HTTPSSettings
	err := s.db.QueryRow(ctx, `SELECT https_redirect, hsts_max_age, hsts_include_subdomains, backend_protocol FROM apps WHERE id = $1`, appID).
		Scan(&h.Redirect, &h.HSTSMaxAge, &h.HSTSIncludeSubdomains, &h.BackendProtocol)
	if err != nil {
		return HTTPSSettings{}, notFoundOr(err, "app %d", appID)
	}
	return h, nil
}

// SetHTTPSSettings replaces the app's HTTPS settings.
func (s *Store) SetHTTPSSettings(ctx context.Context, appID int64, h HTTPSSettings) error {
	if h.HSTSMaxAge < 0 || h.HSTSMaxAge > MaxHSTSMaxAge {
		return invalidf("HSTS max-age %d is out of range: give 1 to %d seconds (two years)", h.HSTSMaxAge, MaxHSTSMaxAge)
	}
	if h.HSTSMaxAge == 0 && h.HSTSIncludeSubdomains {
		return invalidf("HSTS for subdomains needs HSTS on: give a max-age")
	}
	switch h.BackendProtocol {
	case "":
		h.BackendProtocol = BackendHTTP1
	case BackendHTTP1, BackendH2C:
	default:
		return invalidf("backend protocol %q is unknown: give %s or %s", h.BackendProtocol, BackendHTTP1, BackendH2C)
	}
	tag, err := s.db.Exec(ctx, `UPDATE apps SET https_redirect = $2, hsts_max_age = $3, hsts_include_subdomains = $4, backend_protocol = $5 WHERE id = $1`,
		appID, h.Redirect, h.HSTSMaxAge, h.HSTSIncludeSubdomains, h.BackendProtocol)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("app %d", appID)
	}
	return nil
}

package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
)

// TestParseCertificate: each way an upload can be wrong is refused with a
// message that says what to do.
func TestParseCertificate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := localstack.NewCA(t)
	mid := ca.Intermediate(t, "Test Intermediate")
	leaf, key := mid.ServerCertPEM(t, now.Add(-time.Minute), now.Add(30*time.Minute), "www.shop.example", "*.shop.example")
	_, otherKey := mid.ServerCertPEM(t, now.Add(-time.Minute), now.Add(30*time.Minute), "www.shop.example")
	expired, expiredKey := mid.ServerCertPEM(t, now.Add(-2*time.Hour), now.Add(-time.Hour), "www.shop.example")
	chain := string(leaf) + string(mid.CertPEM())

	p, err := ParseCertificate(chain, string(key), now)
	require.NoError(t, err)
	assert.Equal(t, []string{"*.shop.example", "www.shop.example"}, p.Hosts)
	assert.Equal(t, "Test Intermediate", p.Issuer)
	assert.Len(t, p.Fingerprint, 64)
	assert.True(t, CoversHost(p.Hosts, "api.shop.example"))
	assert.False(t, CoversHost(p.Hosts, "a.b.shop.example"), "a wildcard covers one label")
	assert.False(t, CoversHost(p.Hosts, "shop.example"))

	for _, tc := range []struct {
		name, chain, key, want string
	}{
		{"empty certificate", "", string(key), "the certificate is empty"},
		{"empty key", chain, " ", "the private key is empty"},
		{"not PEM", "hello", string(key), "holds no PEM certificate"},
		{"key as certificate", string(key), string(leaf), "the certificate file holds a private key"},
		{"certificate as key", chain, string(leaf), "the private key file holds a certificate"},
		{"wrong key", chain, string(otherKey), "the private key does not belong to the certificate"},
		{"wrong order", string(mid.CertPEM()) + string(leaf), string(key), "put your site's certificate first"},
		{"unrelated chain", string(leaf) + string(ca.Intermediate(t, "Other").CertPEM()), string(key), "order the file as your certificate first"},
		{"expired", string(expired), string(expiredKey), "expired on"},
		{"encrypted key", chain, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "decrypt it first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCertificate(tc.chain, tc.key, now)
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestCertificates: an uploaded certificate round-trips with its key
// sealed, is one app's, and the HTTPS settings default to redirecting
// without HSTS.
func TestCertificates(t *testing.T) {
	t.Parallel()
	s, dbURL := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	other, err := s.CreateApp(ctx, f.tenant.ID, "other")
	require.NoError(t, err)

	ca := localstack.NewCA(t)
	leaf, key := ca.ServerCertPEM(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), "www.shop.example")
	p, err := ParseCertificate(string(leaf), string(key), time.Now())
	require.NoError(t, err)

	c, err := s.AddCertificate(ctx, f.app.ID, p)
	require.NoError(t, err)
	assert.Equal(t, []string{"www.shop.example"}, c.Hosts)
	assert.Empty(t, c.KeyPEM)
	_, err = s.AddCertificate(ctx, f.app.ID, p)
	assert.ErrorIs(t, err, ErrConflict, "the same certificate twice")

	var sealed []byte
	require.NoError(t, s.db.QueryRow(ctx, `SELECT key_sealed FROM certificates WHERE id = $1`, c.ID).Scan(&sealed))
	assert.NotContains(t, string(sealed), "PRIVATE KEY", "the key is stored sealed")

	list, err := s.ListCertificates(ctx, f.app.ID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Empty(t, list[0].KeyPEM)
	withKeys, err := s.ListCertificatesWithKeys(ctx, f.app.ID)
	require.NoError(t, err)
	require.Len(t, withKeys, 1)
	assert.Equal(t, string(key), withKeys[0].KeyPEM)
	assert.Equal(t, p.ChainPEM, withKeys[0].ChainPEM)

	_, err = openStore(t, dbURL, newKey(t)).ListCertificatesWithKeys(ctx, f.app.ID)
	assert.ErrorIs(t, err, ErrDecrypt, "another key opens nothing")

	assert.ErrorIs(t, s.RemoveCertificate(ctx, other.ID, c.ID), ErrNotFound)
	require.NoError(t, s.RemoveCertificate(ctx, f.app.ID, c.ID))
	list, err = s.ListCertificates(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Empty(t, list)

	h, err := s.GetHTTPSSettings(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, HTTPSSettings{Redirect: true, BackendProtocol: BackendHTTP1}, h)
	require.NoError(t, s.SetHTTPSSettings(ctx, f.app.ID, HTTPSSettings{Redirect: false, HSTSMaxAge: 300}))
	h, err = s.GetHTTPSSettings(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, HTTPSSettings{Redirect: false, HSTSMaxAge: 300, BackendProtocol: BackendHTTP1}, h, "no protocol given is HTTP/1.1")
	assert.ErrorIs(t, s.SetHTTPSSettings(ctx, f.app.ID, HTTPSSettings{HSTSMaxAge: MaxHSTSMaxAge + 1}), ErrInvalid)
	require.NoError(t, s.SetHTTPSSettings(ctx, f.app.ID, HTTPSSettings{BackendProtocol: BackendH2C}))
	h, err = s.GetHTTPSSettings(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, BackendH2C, h.BackendProtocol)
	assert.ErrorIs(t, s.SetHTTPSSettings(ctx, f.app.ID, HTTPSSettings{BackendProtocol: "spdy"}), ErrInvalid)
	_, err = s.GetHTTPSSettings(ctx, 1<<40)
	assert.ErrorIs(t, err, ErrNotFound)
}

package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/api"
)

// fakeCertificates is what the cluster serves an app's hosts with.
type fakeCertificates []deployer.HostCertificate

func (f fakeCertificates) Certificates(context.Context, string, string) ([]deployer.HostCertificate, error) {
	return f, nil
}

// TestAPICertificates: uploads are checked, saying what to do; a good one
// is stored, installed by a re-apply and audited; the listing shows each
// domain's source, issuer, expiry, status and error; removal by domain
// takes it away; a failed apply leaves the database as it was.
func TestAPICertificates(t *testing.T) {
	next := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cluster := fakeCertificates{{Host: "api.shop.example", Secret: "tls-api.shop.example", Source: deployer.SourceAutomatic,
		Status: "failed", Error: "urn:ietf:params:acme:error:rateLimited", NextAttempt: next},
		// The default host, which the router gets a certificate for too.
		{Host: "shop.apps.test", Secret: "tls-shop.apps.test", Source: deployer.SourceAutomatic, Status: "issued", Present: true,
			Issuer: "Pebble Intermediate", NotAfter: next}}
	f, dep := newUnbuiltFixtureWith(t, func(c *Config) { c.Certificates = cluster })
	f.deploy(t, dep, "aaaa", map[string]string{"web": "./web"})
	ctx := context.Background()
	path := "/api/v1/apps/shop/certificates"

	now := time.Now()
	ca := localstack.NewCA(t)
	mid := ca.Intermediate(t, "Shop Intermediate")
	leaf, key := mid.ServerCertPEM(t, now.Add(-time.Minute), now.Add(time.Hour), "www.shop.example")
	chain := string(leaf) + string(mid.CertPEM())
	_, otherKey := mid.ServerCertPEM(t, now.Add(-time.Minute), now.Add(time.Hour), "www.shop.example")
	expired, expiredKey := mid.ServerCertPEM(t, now.Add(-2*time.Hour), now.Add(-time.Hour), "www.shop.example")
	elsewhere, elsewhereKey := mid.ServerCertPEM(t, now.Add(-time.Minute), now.Add(time.Hour), "www.other.example", "other.example")

	msg := wantError(t, f.call(t, "member", http.MethodPost, path, api.AddCertificateRequest{Certificate: chain, PrivateKey: string(key)}),
		http.StatusBadRequest, api.CodeInvalid, "certificate")
	assert.Equal(t, "shop has no custom domains, and a certificate is for one of them: add the domain first with platform domains:add www.shop.example -a shop", msg)

	for _, h := range []string{"www.shop.example", "api.shop.example"} {
		_, err := f.st.AddDomain(ctx, f.shop.ID, h, true)
		require.NoError(t, err)
	}
	_, err := f.st.AddDomain(ctx, f.shop.ID, "pending.shop.example", false)
	require.NoError(t, err)

	wantError(t, f.call(t, "viewer", http.MethodPost, path, api.AddCertificateRequest{Certificate: chain, PrivateKey: string(key)}),
		http.StatusForbidden, api.CodeForbidden, "")
	for _, tc := range []struct {
		name, chain, key, field, want string
	}{
		{"not PEM", "hello", string(key), "certificate", "the certificate file holds no PEM certificate: give the file that starts with -----BEGIN CERTIFICATE-----"},
		{"missing key", chain, "", "private_key", "private_key is required"},
		{"wrong key", chain, string(otherKey), "private_key", `the private key does not belong to the certificate "www.shop.example": give the key you made the certificate's signing request with`},
		{"wrong order", string(mid.CertPEM()) + string(leaf), string(key), "certificate", `the certificate file starts with a CA certificate ("Shop Intermediate"): put your site's certificate first, then its intermediates`},
		{"expired", string(expired), string(expiredKey), "certificate", "expired on"},
		{"other domains", string(elsewhere), string(elsewhereKey), "certificate",
			"the certificate covers other.example, www.other.example, none of shop's domains (api.shop.example, pending.shop.example, www.shop.example): upload a certificate for one of them, or add its domain first with platform domains:add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := wantError(t, f.call(t, "member", http.MethodPost, path, api.AddCertificateRequest{Certificate: tc.chain, PrivateKey: tc.key}),
				http.StatusBadRequest, api.CodeInvalid, tc.field)
			assert.Contains(t, msg, tc.want)
		})
	}

	// A router that cannot be given the certificate: nothing is kept.
	applied := len(dep.Applied)
	dep.Fail = func(deployer.Release) error { return errors.New("the cluster is away") }
	rec := f.call(t, "member", http.MethodPost, path, api.AddCertificateRequest{Certificate: chain, PrivateKey: string(key)})
	require.GreaterOrEqual(t, rec.Code, 500, rec.Body.String())
	certs, err := f.st.ListCertificates(ctx, f.shop.ID)
	require.NoError(t, err)
	assert.Empty(t, certs, "a failed install leaves the database as it was")
	dep.Fail = nil

	rec = f.call(t, "member", http.MethodPost, path, api.AddCertificateRequest{Certificate: chain, PrivateKey: string(key)})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	c := decode[api.Certificate](t, rec)
	assert.Equal(t, []string{"www.shop.example"}, c.Names)
	assert.Equal(t, []string{"www.shop.example"}, c.Domains)
	assert.Equal(t, "Shop Intermediate", c.Issuer)
	assert.NotContains(t, rec.Body.String(), "PRIVATE KEY")
	require.Greater(t, len(dep.Applied), applied+1, "installing re-applies the app")
	last := dep.Last()
	require.Len(t, last.Certificates, 1)
	assert.Equal(t, string(key), last.Certificates[0].KeyPEM)
	assert.Equal(t, []string{"www.shop.example"}, last.Certificates[0].Names)
	// The audit log keeps the failed attempt too.
	audits := f.audits(t, "certificate.add")
	require.Len(t, audits, 2)
	assert.Equal(t, "shop", audits[1].AppName)
	assert.Equal(t, "Shop Intermediate", audits[1].Details["issuer"])
	wantError(t, f.call(t, "member", http.MethodPost, path, api.AddCertificateRequest{Certificate: chain, PrivateKey: string(key)}),
		http.StatusConflict, api.CodeConflict, "")

	list := decode[api.CertificateList](t, f.call(t, "viewer", http.MethodGet, path, nil))
	assert.Equal(t, api.CertificateActions{UploadRefusal: "you are a viewer of tenant acme: uploading a certificate needs the member role"}, list.Allowed,
		"a viewer is offered no change")
	assert.Equal(t, api.CertificateActions{Upload: true, Remove: true, ChangeHTTPS: true},
		decode[api.CertificateList](t, f.call(t, "member", http.MethodGet, path, nil)).Allowed)
	require.Len(t, list.Certificates, 1)
	assert.Equal(t, api.HTTPSSettings{Redirect: true, BackendProtocol: "http1"}, list.HTTPS)
	require.Len(t, list.Domains, 4)
	byDomain := map[string]api.DomainCertificate{}
	for _, d := range list.Domains {
		byDomain[d.Domain] = d
	}
	www := byDomain["www.shop.example"]
	assert.Equal(t, api.CertUploaded, www.Source)
	assert.Equal(t, api.CertActive, www.Status)
	assert.Equal(t, c.ID, www.CertificateID)
	assert.Equal(t, "Shop Intermediate", www.Issuer)
	require.NotNil(t, www.ExpiresAt)
	assert.WithinDuration(t, c.ExpiresAt, *www.ExpiresAt, time.Second)
	auto := byDomain["api.shop.example"]
	assert.Equal(t, api.CertAutomatic, auto.Source)
	assert.Equal(t, api.CertFailed, auto.Status)
	assert.Equal(t, "urn:ietf:params:acme:error:rateLimited", auto.LastError)
	require.NotNil(t, auto.NextAttempt)
	assert.True(t, next.Equal(*auto.NextAttempt))
	def := byDomain["shop.apps.test"]
	assert.Equal(t, api.CertAutomatic, def.Source)
	assert.Equal(t, api.CertIssued, def.Status)
	assert.Equal(t, "Pebble Intermediate", def.Issuer)
	require.NotNil(t, def.ExpiresAt)
	assert.True(t, next.Equal(*def.ExpiresAt))
	pending := byDomain["pending.shop.example"]
	assert.Equal(t, api.CertNone, pending.Source)
	assert.Equal(t, "the domain is not verified: platform domains:verify pending.shop.example", pending.LastError)

	wantError(t, f.call(t, "viewer", http.MethodDelete, path+"/www.shop.example", nil), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "member", http.MethodDelete, path+"/api.shop.example", nil), http.StatusNotFound, api.CodeNotFound, "")
	wantError(t, f.call(t, "member", http.MethodDelete, path+"/not_a_domain!", nil), http.StatusBadRequest, api.CodeInvalid, "cert")
	rec = f.call(t, "member", http.MethodDelete, path+"/www.shop.example", nil)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Empty(t, dep.Last().Certificates, "removal re-applies the app without it")
	require.Len(t, f.audits(t, "certificate.remove"), 1)
	list = decode[api.CertificateList](t, f.call(t, "viewer", http.MethodGet, path, nil))
	assert.Empty(t, list.Certificates)

	// A suspended tenant's apps get no certificates, and the listing says
	// so before anyone tries.
	_, err = f.st.SuspendTenant(ctx, f.acme.ID, true)
	require.NoError(t, err)
	want := "tenant acme is suspended: its apps cannot get certificates until a platform admin lifts the suspension"
	msg = wantError(t, f.call(t, "member", http.MethodPost, path, api.AddCertificateRequest{Certificate: chain, PrivateKey: string(key)}),
		http.StatusForbidden, api.CodeForbidden, "")
	assert.Equal(t, want, msg)
	list = decode[api.CertificateList](t, f.call(t, "member", http.MethodGet, path, nil))
	assert.Equal(t, api.CertificateActions{UploadRefusal: want, Remove: true, ChangeHTTPS: true}, list.Allowed)
}

// TestAPIHTTPSSettings: redirect on and HSTS off by default; a change is
// applied before the answer, audited, and undone if it cannot be applied.
func TestAPIHTTPSSettings(t *testing.T) {
	f, dep := newReleaseFixture(t)
	path := "/api/v1/apps/shop/https"
	h := decode[api.HTTPSSettings](t, f.call(t, "viewer", http.MethodGet, path, nil))
	assert.Equal(t, api.HTTPSSettings{Redirect: true, BackendProtocol: "http1"}, h)

	off, maxAge := false, 600
	wantError(t, f.call(t, "viewer", http.MethodPatch, path, api.UpdateHTTPSRequest{Redirect: &off}), http.StatusForbidden, api.CodeForbidden, "")
	wantError(t, f.call(t, "member", http.MethodPatch, path, api.UpdateHTTPSRequest{}), http.StatusBadRequest, api.CodeInvalid, "")
	tooLong := 100000000
	msg := wantError(t, f.call(t, "member", http.MethodPatch, path, api.UpdateHTTPSRequest{HSTSMaxAge: &tooLong}), http.StatusBadRequest, api.CodeInvalid, "hsts_max_age")
	assert.Equal(t, "HSTS max-age 100000000 is out of range: give 0 (off) to 63072000 seconds (two years)", msg)
	on := true
	wantError(t, f.call(t, "member", http.MethodPatch, path, api.UpdateHTTPSRequest{HSTSIncludeSubdomains: &on}), http.StatusBadRequest, api.CodeInvalid, "hsts_include_subdomains")

	rec := f.call(t, "member", http.MethodPatch, path, api.UpdateHTTPSRequest{Redirect: &off, HSTSMaxAge: &maxAge})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, api.HTTPSSettings{Redirect: false, HSTSMaxAge: 600, BackendProtocol: "http1"}, decode[api.HTTPSSettings](t, rec))
	assert.Equal(t, deployer.HTTPS{NoRedirect: true, HSTSMaxAge: 600}, dep.Last().HTTPS, "applied before the answer")
	require.Len(t, f.audits(t, "https.update"), 1)

	// The backend protocol: h2c for gRPC servers.
	grpc, bad := "h2c", "http3"
	msg = wantError(t, f.call(t, "member", http.MethodPatch, path, api.UpdateHTTPSRequest{BackendProtocol: &bad}), http.StatusBadRequest, api.CodeInvalid, "backend_protocol")
	assert.Equal(t, `backend protocol "http3" is unknown: give http1 (HTTP/1.1) or h2c (HTTP/2 without TLS, for gRPC servers)`, msg)
	rec = f.call(t, "member", http.MethodPatch, path, api.UpdateHTTPSRequest{BackendProtocol: &grpc})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "h2c", decode[api.HTTPSSettings](t, rec).BackendProtocol)
	assert.Equal(t, deployer.HTTPS{NoRedirect: true, HSTSMaxAge: 600, H2C: true}, dep.Last().HTTPS, "applied before the answer, the rest kept")

	dep.Fail = func(deployer.Release) error { return errors.New("the cluster is away") }
	rec = f.call(t, "member", http.MethodPatch, path, api.UpdateHTTPSRequest{Redirect: &on})
	require.GreaterOrEqual(t, rec.Code, 500, rec.Body.String())
	dep.Fail = nil
	h = decode[api.HTTPSSettings](t, f.call(t, "viewer", http.MethodGet, path, nil))
	assert.Equal(t, api.HTTPSSettings{Redirect: false, HSTSMaxAge: 600, BackendProtocol: "h2c"}, h, "a change that could not be applied is undone")
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/server/api"
)

func TestCerts(t *testing.T) {
	h := newHarness(t)
	app := h.newApp(t, "shop")
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	ca := localstack.NewCA(t)
	mid := ca.Intermediate(t, "Shop CA")
	leaf, key := mid.ServerCertPEM(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), "www.example.com")
	_, otherKey := mid.ServerCertPEM(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), "www.example.com")
	chainFile := write("fullchain.pem", append(append([]byte{}, leaf...), mid.CertPEM()...))
	keyFile := write("privkey.pem", key)

	// Before a domain: the listing and the upload say what to do.
	out, errOut, err := h.run(t, "certs", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "=== shop Certificates\n=== HTTPS settings\n"+
		"Redirect: on: plain HTTP to a domain with a certificate is redirected to HTTPS\nHSTS:     off\nBackend:  HTTP/1.1\n", out)
	assert.Equal(t, "shop has no custom domains: add one with platform domains:add HOST, then a certificate with platform certs:add\n", errOut)
	_, errOut, err = h.run(t, "certs:add", chainFile, keyFile, "-a", "shop")
	assert.EqualError(t, err, "shop has no custom domains, and a certificate is for one of them: add the domain first with platform domains:add www.example.com -a shop")
	assert.Equal(t, "Adding the certificate to shop... failed\n", errOut)

	_, err = h.st.AddDomain(ctx, app.ID, "www.example.com", true)
	require.NoError(t, err)
	_, _, err = h.run(t, "certs:add", filepath.Join(dir, "nope.pem"), keyFile, "-a", "shop")
	assert.EqualError(t, err, "certificate file "+filepath.Join(dir, "nope.pem")+" does not exist: give the path of the PEM file")
	_, _, err = h.run(t, "certs:add", chainFile, write("other.pem", otherKey), "-a", "shop")
	assert.EqualError(t, err, `the private key does not belong to the certificate "www.example.com": give the key you made the certificate's signing request with`)
	_, _, err = h.run(t, "certs:add", keyFile, chainFile, "-a", "shop")
	assert.EqualError(t, err, "the certificate file holds a private key: give the certificate (-----BEGIN CERTIFICATE-----) first and the key second")
	_, _, err = h.run(t, "certs:add", chainFile, "-a", "shop")
	assert.EqualError(t, err, "usage: platform certs:add CERT_FILE KEY_FILE")

	h.requests()
	out, errOut, err = h.run(t, "certs:add", chainFile, keyFile, "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Adding the certificate to shop... done\n", errOut)
	assert.Regexp(t, `^Certificate \d+ \(www\.example\.com, issued by Shop CA, expires `+stampRE+`\) serves www\.example\.com\n$`, out)

	got := lines(h.ok(t, "certs", "-a", "shop"))
	require.Len(t, got, 10, got)
	assert.Equal(t, "=== shop Certificates", got[0])
	assert.Regexp(t, `^DOMAIN +SOURCE +ISSUER +EXPIRES +STATUS +LAST ERROR$`, got[1])
	assert.Regexp(t, `^www\.example\.com +uploaded +Shop CA +`+stampRE+` +active$`, got[2])
	assert.Equal(t, "=== Uploaded certificates", got[3])
	assert.Regexp(t, `^\d+ +www\.example\.com +Shop CA +`+stampRE+`$`, got[5])
	assert.Equal(t, "=== HTTPS settings", got[6])

	var l api.CertificateList
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "certs", "-a", "shop", "--json")), &l))
	require.Len(t, l.Domains, 1)
	assert.Equal(t, api.CertUploaded, l.Domains[0].Source)

	// Settings.
	_, _, err = h.run(t, "https:redirect", "maybe", "-a", "shop")
	assert.EqualError(t, err, `"maybe" is not on or off: platform https:redirect on|off`)
	_, errOut, err = h.run(t, "https:redirect", "off", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Turning the HTTPS redirect of shop off... done\n", errOut)
	_, errOut, err = h.run(t, "https:hsts", "on", "--max-age", "300", "--include-subdomains", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Turning HSTS of shop on... done\n", errOut)
	assert.Equal(t, "=== shop HTTPS settings\nRedirect: off: plain HTTP is answered as it is\nHSTS:     on: max-age=300; includeSubDomains\nBackend:  HTTP/1.1\n",
		h.ok(t, "https", "-a", "shop"))
	_, _, err = h.run(t, "https:backend", "grpc", "-a", "shop")
	assert.EqualError(t, err, `"grpc" is not a backend protocol: platform https:backend http1|h2c (h2c for gRPC servers)`)
	_, errOut, err = h.run(t, "https:backend", "h2c", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Setting the backend protocol of shop to h2c... done\n", errOut)
	assert.Contains(t, h.ok(t, "https", "-a", "shop"), "Backend:  h2c: HTTP/2 without TLS (gRPC)\n")
	_, _, err = h.run(t, "https:hsts", "off", "--max-age", "5", "-a", "shop")
	assert.EqualError(t, err, "--max-age and --include-subdomains go with on: platform https:hsts off takes neither")
	_, _, err = h.run(t, "https:hsts", "on", "--max-age", "0", "-a", "shop")
	assert.EqualError(t, err, "--max-age 0 is too short: give the seconds browsers keep to HTTPS, at least 1 (a year is 31536000)")
	h.ok(t, "https:hsts", "off", "-a", "shop")
	assert.Contains(t, h.ok(t, "https", "-a", "shop"), "HSTS:     off\n")

	// Removal, by domain.
	_, _, err = h.run(t, "certs:remove", "api.example.com", "-a", "shop")
	assert.EqualError(t, err, "no uploaded certificate of shop covers api.example.com: platform certs -a shop lists them")
	h.requests()
	_, errOut, err = h.run(t, "certs:remove", "www.example.com", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Removing the certificate www.example.com from shop... done\n", errOut)
	assert.Contains(t, h.requests(), "DELETE /api/v1/apps/shop/certificates/www.example.com")
	assert.Regexp(t, `(?m)^www\.example\.com +none +none$`, h.ok(t, "certs", "-a", "shop"))
}

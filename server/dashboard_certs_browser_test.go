package server_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/store"
	"github.com/platform-paas/platform/server/testdb"
)

// TestDashboardCertificates drives the domains tab's certificates: an
// owner uploads a certificate from files and sees it serve the domain,
// turns the HTTPS redirect off and removes the certificate; a viewer sees
// the list and no control, with the reason in words.
func TestDashboardCertificates(t *testing.T) {
	ctx := context.Background()
	st, _ := testdb.Open(t)
	srv, err := server.New(server.Config{
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: prometheus.NewRegistry(),
		WebURL:  func(app string) string { return "http://" + app + ".apps.test" },
	}, st)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	acme, err := st.CreateTenant(ctx, "acme", store.DefaultQuota())
	require.NoError(t, err)
	tokens := dashboardUsers(t, st, map[string]struct {
		tenant store.Tenant
		role   store.Role
	}{"owner": {acme, store.Owner}, "viewer": {acme, store.Viewer}}, "-certs")
	shop, err := st.CreateApp(ctx, acme.ID, "shop")
	require.NoError(t, err)

	ca := localstack.NewCA(t)
	leaf, key := ca.ServerCertPEM(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), "www.shop.example")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, leaf, 0o600))
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))

	b := newBrowser(t, hs.URL)
	owner := b.tab()
	owner.signIn(t, tokens["owner"])
	owner.open(t, "/apps/shop/domains", "app")
	owner.waitDrawn(t, "the refusal without domains", "#cert-upload-refusal")
	assert.Contains(t, text(t, owner, "#cert-upload-refusal"), "shop has no custom domains")
	assert.Zero(t, eval[int](t, owner, `document.querySelectorAll('#cert-upload').length`), "no upload form the API would refuse")

	_, err = st.AddDomain(ctx, shop.ID, "www.shop.example", true)
	require.NoError(t, err)
	owner.open(t, "/apps/shop/domains", "app")
	owner.waitDrawn(t, "the upload form", "#cert-upload")
	owner.do(t,
		chromedp.SetUploadFiles(chromedp.CSS("#cert-file"), []string{certFile}),
		chromedp.SetUploadFiles(chromedp.CSS("#cert-key"), []string{keyFile}),
		chromedp.Click(chromedp.CSS("#cert-upload button[type=submit]")))
	owner.waitFor(t, "the uploaded certificate", `[...document.querySelectorAll('section[aria-labelledby="certs-h"] td')].some((td) => td.textContent === 'uploaded')`, 20*time.Second)
	row := eval[[]string](t, owner, `[...document.querySelector('section[aria-labelledby="certs-h"] tbody tr').querySelectorAll('td')].map((td) => td.textContent.trim())`)
	require.GreaterOrEqual(t, len(row), 5)
	assert.Equal(t, []string{"www.shop.example", "uploaded", "test CA"}, row[:3])
	assert.Equal(t, "active", row[4])

	owner.do(t, chromedp.Click(chromedp.CSS("#https-redirect")))
	owner.waitFor(t, "the redirect off", `document.querySelector('section[aria-labelledby="certs-h"]').textContent.includes('answered as it is')`, 20*time.Second)
	h, err := st.GetHTTPSSettings(ctx, shop.ID)
	require.NoError(t, err)
	assert.False(t, h.Redirect)

	// The backend protocol, for a gRPC app.
	owner.do(t, chromedp.Click(chromedp.CSS("#https-backend")))
	owner.waitFor(t, "h2c to the app", `document.querySelector('#https-backend-now')?.textContent === 'HTTP/2 without TLS (h2c)'`, 20*time.Second)
	h, err = st.GetHTTPSSettings(ctx, shop.ID)
	require.NoError(t, err)
	assert.Equal(t, store.BackendH2C, h.BackendProtocol)

	viewer := b.tab()
	viewer.signIn(t, tokens["viewer"])
	viewer.open(t, "/apps/shop/domains", "app")
	viewer.waitDrawn(t, "the viewer's list", "#cert-upload-refusal")
	assert.Contains(t, text(t, viewer, `section[aria-labelledby="certs-h"]`), "uploaded")
	assert.Equal(t, "you are a viewer of tenant acme: uploading a certificate needs the member role", text(t, viewer, "#cert-upload-refusal"))
	assert.Empty(t, enabledControls(t, viewer), "a viewer has no enabled controls")

	owner.do(t, chromedp.Click(chromedp.CSS(`button[aria-label="Remove the certificate of www.shop.example"]`)),
		chromedp.WaitVisible(chromedp.CSS("dialog button[value=yes]")),
		chromedp.Click(chromedp.CSS("dialog button[value=yes]")))
	owner.waitFor(t, "the certificate gone", `![...document.querySelectorAll('section[aria-labelledby="certs-h"] td')].some((td) => td.textContent === 'uploaded')`, 20*time.Second)
	certs, err := st.ListCertificates(ctx, shop.ID)
	require.NoError(t, err)
	assert.Empty(t, certs)
}

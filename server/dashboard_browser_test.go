package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/release/releasetest"
	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/store"
	"github.com/platform-paas/platform/server/testdb"
)

// browser is a headless Chromium (Debian's chromium package) for one
// test. Each user gets a tab in a browser context of their own, so their
// cookies do not mix. An uncaught exception in any page, or anything the
// Content-Security-Policy refused, fails the test.
type browser struct {
	t    *testing.T
	root context.Context
	base string

	mu         sync.Mutex
	exceptions []string
}

// chromium finds the browser. A missing one stops the test as
// localstack.Need says: a failure under make test, else a skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	localstack.Need(t, "Chromium", "apt-get install chromium (deploy/local/install-packages.sh, which `make up` runs, installs it)")
	return ""
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in a VM without user namespaces
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	root, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(root), "starting chromium")
	b := &browser{t: t, root: root, base: strings.TrimSuffix(base, "/")}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("the page failed: %s", e)
		}
	})
	return b
}

// tab is one user's tab.
type tab struct {
	b   *browser
	ctx context.Context
}

// tab opens a tab in a fresh browser context: no cookies.
func (b *browser) tab() *tab {
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// What the Content-Security-Policy refused would be broken
			// in the page, so it fails the test like an exception.
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return &tab{b: b, ctx: ctx}
}

// do runs actions, bounded by two minutes: under make test, Chromium
// shares two cores with every other package's tests, and a page that
// draws in a second alone took over a minute there.
func (tb *tab) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

// open loads a dashboard URL and waits for its page to be drawn.
func (tb *tab) open(t *testing.T, path, page string) {
	t.Helper()
	tb.do(t, chromedp.Navigate(tb.b.base+path), chromedp.WaitVisible(chromedp.CSS(`[data-page="`+page+`"]`)))
}

// eval evaluates a JavaScript expression in the page, awaiting a promise.
func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, expr)
	return v
}

// waitFor waits until the expression is true in the page.
func (tb *tab) waitFor(t *testing.T, what, expr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	require.NoError(t, err, "waiting for %s (%s)", what, expr)
}

// waitDrawn waits until the page shows an element matching selector and
// has drawn all that it loads: no "Loading…" placeholder is left, nor a
// "…" cell of the apps list. A check that something is absent from the
// page comes after it, so that it does not pass on a page still loading.
func (tb *tab) waitDrawn(t *testing.T, what, selector string) {
	t.Helper()
	tb.waitFor(t, what, fmt.Sprintf(`!!document.querySelector(%s) && !document.querySelector('main .loading') &&
		![...document.querySelectorAll('main td')].some((td) => td.textContent.trim() === '…')`, jsString(selector)), 10*time.Second)
}

// appTabs are the app page's tabs: the path after /apps/NAME and what the
// tab shows once its data is drawn, for a viewer as for an owner.
var appTabs = []struct{ path, shown string }{
	{"", "#scale-web"},
	{"/releases", "#tab-body .table-wrap, #tab-body .empty"},
	{"/config", "#config-table, #tab-body .empty"},
	{"/domains", "#tab-body .table-wrap, #tab-body .empty"},
	{"/settings", "#destroy-app"},
}

// text is the trimmed text of the first element matching a CSS selector,
// or "" if there is none.
func text(t *testing.T, tb *tab, selector string) string {
	t.Helper()
	return eval[string](t, tb, fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? '').trim()`, jsString(selector)))
}

// textIs is a JavaScript predicate: the element's text is want.
func textIs(selector, want string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? '').trim() === %s`, jsString(selector), jsString(want))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// signIn signs in through the token form.
func (tb *tab) signIn(t *testing.T, token string) {
	t.Helper()
	tb.do(t,
		chromedp.Navigate(tb.b.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#signin-token")),
		chromedp.SendKeys(chromedp.CSS("#signin-token"), token),
		chromedp.Click(chromedp.CSS("#signin-token-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`[data-page="apps"]`)),
	)
}

// screenshot saves the whole page as <repo>/.platform/screenshots/NAME.png.
func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, time.Minute)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := filepath.Join("..", ".platform", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// enabledControls lists the controls on the page that would change
// something and are enabled: every input, select and button but the
// buttons that copy a command, and the sign-out link.
func enabledControls(t *testing.T, tb *tab) []string {
	t.Helper()
	return eval[[]string](t, tb, `[...document.querySelectorAll('main input, main select, main textarea, main button')]
		.filter((e) => !e.disabled && !e.classList.contains('copy'))
		.map((e) => e.id || e.getAttribute('aria-label') || e.textContent.trim())`)
}

// csrfProbe sends, from the page, a state-changing API request that
// lacks the CSRF token, and returns "STATUS CODE".
const csrfProbe = `fetch('/api/v1/apps', {method: 'POST', headers: {'Content-Type': 'application/json'},
	body: JSON.stringify({name: 'csrfprobe', tenant: 'acme'})})
	.then(async (r) => r.status + ' ' + (await r.json()).error.code)`

// dashboardUsers makes, in st, the users of the browser tests and returns
// their API tokens by name.
func dashboardUsers(t *testing.T, st *store.Store, users map[string]struct {
	tenant store.Tenant
	role   store.Role
}, suffix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	tokens := map[string]string{}
	for name, u := range users {
		user, err := st.CreateUser(ctx, name+suffix+"@dashboard.test", u.role == store.Admin)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.DeleteUser(context.Background(), user.ID) })
		if u.role != store.Admin {
			require.NoError(t, st.AddMember(ctx, u.tenant.ID, user.ID, u.role))
		}
		tok, _, err := st.CreateToken(ctx, user.ID, "dashboard-test", nil)
		require.NoError(t, err)
		tokens[name] = tok
	}
	return tokens
}

// TestDashboardInBrowser drives the dashboard of an in-process server on
// a database of its own (no Kubernetes behind it: what needs running
// processes answers 501, which the page must show in words): sign-in with
// a token and with a password, the apps list, the app page, a viewer's
// page without values or enabled controls, another tenant's member's
// not-found page, CSRF refusal from the page, the phone layout and
// sign-out.
func TestDashboardInBrowser(t *testing.T) {
	ctx := context.Background()
	st, _ := testdb.Open(t)
	srv, err := server.New(server.Config{
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: prometheus.NewRegistry(),
		GitURL:  "ssh://git@git.test:2222",
		WebURL:  func(app string) string { return "http://" + app + ".apps.test" },
	}, st)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	acme, err := st.CreateTenant(ctx, "acme", store.DefaultQuota())
	require.NoError(t, err)
	rival, err := st.CreateTenant(ctx, "rival", store.DefaultQuota())
	require.NoError(t, err)
	tokens := dashboardUsers(t, st, map[string]struct {
		tenant store.Tenant
		role   store.Role
	}{
		"admin": {role: store.Admin}, "owner": {acme, store.Owner}, "viewer": {acme, store.Viewer}, "outsider": {rival, store.Member},
	}, "")
	shop, err := st.CreateApp(ctx, acme.ID, "shop")
	require.NoError(t, err)
	_, err = st.UpsertFormation(ctx, shop.ID, []store.Process{{Type: "web", Quantity: 1, Command: "bin/shop"}})
	require.NoError(t, err)
	_, err = st.SetConfig(ctx, shop.ID, map[string]string{"SECRET_KEY": "s3cr3t-value"})
	require.NoError(t, err)
	rivalapp, err := st.CreateApp(ctx, rival.ID, "rivalapp")
	require.NoError(t, err)
	// An app whose Procfile has no web type.
	_, err = st.UpsertFormation(ctx, rivalapp.ID, []store.Process{{Type: "worker", Quantity: 1, Command: "bin/work"}})
	require.NoError(t, err)

	b := newBrowser(t, hs.URL)

	t.Run("owner", func(t *testing.T) {
		tb := b.tab()
		tb.do(t, chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#signin-token")))
		// A wrong token is refused in words.
		tb.do(t, chromedp.SendKeys(chromedp.CSS("#signin-token"), "plt_wrong"),
			chromedp.Click(chromedp.CSS("#signin-token-form button[type=submit]")))
		tb.waitFor(t, "the sign-in error", `document.querySelector('#signin-token-form .error').textContent.includes('unknown, revoked or expired')`, 10*time.Second)

		tb.signIn(t, tokens["owner"])
		tb.waitFor(t, "the apps list", `!!document.querySelector('a.app-link')`, 10*time.Second)
		apps := eval[[]string](t, tb, `[...document.querySelectorAll('a.app-link')].map((a) => a.textContent)`)
		assert.Equal(t, []string{"shop"}, apps, "only the apps of the user's tenants")

		tb.do(t, chromedp.Click(chromedp.CSS("a.app-link")), chromedp.WaitVisible(chromedp.CSS(`[data-page="app"]`)))
		assert.Equal(t, "/apps/shop", eval[string](t, tb, `location.pathname`))
		tb.waitFor(t, "the web slider", `!!document.querySelector('#scale-web')`, 10*time.Second)
		assert.Equal(t, "1", eval[string](t, tb, `document.querySelector('#scale-web').value`))
		assert.Equal(t, "20", eval[string](t, tb, `document.querySelector('#scale-web').max`), "the tenant's limit")
		assert.Equal(t, "web", text(t, tb, `label[for="scale-web"]`), "the slider has a label")
		assert.Zero(t, eval[int](t, tb, `document.querySelectorAll('#no-web').length`), "an app with a web type needs no word about it")
		// No deployer here: the API's answer is shown in words and the
		// slider goes back to what runs.
		tb.waitFor(t, "the processes error", `(document.querySelector('#processes .error')?.textContent ?? '').includes('without a deployer')`, 10*time.Second)
		tb.do(t, chromedp.Focus(chromedp.CSS("#scale-web")), chromedp.KeyEvent(kb.ArrowRight))
		assert.Equal(t, "2", text(t, tb, "#qty-web"), "the keyboard moves the slider")
		tb.waitFor(t, "the scale error", `(document.querySelector('#msg-web')?.textContent ?? '').includes('without a deployer')`, 10*time.Second)
		tb.waitFor(t, "the slider back at 1", `document.querySelector('#scale-web').value === '1'`, 10*time.Second)

		// Config values are hidden until revealed.
		tb.open(t, "/apps/shop/config", "app")
		tb.waitFor(t, "the config table", `!!document.querySelector('tr[data-key="SECRET_KEY"]')`, 10*time.Second)
		assert.NotContains(t, text(t, tb, "main"), "s3cr3t-value")
		tb.do(t, chromedp.Click(chromedp.CSS(`tr[data-key="SECRET_KEY"] button[aria-label="Reveal the value of SECRET_KEY"]`)))
		assert.Equal(t, "s3cr3t-value", text(t, tb, `tr[data-key="SECRET_KEY"] [data-value]`))

		assert.Equal(t, "403 csrf", eval[string](t, tb, csrfProbe), "a change without the CSRF token is refused")
		_, err := st.GetApp(ctx, "csrfprobe")
		require.Error(t, err)

		// Phone width: no sideways scrolling.
		tb.do(t, chromedp.EmulateViewport(390, 844))
		for _, p := range []struct{ path, page, shown string }{
			{"/", "apps", `tr[data-app="shop"]`},
			{"/apps/shop", "app", "#scale-web"},
			{"/apps/shop/config", "app", `tr[data-key="SECRET_KEY"]`},
		} {
			tb.open(t, p.path, p.page)
			tb.waitDrawn(t, p.path+" drawn", p.shown)
			assert.LessOrEqual(t, eval[int](t, tb, `document.documentElement.scrollWidth`), 390, "%s fits a phone", p.path)
		}
		tb.do(t, chromedp.EmulateViewport(1280, 900))

		tb.open(t, "/", "apps")
		tb.do(t, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS(`[data-page="signin"]`)))
		assert.Equal(t, 401, eval[int](t, tb, `fetch('/session').then((r) => r.status)`), "signed out on the server too")
	})

	t.Run("viewer", func(t *testing.T) {
		tb := b.tab()
		tb.signIn(t, tokens["viewer"])
		tb.open(t, "/apps/shop", "app")
		tb.waitFor(t, "the formation", `!!document.querySelector('#scale-web')`, 10*time.Second)
		for _, at := range appTabs {
			tb.open(t, "/apps/shop"+at.path, "app")
			tb.waitDrawn(t, "the tab's data", at.shown)
			assert.Empty(t, enabledControls(t, tb), "a viewer has no enabled controls on /apps/shop%s", at.path)
		}
		tb.open(t, "/apps/shop/config", "app")
		assert.NotContains(t, text(t, tb, "main"), "s3cr3t-value")
		assert.Zero(t, eval[int](t, tb, `document.querySelectorAll('[data-value]').length`))

		// The API refuses viewers the runtime logs: the tab says so, and
		// offers no stream that would fail.
		tb.open(t, "/apps/shop/logs", "app")
		tb.waitDrawn(t, "the logs tab", "#logs-viewer")
		assert.Contains(t, text(t, tb, "#logs-viewer"), "runtime logs need the member role")
		assert.Zero(t, eval[int](t, tb, `document.querySelectorAll('#runtime-log').length`))
		assert.Empty(t, enabledControls(t, tb))
	})

	t.Run("another tenant", func(t *testing.T) {
		tb := b.tab()
		tb.signIn(t, tokens["outsider"])
		tb.open(t, "/apps/shop", "not-found")
		assert.Contains(t, text(t, tb, "main"), "no access")

		// Its own app has no web type, and the page says what that means.
		tb.open(t, "/apps/rivalapp", "app")
		tb.waitDrawn(t, "the worker's slider", "#scale-worker")
		assert.Contains(t, text(t, tb, "#no-web"), "No web process type: this app gets no HTTP requests")
	})

	t.Run("password", func(t *testing.T) {
		admin, err := st.GetUserByEmail(ctx, "admin@dashboard.test")
		require.NoError(t, err)
		require.NoError(t, st.SetPassword(ctx, admin.ID, "correct horse battery"))
		tb := b.tab()
		tb.do(t,
			chromedp.Navigate(b.base+"/admin/tenants"),
			chromedp.WaitVisible(chromedp.CSS("#signin-email")),
			chromedp.SendKeys(chromedp.CSS("#signin-email"), "admin@dashboard.test"),
			chromedp.SendKeys(chromedp.CSS("#signin-password"), "correct horse battery"),
			chromedp.Click(chromedp.CSS("#signin-password-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(`[data-page="admin-tenants"]`)),
		)
		tb.waitFor(t, "the tenants", `[...document.querySelectorAll('main a')].some((a) => a.textContent === 'rival')`, 10*time.Second)
	})
}

// TestDashboardOnStack drives the dashboard of the local stack's
// platformd against a pushed Go sample: it scales web from 1 to 3 and
// back with the slider, sets a config var and rolls it back from the
// releases list, checks what a viewer and a member of another tenant
// see, and saves screenshots of the apps list, the app page and the
// admin's tenants page under .platform/screenshots.
func TestDashboardOnStack(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	ctx := context.Background()
	app := s.CreateApp(t, "dash")
	dir := s.Repo(t, "go", app.Name)
	// The sample says GREETING, so that the test can see config go live.
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(main, []byte(strings.Replace(string(src),
		`fmt.Fprintln(w, "hello from go")`, `fmt.Fprintln(w, "hello from go", os.Getenv("GREETING"))`, 1)), 0o644))
	s.Git(t, dir, "commit", "-q", "-am", "greeting")
	out, err := s.Push(dir)
	require.NoError(t, err, "push output:\n%s", out)
	require.Contains(t, out, "Released v1")

	other, err := s.Store.CreateTenant(ctx, fmt.Sprintf("e2o%06x", rand.Uint32()&0xffffff), store.DefaultQuota())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Store.DeleteTenant(context.Background(), other.ID) })
	tokens := dashboardUsers(t, s.Store, map[string]struct {
		tenant store.Tenant
		role   store.Role
	}{"viewer": {s.Tenant, store.Viewer}, "outsider": {other, store.Member}}, "-"+s.Tenant.Name)

	kcfg, err := clientcmd.BuildConfigFromFlags("", s.Env.Kubeconfig)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(kcfg)
	require.NoError(t, err)
	// webReplicas is what the web Deployment wants and has ready.
	webReplicas := func() (want, ready int32) {
		deps, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + app.Name + "-web"})
		require.NoError(t, err)
		require.Len(t, deps.Items, 1)
		d := deps.Items[0]
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		return want, d.Status.ReadyReplicas
	}
	// answers waits until the app's answer through the router has (or
	// has not) want in it.
	answers := func(want string, has bool) {
		t.Helper()
		var body string
		require.Eventually(t, func() bool {
			var code int
			code, body = s.Get(t, app.Name, "/")
			return code == http.StatusOK && strings.Contains(body, want) == has
		}, time.Minute, 500*time.Millisecond, "the app's answer: %q", body)
	}

	b := newBrowser(t, s.Env.APIURL)
	admin := b.tab()
	admin.signIn(t, s.Env.Token)
	row := fmt.Sprintf(`[...document.querySelectorAll('a.app-link')].find((a) => a.textContent === %s)?.closest('tr')`, jsString(app.Name))
	admin.waitFor(t, "the app's processes in the list", fmt.Sprintf(`(%s?.textContent ?? '').includes('web 1/1')`, row), time.Minute)
	admin.screenshot(t, "apps")

	admin.open(t, "/apps/"+app.Name, "app")
	admin.waitFor(t, "web at 1/1", textIs("#count-web", "1/1"), time.Minute)
	admin.do(t, chromedp.Focus(chromedp.CSS("#scale-web")), chromedp.KeyEvent(kb.ArrowRight+kb.ArrowRight))
	assert.Equal(t, "3", text(t, admin, "#qty-web"))
	admin.waitFor(t, "web at 3/3", textIs("#count-web", "3/3"), 3*time.Minute)
	want, ready := webReplicas()
	assert.Equal(t, int32(3), want, "the Deployment wants 3")
	assert.Equal(t, int32(3), ready, "the Deployment has 3 ready")
	admin.screenshot(t, "app")

	admin.do(t, chromedp.Focus(chromedp.CSS("#scale-web")), chromedp.KeyEvent(kb.ArrowLeft+kb.ArrowLeft))
	admin.waitFor(t, "web back at 1/1", textIs("#count-web", "1/1"), 3*time.Minute)
	require.Eventually(t, func() bool { w, r := webReplicas(); return w == 1 && r == 1 }, time.Minute, time.Second)

	// A config var set in the page makes v2, which the app shows.
	value := fmt.Sprintf("hi-from-the-dashboard-%06x", rand.Uint32()&0xffffff)
	admin.open(t, "/apps/"+app.Name+"/config", "app")
	admin.waitFor(t, "the config form", `!!document.querySelector('#config-form')`, 10*time.Second)
	admin.do(t,
		chromedp.SendKeys(chromedp.CSS("#config-key"), "GREETING"),
		chromedp.SendKeys(chromedp.CSS("#config-value"), value),
		chromedp.Click(chromedp.CSS("#config-save")))
	admin.waitFor(t, "the new release", `!!document.querySelector('#config-released')`, 3*time.Minute)
	assert.Contains(t, text(t, admin, "#config-released"), "Released v2")
	answers(value, true)

	// A viewer sees the name, not the value, and can change nothing.
	viewer := b.tab()
	viewer.signIn(t, tokens["viewer"])
	for _, at := range appTabs {
		viewer.open(t, "/apps/"+app.Name+at.path, "app")
		viewer.waitDrawn(t, "the tab's data", at.shown)
		assert.Empty(t, enabledControls(t, viewer), "a viewer has no enabled controls on %s", at.path)
		assert.NotContains(t, text(t, viewer, "main"), value)
	}
	viewer.open(t, "/apps/"+app.Name+"/config", "app")
	viewer.waitFor(t, "the config var's name", `!!document.querySelector('tr[data-key="GREETING"]')`, 10*time.Second)
	assert.Contains(t, text(t, viewer, `tr[data-key="GREETING"]`), "hidden from viewers")

	// A member of another tenant is told there is no such app.
	outsider := b.tab()
	outsider.signIn(t, tokens["outsider"])
	outsider.open(t, "/apps/"+app.Name, "not-found")

	// Roll back to v1 from the releases list: v1's config is live again.
	admin.open(t, "/apps/"+app.Name+"/releases", "app")
	admin.waitFor(t, "the rollback button", `!!document.querySelector('button.rollback[data-version="1"]')`, 10*time.Second)
	assert.Zero(t, eval[int](t, admin, `document.querySelectorAll('button.rollback[data-version="2"]').length`), "no rollback to the current release")
	admin.do(t,
		chromedp.Click(chromedp.CSS(`button.rollback[data-version="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open] button[value="yes"]`)),
		chromedp.Click(chromedp.CSS(`dialog[open] button[value="yes"]`)))
	admin.waitFor(t, "the rollback", `!!document.querySelector('#release-status .notice.ok')`, 3*time.Minute)
	assert.Contains(t, text(t, admin, "#release-status"), "v3 is live: rolled back to v1")
	answers(value, false)
	rel, err := s.Store.LatestSucceededRelease(ctx, app.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, rel.Version)
	assert.NotContains(t, rel.Config, "GREETING")

	assert.Equal(t, "403 csrf", eval[string](t, admin, csrfProbe), "a change without the CSRF token is refused")

	admin.open(t, "/admin/tenants", "admin-tenants")
	admin.waitFor(t, "the tenant in the list", fmt.Sprintf(`[...document.querySelectorAll('main a')].some((a) => a.textContent === %s)`, jsString(s.Tenant.Name)), 30*time.Second)
	admin.screenshot(t, "admin-tenants")
}

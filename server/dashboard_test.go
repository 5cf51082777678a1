package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/web"
)

// browserSession is what a browser holds after signing in: the cookie,
// and the CSRF token the page learnt.
type browserSession struct {
	cookie *http.Cookie
	view   sessionView
}

// send makes a request as a browser would: with the session's cookie if
// there is one, the headers given, and body as JSON unless it is a string.
func (f *apiFixture) send(t *testing.T, method, target string, body any, se *browserSession, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		var err error
		b, err = json.Marshal(v)
		require.NoError(t, err)
	}
	req := httptest.NewRequest(method, target, bytes.NewReader(b))
	req.RemoteAddr = "192.0.2.7:40000"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if se != nil && se.cookie != nil {
		req.AddCookie(se.cookie)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

// sessionCookieOf returns the session cookie rec sets.
func sessionCookieOf(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	require.Fail(t, "no session cookie set", "headers: %v", rec.Header())
	return nil
}

// signIn signs who in with their API token.
func (f *apiFixture) signIn(t *testing.T, who string) *browserSession {
	t.Helper()
	rec := f.send(t, http.MethodPost, "/session", map[string]string{"token": f.tokens[who]}, nil, nil)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	return &browserSession{cookie: sessionCookieOf(t, rec), view: decode[sessionView](t, rec)}
}

func csrf(se *browserSession) http.Header {
	return http.Header{csrfHeader: {se.view.CSRFToken}}
}

func TestDashboardServesPageAndAssets(t *testing.T) {
	f := newAPIFixture(t)

	for _, path := range []string{"/", "/signin", "/apps", "/apps/shop", "/apps/shop/config", "/admin", "/admin/tenants", "/admin/audit"} {
		rec := f.send(t, http.MethodGet, path, nil, nil, nil)
		require.Equal(t, http.StatusOK, rec.Code, path)
		assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"), path)
		assert.Equal(t, "no-cache", rec.Header().Get("Cache-Control"), path)
		assert.Equal(t, contentSecurityPolicy, rec.Header().Get("Content-Security-Policy"), path)
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
		assert.Contains(t, rec.Body.String(), `<script type="module" src="/assets/`)
	}
	assert.Contains(t, contentSecurityPolicy, "script-src 'self';", "no inline script, no other host")
	assert.NotContains(t, contentSecurityPolicy, "unsafe")

	index := f.send(t, http.MethodGet, "/", nil, nil, nil)
	refs := regexp.MustCompile(`"/assets/([0-9a-f]+)/([^"]+)"`).FindAllStringSubmatch(index.Body.String(), -1)
	require.Len(t, refs, 3, "the icon, the style sheet and the script")
	types := map[string]string{"favicon.svg": "image/svg+xml", "app.css": "text/css; charset=utf-8", "js/main.js": "text/javascript; charset=utf-8"}
	version := refs[0][1]
	for _, ref := range refs {
		assert.Equal(t, version, ref[1], "one version for every asset")
		rec := f.send(t, http.MethodGet, "/assets/"+ref[1]+"/"+ref[2], nil, nil, nil)
		require.Equal(t, http.StatusOK, rec.Code, ref[2])
		assert.Equal(t, types[ref[2]], rec.Header().Get("Content-Type"), ref[2])
		assert.Equal(t, "public, max-age=31536000, immutable", rec.Header().Get("Cache-Control"), ref[2])
		etag := rec.Header().Get("ETag")
		require.NotEmpty(t, etag)
		again := f.send(t, http.MethodGet, "/assets/"+ref[1]+"/"+ref[2], nil, nil, http.Header{"If-None-Match": {etag}})
		assert.Equal(t, http.StatusNotModified, again.Code, ref[2])
		assert.Empty(t, again.Body.Bytes())
	}

	// Every module main.js imports, under the same version.
	for _, m := range []string{"api.js", "ui.js", "signin.js", "apps.js", "app.js", "admin.js", "releases.js", "config.js", "logs.js", "settings.js"} {
		rec := f.send(t, http.MethodGet, "/assets/"+version+"/js/"+m, nil, nil, nil)
		assert.Equal(t, http.StatusOK, rec.Code, m)
	}
	// Another version (a page from before an upgrade) gets today's file,
	// revalidated; a file that is not there is a 404.
	rec := f.send(t, http.MethodGet, "/assets/0123456789ab/app.css", nil, nil, nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
	for _, p := range []string{"/assets/" + version + "/nope.js", "/assets/" + version + "/index.html", "/assets/" + version + "/../web.go"} {
		assert.Equal(t, http.StatusNotFound, f.send(t, http.MethodGet, p, nil, nil, nil).Code, p)
	}
	head := f.send(t, http.MethodHead, "/", nil, nil, nil)
	assert.Equal(t, http.StatusOK, head.Code)
	assert.Empty(t, head.Body.Bytes())
}

// TestDashboardAssetsAreSelfContained reads every embedded file: nothing
// refers to another host (no CDN, no fonts from elsewhere), the page has
// no inline script or style for the CSP to refuse, and the scripts never
// turn strings into markup or code.
func TestDashboardAssetsAreSelfContained(t *testing.T) {
	// The SVG namespace is a name, never fetched.
	allowed := map[string]bool{"http://www.w3.org/2000/svg": true}
	// A host name after // (with or without a scheme), as a src, an
	// href, a url() or a fetch would have it.
	urlRE := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+[^\s"'` + "`" + `)]*`)
	n := 0
	err := fs.WalkDir(web.FS, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(web.FS, p)
		require.NoError(t, err)
		body := string(b)
		for _, u := range urlRE.FindAllString(body, -1) {
			assert.True(t, allowed[u], "%s refers to another host: %s", p, u)
		}
		assert.NotContains(t, body, "@import", p)
		switch {
		case strings.HasSuffix(p, ".html"):
			for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
				assert.Contains(t, tag, ` src="/assets/`, "%s: scripts are files, never inline", p)
			}
			assert.NotRegexp(t, `<script[^>]*>[^<]+</script>`, body, p)
			assert.NotRegexp(t, `\sstyle=`, body, "%s: no inline style", p)
			assert.NotRegexp(t, `\son[a-z]+=`, body, "%s: no inline handlers", p)
		case strings.HasSuffix(p, ".js"):
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'"} {
				assert.NotContains(t, body, bad, p)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, n, 10, "the walk saw the files")
}

func TestSessionSignInWithToken(t *testing.T) {
	f := newAPIFixture(t)

	rec := f.send(t, http.MethodGet, "/session", nil, nil, nil)
	wantError(t, rec, http.StatusUnauthorized, api.CodeUnauthorized, "")

	rec = f.send(t, http.MethodPost, "/session", map[string]string{"token": f.tokens["owner"]}, nil, nil)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	view := decode[sessionView](t, rec)
	assert.Equal(t, "owner@example.com", view.Email)
	assert.False(t, view.Admin)
	assert.GreaterOrEqual(t, len(view.CSRFToken), 32)
	assert.WithinDuration(t, time.Now().Add(sessionLifetime), view.ExpiresAt, time.Minute)

	c := sessionCookieOf(t, rec)
	assert.True(t, c.HttpOnly, "the page never reads the cookie")
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.Equal(t, "/", c.Path)
	assert.False(t, c.Secure, "not over plain HTTP")
	assert.Empty(t, c.Domain)
	assert.InDelta(t, sessionLifetime.Seconds(), float64(c.MaxAge), 60)
	assert.NotContains(t, c.Value, f.tokens["owner"], "the cookie is not the API token")
	raw := rec.Header().Get("Set-Cookie")
	assert.Contains(t, raw, "HttpOnly")
	assert.Contains(t, raw, "SameSite=Strict")

	// Over TLS the cookie is Secure.
	req := httptest.NewRequest(http.MethodPost, "https://platform.test/session", strings.NewReader(`{"token":"`+f.tokens["owner"]+`"}`))
	req.Header.Set("Content-Type", "application/json")
	tls := httptest.NewRecorder()
	f.srv.ServeHTTP(tls, req)
	require.Equal(t, http.StatusCreated, tls.Code, tls.Body.String())
	assert.True(t, sessionCookieOf(t, tls).Secure)

	// The cookie authenticates the page and the API.
	se := &browserSession{cookie: c, view: view}
	rec = f.send(t, http.MethodGet, "/session", nil, se, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, view.CSRFToken, decode[sessionView](t, rec).CSRFToken)
	rec = f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "owner@example.com", decode[api.Account](t, rec).Email)
	rec = f.send(t, http.MethodGet, "/api/v1/apps/rivalapp", nil, se, nil)
	wantError(t, rec, http.StatusNotFound, api.CodeNotFound, "")

	signIns := f.audits(t, "session.create")
	require.Len(t, signIns, 2)
	assert.Equal(t, "owner@example.com", signIns[0].ActorEmail)
	assert.Equal(t, "token", signIns[0].Details["method"])
	assert.NotContains(t, f.logs.String(), c.Value, "session secrets are never logged")
	assert.NotContains(t, f.logs.String(), f.tokens["owner"], "tokens are never logged")
}

func TestSessionSignInRefusals(t *testing.T) {
	f := newAPIFixture(t)
	tok := f.tokens["member"]
	tests := []struct {
		name   string
		body   any
		header http.Header
		status int
		code   string
	}{
		{"unknown token", map[string]string{"token": "plt_notarealtoken"}, nil, 401, api.CodeUnauthorized},
		{"not a token", map[string]string{"token": "hunter2"}, nil, 401, api.CodeUnauthorized},
		{"token and password", map[string]string{"token": tok, "email": "member@example.com", "password": "x"}, nil, 400, api.CodeInvalid},
		{"nothing", map[string]string{}, nil, 400, api.CodeInvalid},
		{"unknown field", map[string]string{"user": "member"}, nil, 400, api.CodeInvalid},
		{"a form post", "token=" + tok, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, 415, api.CodeUnsupportedMedia},
		{"text/plain, as a cross-site form can send", `{"token":"` + tok + `"}`, http.Header{"Content-Type": {"text/plain"}}, 415, api.CodeUnsupportedMedia},
		{"from another site", map[string]string{"token": tok}, http.Header{"Origin": {"https://evil.test"}}, 403, api.CodeCSRF},
		{"from an opaque origin", map[string]string{"token": tok}, http.Header{"Origin": {"null"}}, 403, api.CodeCSRF},
		{"cross-site fetch", map[string]string{"token": tok}, http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403, api.CodeCSRF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.send(t, http.MethodPost, "/session", tt.body, nil, tt.header)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			body := decode[api.ErrorBody](t, rec)
			assert.Equal(t, tt.code, body.Error.Code, rec.Body.String())
			assert.NotEmpty(t, body.Error.Message)
			assert.Empty(t, rec.Result().Cookies(), "no session")
		})
	}
	// The page's own origin is fine.
	rec := f.send(t, http.MethodPost, "/session", map[string]string{"token": tok},
		nil, http.Header{"Origin": {"http://example.com"}, "Sec-Fetch-Site": {"same-origin"}})
	assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
}

func TestSessionSignInWithPassword(t *testing.T) {
	f := newAPIFixture(t)
	require.NoError(t, f.st.SetPassword(context.Background(), f.users["member"].ID, "correct horse battery"))

	rec := f.send(t, http.MethodPost, "/session", map[string]string{"email": "Member@Example.com", "password": "correct horse battery"}, nil, nil)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "member@example.com", decode[sessionView](t, rec).Email)
	se := &browserSession{cookie: sessionCookieOf(t, rec)}
	assert.Equal(t, http.StatusOK, f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil).Code)
	events := f.audits(t, "session.create")
	require.Len(t, events, 1)
	assert.Equal(t, "password", events[0].Details["method"])

	for _, body := range []map[string]string{
		{"email": "member@example.com", "password": "wrong horse battery"},
		{"email": "nobody@example.com", "password": "correct horse battery"},
		{"email": "owner@example.com", "password": "correct horse battery"}, // has no password
	} {
		rec := f.send(t, http.MethodPost, "/session", body, nil, nil)
		msg := wantError(t, rec, http.StatusUnauthorized, api.CodeUnauthorized, "")
		assert.Equal(t, "wrong e-mail address or password", msg)
	}
	rec = f.send(t, http.MethodPost, "/session", map[string]string{"email": "member@example.com"}, nil, nil)
	wantError(t, rec, http.StatusBadRequest, api.CodeInvalid, "password")
	assert.NotContains(t, f.logs.String(), "correct horse battery")
}

func TestSessionSignInRateLimit(t *testing.T) {
	f := newAPIFixture(t)
	require.NoError(t, f.st.SetPassword(context.Background(), f.users["member"].ID, "correct horse battery"))
	now := time.Now()
	f.srv.signIns.emails.now = func() time.Time { return now }
	f.srv.signIns.remotes.now = func() time.Time { return now }
	wrong := map[string]string{"email": "member@example.com", "password": "wrong horse battery"}
	right := map[string]string{"email": "member@example.com", "password": "correct horse battery"}

	for i := 0; i < signInFailsPerRemote; i++ {
		rec := f.send(t, http.MethodPost, "/session", wrong, nil, nil)
		require.Equal(t, http.StatusUnauthorized, rec.Code, "attempt %d: %s", i+1, rec.Body.String())
	}
	// The address is blocked, even with the right password.
	rec := f.send(t, http.MethodPost, "/session", right, nil, nil)
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	assert.Contains(t, decode[api.ErrorBody](t, rec).Error.Message, "too many failed sign-ins: try again in 15 minutes")
	assert.Equal(t, "900", rec.Header().Get("Retry-After"))
	assert.Empty(t, rec.Result().Cookies())
	assert.Len(t, f.sleeps(), signInFailsPerRemote-signInFailsPerEmail, "the account's failures slowed it down")

	// The window passes.
	now = now.Add(signInWindow + time.Second)
	rec = f.send(t, http.MethodPost, "/session", right, nil, nil)
	assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())

	// Wrong tokens count against the address they come from.
	for i := 0; i < signInFailsPerRemote; i++ {
		rec := f.send(t, http.MethodPost, "/session", map[string]string{"token": "plt_guess"}, nil, nil)
		require.Equal(t, http.StatusUnauthorized, rec.Code, "attempt %d: %s", i+1, rec.Body.String())
	}
	rec = f.send(t, http.MethodPost, "/session", map[string]string{"token": f.tokens["owner"]}, nil, nil)
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	rec = f.send(t, http.MethodPost, "/session", map[string]string{"email": "viewer@example.com", "password": "whatever it is"}, nil, nil)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code, "the address is blocked for passwords too")
}

func TestSessionCSRF(t *testing.T) {
	f := newAPIFixture(t)
	se := f.signIn(t, "member")
	create := api.CreateAppRequest{Name: "blog", Tenant: "acme"}

	for name, h := range map[string]http.Header{
		"no token":          nil,
		"empty token":       {csrfHeader: {""}},
		"wrong token":       {csrfHeader: {strings.Repeat("A", len(se.view.CSRFToken))}},
		"another's token":   csrf(f.signIn(t, "owner")),
		"token with prefix": {csrfHeader: {se.view.CSRFToken + "x"}},
	} {
		rec := f.send(t, http.MethodPost, "/api/v1/apps", create, se, h)
		msg := wantError(t, rec, http.StatusForbidden, api.CodeCSRF, "")
		assert.Contains(t, msg, "CSRF", name)
	}
	for _, r := range []struct{ method, path string }{
		{http.MethodPatch, "/api/v1/apps/shop/config"},
		{http.MethodPut, "/api/v1/account/password"},
		{http.MethodDelete, "/api/v1/apps/shop"},
	} {
		rec := f.send(t, r.method, r.path, map[string]string{}, se, nil)
		wantError(t, rec, http.StatusForbidden, api.CodeCSRF, "")
	}
	_, err := f.st.GetApp(context.Background(), "blog")
	require.Error(t, err, "nothing was created")

	// Reading needs no token; changing with it works.
	assert.Equal(t, http.StatusOK, f.send(t, http.MethodGet, "/api/v1/apps", nil, se, nil).Code)
	rec := f.send(t, http.MethodPost, "/api/v1/apps", create, se, csrf(se))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "member@example.com", f.audits(t, "app.create")[0].ActorEmail)

	// A bearer token needs none, as before, and wins over a cookie.
	rec = f.call(t, "owner", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "news", Tenant: "acme"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	rec = f.send(t, http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "mail", Tenant: "acme"}, se,
		http.Header{"Authorization": {"Bearer " + f.tokens["viewer"]}})
	wantError(t, rec, http.StatusForbidden, api.CodeForbidden, "")
}

func TestSessionEnds(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	t.Run("sign out", func(t *testing.T) {
		se := f.signIn(t, "owner")
		rec := f.send(t, http.MethodDelete, "/session", nil, se, nil)
		wantError(t, rec, http.StatusForbidden, api.CodeCSRF, "")
		require.Equal(t, http.StatusOK, f.send(t, http.MethodGet, "/session", nil, se, nil).Code, "still signed in")

		rec = f.send(t, http.MethodDelete, "/session", nil, se, csrf(se))
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		cleared := sessionCookieOf(t, rec)
		assert.Negative(t, cleared.MaxAge)
		assert.Empty(t, cleared.Value)
		assert.True(t, cleared.HttpOnly)
		// The session is gone from the database, not only from the browser.
		rec = f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil)
		msg := wantError(t, rec, http.StatusUnauthorized, api.CodeUnauthorized, "")
		assert.Contains(t, msg, "sign in again")
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM web_sessions WHERE user_id = $1`, f.users["owner"].ID).Scan(&n))
		assert.Zero(t, n)
		// Signing out again, or without a session, is fine.
		assert.Equal(t, http.StatusNoContent, f.send(t, http.MethodDelete, "/session", nil, se, nil).Code)
		assert.Equal(t, http.StatusNoContent, f.send(t, http.MethodDelete, "/session", nil, nil, nil).Code)
	})

	t.Run("expiry", func(t *testing.T) {
		se := f.signIn(t, "viewer")
		require.Equal(t, http.StatusOK, f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil).Code)
		_, err := conn.Exec(ctx, `UPDATE web_sessions SET created_at = now() - interval '13 hours', expires_at = now() - interval '1 hour' WHERE user_id = $1`, f.users["viewer"].ID)
		require.NoError(t, err)
		for _, p := range []string{"/api/v1/account", "/session"} {
			wantError(t, f.send(t, http.MethodGet, p, nil, se, nil), http.StatusUnauthorized, api.CodeUnauthorized, "")
		}
	})

	t.Run("idle", func(t *testing.T) {
		se := f.signIn(t, "member")
		_, err := conn.Exec(ctx, `UPDATE web_sessions SET last_seen_at = now() - $2::interval WHERE user_id = $1`,
			f.users["member"].ID, sessionIdle+time.Minute)
		require.NoError(t, err)
		wantError(t, f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil), http.StatusUnauthorized, api.CodeUnauthorized, "")
	})

	t.Run("token revoked", func(t *testing.T) {
		token, tok, err := f.st.CreateToken(ctx, f.users["admin"].ID, "browser", nil)
		require.NoError(t, err)
		rec := f.send(t, http.MethodPost, "/session", map[string]string{"token": token}, nil, nil)
		require.Equal(t, http.StatusCreated, rec.Code)
		se := &browserSession{cookie: sessionCookieOf(t, rec)}
		require.Equal(t, http.StatusOK, f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil).Code)
		require.NoError(t, f.st.RevokeToken(ctx, f.users["admin"].ID, tok.ID))
		wantError(t, f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil), http.StatusUnauthorized, api.CodeUnauthorized, "")
	})

	t.Run("forged cookie", func(t *testing.T) {
		for _, v := range []string{"pls_forged", "", f.tokens["owner"]} {
			se := &browserSession{cookie: &http.Cookie{Name: sessionCookie, Value: v}}
			rec := f.send(t, http.MethodGet, "/api/v1/account", nil, se, nil)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "cookie %q: %s", v, rec.Body.String())
		}
	})
}

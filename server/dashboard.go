package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
	"github.com/platform-paas/platform/web"
)

// The dashboard is package web's pages, served here with the headers that
// keep them safe, and the browser sessions they sign in with. The pages
// use the JSON API like the CLI does: authenticate accepts the session
// cookie instead of a bearer token, and then asks every state-changing
// request for the session's CSRF token.

const (
	// sessionCookie holds the session's secret. HttpOnly: the page never
	// reads it; it learns the CSRF token from GET /session instead.
	sessionCookie = "platform_session"
	// sessionLifetime bounds a session from its sign-in; one signed in
	// with an API token also ends with the token.
	sessionLifetime = 12 * time.Hour
	// sessionIdle ends a session nobody used for this long. An open
	// dashboard polls, so this is about closed tabs.
	sessionIdle = 2 * time.Hour
	// csrfHeader carries the session's CSRF token on every request that
	// is not GET or HEAD.
	csrfHeader = "X-CSRF-Token"
)

// contentSecurityPolicy allows the page only its own scripts, styles and
// API: no inline script or style, no other host, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'"

var (
	errSignedOut = &apiError{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized,
		Message: "you are not signed in, or your session has ended: sign in again"}
	errCSRF = &apiError{Status: http.StatusForbidden, Code: api.CodeCSRF,
		Message: "this request lacks the page's CSRF token: reload the page and try again"}
	errCrossSite = &apiError{Status: http.StatusForbidden, Code: api.CodeCSRF,
		Message: "sign-in must come from the dashboard's own page"}
	errSignInToken = &apiError{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized,
		Message: "that API token is unknown, revoked or expired: platform login makes a new one"}
)

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// dashboard holds package web's files in memory. Assets are served under
// /assets/<version>/, where version is a hash of every file, so a browser
// may keep them for good: a new binary with other files has another
// version. The page itself is always revalidated.
type dashboard struct {
	version string
	index   asset
	assets  map[string]asset // by path below static/
}

// contentTypes are the types of the files package web may hold; a file of
// another kind is refused at start, so nothing is served sniffed.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".woff2": "font/woff2",
	".json":  "application/json",
	".txt":   "text/plain; charset=utf-8",
}

func newDashboard(fsys fs.FS) (*dashboard, error) {
	d := &dashboard{assets: map[string]asset{}}
	all := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("%s: no content type for %q files", p, path.Ext(p))
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		fmt.Fprintf(all, "%s\x00%x\x00", p, sum)
		d.assets[p] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the dashboard's files: %w", err)
	}
	index, ok := d.assets["index.html"]
	if !ok {
		return nil, errors.New("loading the dashboard's files: there is no index.html")
	}
	d.version = hex.EncodeToString(all.Sum(nil)[:6])
	// The page names its assets /assets/...; point it at this version.
	body := bytes.ReplaceAll(index.body, []byte(`"/assets/`), []byte(`"/assets/`+d.version+`/`))
	sum := sha256.Sum256(body)
	d.index = asset{body: body, contentType: index.contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	return d, nil
}

// pageHeaders are the headers of everything the dashboard serves.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func serveAsset(w http.ResponseWriter, r *http.Request, a asset, cacheControl string) {
	h := w.Header()
	pageHeaders(h)
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304 and HEAD without a body.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// page serves index.html for every URL the page routes itself.
func (d *dashboard) page(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, d.index, "no-cache")
}

// asset serves /assets/{version}/*: for good under the current version,
// and revalidated under another, which a page loaded before an upgrade
// may still ask for.
func (d *dashboard) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[chi.URLParam(r, "*")]
	if !ok || chi.URLParam(r, "*") == "index.html" {
		http.NotFound(w, r)
		return
	}
	cache := "no-cache"
	if chi.URLParam(r, "version") == d.version {
		cache = "public, max-age=31536000, immutable"
	}
	serveAsset(w, r, a, cache)
}

// mountDashboard routes the dashboard's page, assets and sessions on r.
func (s *Server) mountDashboard(r chi.Router) error {
	static, err := fs.Sub(web.FS, "static")
	if err != nil {
		return fmt.Errorf("loading the dashboard's files: %w", err)
	}
	d, err := newDashboard(static)
	if err != nil {
		return err
	}
	for _, p := range []string{"/", "/signin", "/apps", "/apps/*", "/admin", "/admin/*"} {
		r.Get(p, d.page)
	}
	r.Get("/assets/{version}/*", d.asset)
	r.Get("/session", s.serveAPI(s.getSession))
	r.Post("/session", s.serveAPI(s.createSession))
	r.Delete("/session", s.serveAPI(s.deleteSession))
	return nil
}

// sessionView is what GET and POST /session tell the page: who is signed
// in, the CSRF token to send with changes, and when the session ends.
type sessionView struct {
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// signInRequest is the body of POST /session: a token, or an e-mail
// address and a password.
type signInRequest struct {
	Token    string `json:"token,omitempty"`
	Email    string `json:"email,omitempty"`
	Password string `json:"password,omitempty"`
}

// sessionUser authenticates a request by its session cookie's secret,
// and refuses a state-changing one without the session's CSRF token.
func (s *Server) sessionUser(r *http.Request, secret string) (store.User, store.Session, error) {
	u, se, err := s.st.SessionUser(r.Context(), secret, sessionIdle)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.Session{}, errSignedOut
	}
	if errors.Is(err, store.ErrDeactivated) {
		return store.User{}, store.Session{}, errDeactivated
	}
	if err != nil {
		return store.User{}, store.Session{}, fmt.Errorf("authenticating a session: %w", err)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		got := r.Header.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRFToken)) != 1 {
			s.log.InfoContext(r.Context(), "request refused without its csrf token", "user", u.Email,
				"method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()), "remote_addr", remoteHost(r))
			return store.User{}, store.Session{}, errCSRF
		}
	}
	return u, se, nil
}

// getSession says who is signed in, with the CSRF token: GET /session.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return errSignedOut
	}
	u, se, err := s.sessionUser(r, c.Value)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, sessionView{Email: u.Email, Admin: u.IsAdmin, CSRFToken: se.CSRFToken, ExpiresAt: se.ExpiresAt})
	return nil
}

// sameOrigin refuses a sign-in that a browser says comes from another
// site, so that no page elsewhere can sign a visitor in to an account of
// its choosing. Requiring a JSON body already keeps plain HTML forms out.
func sameOrigin(r *http.Request) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errCrossSite
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil // not a browser, or an old one: the JSON body still applies
	}
	if origin == "null" {
		return errCrossSite
	}
	_, host, ok := strings.Cut(origin, "://")
	if !ok || !strings.EqualFold(host, r.Host) {
		return errCrossSite
	}
	return nil
}

// createSession signs in, with an API token or an e-mail address and
// password, and sets the session cookie: POST /session. Failed sign-ins
// are limited per address and per account (see signInLimiter).
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: api.CodeUnsupportedMedia,
			Message: "send the sign-in as JSON with Content-Type: application/json"}
	}
	var req signInRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	remote := remoteHost(r)
	var (
		u      store.User
		method string
		ns     = store.NewSession{Lifetime: sessionLifetime}
	)
	switch {
	case req.Token != "" && (req.Email != "" || req.Password != ""):
		return invalid("token", "sign in with a token or with an e-mail address and password, not both")
	case req.Token != "":
		method = "token"
		// A token has no account to count against: only the address's
		// failures limit it.
		a, wait := s.signIns.begin("", remote)
		if wait > 0 {
			return tooManySignIns(w, wait)
		}
		var err error
		u, err = s.st.UserByToken(r.Context(), strings.TrimSpace(req.Token))
		switch {
		case errors.Is(err, store.ErrDeactivated):
			a.ok()
			return errDeactivated
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenExpired):
			s.log.InfoContext(r.Context(), "dashboard sign-in refused", "method", method,
				"request_id", requestIDFrom(r.Context()), "remote_addr", remote)
			return errSignInToken
		case err != nil:
			a.cancel()
			return fmt.Errorf("signing in with a token: %w", err)
		}
		a.ok()
		ns.APIToken = strings.TrimSpace(req.Token)
	default:
		method = "password"
		if err := required("email", req.Email); err != nil {
			return err
		}
		if err := required("password", req.Password); err != nil {
			return err
		}
		var err error
		u, err = s.checkPassword(w, r, req.Email, req.Password)
		if errors.Is(err, store.ErrWrongPassword) {
			return errWrongPassword
		}
		if err != nil {
			return err
		}
	}
	ns.UserID = u.ID
	secret, se, err := s.st.CreateSession(r.Context(), ns)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenExpired) {
		return errSignInToken // revoked or expired a moment ago
	}
	if err != nil {
		return fmt.Errorf("starting a session for user %d: %w", u.ID, err)
	}
	if n, err := s.st.DeleteExpiredSessions(r.Context(), sessionIdle); err != nil {
		s.log.WarnContext(r.Context(), "removing expired sessions failed", "err", err)
	} else if n > 0 {
		s.log.DebugContext(r.Context(), "removed expired sessions", "count", n)
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
	if err := s.audit(r, s.st, store.AuditEvent{
		Action: "session.create", Target: u.Email, Details: map[string]any{"method": method},
	}); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "dashboard sign-in", "user", u.Email, "method", method,
		"request_id", requestIDFrom(r.Context()))
	http.SetCookie(w, sessionCookieFor(s.overHTTPS(r), secret, se.ExpiresAt))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, sessionView{Email: u.Email, Admin: u.IsAdmin, CSRFToken: se.CSRFToken, ExpiresAt: se.ExpiresAt})
	return nil
}

// deleteSession signs out: DELETE /session ends the session and clears
// the cookie. Without a live session there is nothing to end, and the
// cookie is cleared all the same.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		u, _, err := s.sessionUser(r, c.Value)
		switch {
		case errors.Is(err, errSignedOut):
		case err != nil:
			return err
		default:
			if err := s.st.DeleteSession(r.Context(), c.Value); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("signing out: %w", err)
			}
			s.log.InfoContext(r.Context(), "dashboard sign-out", "user", u.Email, "request_id", requestIDFrom(r.Context()))
		}
	}
	http.SetCookie(w, sessionCookieFor(s.overHTTPS(r), "", time.Time{}))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionCookieFor is the session cookie holding secret until expires,
// Secure when the browser came over HTTPS; an empty secret deletes the
// cookie.
func sessionCookieFor(secure bool, secret string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     sessionCookie,
		Value:    secret,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}
	if secret == "" {
		c.MaxAge = -1
		return c
	}
	c.Expires = expires
	c.MaxAge = max(1, int(time.Until(expires).Seconds()))
	return c
}

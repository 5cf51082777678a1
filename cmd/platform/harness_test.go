package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
)

// The commands beyond login, keys, apps, tenants and users are tested
// through a harness: the CLI run in an apiEnv with a fixed time zone (and,
// against a fake, a fixed clock), the requests it sends recorded as
// "METHOD /api/v1/path?query body".
//
// Against platformd's real handler on Postgres (newHarness) go the
// endpoints it serves with only its store. The endpoints that need a
// deployer (config changes, rollbacks, scaling, restarts, process status,
// logs, quota changes and suspensions) answer 501 in that fixture, which
// has none: TestDeployerEndpointsNeedADeployer holds that, and those
// commands are tested against a fake of the API (newFakeHarness) that
// answers with the api package's wire types.

// testNow is the fake harness's clock.
var testNow = time.Date(2026, 11, 25, 10, 3, 0, 0, time.UTC)

// fakeToken is the token the fake API accepts.
const fakeToken = "plt_fake"

type harness struct {
	*apiEnv
	fake *fakeAPI // nil against platformd
	now  func() time.Time
	// onStdout, if set, is called after each write to stdout, in the
	// CLI's goroutine.
	onStdout func()

	mu   sync.Mutex
	reqs []string
}

// newHarness runs the CLI against platformd on a database of its own,
// logged in as its admin.
func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{apiEnv: newAPIEnv(t).loggedIn()}
}

// newFakeHarness runs the CLI against a fake API that answers what the
// test tells it to (fakeAPI.reply), logged in with fakeToken.
func newFakeHarness(t *testing.T) *harness {
	t.Helper()
	t.Parallel()
	f := &fakeAPI{routes: map[string]http.HandlerFunc{}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	home := t.TempDir()
	e := &apiEnv{
		url: ts.URL,
		env: map[string]string{
			"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "xdg"),
			"PLATFORM_API_URL": ts.URL, "PLATFORM_TOKEN": fakeToken,
		},
		dir: t.TempDir(),
	}
	return &harness{apiEnv: e, fake: f, now: func() time.Time { return testNow }}
}

// RoundTrip records the request and sends it on.
func (h *harness) RoundTrip(r *http.Request) (*http.Response, error) {
	line := r.Method + " " + r.URL.RequestURI()
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
		line += " " + string(b)
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, line)
	h.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// requests returns the requests sent since the last call.
func (h *harness) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.reqs
	h.reqs = nil
	return r
}

func (h *harness) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return h.runCtx(context.Background(), t, args...)
}

// runCtx runs the CLI with ctx, as main does with the context that
// SIGINT cancels.
func (h *harness) runCtx(ctx context.Context, t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var out io.Writer = &stdout
	if h.onStdout != nil {
		out = hookWriter{&stdout, h.onStdout}
	}
	c := &cli{
		getenv: func(k string) string { return h.env[k] },
		stdin:  strings.NewReader(h.stdin),
		stdout: out,
		stderr: &stderr,
		dir:    h.dir,
		http:   &http.Client{Transport: h},
		now:    h.now,
		tz:     time.UTC,
	}
	err := c.execute(ctx, args)
	if err != nil {
		assert.NotContains(t, err.Error(), "\n", "errors are one line")
	}
	return stdout.String(), stderr.String(), err
}

// hookWriter calls hook after each write.
type hookWriter struct {
	w    io.Writer
	hook func()
}

func (h hookWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.hook()
	return n, err
}

// ok runs the CLI and requires it to succeed; it returns stdout.
func (h *harness) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := h.run(t, args...)
	require.NoError(t, err, "platform %s\nstderr: %s", strings.Join(args, " "), errOut)
	return out
}

// fakeAPI answers the API requests a test set up, each with what the test
// said. Requests without the fake token are refused as platformd does;
// requests for anything else are answered 404.
type fakeAPI struct {
	mu     sync.Mutex
	routes map[string]http.HandlerFunc // by "METHOD /api/v1/path"
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != api.Version+"/login" && r.Header.Get("Authorization") != "Bearer "+fakeToken {
		writeAPIError(w, http.StatusUnauthorized, api.CodeUnauthorized, "invalid or expired token: run platform login", "")
		return
	}
	f.mu.Lock()
	h, ok := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if !ok {
		writeAPIError(w, http.StatusNotFound, api.CodeNotFound, "the fake API has no "+r.Method+" "+r.URL.Path, "")
		return
	}
	h(w, r)
}

// handle answers method path (below /api/v1) with h.
func (f *fakeAPI) handle(method, path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+api.Version+path] = h
}

// reply answers method path with status and v as JSON; a nil v answers
// without a body.
func (f *fakeAPI) reply(method, path string, status int, v any) {
	f.handle(method, path, func(w http.ResponseWriter, _ *http.Request) {
		if v == nil {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	})
}

// fail answers method path with an API error.
func (f *fakeAPI) fail(method, path string, status int, code, message, field string) {
	f.handle(method, path, func(w http.ResponseWriter, _ *http.Request) {
		writeAPIError(w, status, code, message, field)
	})
}

func writeAPIError(w http.ResponseWriter, status int, code, message, field string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: message, Field: field}})
}

// lines splits output into its lines, without the last newline.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// at is testNow less ago.
func at(ago time.Duration) time.Time { return testNow.Add(-ago) }

func TestHarnessRecordsRequests(t *testing.T) {
	h := newFakeHarness(t)
	h.fake.reply(http.MethodGet, "/account", http.StatusOK, api.Account{Email: "a@example.com"})
	assert.Equal(t, "a@example.com\n", h.ok(t, "whoami"))
	assert.Equal(t, []string{"GET /api/v1/account"}, h.requests())
	assert.Empty(t, h.requests(), "requests() resets")

	_, _, err := h.run(t, "apps")
	assert.EqualError(t, err, "the fake API has no GET /api/v1/apps")
	h.env["PLATFORM_TOKEN"] = "plt_other"
	_, _, err = h.run(t, "whoami")
	assert.EqualError(t, err, "invalid or expired token: run platform login")
	assert.Len(t, h.requests(), 2)
}

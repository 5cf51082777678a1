package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/testdb"
)

type fixture struct {
	srv  *Server
	logs *bytes.Buffer
}

func newFixture(t *testing.T, checks ...Check) fixture {
	t.Helper()
	var logs bytes.Buffer
	st, _ := testdb.Open(t)
	srv, err := New(Config{
		Logger:       slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      prometheus.NewRegistry(),
		Checks:       checks,
		CheckTimeout: 200 * time.Millisecond,
	}, st)
	require.NoError(t, err)
	return fixture{srv: srv, logs: &logs}
}

// do sends a request to the public handler.
func (f fixture) do(t *testing.T, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	return f.send(t, f.srv, method, path, header)
}

// operator sends a request to the operator's handler.
func (f fixture) operator(t *testing.T, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	return f.send(t, f.srv.Operator(), method, path, nil)
}

func (f fixture) send(t *testing.T, h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func ok(context.Context) error { return nil }

func TestHealthz(t *testing.T) {
	f := newFixture(t, Check{Name: "broken", Func: func(context.Context) error { return errors.New("down") }})
	rec := f.do(t, http.MethodGet, "/healthz", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())

	rec = f.do(t, http.MethodHead, "/healthz", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
}

func TestReadyz(t *testing.T) {
	blocked := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	tests := []struct {
		name   string
		checks []Check
		code   int
		want   readiness
	}{
		{
			name: "no checks",
			code: http.StatusOK,
			want: readiness{Status: "ok", Checks: map[string]string{}},
		},
		{
			name:   "all pass",
			checks: []Check{{Name: "postgres", Func: ok}, {Name: "registry", Func: ok}},
			code:   http.StatusOK,
			want:   readiness{Status: "ok", Checks: map[string]string{"postgres": "ok", "registry": "ok"}},
		},
		{
			name: "some fail",
			checks: []Check{
				{Name: "postgres", Func: ok},
				{Name: "kubernetes", Func: func(context.Context) error { return errors.New("connection refused") }},
				{Name: "buildkit", Func: blocked},
			},
			code: http.StatusServiceUnavailable,
			want: readiness{Status: "unavailable", Checks: map[string]string{
				"postgres":   "ok",
				"kubernetes": "error: connection refused",
				"buildkit":   "error: " + context.DeadlineExceeded.Error(),
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.checks...)
			start := time.Now()
			rec := f.operator(t, http.MethodGet, "/readyz")
			assert.Less(t, time.Since(start), 2*time.Second, "checks run concurrently under a timeout")
			assert.Equal(t, tt.code, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var got readiness
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.Equal(t, tt.want, got)

			// The public listener says as much, and nothing of why.
			rec = f.do(t, http.MethodGet, "/readyz", nil)
			assert.Equal(t, tt.code, rec.Code)
			assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			if tt.code == http.StatusOK {
				assert.Equal(t, "ready\n", rec.Body.String())
			} else {
				assert.Equal(t, "not ready\n", rec.Body.String())
			}
		})
	}
}

// TestPublicListenerHidesOperatorEndpoints: what a user can reach says
// whether platformd is ready and nothing more; the metrics and each
// check's error are on the operator's listener, and in the API for
// admins.
func TestPublicListenerHidesOperatorEndpoints(t *testing.T) {
	f := newFixture(t,
		Check{Name: "postgres", Func: ok},
		Check{Name: "kubernetes", Func: func(context.Context) error { return errors.New("dial tcp 10.96.0.1:443: connection refused") }})
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	get := func(path string) (int, string) {
		resp, err := http.Get(ts.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	code, body := get("/metrics")
	assert.Equal(t, http.StatusNotFound, code)
	assert.NotContains(t, body, "go_goroutines")
	assert.NotContains(t, body, "platformd_http_requests_total")
	for _, path := range []string{"/readyz", "/readyz?verbose=1", "/healthz"} {
		_, body := get(path)
		for _, detail := range []string{"kubernetes", "postgres", "10.96.0.1", "connection refused", "checks"} {
			assert.NotContains(t, body, detail, "%s tells %s", path, detail)
		}
	}
	code, body = get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "not ready\n", body)

	rec := f.operator(t, http.MethodGet, "/metrics")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `platformd_http_requests_total{code="404",method="GET",route="unmatched"} 1`)
	rec = f.operator(t, http.MethodGet, "/readyz")
	assert.Contains(t, rec.Body.String(), "connection refused")
	rec = f.operator(t, http.MethodGet, "/api/v1/apps")
	assert.Equal(t, http.StatusNotFound, rec.Code, "the operator's listener serves no API")
}

func TestReadyzRunsChecksConcurrently(t *testing.T) {
	slow := func(ctx context.Context) error {
		select {
		case <-time.After(150 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := newFixture(t, Check{Name: "a", Func: slow}, Check{Name: "b", Func: slow}, Check{Name: "c", Func: slow})
	start := time.Now()
	rec := f.operator(t, http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Less(t, time.Since(start), 400*time.Millisecond)
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	f.do(t, http.MethodGet, "/healthz", nil)
	f.do(t, http.MethodGet, "/api/v1/nowhere/foo", nil)
	f.do(t, http.MethodGet, "/nowhere/42", nil)

	rec := f.operator(t, http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	body := rec.Body.String()
	assert.Contains(t, body, `platformd_http_requests_total{code="200",method="GET",route="/healthz"} 1`)
	assert.Contains(t, body, `platformd_http_requests_total{code="404",method="GET",route="/api/v1/*"} 1`)
	assert.Contains(t, body, `platformd_http_requests_total{code="404",method="GET",route="unmatched"} 1`)
	assert.Contains(t, body, `platformd_http_request_duration_seconds_bucket{method="GET",route="/healthz"`)
	assert.NotContains(t, body, "/nowhere/42", "paths must not become labels")
}

func TestAPINotFound(t *testing.T) {
	f := newFixture(t)
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		rec := f.do(t, method, "/api/v1/nowhere", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		var body api.ErrorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		assert.Equal(t, "not_found", body.Error.Code)
		assert.Contains(t, body.Error.Message, method+" /api/v1/nowhere")
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t)

	rec := f.do(t, http.MethodGet, "/healthz", nil)
	generated := rec.Header().Get(requestIDHeader)
	assert.NotEmpty(t, generated)

	rec = f.do(t, http.MethodGet, "/healthz", http.Header{requestIDHeader: {"abc-123"}})
	assert.Equal(t, "abc-123", rec.Header().Get(requestIDHeader))

	rec = f.do(t, http.MethodGet, "/healthz", http.Header{requestIDHeader: {"evil\nlog line"}})
	assert.NotEqual(t, "evil\nlog line", rec.Header().Get(requestIDHeader))
	assert.NotEmpty(t, rec.Header().Get(requestIDHeader))

	assert.Contains(t, f.logs.String(), `"request_id":"abc-123"`)
}

func TestAccessLogOmitsQuery(t *testing.T) {
	f := newFixture(t)
	f.do(t, http.MethodGet, "/api/v1/apps?token=s3cret", nil)
	logs := f.logs.String()
	assert.Contains(t, logs, `"msg":"http request"`)
	assert.Contains(t, logs, `"path":"/api/v1/apps"`)
	assert.NotContains(t, logs, "s3cret")
}

func TestRecoverer(t *testing.T) {
	f := newFixture(t)
	f.srv.router.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })

	rec := f.do(t, http.MethodGet, "/boom", nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	var body api.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, "internal", body.Error.Code)
	assert.NotContains(t, rec.Body.String(), "kaboom", "panic detail stays in the log")

	logs := f.logs.String()
	assert.Contains(t, logs, `"msg":"panic serving request"`)
	assert.Contains(t, logs, "kaboom")
	assert.Contains(t, logs, `"status":500`)
}

func TestServeAPIHidesInternalErrors(t *testing.T) {
	f := newFixture(t)
	h := f.srv.serveAPI(func(http.ResponseWriter, *http.Request) error {
		return errors.New("dial tcp 10.0.0.7:5432: secret detail")
	})
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/api/v1/x", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "secret detail")
	assert.Contains(t, f.logs.String(), "secret detail")
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{
		Checks: []Check{{Name: "a", Func: ok}, {Name: "a", Func: ok}, {Name: ""}, {Name: "b"}},
		GitURL: "git.example.com:2222",
	}, nil)
	require.Error(t, err)
	for _, want := range []string{"logger", "metrics", `"a" is listed twice`, "no name", `"b" has no function`, "git url"} {
		assert.Contains(t, err.Error(), want)
	}

	_, err = New(Config{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()}, nil)
	assert.ErrorContains(t, err, "a store is required")
}

func TestNewRejectsDoubleRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.DiscardHandler)
	st, _ := testdb.Open(t)
	_, err := New(Config{Logger: logger, Metrics: reg}, st)
	require.NoError(t, err)
	_, err = New(Config{Logger: logger, Metrics: reg}, st)
	assert.ErrorContains(t, err, "registering http metrics")
}

// TestOverHTTP serves through a real listener, as platformd does.
func TestOverHTTP(t *testing.T) {
	f := newFixture(t, Check{Name: "postgres", Func: ok})
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ready\n", string(b))
}

// TestReadyzExclude: a probe may leave out checks of what every replica
// shares, so that one of them failing does not take every replica out of
// its Services.
func TestReadyzExclude(t *testing.T) {
	f := newFixture(t,
		Check{Name: "postgres", Func: ok},
		Check{Name: "buildkit", Func: func(context.Context) error { return errors.New("connection refused") }},
		Check{Name: "kubernetes", Func: ok})

	rec := f.do(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	rec = f.do(t, http.MethodGet, "/readyz?exclude=buildkit", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ready\n", rec.Body.String())
	rec = f.do(t, http.MethodGet, "/readyz?exclude=kubernetes", nil)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "only the checks named are left out")

	rec = f.operator(t, http.MethodGet, "/readyz?exclude=buildkit&exclude=kubernetes")
	assert.Equal(t, http.StatusOK, rec.Code)
	var got readiness
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, readiness{Status: "ok", Checks: map[string]string{"postgres": "ok", "buildkit": "excluded", "kubernetes": "excluded"}}, got)

	// A name that is no check is refused, not ignored: a probe with a typo
	// would otherwise check what it meant to leave out.
	rec = f.operator(t, http.MethodGet, "/readyz?exclude=buildkitd")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "exclude=buildkitd: no such check; the checks are postgres, buildkit, kubernetes")
	rec = f.do(t, http.MethodGet, "/readyz?exclude=buildkitd", nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.NotContains(t, rec.Body.String(), "postgres", "the public /readyz names no check")
}

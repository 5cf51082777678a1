package router

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/router/internal/route"
)

// accessLogExchange is a finished exchange of a routed request, as done
// sees it, on a router logging with log.
func accessLogExchange(t testing.TB, log *slog.Logger) *exchange {
	rt, err := NewStatic(Config{Logger: log}, []Route{{Host: "app.test", Endpoints: []string{"10.0.0.1:8080"}}})
	require.NoError(t, err)
	tgt := rt.table.Load().lookup(route.CanonicalHost("app.test"), "/")
	require.NotNil(t, tgt)
	r := httptest.NewRequest(http.MethodGet, "http://app.test/some/path?q=1", nil)
	return &exchange{
		rt: rt, r: r, w: httptest.NewRecorder(),
		start:  time.Now(),
		target: tgt,
		reqID:  "0123456789abcdef0123456789abcdef",
		status: http.StatusOK,
		up:     tgt.backend.eps[0],
	}
}

func TestAccessLogLineHasEveryField(t *testing.T) {
	var out bytes.Buffer
	ex := accessLogExchange(t, slog.New(slog.NewTextHandler(&out, nil)))
	ex.retries = 1
	ex.err = errors.New("connecting to 10.0.0.2:8080: connection refused")
	ex.done()
	line := out.String()
	for _, want := range []string{
		"level=INFO", "msg=request", "method=GET", "host=app.test", "path=/some/path",
		"status=200", "duration=", "request_id=0123456789abcdef0123456789abcdef",
		"ingress=", "service=", "upstream=10.0.0.1:8080", "retries=1",
		`err="connecting to 10.0.0.2:8080: connection refused"`,
	} {
		assert.Contains(t, line, want)
	}
	assert.Regexp(t, `^time=\S+ level=INFO msg=request method=GET host=app.test path=/some/path status=200 duration=\S+ request_id=\S+ ingress=\S* service=\S* upstream=\S+ retries=1 err=".*"\n$`, line)
}

// The access log costs a request at most the one allocation slog's Record
// makes for attributes past its first five (the handler's buffers are
// pooled), and nothing when it is off.
func TestAccessLogAllocations(t *testing.T) {
	for _, tt := range []struct {
		name string
		log  *slog.Logger
		max  float64
	}{
		{"text handler", slog.New(slog.NewTextHandler(io.Discard, nil)).With("component", "router"), 1},
		{"JSON handler", slog.New(slog.NewJSONHandler(io.Discard, nil)).With("component", "router"), 1},
		{"level above info", slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ex := accessLogExchange(t, tt.log)
			allocs := testing.AllocsPerRun(1000, ex.done)
			if raceEnabled {
				// Pooled buffers are dropped at random: the count says
				// nothing of production.
				t.Logf("%v allocations a line under the race detector", allocs)
				return
			}
			assert.LessOrEqual(t, allocs, tt.max)
		})
	}
}

func BenchmarkAccessLog(b *testing.B) {
	ex := accessLogExchange(b, slog.New(slog.NewTextHandler(io.Discard, nil)).With("component", "router"))
	b.ReportAllocs()
	for b.Loop() {
		ex.done()
	}
}

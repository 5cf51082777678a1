package textlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sameAsSlog handles r with a Handler and with slog.TextHandler, each
// made by mk from a constructor (which writes to a buffer of its own),
// and asserts the same bytes came out.
func sameAsSlog(t *testing.T, mk func(func(io.Writer) slog.Handler) slog.Handler, r slog.Record) string {
	t.Helper()
	var got, want bytes.Buffer
	g := mk(func(io.Writer) slog.Handler { return New(&got, nil) })
	w := mk(func(io.Writer) slog.Handler { return slog.NewTextHandler(&want, nil) })
	require.NoError(t, g.Handle(context.Background(), r.Clone()))
	require.NoError(t, w.Handle(context.Background(), r.Clone()))
	assert.Equal(t, want.String(), got.String())
	return got.String()
}

func plain(newHandler func(io.Writer) slog.Handler) slog.Handler { return newHandler(nil) }

var when = time.Date(2026, 12, 4, 21, 0, 5, 123456789, time.UTC)

func record(msg string, attrs ...slog.Attr) slog.Record {
	r := slog.NewRecord(when, slog.LevelInfo, msg, 0)
	r.AddAttrs(attrs...)
	return r
}

func TestLinesAreSlogs(t *testing.T) {
	strs := []string{
		"", "plain", "a b", "a=b", `a"b`, `back\slash`, "tab\there", "new\nline", "nul\x00",
		"del\x7f", "é", "naïve café", "nbsp\u00a0", "zero\u200bwidth", "bad\xffutf8", "emoji😀",
		"0123456789abcdef0123456789abcdef", "/some/path?q=1&r=2", "longer than eight bytes then a space here",
		"exactly8", "sixteen-bytes-ok", "sixteen bytes no", strings.Repeat("x", 7) + "=", strings.Repeat("y", 15) + "\"",
		strings.Repeat("z", 23) + "\x01", strings.Repeat("w", 8) + "é" + strings.Repeat("v", 8),
	}
	for _, s := range strs {
		sameAsSlog(t, plain, record(s, slog.String(s+"k", s), slog.String("v", s)))
	}
	sameAsSlog(t, plain, record("kinds",
		slog.Int("int", -42), slog.Int64("max", math.MaxInt64), slog.Uint64("uint", math.MaxUint64),
		slog.Float64("f", 1.5), slog.Float64("big", 1e21), slog.Float64("small", 1e-7), slog.Float64("nan", math.NaN()),
		slog.Float64("inf", math.Inf(-1)), slog.Float64("negzero", math.Copysign(0, -1)),
		slog.Bool("yes", true), slog.Bool("no", false),
		slog.Duration("d", 1234567*time.Nanosecond), slog.Duration("zero", 0), slog.Duration("neg", -time.Hour),
		slog.Time("utc", when), slog.Time("india", when.In(time.FixedZone("IST", 5*3600+1800))),
		slog.Time("west", when.In(time.FixedZone("X", -(3*3600+15*60)))), slog.Time("local", when.Local()),
		slog.Time("zero", time.Time{}),
	))
	// What slog's own formats: errors and other values of kind Any,
	// groups, LogValuers, empty attributes.
	sameAsSlog(t, plain, record("fallback", slog.String("a", "b"), slog.Any("err", errors.New("broken pipe"))))
	sameAsSlog(t, plain, record("fallback", slog.Group("g", slog.Int("n", 1), slog.String("s", "x y"))))
	sameAsSlog(t, plain, record("fallback", slog.Attr{}, slog.String("after", "empty")))
	sameAsSlog(t, plain, record("fallback", slog.Any("bytes", []byte("raw bytes"))))
	sameAsSlog(t, plain, record("fallback", slog.Any("lv", logValuer{})))
	sameAsSlog(t, plain, record("fallback", slog.Time("year", time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC))))

	// The record's own time and level.
	for _, r := range []slog.Record{
		slog.NewRecord(time.Time{}, slog.LevelInfo, "no time", 0),
		slog.NewRecord(when.In(time.FixedZone("Y", 3600)), slog.LevelWarn+2, "zoned", 0),
		slog.NewRecord(when, slog.LevelError, "error", 0),
		slog.NewRecord(when, slog.LevelDebug-1, "debug", 0),
		slog.NewRecord(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "year -1", 0),
	} {
		sameAsSlog(t, plain, r)
	}
}

type logValuer struct{}

func (logValuer) LogValue() slog.Value { return slog.StringValue("resolved value") }

func TestDerivedHandlersAreSlogs(t *testing.T) {
	r := record("request", slog.String("method", "GET"), slog.Int("status", 200), slog.Any("err", errors.New("x")))
	for _, tt := range []struct {
		name string
		mk   func(func(io.Writer) slog.Handler) slog.Handler
	}{
		{"with attrs", func(n func(io.Writer) slog.Handler) slog.Handler {
			return n(nil).WithAttrs([]slog.Attr{slog.String("component", "router")}).
				WithAttrs([]slog.Attr{slog.Int("n", 1), slog.String("q", "a b")})
		}},
		{"with an attr of kind Any", func(n func(io.Writer) slog.Handler) slog.Handler {
			return n(nil).WithAttrs([]slog.Attr{slog.Any("e", errors.New("boom")), slog.String("k", "v")})
		}},
		{"with a group", func(n func(io.Writer) slog.Handler) slog.Handler {
			return n(nil).WithAttrs([]slog.Attr{slog.String("component", "api")}).WithGroup("req").
				WithAttrs([]slog.Attr{slog.String("id", "x")})
		}},
		{"empty group and no attrs", func(n func(io.Writer) slog.Handler) slog.Handler {
			return n(nil).WithGroup("").WithAttrs(nil)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sameAsSlog(t, tt.mk, r)
			sameAsSlog(t, tt.mk, record("no attrs"))
		})
	}
}

// Records made at random from strings that have what needs quoting at
// every offset come out as slog's.
func TestRandomRecordsAreSlogs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", "-", "/", ".", "\\", " ", "=", "\"", "\t", "\x00", "\x7f", "é", "\u00a0", "\u2028", "\xff", "😀"}
	str := func() string {
		var sb strings.Builder
		n := rng.IntN(24)
		for range n {
			if rng.IntN(4) == 0 {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				sb.WriteByte(byte('a' + rng.IntN(26)))
			}
		}
		return sb.String()
	}
	for range 3000 {
		var attrs []slog.Attr
		for range rng.IntN(8) {
			k := str()
			switch rng.IntN(6) {
			case 0:
				attrs = append(attrs, slog.Int64(k, rng.Int64()-rng.Int64()))
			case 1:
				attrs = append(attrs, slog.Duration(k, time.Duration(rng.Int64N(int64(time.Hour)))))
			case 2:
				attrs = append(attrs, slog.Float64(k, rng.NormFloat64()*1e6))
			default:
				attrs = append(attrs, slog.String(k, str()))
			}
		}
		r := slog.NewRecord(when.Add(time.Duration(rng.Int64N(int64(365*24*time.Hour)))), slog.Level(rng.IntN(20)-8), str(), 0)
		r.AddAttrs(attrs...)
		sameAsSlog(t, plain, r)
		if t.Failed() {
			return
		}
	}
}

func TestLevel(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	h := New(io.Discard, &slog.HandlerOptions{Level: &lv})
	assert.False(t, h.Enabled(context.Background(), slog.LevelInfo))
	assert.True(t, h.Enabled(context.Background(), slog.LevelWarn))
	lv.Set(slog.LevelDebug)
	assert.True(t, h.WithAttrs([]slog.Attr{slog.String("a", "b")}).Enabled(context.Background(), slog.LevelDebug))
	assert.False(t, New(io.Discard, nil).Enabled(context.Background(), slog.LevelDebug), "Info by default")
}

// With options this package leaves to slog, slog formats every record.
func TestOptionsLeftToSlog(t *testing.T) {
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "secret" {
			a.Value = slog.StringValue("hidden")
		}
		return a
	}}
	var got, want bytes.Buffer
	r := record("m", slog.String("secret", "s3cr3t"))
	require.NoError(t, New(&got, opts).Handle(context.Background(), r))
	require.NoError(t, slog.NewTextHandler(&want, opts).Handle(context.Background(), r))
	assert.Equal(t, want.String(), got.String())
	assert.Contains(t, got.String(), "secret=hidden")
}

// An access log line of the router's costs no allocation of the
// handler's.
func TestAccessLineDoesNotAllocate(t *testing.T) {
	h := New(io.Discard, nil).WithAttrs([]slog.Attr{slog.String("component", "router")})
	r := accessRecord()
	allocs := testing.AllocsPerRun(1000, func() { _ = h.Handle(context.Background(), r) })
	assert.Zero(t, allocs)
}

func accessRecord() slog.Record {
	return record("request",
		slog.String("method", "GET"), slog.String("host", "app.apps.example.com"), slog.String("path", "/some/path"),
		slog.Int("status", 200), slog.Duration("duration", 1234567*time.Nanosecond),
		slog.String("request_id", "0123456789abcdef0123456789abcdef"), slog.String("ingress", "tenant-a/app"),
		slog.String("service", "tenant-a/app-web:http"), slog.String("upstream", "10.218.1.23:8080"))
}

// BenchmarkAccessLine is a router access log line by this Handler and by
// slog.TextHandler.
func BenchmarkAccessLine(b *testing.B) {
	for _, bb := range []struct {
		name string
		h    slog.Handler
	}{
		{"textlog", New(io.Discard, nil)},
		{"slog", slog.NewTextHandler(io.Discard, nil)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			h := bb.h.WithAttrs([]slog.Attr{slog.String("component", "router")})
			r := accessRecord()
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Handle(context.Background(), r)
			}
		})
	}
}

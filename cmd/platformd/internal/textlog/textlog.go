// Package textlog provides platformd's slog.Handler for its text log
// format: the lines of slog.TextHandler, byte for byte, made faster for
// the records that a busy server writes most, such as the router's access
// log, one a request. A record whose attributes are all of the plain
// kinds (strings, numbers, booleans, durations, times) is formatted by
// appending to a pooled buffer, its keys and values checked for quoting
// eight bytes at a time; any other record (groups, errors and other
// values of kind Any, LogValuers, empty keys) goes to a slog.TextHandler
// made with the same options and attributes, so that the format stays
// slog's whatever is logged. It does not own the writer's buffering (see
// logwriter) or the JSON format, which stays slog's.
package textlog

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Handler is a slog.Handler writing slog.TextHandler's format. It is safe
// for concurrent use. Each record is one Write call of one whole line, so
// a writer that takes each call whole (platformd's logwriter, or a file
// written in one system call) never interleaves lines, between a Handler
// and the handlers it derives alike.
type Handler struct {
	w      io.Writer
	level  slog.Leveler
	attrs  []byte       // the formatted attributes of WithAttrs, each " key=value"
	slow   slog.Handler // slog's own, with the same attributes and groups
	pool   *sync.Pool   // *[]byte line buffers, shared with derived handlers
	direct bool         // no group opened: records may be formatted here
}

var _ slog.Handler = (*Handler)(nil)

// New returns a Handler writing to w at opts.Level and above (nil opts:
// Info). opts.AddSource and opts.ReplaceAttr are slog's business: a
// Handler with either leaves every record to slog.TextHandler.
func New(w io.Writer, opts *slog.HandlerOptions) *Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	var level slog.Leveler = slog.LevelInfo
	if opts.Level != nil {
		level = opts.Level
	}
	return &Handler{
		w:      w,
		level:  level,
		slow:   slog.NewTextHandler(w, opts),
		pool:   &sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }},
		direct: !opts.AddSource && opts.ReplaceAttr == nil,
	}
}

// Enabled reports whether records at level are written.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a Handler that writes attrs on every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.slow = h.slow.WithAttrs(attrs)
	if h.direct {
		b := append([]byte(nil), h.attrs...)
		for _, a := range attrs {
			var ok bool
			if b, ok = appendAttr(b, a); !ok {
				h2.direct = false
				break
			}
		}
		h2.attrs = b
	}
	return &h2
}

// WithGroup returns a Handler whose later attributes are in the group
// name: slog's own formats its records. (An empty name is a group too,
// to slog.TextHandler.)
func (h *Handler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.slow = h.slow.WithGroup(name)
	h2.direct = false
	return &h2
}

// Handle writes r as one line.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.direct {
		return h.slow.Handle(ctx, r)
	}
	bp := h.pool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			h.pool.Put(bp)
		}
	}()
	b, ok := appendRecord((*bp)[:0], r, h.attrs)
	*bp = b
	if !ok {
		return h.slow.Handle(ctx, r)
	}
	_, err := h.w.Write(b)
	return err
}

// appendRecord appends r's line, with the formatted attributes attrs
// after its message, and reports whether it could format every attribute.
func appendRecord(b []byte, r slog.Record, attrs []byte) ([]byte, bool) {
	if !r.Time.IsZero() {
		t := r.Time
		if y := t.Year(); y < 0 || y > 9999 {
			return b, false
		}
		b = append(b, "time="...)
		b = appendTime(b, t)
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = appendString(b, r.Level.String())
	b = append(b, " msg="...)
	b = appendString(b, r.Message)
	b = append(b, attrs...)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		b, ok = appendAttr(b, a)
		return ok
	})
	return append(b, '\n'), ok
}

// appendAttr appends " key=value", or reports that a is not of a kind
// it formats as slog does.
func appendAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" {
		return b, false // slog drops empty attributes and groups
	}
	b = append(b, ' ')
	b = appendString(b, a.Key)
	b = append(b, '=')
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		b = appendString(b, v.String())
	case slog.KindInt64:
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		b = strconv.AppendFloat(b, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = append(b, v.Duration().String()...)
	case slog.KindTime:
		t := v.Time()
		if y := t.Year(); y < 0 || y > 9999 {
			return b, false
		}
		b = appendTime(b, t)
	default:
		return b, false
	}
	return b, true
}

// appendTime appends t as RFC 3339 with milliseconds, truncated, and its
// zone's offset (Z for UTC): 2026-12-04T21:00:00.123Z.
func appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	_, offset := t.Zone()
	if offset == 0 {
		return append(b, 'Z')
	}
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	b = append(b, sign)
	b = appendDigits(b, offset/3600, 2)
	b = append(b, ':')
	return appendDigits(b, offset/60%60, 2)
}

// appendDigits appends n, 0 <= n < 10^width, in width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

// appendString appends s, quoted where slog's text format quotes it.
func appendString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// needsQuoting reports whether slog's text format quotes s: when it is
// empty or has a space, '=', '"', a control character, invalid UTF-8, or
// a rune that is a space or not printable. A backslash alone does not
// make it quoted. Eight bytes of plain ASCII are checked at a time, the
// rest a byte at a time against a table.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !plain8(s[i : i+8]) {
			break
		}
	}
	if i+8 > len(s) && len(s) >= 8 && plain8(s[len(s)-8:]) {
		return false // the last eight, overlapping those checked
	}
	for i < len(s) {
		c := s[i]
		if !special[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return true
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// plain8 reports whether the eight bytes of s are all plain ASCII: none
// below 0x21 (controls and space), '"', '=' or non-ASCII, each of which
// sets its top bit in one of the terms.
func plain8(s string) bool {
	x := binary.LittleEndian.Uint64([]byte(s))
	return ((x-lsb*0x21)|hasZero(x^(lsb*'"'))|hasZero(x^(lsb*'='))|x)&msb == 0
}

// special marks the bytes needsQuoting looks at more closely: those that
// need quoting, and the first bytes of non-ASCII runes.
var special = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x21 || c == '"' || c == '=' || c >= utf8.RuneSelf
	}
	return t
}()

// hasZero sets the top bit of each zero byte of x (and may set it of a
// 0x01 byte above a zero one, which only sends the caller to its byte by
// byte check).
func hasZero(x uint64) uint64 { return (x - lsb) &^ x }

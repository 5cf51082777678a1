package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// routeLibraryLogs sends the logs of libraries that keep a process-wide
// logger to logger. The embedded registry (distribution) and the BuildKit
// client log through logrus's standard logger, client-go through klog.
// That state is global to the process, which is why the binary, not a
// package, sets it; calling this again replaces what the last call set,
// safely while those libraries log.
func routeLibraryLogs(logger *slog.Logger, level slog.Level) {
	std := logrus.StandardLogger()
	std.SetOutput(io.Discard)
	std.SetFormatter(nopFormatter{})
	std.SetLevel(logrus.WarnLevel)
	if level <= slog.LevelDebug {
		std.SetLevel(logrus.DebugLevel)
	}
	std.ReplaceHooks(logrus.LevelHooks{})
	std.AddHook(logrusHook{log: logger.With("component", "logrus")})

	// klog's logger is read without a lock by every client-go request, so
	// it is set once, to a handler that follows the latest call.
	klogHandler.Store(new(logger.With("component", "klog").Handler()))
	klogOnce.Do(func() { klog.SetSlogLogger(slog.New(swapHandler{cur: &klogHandler})) })
}

var (
	klogHandler atomic.Pointer[slog.Handler]
	klogOnce    sync.Once
)

// swapHandler hands each record to the handler cur points to when the
// record is logged, with the attributes and groups added on the way.
type swapHandler struct {
	cur *atomic.Pointer[slog.Handler]
	ops []func(slog.Handler) slog.Handler
}

func (s swapHandler) handler() slog.Handler {
	h := *s.cur.Load()
	for _, op := range s.ops {
		h = op(h)
	}
	return h
}

func (s swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.handler().Enabled(ctx, l)
}

func (s swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.handler().Handle(ctx, r)
}

func (s swapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return swapHandler{cur: s.cur, ops: append(s.ops[:len(s.ops):len(s.ops)], func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })}
}

func (s swapHandler) WithGroup(name string) slog.Handler {
	return swapHandler{cur: s.cur, ops: append(s.ops[:len(s.ops):len(s.ops)], func(h slog.Handler) slog.Handler { return h.WithGroup(name) })}
}

// logrusHook forwards logrus entries to slog.
type logrusHook struct{ log *slog.Logger }

func (logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrusHook) Fire(e *logrus.Entry) error {
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	level := libraryLevel(e)
	if !h.log.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]any, 0, len(e.Data))
	for k, v := range e.Data {
		if k == logrus.ErrorKey {
			k = "err"
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	h.log.Log(ctx, level, e.Message, attrs...)
	return nil
}

// libraryLevel maps a logrus level to slog's. The libraries are chatty:
// the registry logs every request at info and every client error (a 404
// for a manifest that is not there yet) at error, so info becomes debug
// and a request that failed by the client's fault becomes debug too.
func libraryLevel(e *logrus.Entry) slog.Level {
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		if status, ok := e.Data["http.response.status"].(int); ok && status < 500 {
			return slog.LevelDebug
		}
		return slog.LevelError
	case logrus.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelDebug
	}
}

// nopFormatter saves logrus the work of formatting lines nobody reads.
type nopFormatter struct{}

func (nopFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

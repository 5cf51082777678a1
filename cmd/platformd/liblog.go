package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// routeLibraryLogs sends the logs of libraries that keep a process-wide
// logger to logger. The embedded registry (distribution) and the BuildKit
// client log through logrus's standard logger, client-go through klog.
// That state is global to the process, which is why the binary, not a
// package, sets it; calling this again replaces what the last call set.
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

	klog.SetSlogLogger(logger.With("component", "klog"))
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

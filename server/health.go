package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/platform-paas/platform/server/api"
)

// healthz answers while the process can serve HTTP at all; it checks no
// dependency, so a failing database never gets platformd restarted.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is the detailed /readyz's JSON body.
type readiness = api.Readiness

// readyzBrief is the public /readyz: 200 "ready" if every readiness check
// passes, else 503 "not ready", and nothing about which failed or why.
func (s *Server) readyzBrief(w http.ResponseWriter, r *http.Request) {
	res := s.readiness(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if res.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// readyz is the operator's /readyz: every readiness check with its
// result, 200 only if all pass.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	res := s.readiness(r.Context())
	code := http.StatusOK
	if res.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, res)
}

// getReadiness shows admins every readiness check with its result, as the
// operator's /readyz does: GET /readiness. It answers 200 whatever the
// results: the request itself succeeded.
func (s *Server) getReadiness(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(userFrom(r.Context()), "read the readiness checks"); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.readiness(r.Context()))
	return nil
}

// readiness runs every readiness check concurrently, each under its own
// timeout.
func (s *Server) readiness(ctx context.Context) readiness {
	res := readiness{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	errs := s.runChecks(ctx)
	for i, ch := range s.checks {
		if errs[i] != nil {
			res.Status = "unavailable"
			res.Checks[ch.Name] = "error: " + errs[i].Error()
			s.log.DebugContext(ctx, "readiness check failed", "check", ch.Name, "err", errs[i])
			continue
		}
		res.Checks[ch.Name] = "ok"
	}
	return res
}

// runChecks returns the error of each check, in the order of s.checks.
func (s *Server) runChecks(ctx context.Context) []error {
	errs := make([]error, len(s.checks))
	var wg sync.WaitGroup
	for i, ch := range s.checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, s.checkTimeout)
			defer cancel()
			errs[i] = ch.Func(cctx)
		})
	}
	wg.Wait()
	return errs
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing left to tell it
}

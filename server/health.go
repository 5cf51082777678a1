package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
)

// healthz answers while the process can serve HTTP at all; it checks no
// dependency, so a failing database never gets platformd restarted.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is /readyz's JSON body.
type readiness struct {
	Status string            `json:"status"` // "ok" or "unavailable"
	Checks map[string]string `json:"checks"` // name → "ok" or "error: ..."
}

// readyz runs every readiness check concurrently, each under its own
// timeout, and answers 200 only if all pass.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	res := readiness{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	errs := s.runChecks(r.Context())
	for i, ch := range s.checks {
		if errs[i] != nil {
			res.Status = "unavailable"
			res.Checks[ch.Name] = "error: " + errs[i].Error()
			s.log.DebugContext(r.Context(), "readiness check failed", "check", ch.Name, "err", errs[i])
			continue
		}
		res.Checks[ch.Name] = "ok"
	}
	code := http.StatusOK
	if res.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, res)
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

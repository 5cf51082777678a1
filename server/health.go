package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
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
//
// ?exclude=<check> (repeatable) leaves a check out, as the API server's
// /readyz does: a Kubernetes readiness probe leaves out what every replica
// shares (BuildKit, the Kubernetes API), whose failure would take every
// replica out of its Services at once, the git receiver and the registry
// with them, when most requests do not need it.
func (s *Server) readyzBrief(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	skip, err := s.excluded(r)
	if err != nil {
		// The operator's /readyz names the checks; this one does not.
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("exclude names no check (the operator's /readyz lists them)\n"))
		return
	}
	res := s.readiness(r.Context(), skip)
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
	skip, err := s.excluded(r)
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	res := s.readiness(r.Context(), skip)
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
	writeJSON(w, http.StatusOK, s.readiness(r.Context(), nil))
	return nil
}

// excluded returns the checks r's ?exclude= names, or an error naming one
// that is no check.
func (s *Server) excluded(r *http.Request) (map[string]bool, error) {
	names := r.URL.Query()["exclude"]
	if len(names) == 0 {
		return nil, nil
	}
	known := make([]string, 0, len(s.checks))
	for _, ch := range s.checks {
		known = append(known, ch.Name)
	}
	skip := make(map[string]bool, len(names))
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("exclude=%s: no such check; the checks are %s", n, strings.Join(known, ", "))
		}
		skip[n] = true
	}
	return skip, nil
}

// readiness runs every readiness check but those in skip concurrently,
// each under its own timeout. A skipped check shows as "excluded".
func (s *Server) readiness(ctx context.Context, skip map[string]bool) readiness {
	res := readiness{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	errs := s.runChecks(ctx, skip)
	for i, ch := range s.checks {
		if skip[ch.Name] {
			res.Checks[ch.Name] = "excluded"
			continue
		}
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
func (s *Server) runChecks(ctx context.Context, skip map[string]bool) []error {
	errs := make([]error, len(s.checks))
	var wg sync.WaitGroup
	for i, ch := range s.checks {
		if skip[ch.Name] {
			continue
		}
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

package main

import (
	"net/http"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests if a goroutine outlives them: the controller's
// informers end with its run, the test pod network's listeners and
// connections with the test. Nothing is ignored; the idle connections of
// http.DefaultTransport, which the health checks used, are closed first.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(idleClosed{m})
}

type idleClosed struct{ m *testing.M }

// Run runs the tests and returns their exit code.
func (r idleClosed) Run() int {
	code := r.m.Run()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	return code
}

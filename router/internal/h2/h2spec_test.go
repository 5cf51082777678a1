package h2

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestH2Spec runs h2spec, the HTTP/2 conformance suite (a tool in
// go.mod), against the server, HTTP/2 with prior knowledge on loopback:
// every case of its RFC 7540 (HTTP/2), RFC 7541 (HPACK) and generic
// specs, the strict ones (SHOULDs) too, must pass. A case h2spec skips
// fails as well: it skips those whose precondition the server does not
// meet, and then checks nothing.
func TestH2Spec(t *testing.T) {
	// Build it first, so that a missing module is told apart from a
	// server h2spec cannot talk to.
	if out, err := h2spec(t, "--version"); err != nil {
		t.Fatalf("h2spec does not run (%v: %s); it is a tool in go.mod: go mod download github.com/summerwind/h2spec, "+
			"or add it with go get -tool github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible", err, strings.TrimSpace(out))
	}
	host, port, err := net.SplitHostPort(serveH2C(t, h2specHandler, Timeouts{}).addr)
	require.NoError(t, err)
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	// --timeout is how long a case waits for each answer of the server,
	// in seconds. A case passes at the answer it wants, so only failing
	// ones wait it out: 5 rather than h2spec's 2 costs a passing run
	// nothing and keeps a loaded machine (-race, packages in parallel)
	// from failing cases.
	out, runErr := h2spec(t, "--strict", "--host", host, "--port", port, "--timeout", "5", "--junit-report", report)
	// h2spec writes no report when it cannot run its cases (it exits at
	// the first connection refused) or finds none to run.
	cases, err := readJUnit(report)
	require.NoError(t, err, "h2spec's report (h2spec exited with %v): %s", runErr, out)
	require.NotEmpty(t, cases, "h2spec ran no cases: %s", out)

	var failed []string
	for _, c := range cases {
		if why := c.failure(); why != "" {
			failed = append(failed, fmt.Sprintf("%s %s: %s", c.id, c.Desc, why))
		}
	}
	t.Logf("h2spec: %d cases, %d failed", len(cases), len(failed))
	if len(failed) > 0 {
		// h2spec's own account adds each case's requirement.
		if _, account, ok := strings.Cut(out, "Failures:"); ok {
			t.Logf("h2spec's failures:%s", account)
		}
		t.Errorf("h2spec: %d of %d cases failed (go tool h2spec --port PORT ID runs one):\n%s",
			len(failed), len(cases), strings.Join(failed, "\n"))
	}
	assert.True(t, runErr == nil || len(failed) > 0, "h2spec failed with %v, though no case did: %s", runErr, out)
}

// h2specHandler answers h2spec's requests (GET and POST of /) with 200
// and a body. It reads the request's body first, so that a POST's DATA
// frames are taken and their flow-control window given back. The body is
// longer than the 5 bytes h2spec's flow-control cases need (6.9.2 holds
// it back by a window of 3 and then lets 1 byte through), and shorter
// than the default window, so that the others get it whole.
var h2specHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	_, _ = io.WriteString(w, "hello from the router's HTTP/2 server\n")
})

// h2spec runs go.mod's h2spec with args from the test's directory, in
// the module, for at most five minutes, and returns what it printed.
func h2spec(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "h2spec"}, args...)...).CombinedOutput()
	return string(out), err
}

// served is a server serveH2C runs, and its address.
type served struct {
	srv  *Server
	addr string
}

// serveH2C serves h on a server with timeouts t, HTTP/2 with prior
// knowledge on loopback, until the test ends, and returns it. The
// server's log is shown if the test fails: it says why it ended each
// connection. At the end the server must shut down cleanly: the clients'
// connections are closed by then, and it should let go of them without
// being cut.
func serveH2C(t *testing.T, h http.Handler, to Timeouts) served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var log bytes.Buffer // written under the handler's lock, read once the server is done
	srv := NewServer(h, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})), to)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener closed
			}
			wg.Go(func() { srv.ServeConn(context.Background(), c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(ctx))
		srv.Close()
		wg.Wait()
		if t.Failed() && log.Len() > 0 {
			t.Logf("the server's log:\n%s", log.String())
		}
	})
	return served{srv: srv, addr: ln.Addr().String()}
}

// junitCase is a case of h2spec's JUnit report, with its ID.
type junitCase struct {
	id      string // spec/section/number, as h2spec takes it to run the case alone
	Desc    string `xml:"classname,attr"`
	Failure *struct {
		Text string `xml:",chardata"`
	} `xml:"failure"`
	Error *struct {
		Text string `xml:",chardata"`
	} `xml:"error"`
	Skipped *struct{} `xml:"skipped"`
}

// readJUnit reads h2spec's JUnit report: a suite per section, whose
// package is the section's ID, holding its cases in their order.
func readJUnit(file string) ([]junitCase, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var report struct {
		Suites []struct {
			Package string      `xml:"package,attr"`
			Cases   []junitCase `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &report); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var cases []junitCase
	for _, s := range report.Suites {
		for i, c := range s.Cases {
			c.id = fmt.Sprintf("%s/%d", s.Package, i+1)
			cases = append(cases, c)
		}
	}
	return cases, nil
}

// failure says why the case failed, on one line, or "" if it passed.
func (c junitCase) failure() string {
	switch {
	case c.Skipped != nil:
		return "skipped by h2spec: the server did not meet its precondition " +
			"(SETTINGS_MAX_CONCURRENT_STREAMS advertised, or a response body of 5 bytes or more)"
	case c.Failure != nil:
		// Where h2spec means to write a failure, as
		// "Expect:\n...\nActual:\n...".
		expected, actual, _ := strings.Cut(strings.TrimPrefix(c.Failure.Text, "Expect:\n"), "\nActual:\n")
		return expectedActual(expected, actual)
	case c.Error != nil:
		// Where h2spec v2.2.1 writes every failure (its type switch
		// misses the *TestError it returns), as the error's text: the
		// expected answers a line each, then the actual one. An error of
		// its own (a failed handshake, say) is a line alone.
		expected, actual, ok := cutLast(c.Error.Text, "\n")
		if !ok {
			return "error: " + c.Error.Text
		}
		return expectedActual(expected, actual)
	}
	return ""
}

func expectedActual(expected, actual string) string {
	return fmt.Sprintf("expected %s; got %s", strings.ReplaceAll(expected, "\n", " or "), actual)
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

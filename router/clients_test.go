package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/router/internal/h1/h1test"
)

// The tests of this file are of hostile clients: those that hold
// connections with slow or stalled requests and responses.

// TestProxySlowClients: a client slow to send its head, one that stops
// sending its body and one that stops reading its response are each cut
// off after the router's configured timeout (short here; minutes by
// default), and the app's request ends with them.
func TestProxySlowClients(t *testing.T) {
	uploadEnded := make(chan error, 1)
	downloadEnded := make(chan error, 1)
	chunk := []byte(strings.Repeat("x", 32<<10))
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			_, err := io.ReadAll(r.Body)
			uploadEnded <- err
		case "/download":
			for { // endless, until the router cuts the stream
				if _, err := w.Write(chunk); err != nil {
					downloadEnded <- err
					return
				}
			}
		}
	}))
	t.Cleanup(be.Close)
	const timeout = 300 * time.Millisecond
	tr := serveStatic(t, Config{ReadHeaderTimeout: timeout, BodyIdleTimeout: timeout, WriteTimeout: timeout},
		Route{Host: "app.test", Endpoints: []string{addrOf(be)}})
	ended := func(t *testing.T, ch <-chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(20 * time.Second):
			require.FailNow(t, "the app's request did not end")
			return nil
		}
	}

	t.Run("head", func(t *testing.T) {
		rc := h1test.Dial(t, tr.addr)
		rc.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ")
		rc.Closed(t)
	})

	t.Run("stalled body", func(t *testing.T) {
		rc := h1test.Dial(t, tr.addr)
		// More than the router buffers before it sends the app anything,
		// so that the app's request has begun; then the next byte never
		// comes.
		rc.Send(t, "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("b", 16<<10))
		assert.ErrorIs(t, ended(t, uploadEnded), io.ErrUnexpectedEOF, "the app sees its request cut")
		res, body := rc.Response(t, http.MethodPost)
		assert.Equal(t, http.StatusRequestTimeout, res.StatusCode)
		assert.Contains(t, body, "stopped coming")
		assert.True(t, res.Close, "Connection: close")
		rc.Closed(t)
		require.Eventually(t, func() bool { return strings.Contains(tr.logs.String(), "status=408") },
			5*time.Second, 10*time.Millisecond, "logged as 408; log: %s", tr.logs.String())
	})

	t.Run("stalled reader", func(t *testing.T) {
		rc := h1test.Dial(t, tr.addr)
		rc.Send(t, "GET /download HTTP/1.1\r\nHost: app.test\r\n\r\n")
		// The client reads nothing until the app's request has ended.
		assert.Error(t, ended(t, downloadEnded), "the app's writes fail once the router cuts the stream")
		// Then what the router sent before is there to read, and the
		// connection ends.
		_, err := io.Copy(io.Discard, rc.Reader)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return strings.Contains(tr.logs.String(), "status=499") },
			5*time.Second, 10*time.Millisecond, "logged as 499; log: %s", tr.logs.String())
	})
}

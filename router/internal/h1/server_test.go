package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/router/internal/h1/h1test"
)

// startServer runs h on the router's own server on loopback until the
// test ends; tweak may change the server's settings first.
func startServer(t *testing.T, h http.Handler, tweak func(*Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return startServerOn(t, ln, h, tweak)
}

func startServerOn(t *testing.T, ln net.Listener, h http.Handler, tweak func(*Server)) string {
	t.Helper()
	srv := NewServer(h, slog.New(slog.DiscardHandler), ln, Timeouts{})
	if tweak != nil {
		tweak(srv)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		require.NoError(t, <-errc)
	})
	return ln.Addr().String()
}

// echoHandler answers with what it got: the method, target, host, the
// headers it is asked about (X-Show) and the body.
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "%s %s host=%s path=%s", r.Method, r.RequestURI, r.Host, r.URL.Path)
	for _, k := range r.Header.Values("X-Show") {
		fmt.Fprintf(w, " %s=%q", k, r.Header.Values(k))
	}
	fmt.Fprintf(w, " body=%q", b)
})

func TestServerRejectsMalformedRequests(t *testing.T) {
	addr := startServer(t, echoHandler, nil)
	const host = "Host: app.test\r\n"
	for _, tc := range []struct {
		name, head string
		status     int
	}{
		{"no version", "GET /\r\n" + host, 400},
		{"bad version", "GET / HTTP/1.1x\r\n" + host, 400},
		{"lower-case version", "GET / http/1.1\r\n" + host, 400},
		{"HTTP/2", "GET / HTTP/2.0\r\n" + host, 505},
		{"two spaces", "GET  / HTTP/1.1\r\n" + host, 400},
		{"space in target", "GET /a b HTTP/1.1\r\n" + host, 400},
		{"control in target", "GET /a\x01 HTTP/1.1\r\n" + host, 400},
		{"invalid method", "G(T / HTTP/1.1\r\n" + host, 400},
		{"empty request line", "\r\n" + host, 400},
		{"CONNECT", "CONNECT app.test:443 HTTP/1.1\r\n" + host, 400},
		{"asterisk without OPTIONS", "GET * HTTP/1.1\r\n" + host, 400},
		{"absolute-form of another scheme", "GET ftp://app.test/ HTTP/1.1\r\n" + host, 400},
		{"absolute-form without host", "GET http:///x HTTP/1.1\r\n" + host, 400},
		{"no Host", "GET / HTTP/1.1\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\n" + host + host, 400},
		{"two Hosts in HTTP/1.0", "GET / HTTP/1.0\r\n" + host + host, 400},
		{"invalid Host", "GET / HTTP/1.1\r\nHost: app.test/x\r\n", 400},
		{"Host with a space", "GET / HTTP/1.1\r\nHost: app test\r\n", 400},
		{"folded header", "GET / HTTP/1.1\r\n" + host + "X-A: 1\r\n 2\r\n", 400},
		{"folded first header", "GET / HTTP/1.1\r\n X-A: 1\r\n" + host, 400},
		{"space before the colon", "GET / HTTP/1.1\r\nHost : app.test\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\n" + host + "X-A\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\n" + host + ": x\r\n", 400},
		{"invalid name", "GET / HTTP/1.1\r\n" + host + "X(A): x\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n", 400},
		{"unknown expectation", "GET / HTTP/1.1\r\n" + host + "Expect: 200-ok\r\n", 417},
		{"head too large", "GET / HTTP/1.1\r\n" + host + "X-A: " + strings.Repeat("a", 70<<10) + "\r\n", 431},
		{"request line too long", "GET /" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\n" + host, 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := h1test.Dial(t, addr)
			rc.Send(t, tc.head+"\r\n")
			res, body := rc.Response(t, "GET")
			assert.Equal(t, tc.status, res.StatusCode, body)
			assert.True(t, res.Close, "Connection: close")
			assert.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
			rc.Closed(t)
		})
	}
}

// TestServerRefusesSmuggling: a request whose end is ambiguous is not
// served, so that nothing can be smuggled past the router in its body.
func TestServerRefusesSmuggling(t *testing.T) {
	addr := startServer(t, echoHandler, nil)
	const start = "POST / HTTP/1.1\r\nHost: app.test\r\n"
	smuggled := "GET /admin HTTP/1.1\r\nHost: app.test\r\n\r\n"
	for _, tc := range []struct {
		name, request string
		status        int
	}{
		{"length and chunked", start + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"chunked and length", start + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"two lengths", start + "Content-Length: 0\r\nContent-Length: 41\r\n\r\n" + smuggled, 400},
		{"two lengths, one list", start + "Content-Length: 0, 41\r\n\r\n" + smuggled, 400},
		{"same length written twice", start + "Content-Length: 1\r\nContent-Length: 01\r\n\r\nx" + smuggled, 400},
		{"signed length", start + "Content-Length: +5\r\n\r\nhello", 400},
		{"negative length", start + "Content-Length: -1\r\n\r\n", 400},
		{"hex length", start + "Content-Length: 0x5\r\n\r\nhello", 400},
		{"huge length", start + "Content-Length: 99999999999999999999\r\n\r\n", 400},
		{"other coding", start + "Transfer-Encoding: gzip\r\n\r\n", 501},
		{"chunked not alone", start + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"chunked twice", start + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
		{"chunked in two fields", start + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"empty coding", start + "Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400},
		{"empty Transfer-Encoding", start + "Transfer-Encoding: \r\n\r\n", 400},
		{"chunked from HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"bad chunk size", start + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled, 400},
		{"negative chunk size", start + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size with a space before", start + "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size overflowing", start + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size line ending in LF", start + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
		{"chunk longer than its size", start + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400},
		{"control in a chunk extension", start + "Transfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n", 400},
		{"folded trailer", start + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := h1test.Dial(t, addr)
			rc.Send(t, tc.request)
			res, body := rc.Response(t, "POST")
			assert.Equal(t, tc.status, res.StatusCode, body)
			assert.True(t, res.Close, "Connection: close")
			rc.Closed(t)
		})
	}
}

func TestServerChunkedRequestBodies(t *testing.T) {
	addr := startServer(t, echoHandler, nil)
	for _, tc := range []struct{ name, chunks, want string }{
		{"plain", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
		{"upper-case hex and extensions", "A;name=value;quoted=\"x y\"\r\n0123456789\r\n0 ;last\r\n\r\n", "0123456789"},
		{"trailers", "2\r\nhi\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n", "hi"},
		{"empty", "0\r\n\r\n", ""},
		{"leading zeros", "0002\r\nhi\r\n000\r\n\r\n", "hi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := h1test.Dial(t, addr)
			// The next request follows at once: the body ends where its
			// framing says.
			rc.Send(t, "POST /up HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"+tc.chunks+
				"GET /next HTTP/1.1\r\nHost: app.test\r\n\r\n")
			res, body := rc.Response(t, "POST")
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, fmt.Sprintf("POST /up host=app.test path=/up body=%q", tc.want), body)
			_, body = rc.Response(t, "GET")
			assert.Equal(t, `GET /next host=app.test path=/next body=""`, body)
		})
	}
}

func TestServer100Continue(t *testing.T) {
	addr := startServer(t, echoHandler, nil)

	t.Run("sent on the first body read", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "PUT /x HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		res, err := http.ReadResponse(rc.Reader, nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusContinue, res.StatusCode)
		rc.Send(t, "hello")
		res, body := rc.Response(t, "PUT")
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Contains(t, body, `body="hello"`)
		assert.False(t, res.Close)
	})

	t.Run("not sent when the body is not read", func(t *testing.T) {
		addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusForbidden)
		}), nil)
		rc := h1test.Dial(t, addr)
		rc.Send(t, "PUT /x HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		res, _ := rc.Response(t, "PUT")
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
		assert.True(t, res.Close, "the client may or may not send the body now: the connection ends")
		rc.Closed(t)
	})
}

func TestServerHTTP10AndConnectionClose(t *testing.T) {
	sized := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		_, _ = io.WriteString(w, "ok")
	})
	unsized := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "until the end")
	})
	sizedAddr := startServer(t, sized, nil)
	unsizedAddr := startServer(t, unsized, nil)

	t.Run("HTTP/1.0 closes by default", func(t *testing.T) {
		rc := h1test.Dial(t, sizedAddr)
		rc.Send(t, "GET / HTTP/1.0\r\n\r\n")
		res, body := rc.Response(t, "GET")
		assert.Equal(t, "HTTP/1.0", res.Proto)
		assert.Equal(t, "ok", body)
		rc.Closed(t)
	})
	t.Run("HTTP/1.0 keep-alive with a length", func(t *testing.T) {
		rc := h1test.Dial(t, sizedAddr)
		for range 2 {
			rc.Send(t, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			res, body := rc.Response(t, "GET")
			assert.Equal(t, "keep-alive", res.Header.Get("Connection"))
			assert.Equal(t, "ok", body)
		}
	})
	t.Run("HTTP/1.0 keep-alive without a length", func(t *testing.T) {
		rc := h1test.Dial(t, unsizedAddr)
		rc.Send(t, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		res, body := rc.Response(t, "GET")
		assert.Empty(t, res.TransferEncoding, "no chunking for HTTP/1.0")
		assert.Equal(t, "until the end", body, "the end of the connection ends the body")
		rc.Closed(t)
	})
	t.Run("HTTP/1.1 Connection: close", func(t *testing.T) {
		rc := h1test.Dial(t, unsizedAddr)
		rc.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: Keep-Alive, Close\r\n\r\n")
		res, body := rc.Response(t, "GET")
		assert.True(t, res.Close)
		assert.Equal(t, "until the end", body)
		rc.Closed(t)
	})
}

func TestServerPipelining(t *testing.T) {
	var served atomic.Int32
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		echoHandler(w, r)
	}), nil)
	rc := h1test.Dial(t, addr)
	rc.Send(t, "GET /1 HTTP/1.1\r\nHost: app.test\r\n\r\n"+
		"POST /2 HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\n\r\nbody"+
		"HEAD /3 HTTP/1.1\r\nHost: app.test\r\n\r\n"+
		"GET /4 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"+
		"GET /5 HTTP/1.1\r\nHost: app.test\r\n\r\n")
	_, body := rc.Response(t, "GET")
	assert.Equal(t, `GET /1 host=app.test path=/1 body=""`, body)
	_, body = rc.Response(t, "POST")
	assert.Equal(t, `POST /2 host=app.test path=/2 body="body"`, body)
	_, body = rc.Response(t, "HEAD")
	assert.Empty(t, body)
	res, body := rc.Response(t, "GET")
	assert.Equal(t, `GET /4 host=app.test path=/4 body=""`, body)
	assert.True(t, res.Close)
	rc.Closed(t)
	assert.Equal(t, int32(4), served.Load(), "nothing after Connection: close is served")
}

// TestServerHeadsOfAnyShape: heads larger than the connection's buffer,
// heads that come in pieces and pipelined heads across buffer boundaries
// are read whole.
func TestServerHeadsOfAnyShape(t *testing.T) {
	addr := startServer(t, echoHandler, nil)

	t.Run("large", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		cookie := strings.Repeat("c", 20<<10)
		rc.Send(t, "GET /big HTTP/1.1\r\nHost: app.test\r\nX-Show: Cookie\r\nCookie: "+cookie+"\r\n\r\n")
		_, body := rc.Response(t, "GET")
		assert.Equal(t, fmt.Sprintf(`GET /big host=app.test path=/big Cookie=["%s"] body=""`, cookie), body)
	})
	t.Run("in pieces", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		for _, piece := range []string{"GE", "T /p HTTP/1.1\r", "\nHost: app.test\r\n", "\r", "\n"} {
			rc.Send(t, piece)
			time.Sleep(20 * time.Millisecond)
		}
		_, body := rc.Response(t, "GET")
		assert.Equal(t, `GET /p host=app.test path=/p body=""`, body)
	})
	t.Run("many pipelined", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		var all strings.Builder
		for i := range 200 {
			fmt.Fprintf(&all, "GET /%d HTTP/1.1\r\nHost: app.test\r\nX-Pad: %s\r\n\r\n", i, strings.Repeat("p", i))
		}
		go func() { _, _ = io.WriteString(rc, all.String()) }()
		for i := range 200 {
			_, body := rc.Response(t, "GET")
			require.Equal(t, fmt.Sprintf(`GET /%d host=app.test path=/%d body=""`, i, i), body)
		}
	})
	t.Run("lower-case names and bare LF", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "POST /lf HTTP/1.1\nhost: app.test\nx-show: X-Custom-Thing\nx-custom-thing: \tv\xe9 \ncontent-length: 2\n\nok")
		_, body := rc.Response(t, "POST")
		assert.Equal(t, "POST /lf host=app.test path=/lf X-Custom-Thing=[\"v\\xe9\"] body=\"ok\"", body)
	})
}

func TestServerHEAD(t *testing.T) {
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	}), nil)
	rc := h1test.Dial(t, addr)
	rc.Send(t, "HEAD / HTTP/1.1\r\nHost: app.test\r\n\r\nGET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
	res, body := rc.Response(t, "HEAD")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "5", res.Header.Get("Content-Length"))
	assert.Empty(t, body)
	_, body = rc.Response(t, "GET")
	assert.Equal(t, "hello", body, "the HEAD response had no body: the next one is read right")
}

func TestServerKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &countingListener{Listener: ln}
	addr := startServerOn(t, cl, echoHandler, nil)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for i := range 10 {
		var body io.Reader
		if i%2 == 1 {
			body = strings.NewReader(strings.Repeat("x", i*1000))
		}
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", body)
		require.NoError(t, err)
		res, err := client.Do(req)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, res.Body)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
	}
	assert.Equal(t, int32(1), cl.accepted.Load(), "one connection for all the requests")
}

func TestServerUnreadBody(t *testing.T) {
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ignored your body")
	}), nil)

	t.Run("small: discarded, the connection kept", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		for range 2 {
			rc.Send(t, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 1000))
			res, body := rc.Response(t, "POST")
			assert.Equal(t, "ignored your body", body)
			assert.False(t, res.Close)
		}
		rc.Send(t, "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
		res, _ := rc.Response(t, "POST")
		assert.False(t, res.Close)
	})
	t.Run("large: the connection closed after the response", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, fmt.Sprintf("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n", 10<<20))
		go func() { _, _ = rc.Write(make([]byte, 10<<20)) }() // until the server closes
		_, body := rc.Response(t, "POST")
		assert.Equal(t, "ignored your body", body)
		rc.Closed(t)
	})
}

func TestServerResponses(t *testing.T) {
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/chunked":
			_, _ = io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part two")
		case "/sized":
			h.Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		case "/empty":
		case "/nocontent":
			h.Set("Content-Length", "5")
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			h.Set("Content-Type", "text/plain")
			h.Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/dated":
			h.Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		case "/hop-by-hop":
			h.Set("Transfer-Encoding", "gzip")
			h.Set("Connection", "keep-alive")
			h.Set("X-Kept", "yes")
		case "/unsafe":
			h["X-Split"] = []string{"a\r\nSet-Cookie: evil=1"}
			h["Bad Name"] = []string{"x"}
		case "/too-long":
			h.Set("Content-Length", "2")
			_, err := io.WriteString(w, "hello")
			assert.ErrorIs(t, err, http.ErrContentLength)
		}
	}), nil)
	rc := h1test.Dial(t, addr)
	get := func(path string) (*http.Response, string) {
		rc.Send(t, "GET "+path+" HTTP/1.1\r\nHost: app.test\r\n\r\n")
		return rc.Response(t, "GET")
	}

	res, body := get("/chunked")
	assert.Equal(t, []string{"chunked"}, res.TransferEncoding)
	assert.Equal(t, "part one, part two", body)
	assert.NotEmpty(t, res.Header.Get("Date"))
	_, err := http.ParseTime(res.Header.Get("Date"))
	assert.NoError(t, err)

	res, body = get("/sized")
	assert.Empty(t, res.TransferEncoding)
	assert.Equal(t, int64(5), res.ContentLength)
	assert.Equal(t, "hello", body)

	res, body = get("/empty")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, int64(0), res.ContentLength)
	assert.Empty(t, body)

	res, _ = get("/nocontent")
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	assert.Empty(t, res.Header.Get("Content-Length"))

	res, _ = get("/notmodified")
	assert.Equal(t, http.StatusNotModified, res.StatusCode)
	assert.Equal(t, `"v1"`, res.Header.Get("Etag"))
	assert.Empty(t, res.Header.Get("Content-Type"), "as net/http leaves it out")

	res, _ = get("/dated")
	assert.Equal(t, []string{"Mon, 02 Jan 2006 15:04:05 GMT"}, res.Header["Date"])

	res, _ = get("/hop-by-hop")
	assert.Equal(t, "yes", res.Header.Get("X-Kept"))
	assert.Empty(t, res.Header.Get("Connection"))
	assert.NotEqual(t, []string{"gzip"}, res.TransferEncoding)

	res, _ = get("/unsafe")
	assert.Equal(t, "a  Set-Cookie: evil=1", res.Header.Get("X-Split"))
	assert.Empty(t, res.Header.Get("Set-Cookie"))
	assert.NotContains(t, res.Header, "Bad Name")

	_, body = get("/too-long")
	assert.Equal(t, "he", body)
	rc.Closed(t)
}

// TestServerOneWritePerResponse: a small response goes out in one write,
// whatever the handler's writes.
func TestServerOneWritePerResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &countingListener{Listener: ln}
	addr := startServerOn(t, cl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", "11")
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "hello")
		_, _ = io.WriteString(w, " world")
	}), nil)
	rc := h1test.Dial(t, addr)
	for i, path := range []string{"/sized", "/chunked", "/sized"} {
		rc.Send(t, "GET "+path+" HTTP/1.1\r\nHost: app.test\r\n\r\n")
		_, body := rc.Response(t, "GET")
		assert.Equal(t, "hello world", body)
		assert.Equal(t, int32(i+1), cl.writes.Load(), path)
	}
}

func TestServerAbort(t *testing.T) {
	logs := &h1test.Buffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srvLog := slog.New(slog.NewTextHandler(logs, nil))
	addr := startServerOn(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "hello")
			panic(http.ErrAbortHandler)
		case "/chunked":
			_, _ = io.WriteString(w, "hello")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/short":
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "hello")
		case "/bug":
			panic("a bug")
		}
	}), func(s *Server) { s.log = srvLog })

	for _, path := range []string{"/sized", "/chunked", "/short"} {
		t.Run(path, func(t *testing.T) {
			rc := h1test.Dial(t, addr)
			rc.Send(t, "GET "+path+" HTTP/1.1\r\nHost: app.test\r\n\r\n")
			res, err := http.ReadResponse(rc.Reader, nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, res.StatusCode)
			b, err := io.ReadAll(res.Body)
			assert.Equal(t, "hello", string(b))
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the client sees a broken response")
		})
	}
	t.Run("a panic is logged", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "GET /bug HTTP/1.1\r\nHost: app.test\r\n\r\n")
		rc.Closed(t)
		assert.Contains(t, logs.String(), "panic serving a request")
		assert.Contains(t, logs.String(), "a bug")
	})
}

func TestServerTimeouts(t *testing.T) {
	addr := startServer(t, echoHandler, func(s *Server) {
		s.timeouts.Idle = 200 * time.Millisecond
		s.timeouts.ReadHeader = 200 * time.Millisecond
	})

	t.Run("idle", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
		_, _ = rc.Response(t, "GET")
		start := time.Now()
		rc.Closed(t)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("a new connection is idle", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Closed(t)
	})
	t.Run("read header", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "GET / HTTP/1.1\r\nHost: app")
		rc.Closed(t)
	})
	t.Run("a slow body is no header or idle timeout", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\n\r\nab")
		time.Sleep(500 * time.Millisecond) // the slow client, not a wait for the server
		rc.Send(t, "cd")
		_, body := rc.Response(t, "POST")
		assert.Contains(t, body, `body="abcd"`)
	})
}

// TestServerBodyIdleTimeout: a client that stops sending its body is cut
// off after the body idle timeout; one whose body keeps coming, however
// slowly, is not.
func TestServerBodyIdleTimeout(t *testing.T) {
	const idle = 400 * time.Millisecond
	addr := startServer(t, echoHandler, func(s *Server) { s.timeouts.BodyIdle = idle })
	for _, tc := range []struct {
		name, head string
		first      string // of the body, sent with the head
	}{
		{"length", "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\n", "a"},
		{"chunked", "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n", "a\r\na"},
	} {
		t.Run("stalled, "+tc.name, func(t *testing.T) {
			rc := h1test.Dial(t, addr)
			rc.Send(t, tc.head+tc.first)
			rc.Closed(t)
		})
	}
	t.Run("slow but moving", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\n")
		// The slow client: a byte every quarter of the timeout, the body
		// taking over twice the timeout in all.
		tick := time.NewTicker(idle / 4)
		defer tick.Stop()
		for range 10 {
			<-tick.C
			rc.Send(t, "x")
		}
		_, body := rc.Response(t, "POST")
		assert.Contains(t, body, `body="xxxxxxxxxx"`)
	})
}

// TestServerWriteTimeout: a client that stops reading its response is cut
// off after the write timeout; one that reads slowly, for longer than the
// timeout, is not, even within one large write of the handler.
func TestServerWriteTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	big := []byte(strings.Repeat("0123456789abcdef", 64<<10)) // 1 MiB
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, err := w.Write(big)
			writeErr <- err
			return
		}
		for { // an endless stream, until the client is cut off
			if _, err := w.Write(big[:64<<10]); err != nil {
				writeErr <- err
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// Small send buffers, so that the server's writes wait for the
	// client soon.
	addr := startServerOn(t, smallBufListener{ln}, h, func(s *Server) { s.timeouts.Write = timeout })

	t.Run("stalled", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "GET /stream HTTP/1.1\r\nHost: app.test\r\n\r\n")
		select {
		case err := <-writeErr:
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "the handler's write times out")
		case <-time.After(20 * time.Second):
			t.Fatal("the stalled client was not cut off")
		}
		// What was sent before is there to read; then the connection
		// ends.
		_, err := io.Copy(io.Discard, rc.Reader)
		require.NoError(t, err)
	})
	t.Run("slow but moving", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		// The slow client: 4 KiB at a time every 5ms, the 1 MiB taking
		// over a second, more than twice the timeout.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		rc.Reader = bufio.NewReaderSize(pacedReader{rc.Conn, tick.C}, 4<<10)
		rc.Send(t, "GET /big HTTP/1.1\r\nHost: app.test\r\n\r\n")
		res, body := rc.Response(t, "GET")
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, len(big), len(body))
		assert.NoError(t, <-writeErr)
	})
}

// smallBufListener gives the connections it accepts small send buffers.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// pacedReader reads up to 4 KiB from r once per tick.
type pacedReader struct {
	r    io.Reader
	tick <-chan time.Time
}

func (p pacedReader) Read(b []byte) (int, error) {
	<-p.tick
	return p.r.Read(b[:min(len(b), 4<<10)])
}

// goneWatcher is the response's OnClientGone, as the router uses it.
type goneWatcher interface {
	OnClientGone(f func())
	StopClientGone() bool
}

func TestServerClientGone(t *testing.T) {
	type result struct {
		path     string
		canceled bool
		called   bool // the OnClientGone function was called
	}
	results := make(chan result, 10)
	started := make(chan struct{}, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &countingListener{Listener: ln}
	addr := startServerOn(t, cl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		var called atomic.Bool
		gw := w.(goneWatcher)
		gw.OnClientGone(func() { called.Store(true) })
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			stopped := gw.StopClientGone()
			results <- result{r.URL.Path, true, called.Load() && !stopped}
		case <-time.After(time.Second):
			stopped := gw.StopClientGone()
			results <- result{r.URL.Path, false, called.Load() || !stopped}
			_, _ = io.WriteString(w, "done")
		}
	}), nil)
	// watching waits until the server watches the connection of a request
	// whose handler runs, past the watch delay: with the body read, the
	// watch's is the one read in progress.
	watching := func(t *testing.T) {
		t.Helper()
		<-started
		require.Eventually(t, func() bool { return cl.reading.Load() == 1 }, 5*time.Second, time.Millisecond,
			"the server watches the connection")
	}

	for _, tc := range []struct{ name, request string }{
		{"no body", "GET /a HTTP/1.1\r\nHost: app.test\r\n\r\n"},
		{"after the body", "POST /b HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\n\r\nabc"},
		{"after a chunked body", "POST /c HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := h1test.Dial(t, addr)
			rc.Send(t, tc.request)
			watching(t)
			require.NoError(t, rc.Close())
			r := <-results
			assert.True(t, r.canceled, "the request's context is canceled when the client goes")
			assert.True(t, r.called, "and the OnClientGone function was called, once")
		})
	}

	t.Run("pipelining is not going away", func(t *testing.T) {
		rc := h1test.Dial(t, addr)
		rc.Send(t, "GET /1 HTTP/1.1\r\nHost: app.test\r\n\r\n")
		watching(t)
		rc.Send(t, "GET /2 HTTP/1.1\r\nHost: app.test\r\n\r\n")
		for _, want := range []string{"/1", "/2"} {
			_, body := rc.Response(t, "GET")
			assert.Equal(t, "done", body)
			assert.Equal(t, result{want, false, false}, <-results, "not canceled, the OnClientGone function not called and stopped")
		}
	})
}

// TestServerOnClientGone: the function is called when the server is
// closed under the request, and at once when it is set for a client
// already gone.
func TestServerOnClientGone(t *testing.T) {
	started, called, late := make(chan struct{}), make(chan struct{}), make(chan bool, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gw := w.(goneWatcher)
		gw.OnClientGone(func() { close(called) })
		close(started)
		<-r.Context().Done()
		<-called
		assert.False(t, gw.StopClientGone(), "called already")
		ran := false
		gw.OnClientGone(func() { ran = true })
		late <- ran
	}), slog.New(slog.DiscardHandler), ln, Timeouts{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	rc := h1test.Dial(t, ln.Addr().String())
	rc.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
	<-started
	srv.Close()
	assert.True(t, <-late, "set after the client was gone, it runs at once")
	rc.Closed(t)
	require.NoError(t, <-served)
}

func TestServerShutdown(t *testing.T) {
	t.Run("graceful", func(t *testing.T) {
		started, finish := make(chan struct{}), make(chan struct{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				close(started)
				<-finish
			}
			_, _ = io.WriteString(w, "finished")
		}), slog.New(slog.DiscardHandler), ln, Timeouts{})
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(context.Background()) }()

		idle := h1test.Dial(t, ln.Addr().String())
		idle.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
		_, _ = idle.Response(t, "GET")
		busy := h1test.Dial(t, ln.Addr().String())
		busy.Send(t, "GET /slow HTTP/1.1\r\nHost: app.test\r\n\r\n")
		<-started

		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(context.Background()) }()
		idle.Closed(t) // at once
		require.NoError(t, <-errc)
		_, err = net.Dial("tcp", ln.Addr().String())
		assert.Error(t, err, "no longer listening")

		close(finish)
		res, body := busy.Response(t, "GET")
		assert.Equal(t, "finished", body, "the request in flight completes")
		assert.True(t, res.Close, "and says the connection ends")
		busy.Closed(t)
		require.NoError(t, <-shut)
	})

	t.Run("cut after the grace period", func(t *testing.T) {
		started, canceled := make(chan struct{}), make(chan struct{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-r.Context().Done()
			close(canceled)
		}), slog.New(slog.DiscardHandler), ln, Timeouts{})
		go func() { _ = srv.Serve(context.Background()) }()
		rc := h1test.Dial(t, ln.Addr().String())
		rc.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, srv.Shutdown(ctx), context.DeadlineExceeded)
		srv.Close()
		<-canceled
		rc.Closed(t)
	})
}

func TestServerHijack(t *testing.T) {
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		defer c.Close()
		// What the client sent past the head is in the reader.
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("raw: " + line)
		_ = rw.Flush()
		<-release
	}), slog.New(slog.DiscardHandler), ln, Timeouts{})
	go func() { _ = srv.Serve(context.Background()) }()
	defer close(release)

	rc := h1test.Dial(t, ln.Addr().String())
	rc.Send(t, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\nping\n")
	got, err := rc.Reader.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "raw: ping\n", got)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.NoError(t, srv.Shutdown(ctx), "a hijacked connection is its hijacker's to end")
}

// countingListener counts the connections it accepts, the writes to them
// and the reads from them in progress.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
	writes   atomic.Int32
	reading  atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	return &countingConn{Conn: c, writes: &l.writes, reading: &l.reading}, nil
}

type countingConn struct {
	net.Conn
	writes  *atomic.Int32
	reading *atomic.Int32
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reading.Add(1)
	defer c.reading.Add(-1)
	return c.Conn.Read(p)
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// FuzzParseRequestHead: the parser never panics, and what it accepts is a
// request net/http would read the same way (net/http is laxer, so not the
// other way round), with a URL as net/url makes it.
func FuzzParseRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /p/a%20th?q=1&r=%41 HTTP/1.1\r\nhost: a:80\r\nuser-agent: x\r\nAccept: */*\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
		"GET http://h.test/a?b HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a(b)!c? HTTP/1.0\nConnection: keep-alive, x-a\nX-A: 1\n\n",
		"GET //x/..;/é HTTP/1.1\r\nHost: [::1]:8080\r\nX-Long-Header-Name-That-Is-Not-Common-At-All-But-Still-A-Token-Really: v\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if headEnd([]byte(s), 0) < 0 {
			s += "\r\n\r\n"
		}
		head := s[:headEnd([]byte(s), 0)]
		h := make(http.Header)
		var u url.URL
		p, _, err := parseRequestHead(head, h, nil, &u)
		if err != nil {
			_, ok := errors.AsType[*requestError](err)
			require.True(t, ok, "error %v", err)
			return
		}
		assert.False(t, p.chunked && p.contentLength >= 0)
		for k, vv := range h {
			assert.Equal(t, textproto.CanonicalMIMEHeaderKey(k), k)
			for _, v := range vv {
				assert.True(t, validHeaderValue(v), "%q: %q", k, v)
			}
		}

		want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		require.NoError(t, err, "net/http refuses what the router takes: %q", head)
		assert.Equal(t, want.Method, p.method)
		assert.Equal(t, want.RequestURI, p.target)
		assert.Equal(t, want.Proto, p.proto)
		assert.Equal(t, *want.URL, *p.url)
		assert.Equal(t, want.Host, p.host)
		assert.Equal(t, want.Close, !p.wantsKeepAlive())
		if p.chunked {
			assert.Equal(t, []string{"chunked"}, want.TransferEncoding)
		} else {
			assert.Equal(t, max(p.contentLength, 0), want.ContentLength)
		}
		assert.Equal(t, want.Header, h)
	})
}

package h2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cClient is net/http's HTTP/2 client (x/net's transport) with prior
// knowledge, over plain TCP.
func h2cClient(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestServeRequests serves requests from Go's HTTP/2 client: what the
// handler sees of them, and what the client gets of its answers.
func TestServeRequests(t *testing.T) {
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = io.Copy(w, r.Body)
		case "/show":
			w.Header().Set("Connection", "close") // HTTP/1's: not sent
			w.Header()["Content-Type"] = nil      // nil: not sent
			fmt.Fprintf(w, "%s %s %s %s %d\n", r.Method, r.RequestURI, r.Host, r.Proto, r.ContentLength)
			fmt.Fprintf(w, "cookie=%q multi=%q host-header=%v remote=%v\n", r.Header.Get("Cookie"), r.Header["X-Multi"], r.Header["Host"] != nil, r.RemoteAddr != "")
		case "/trailers":
			w.Header().Set("Content-Type", "application/grpc")
			_, _ = io.WriteString(w, "body")
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
			_, _ = io.WriteString(w, "dropped")
		case "/head":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		}
	}), Timeouts{})
	client := h2cClient(t)
	base := "http://" + s.addr

	t.Run("request", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, base+"/show?q=1&r=%20", nil)
		require.NoError(t, err)
		req.Host = "app.example"
		req.Header.Add("Cookie", "a=1")
		req.Header.Add("Cookie", "b=2")
		req.Header.Add("X-Multi", "one")
		req.Header.Add("X-Multi", "two")
		res, err := client.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, 2, res.ProtoMajor)
		assert.Equal(t, "GET /show?q=1&r=%20 app.example HTTP/2.0 0\n"+
			`cookie="a=1; b=2" multi=["one" "two"] host-header=false remote=true`+"\n", string(body))
		assert.NotEmpty(t, res.Header.Get("Date"))
		assert.NotContains(t, res.Header, "Connection")
		assert.NotContains(t, res.Header, "Content-Type")
	})

	t.Run("bodies larger than the windows", func(t *testing.T) {
		// 3 MiB each way: more than the server's windows (1 MiB) and the
		// client's initial one, so both wait for WINDOW_UPDATEs.
		payload := make([]byte, 3<<20)
		_, _ = rand.Read(payload)
		res, err := client.Post(base+"/echo", "application/octet-stream", bytes.NewReader(payload))
		require.NoError(t, err)
		got, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.True(t, bytes.Equal(payload, got), "the body came back as it went (%d bytes of %d)", len(got), len(payload))
	})

	t.Run("trailers", func(t *testing.T) {
		res, err := client.Get(base + "/trailers")
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, "body", string(body))
		assert.Equal(t, "0", res.Trailer.Get("Grpc-Status"))
	})

	t.Run("no body", func(t *testing.T) {
		res, err := client.Get(base + "/empty")
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, http.StatusNoContent, res.StatusCode)
		assert.Empty(t, body)

		res, err = client.Head(base + "/head")
		require.NoError(t, err)
		body, err = io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, int64(5), res.ContentLength)
		assert.Empty(t, body)
	})
}

// TestServerFlush sends what the handler flushed while it goes on.
func TestServerFlush(t *testing.T) {
	more := make(chan struct{})
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		select {
		case <-more:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second")
	}), Timeouts{})
	res, err := h2cClient(t).Get("http://" + s.addr + "/")
	require.NoError(t, err)
	defer res.Body.Close()
	buf := make([]byte, 6)
	_, err = io.ReadFull(res.Body, buf)
	require.NoError(t, err, "the flushed bytes came before the rest was written")
	assert.Equal(t, "first ", string(buf))
	close(more)
	rest, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "second", string(rest))
}

// rawClient speaks HTTP/2 frame by frame, as a hostile client would.
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// dialRaw connects to addr and exchanges prefaces and settings
// (settings are the client's, beyond the defaults).
func dialRaw(t *testing.T, addr string, settings ...http2.Setting) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	c := &rawClient{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.buf)
	_, err = io.WriteString(nc, http2.ClientPreface)
	require.NoError(t, err)
	require.NoError(t, c.fr.WriteSettings(settings...))
	f := c.next()
	require.IsType(t, &http2.SettingsFrame{}, f, "the server's preface is SETTINGS")
	require.NoError(t, c.fr.WriteSettingsAck())
	return c
}

// get opens stream id with a GET of path, or a POST whose body follows
// if body.
func (c *rawClient) get(id uint32, path string, body bool) {
	method := http.MethodGet
	if body {
		method = http.MethodPost
	}
	c.open(id, !body, [2]string{":method", method}, [2]string{":scheme", "http"}, [2]string{":authority", "app.example"}, [2]string{":path", path})
}

// open opens stream id with the header fields given, ending it if end.
func (c *rawClient) open(id uint32, end bool, fields ...[2]string) {
	c.buf.Reset()
	for _, f := range fields {
		require.NoError(c.t, c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	require.NoError(c.t, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.buf.Bytes(), EndStream: end, EndHeaders: true}))
}

// next reads the server's next frame but PINGs and WINDOW_UPDATEs,
// within 10 seconds.
func (c *rawClient) next() http2.Frame {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		f, err := c.fr.ReadFrame()
		require.NoError(c.t, err)
		switch f.(type) {
		case *http2.PingFrame, *http2.WindowUpdateFrame:
			continue
		}
		return f
	}
}

// expectRST reads frames until a RST_STREAM, and returns its code.
func (c *rawClient) expectRST(id uint32) http2.ErrCode {
	c.t.Helper()
	for {
		if f, ok := c.next().(*http2.RSTStreamFrame); ok && f.StreamID == id {
			return f.ErrCode
		}
	}
}

// expectGoAway reads frames until a GOAWAY, and returns it.
func (c *rawClient) expectGoAway() *http2.GoAwayFrame {
	c.t.Helper()
	for {
		if f, ok := c.next().(*http2.GoAwayFrame); ok {
			return f
		}
	}
}

// expectStatus reads frames until stream id's response head, and
// returns its status.
func (c *rawClient) expectStatus(id uint32) string {
	c.t.Helper()
	for {
		if f, ok := c.next().(*http2.MetaHeadersFrame); ok && f.StreamID == id {
			return f.PseudoValue("status")
		}
	}
}

// expectClosed reads until the server closes the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		if _, err := c.fr.ReadFrame(); err != nil {
			require.ErrorIs(c.t, err, io.EOF, "closed, not timed out")
			return
		}
	}
}

// TestServerClientReset: a stream the client resets tells its handler
// (OnClientGone, then the context), and the handler's writes fail.
func TestServerClientReset(t *testing.T) {
	type result struct {
		gone     bool
		writeErr error
	}
	results := make(chan result, 1)
	started := make(chan struct{})
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var gone atomic.Bool
		w.(interface{ OnClientGone(func()) }).OnClientGone(func() { gone.Store(true) })
		close(started)
		<-r.Context().Done()
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(make([]byte, 64<<10)) // more than a frame: it must go out
		results <- result{gone: gone.Load(), writeErr: err}
	}), Timeouts{})
	c := dialRaw(t, s.addr)
	c.get(1, "/", false)
	<-started
	require.NoError(t, c.fr.WriteRSTStream(1, http2.ErrCodeCancel))
	r := <-results
	assert.True(t, r.gone, "OnClientGone's function ran before the context was done")
	assert.ErrorIs(t, r.writeErr, errStreamReset)
}

// TestServerRapidReset: streams the client resets still count against
// its limit until their handlers return (the rapid-reset attack), and a
// client that keeps opening streams over it is told to go away.
func TestServerRapidReset(t *testing.T) {
	release := make(chan struct{})
	var running atomic.Int32
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		running.Add(1)
		defer running.Add(-1)
		<-release // a handler that ignores its context, as an app's slow answer may
	}), Timeouts{})
	defer close(release)
	c := dialRaw(t, s.addr)
	id := uint32(1)
	for range maxStreams {
		c.get(id, "/", false)
		require.NoError(t, c.fr.WriteRSTStream(id, http2.ErrCodeCancel))
		id += 2
	}
	require.Eventually(t, func() bool { return running.Load() == maxStreams }, 10*time.Second, 10*time.Millisecond)
	c.get(id, "/", false)
	assert.Equal(t, http2.ErrCodeRefusedStream, c.expectRST(id), "over the limit, with every stream reset")
	for range maxRefused {
		id += 2
		c.get(id, "/", false)
	}
	ga := c.expectGoAway()
	assert.Equal(t, http2.ErrCodeEnhanceYourCalm, ga.ErrCode)
	assert.EqualValues(t, maxStreams, running.Load(), "no handler ran for the refused streams")
}

// TestServerBodyIdle: a handler waiting for a body that does not come
// gets os.ErrDeadlineExceeded after BodyIdle, and its answer ends the
// stream, with a reset for the body the client still owes.
func TestServerBodyIdle(t *testing.T) {
	readErr := make(chan error, 1)
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		w.WriteHeader(http.StatusRequestTimeout)
	}), Timeouts{BodyIdle: 100 * time.Millisecond})
	c := dialRaw(t, s.addr)
	c.get(1, "/", true)
	require.NoError(t, c.fr.WriteData(1, false, []byte("some")))
	assert.ErrorIs(t, <-readErr, os.ErrDeadlineExceeded)
	assert.Equal(t, "408", c.expectStatus(1))
	assert.Equal(t, http2.ErrCodeNo, c.expectRST(1), "the rest of the body is not wanted")
}

// TestServerIdleTimeout: a connection without streams for Idle is told
// to go away and closed.
func TestServerIdleTimeout(t *testing.T) {
	s := serveH2C(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), Timeouts{Idle: 200 * time.Millisecond})
	c := dialRaw(t, s.addr)
	c.get(1, "/", false)
	assert.Equal(t, "200", c.expectStatus(1))
	ga := c.expectGoAway()
	assert.Equal(t, http2.ErrCodeNo, ga.ErrCode)
	assert.EqualValues(t, 1, ga.LastStreamID)
	c.expectClosed()
}

// TestServerShutdown: Shutdown sends GOAWAY, lets the streams in flight
// finish, then closes the connection.
func TestServerShutdown(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}), Timeouts{})
	c := dialRaw(t, s.addr)
	c.get(1, "/", false)
	<-started
	done := make(chan error, 1)
	go func() { done <- s.srv.Shutdown(context.Background()) }()
	ga := c.expectGoAway()
	assert.Equal(t, http2.ErrCodeNo, ga.ErrCode)
	assert.EqualValues(t, 1, ga.LastStreamID)
	close(release)
	assert.Equal(t, "200", c.expectStatus(1))
	data, ok := c.next().(*http2.DataFrame)
	require.True(t, ok, "the body follows")
	assert.Equal(t, "finished", string(data.Data()))
	assert.True(t, data.StreamEnded())
	c.expectClosed()
	assert.NoError(t, <-done)
}

// TestServerPanics: a handler that panics, before its answer or in the
// middle of it (http.ErrAbortHandler), has its stream reset, and the
// connection goes on.
func TestServerPanics(t *testing.T) {
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/before":
			panic("a bug")
		case "/midway":
			_, _ = io.WriteString(w, "part")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
	}), Timeouts{})
	c := dialRaw(t, s.addr)
	c.get(1, "/before", false)
	assert.Equal(t, http2.ErrCodeInternal, c.expectRST(1))
	c.get(3, "/midway", false)
	assert.Equal(t, "200", c.expectStatus(3))
	assert.Equal(t, http2.ErrCodeInternal, c.expectRST(3))
	c.get(5, "/", false)
	assert.Equal(t, "200", c.expectStatus(5), "the connection serves on")
}

// TestServerWindowShut: a client that opens no window for a response is
// given up on after the write timeout, and the handler is not held.
func TestServerWindowShut(t *testing.T) {
	done := make(chan struct{})
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		_, _ = io.WriteString(w, "no room for this")
	}), Timeouts{Write: 200 * time.Millisecond})
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.get(1, "/", false)
	assert.Equal(t, "200", c.expectStatus(1), "a head needs no window")
	assert.Equal(t, http2.ErrCodeInternal, c.expectRST(1))
	<-done
}

// TestServerHeaderListTooLarge: a request whose header list is over the
// limit is answered 431 without a handler, though its block is small
// (HPACK lets a few bytes stand for a large list).
func TestServerHeaderListTooLarge(t *testing.T) {
	var handled atomic.Bool
	s := serveH2C(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { handled.Store(true) }), Timeouts{})
	c := dialRaw(t, s.addr)
	c.buf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "app.example"}, {":path", "/"}} {
		require.NoError(t, c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	// Once into the dynamic table, then by its index, 1 byte each time.
	big := hpack.HeaderField{Name: "x-big", Value: strings.Repeat("b", 3000)}
	for range 30 {
		require.NoError(t, c.enc.WriteField(big))
	}
	require.Less(t, c.buf.Len(), 4096)
	require.NoError(t, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.buf.Bytes(), EndStream: true, EndHeaders: true}))
	assert.Equal(t, "431", c.expectStatus(1))
	assert.False(t, handled.Load())
	c.get(3, "/", false)
	assert.Equal(t, "200", c.expectStatus(3), "the connection serves on")
}

// TestServerFlowControlViolation: a client that sends more than its
// window is told (FLOW_CONTROL_ERROR), so that it cannot make the server
// buffer more than it granted.
func TestServerFlowControlViolation(t *testing.T) {
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // reads nothing: the window is not given back
	}), Timeouts{})
	c := dialRaw(t, s.addr)
	c.get(1, "/", true)
	chunk := make([]byte, defaultMaxFrame)
	var err error
	for sent := 0; sent <= streamWindow && err == nil; sent += len(chunk) {
		err = c.fr.WriteData(1, false, chunk)
	}
	require.NoError(t, err)
	assert.Equal(t, http2.ErrCodeFlowControl, c.expectGoAway().ErrCode)
	c.expectClosed()
}

// TestServerMalformed: requests RFC 9113 calls malformed, and those the
// proxy could not pass on as HTTP/1.1 safely, are reset before any
// handler sees them, and the connection serves on.
func TestServerMalformed(t *testing.T) {
	var handled atomic.Int32
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	}), Timeouts{})
	c := dialRaw(t, s.addr)
	method, scheme, authority := [2]string{":method", "GET"}, [2]string{":scheme", "http"}, [2]string{":authority", "app.example"}
	path := [2]string{":path", "/"}
	for i, fields := range [][][2]string{
		{method, scheme, authority, {":path", "/a b"}},
		{method, scheme, authority, {":path", "/a\x01"}},
		{method, scheme, authority, {":path", "a"}},
		{method, scheme, authority},
		{{":method", "G T"}, scheme, authority, path},
		{method, scheme, authority, path, {"connection", "keep-alive"}},
		{method, scheme, authority, path, {"transfer-encoding", "chunked"}},
		{method, scheme, authority, path, {"te", "gzip"}},
		{method, scheme, authority, path, {":protocol", "websocket"}},
		{method, scheme, {":authority", "bad host"}, path},
		{method, scheme, authority, path, {"content-length", "1"}, {"content-length", "2"}},
		{method, scheme, authority, path, {"content-length", "5"}}, // and no body
	} {
		id := uint32(2*i + 1)
		c.open(id, true, fields...)
		assert.Equal(t, http2.ErrCodeProtocol, c.expectRST(id), "request %d: %q", i, fields)
	}
	assert.Zero(t, handled.Load())

	// A body longer than its content-length.
	c.open(101, false, method, scheme, authority, path, [2]string{"content-length", "2"})
	require.NoError(t, c.fr.WriteData(101, true, []byte("abc")))
	assert.Equal(t, http2.ErrCodeProtocol, c.expectRST(101))

	c.get(103, "/", false)
	assert.Equal(t, "200", c.expectStatus(103), "the connection serves on")
}

// TestServerConcurrentStreams runs many streams at once on one
// connection, with bodies of all sizes both ways, so that the writers'
// shared buffer, the windows and the flushes are raced (under -race in
// make test).
func TestServerConcurrentStreams(t *testing.T) {
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
		w.Header().Set(http.TrailerPrefix+"X-Seen", r.URL.RawQuery)
	}), Timeouts{})
	client := h2cClient(t)
	const workers, each = 16, 40
	errs := make(chan error, workers)
	for g := range workers {
		go func() {
			for i := range each {
				n := (g*each + i) * 997 % (96 << 10) // 0 to 96 KiB
				body := bytes.Repeat([]byte{byte('a' + g)}, n)
				query := fmt.Sprintf("g=%d&i=%d", g, i)
				res, err := client.Post("http://"+s.addr+"/?"+query, "text/plain", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(res.Body)
				_ = res.Body.Close()
				switch {
				case err != nil:
					errs <- err
					return
				case !bytes.Equal(got, body):
					errs <- fmt.Errorf("%s: %d bytes back for %d sent", query, len(got), n)
					return
				case res.Trailer.Get("X-Seen") != query:
					errs <- fmt.Errorf("%s: trailer %q", query, res.Trailer.Get("X-Seen"))
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		assert.NoError(t, <-errs)
	}
}

// TestServerBodyReadAfterHandler: a read of the body left waiting by a
// goroutine of the handler's (as the h2c route's client sends bodies)
// ends when the handler returns, not at the body-idle timeout.
func TestServerBodyReadAfterHandler(t *testing.T) {
	readErr := make(chan error, 1)
	s := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := make(chan struct{})
		go func() {
			close(started)
			_, err := r.Body.Read(make([]byte, 10))
			readErr <- err
		}()
		<-started
	}), Timeouts{})
	c := dialRaw(t, s.addr)
	c.get(1, "/", true)
	assert.Equal(t, "200", c.expectStatus(1))
	select {
	case err := <-readErr:
		assert.ErrorIs(t, err, http.ErrBodyReadAfterClose)
	case <-time.After(5 * time.Second):
		t.Fatal("the read still waits after the handler returned")
	}
}

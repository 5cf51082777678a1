package h2

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// This file is the streams: the requests the client opens, their bodies,
// and the handlers that answer them.

// stream is one request and its response.
type stream struct {
	c      *conn
	id     uint32
	req    *http.Request
	w      response
	cancel context.CancelFunc // the request's context

	// The rest is under c.mu.
	sendWindow int64     // DATA the server may still send
	recvWindow int64     // DATA the client may still send
	recvOwed   int64     // DATA read, not yet given back by WINDOW_UPDATE
	remoteDone bool      // the client sent END_STREAM, or the stream ended
	localDone  bool      // the server sent END_STREAM
	err        error     // why the stream ended early, if it did
	gone       func()    // the handler's OnClientGone function
	readable   sync.Cond // the body has bytes, or an end
	body       []byte    // DATA received, not yet read
	bodyErr    error     // io.EOF after END_STREAM, or why the body broke off
	bodyDone   bool      // the handler returned or closed the body: DATA is dropped
	declared   int64     // the request's Content-Length, or -1
	received   int64     // DATA bytes received
	expect     bool      // the client waits for 100 Continue before its body
	timedOut   bool      // a body read waited for BodyIdle
	reads      uint64    // body reads returned, so that a late timer knows its read is gone
}

// headers opens a stream (a request's HEADERS) or ends one (its
// trailers).
func (c *conn) headers(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol) // streams clients open are odd
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol} // a stream cannot depend on itself
	}
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		defer c.mu.Unlock()
		return st.trailersLocked(f)
	}
	if id <= c.maxID {
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	c.maxID = id
	if c.goneAway {
		c.mu.Unlock()
		return nil // opened after the GOAWAY: ignored (RFC 9113, 6.8)
	}
	if c.active >= maxStreams {
		c.refused++
		calm := c.refused > maxRefused
		c.mu.Unlock()
		if calm {
			return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	c.mu.Unlock()

	if f.Truncated {
		c.tooLarge(id, f.StreamEnded())
		return nil
	}
	st, err := c.newStream(f)
	if err != nil {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: err}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		st.cancel()
		return nil
	}
	st.sendWindow = c.peerWindow
	c.streams[id] = st
	c.active++
	if c.idleSet {
		c.idleSet = false
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.handlers.Add(1)
	c.mu.Unlock()
	go st.run()
	return nil
}

// tooLarge answers a request whose header list is over the limit 431,
// without a handler.
func (c *conn) tooLarge(id uint32, ended bool) {
	c.lockWrite()
	defer c.unlockWrite()
	c.encBuf.Reset()
	c.encode(":status", "431")
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.encBuf.Bytes(), EndStream: true, EndHeaders: true})
	if !ended {
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeNo)
	}
}

// errMalformed is a request RFC 9113 calls malformed (8.1.1): its
// stream is reset.
type errMalformed string

func (e errMalformed) Error() string { return "malformed request: " + string(e) }

// newStream checks a request's header list and makes its stream.
func (c *conn) newStream(f *http2.MetaHeadersFrame) (*stream, error) {
	var method, scheme, path, authority string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":path":
			path = hf.Value
		case ":authority":
			authority = hf.Value
		default:
			// :protocol (extended CONNECT) was not offered; :status is a
			// response's.
			return nil, errMalformed(hf.Name + " in a request")
		}
	}
	connect := method == http.MethodConnect
	switch {
	case method == "" || !validMethod(method):
		return nil, errMalformed("no valid :method")
	case connect && (scheme != "" || path != "" || authority == ""):
		return nil, errMalformed("CONNECT needs :authority alone")
	case !connect && (scheme == "" || path == ""):
		return nil, errMalformed("no :scheme or :path")
	case !connect && path[0] != '/' && !(path == "*" && method == http.MethodOptions):
		return nil, errMalformed(":path is not absolute")
	case !validTarget(path):
		// The proxy sends it on in an HTTP/1.1 request line, where a
		// space would end it.
		return nil, errMalformed(":path with a space or control character")
	}

	fields := f.RegularFields()
	header := make(http.Header, len(fields))
	values := make([]string, len(fields)) // one backing array for the values
	var cookies []string
	declared := int64(-1)
	expect := false
	for i, hf := range fields {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return nil, errMalformed(hf.Name + " is HTTP/1's")
		case "te":
			if hf.Value != "trailers" {
				return nil, errMalformed("te other than trailers")
			}
		case "host":
			if authority == "" {
				authority = hf.Value
			}
			continue // the request's Host, not a header
		case "cookie":
			// Sent as separate fields to compress better (RFC 9113,
			// 8.2.3): one header again for the app.
			cookies = append(cookies, hf.Value)
			continue
		case "content-length":
			n, ok := parseContentLength(hf.Value)
			if !ok || (declared >= 0 && n != declared) {
				return nil, errMalformed("bad content-length")
			}
			declared = n
		case "expect":
			expect = strings.EqualFold(hf.Value, "100-continue")
		}
		k := canonicalKey(hf.Name)
		values[i] = hf.Value
		if vv, ok := header[k]; ok {
			header[k] = append(vv, hf.Value)
		} else {
			header[k] = values[i : i+1 : i+1]
		}
	}
	if len(cookies) > 0 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if authority != "" && !httpguts.ValidHostHeader(authority) {
		return nil, errMalformed("bad :authority")
	}
	ended := f.StreamEnded()
	if ended && declared > 0 {
		return nil, errMalformed("content-length without a body")
	}

	u := &url.URL{Host: authority}
	uri := authority
	if !connect {
		var err error
		if u, err = url.ParseRequestURI(path); err != nil {
			return nil, errMalformed("bad :path")
		}
		uri = path
	}
	st := &stream{
		c:          c,
		id:         f.StreamID,
		recvWindow: streamWindow,
		declared:   declared,
		expect:     expect && !ended,
	}
	st.readable.L = &c.mu
	ctx, cancel := context.WithCancel(c.ctx)
	st.cancel = cancel
	r := &http.Request{
		Method:        method,
		URL:           u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        header,
		Body:          http.NoBody,
		Host:          authority,
		RemoteAddr:    c.remoteAddr,
		RequestURI:    uri,
		TLS:           c.tls,
		ContentLength: 0,
	}
	if ended {
		st.remoteDone = true
		st.bodyErr = io.EOF
	} else {
		r.Body = (*requestBody)(st)
		r.ContentLength = declared
	}
	st.req = r.WithContext(ctx)
	st.w = response{st: st, header: make(http.Header), head: method == http.MethodHead}
	return st, nil
}

// validMethod reports whether m is a token, as a method must be.
func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}

// validTarget reports whether a request target has no spaces, control
// characters or bytes past ASCII, which no URL has unescaped.
func validTarget(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return false
		}
	}
	return true
}

// parseContentLength parses a Content-Length value: digits only.
func parseContentLength(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// trailersLocked ends a request body with its trailers, which the
// server drops: the router's proxy sends none on.
func (st *stream) trailersLocked(f *http2.MetaHeadersFrame) error {
	switch {
	case st.remoteDone:
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeStreamClosed}
	case !f.StreamEnded() || len(f.PseudoFields()) > 0:
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol, Cause: errMalformed("trailers")}
	case st.declared >= 0 && st.received != st.declared:
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol, Cause: errMalformed("body shorter than content-length")}
	}
	st.endBodyLocked()
	return nil
}

// endBodyLocked records the client's END_STREAM.
func (st *stream) endBodyLocked() {
	st.remoteDone = true
	st.expect = false
	if st.bodyErr == nil {
		st.bodyErr = io.EOF
	}
	st.readable.Broadcast()
}

// data takes a DATA frame: body bytes for a stream's handler.
func (c *conn) data(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length) // padding counts for flow control
	c.lockWrite()
	defer c.unlockWrite()
	if n > c.recvWindow {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.recvWindow -= n
	st := c.streams[id]
	if st == nil || st.remoteDone {
		c.giveBackLocked(n)
		if st == nil && id > c.maxID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if n > st.recvWindow {
		c.giveBackLocked(n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	st.recvWindow -= n
	p := f.Data()
	st.received += int64(len(p))
	if st.declared >= 0 && st.received > st.declared {
		c.giveBackLocked(n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: errMalformed("body longer than content-length")}
	}
	// Padding, and bytes the handler will not read, are given back now;
	// the rest as the handler reads them.
	drop := n - int64(len(p))
	if st.bodyDone {
		drop = n
	} else {
		st.body = append(st.body, p...)
		st.expect = false
	}
	if drop > 0 {
		c.giveBackLocked(drop)
		st.giveBackLocked(drop)
	}
	if f.StreamEnded() {
		if st.declared >= 0 && st.received != st.declared {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: errMalformed("body shorter than content-length")}
		}
		st.endBodyLocked()
	} else if len(p) > 0 {
		st.readable.Broadcast()
	}
	return nil
}

// giveBackLocked returns n bytes of the stream's receive window to the
// client, as the connection's giveBackLocked does, unless the client
// has sent all it will.
func (st *stream) giveBackLocked(n int64) {
	if st.remoteDone {
		return
	}
	st.recvWindow += n
	st.recvOwed += n
	if st.recvOwed >= streamWindow/4 {
		_ = st.c.fr.WriteWindowUpdate(st.id, uint32(st.recvOwed))
		st.recvOwed = 0
	}
}

// endLocked ends a stream before its time: the client reset it, the
// server did, or the connection ended. Its body reads and writes fail
// with err from now on. It returns gone with the functions to call once
// mu is released: the handler's OnClientGone and the context's cancel.
func (st *stream) endLocked(gone []func(), err error) []func() {
	if st.err == nil {
		st.err = err
	}
	// Even after END_STREAM: the bytes not read yet are dropped, and a
	// body cut short must not read as complete.
	st.bodyErr = err
	st.remoteDone = true
	st.readable.Broadcast()
	st.dropBodyLocked()
	if st.gone != nil {
		gone = append(gone, st.gone)
		st.gone = nil
	}
	return append(gone, st.cancel)
}

// run calls the handler and ends the stream after it.
func (st *stream) run() {
	c := st.c
	defer c.handlers.Done()
	aborted := st.serve()
	st.finish(aborted)
}

// serve calls the handler and reports whether it panicked, which aborts
// the response (panicking with http.ErrAbortHandler is how a handler
// asks for that).
func (st *stream) serve() (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			aborted = true
			if v != http.ErrAbortHandler {
				st.c.srv.log.Error("panic serving a request", "err", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}
	}()
	st.c.srv.handler.ServeHTTP(&st.w, st.req)
	return false
}

// finish ends the response after the handler returned: what it did not
// send yet and END_STREAM, with the trailers if it set any; a reset for
// an aborted response, and a reset that stops the body of a request
// answered before the client sent all of it (RFC 9113, 8.1).
func (st *stream) finish(aborted bool) {
	c, w := st.c, &st.w
	c.lockWrite()
	st.gone = nil
	// A read of the body still waiting (the h2c route's client sends it
	// from a goroutine of its own) ends now.
	st.bodyDone = true
	st.readable.Broadcast()
	var err error
	if !aborted {
		err = w.endLocked()
	}
	if open := c.streams[st.id] == st; open {
		switch {
		case aborted || err != nil:
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeInternal)
			delete(c.streams, st.id)
		case !st.remoteDone:
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeNo)
			delete(c.streams, st.id)
		}
	}
	st.dropBodyLocked()
	w.putBuf()
	c.active--
	c.idleLocked()
	// The frames go out after a turn for the goroutines ready to run:
	// other streams whose answers came with this one's add theirs, and
	// one write sends them all. Any writer that comes first flushes.
	last := c.writers.Add(-1) == 0
	c.mu.Unlock()
	st.cancel()
	if last {
		runtime.Gosched()
		c.lockWrite()
		c.unlockWrite()
	}
}

// requestBody is a stream as its request's body.
type requestBody stream

// Read reads body bytes as they come, waiting for BodyIdle at most each
// time (then it fails with os.ErrDeadlineExceeded). The client is told
// to go on if it waits for 100 Continue.
func (b *requestBody) Read(p []byte) (int, error) {
	st := (*stream)(b)
	c := st.c
	c.lockWrite()
	defer c.unlockWrite()
	// A timer that fires as the read returns must not time out the next.
	defer func() {
		st.reads++
		st.timedOut = false
	}()
	var timer *time.Timer
	for len(st.body) == 0 && st.bodyErr == nil {
		if st.bodyDone {
			return 0, http.ErrBodyReadAfterClose
		}
		if st.expect {
			st.expect = false
			if !st.w.sentHeader {
				c.encBuf.Reset()
				c.encode(":status", "100")
				_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: c.encBuf.Bytes(), EndHeaders: true})
			}
		}
		if st.timedOut {
			st.timedOut = false
			return 0, os.ErrDeadlineExceeded
		}
		if timer == nil {
			read := st.reads
			timer = time.AfterFunc(c.srv.timeouts.BodyIdle, func() {
				c.mu.Lock()
				if st.reads == read {
					st.timedOut = true
					st.readable.Broadcast()
				}
				c.mu.Unlock()
			})
			defer timer.Stop()
		}
		// Not a writer while it waits: the others flush without it.
		c.flushLocked()
		c.writers.Add(-1)
		st.readable.Wait()
		c.writers.Add(1)
	}
	if len(st.body) == 0 {
		return 0, st.bodyErr
	}
	n := copy(p, st.body)
	st.body = st.body[n:]
	if len(st.body) == 0 {
		st.body = st.body[:0:0] // let the bytes go
	}
	c.giveBackLocked(int64(n))
	st.giveBackLocked(int64(n))
	return n, nil
}

// Close drops the rest of the body: its bytes are given back to the
// client's window as they come.
func (b *requestBody) Close() error {
	st := (*stream)(b)
	c := st.c
	c.lockWrite()
	defer c.unlockWrite()
	st.bodyDone = true
	st.giveBackLocked(st.dropBodyLocked())
	st.readable.Broadcast()
	return nil
}

// dropBodyLocked drops the body bytes received and not read, gives them
// back to the connection's window, and returns how many there were.
func (st *stream) dropBodyLocked() int64 {
	unread := int64(len(st.body))
	st.body = nil
	if unread > 0 && !st.c.closed {
		st.c.giveBackLocked(unread)
	}
	return unread
}

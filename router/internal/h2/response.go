package h2

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// This file is the http.ResponseWriter of a stream, and the frames it
// writes.

// response is a stream's http.ResponseWriter. The handler's body bytes
// gather in buf, a frame's worth, and go out as DATA when it is full,
// on Flush, or with END_STREAM when the handler returns: so a response
// the handler does not flush is one HEADERS and one DATA frame.
type response struct {
	st     *stream
	header http.Header

	head        bool // the request's method is HEAD
	wroteHeader bool
	sentHeader  bool // the HEADERS frame is written
	status      int
	noBody      bool // HEAD, 204 or 304
	buf         *[]byte
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
)

// bufs are the responses' body buffers.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, defaultMaxFrame); return &b }}

// Header returns the response headers. Connection-specific ones
// (Connection, Keep-Alive, Transfer-Encoding, Upgrade) are HTTP/1's and
// not sent; a key whose value is nil is not sent either.
func (w *response) Header() http.Header { return w.header }

// WriteHeader sets the response's status; its HEADERS frame goes out with
// the first DATA, on Flush, or when the handler returns. Interim (1xx)
// statuses are not sent.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 {
		return
	}
	w.wroteHeader = true
	w.status = code
	w.noBody = w.head || code == http.StatusNoContent || code == http.StatusNotModified
}

// Write adds body bytes to the response, sending a DATA frame each time
// a frame's worth has gathered. The body of a response that has none
// (HEAD, 204, 304) is dropped.
func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		return len(p), nil
	}
	written := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = bufs.Get().(*[]byte)
		}
		b := *w.buf
		n := copy(b[len(b):cap(b)], p)
		*w.buf = b[:len(b)+n]
		p = p[n:]
		written += n
		if len(*w.buf) == cap(*w.buf) {
			if err := w.send(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// Flush sends what the handler wrote so far.
func (w *response) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.send()
}

// send writes the head, if not yet, and the buffered body bytes.
func (w *response) send() error {
	c := w.st.c
	c.lockWrite()
	defer c.unlockWrite()
	if err := w.st.writableLocked(); err != nil {
		return err
	}
	if !w.sentHeader {
		w.writeHeadersLocked(false)
	}
	return w.writeBufLocked(false)
}

// writableLocked returns why the stream's frames cannot be written, if
// they cannot.
func (st *stream) writableLocked() error {
	c := st.c
	switch {
	case st.err != nil:
		return st.err
	case c.werr != nil:
		return c.werr
	case c.closed:
		return errClosed
	}
	return nil
}

// endLocked ends the response after the handler returned: the head, the
// rest of the body, END_STREAM, and the trailers.
func (w *response) endLocked() error {
	st := w.st
	if err := st.writableLocked(); err != nil {
		return err
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	trailers := w.trailers()
	if !w.sentHeader {
		w.writeHeadersLocked(trailers == nil && (w.buf == nil || len(*w.buf) == 0))
		if st.localDone {
			return nil
		}
	}
	if err := w.writeBufLocked(trailers == nil); err != nil {
		return err
	}
	if trailers != nil {
		c := st.c
		c.encBuf.Reset()
		for _, f := range trailers {
			c.encode(f.Name, f.Value)
		}
		w.writeBlockLocked(true)
	}
	return nil
}

// writeHeadersLocked writes the response's HEADERS frame, with
// END_STREAM when there is nothing more.
func (w *response) writeHeadersLocked(end bool) {
	c := w.st.c
	w.sentHeader = true
	c.encBuf.Reset()
	c.encode(":status", statusText(w.status))
	if _, ok := w.header["Date"]; !ok {
		c.encode("date", c.httpDateLocked())
	}
	for k, vv := range w.header {
		if skipHeader(k) {
			continue
		}
		lk := lowerKey(k)
		if !httpguts.ValidHeaderFieldName(lk) {
			continue
		}
		for _, v := range vv {
			if httpguts.ValidHeaderFieldValue(v) {
				c.encode(lk, v)
			}
		}
	}
	w.writeBlockLocked(end)
}

// writeBlockLocked writes the header block in the connection's encoding
// buffer as a HEADERS frame and as many CONTINUATION frames as the
// client's frame size needs.
func (w *response) writeBlockLocked(end bool) {
	st := w.st
	c := st.c
	block := c.encBuf.Bytes()
	n := min(len(block), c.peerFrame)
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: block[:n], EndStream: end, EndHeaders: n == len(block)})
	for block = block[n:]; len(block) > 0; block = block[n:] {
		n = min(len(block), c.peerFrame)
		_ = c.fr.WriteContinuation(st.id, n == len(block), block[:n])
	}
	if end {
		st.localDoneLocked()
	}
}

// localDoneLocked records the server's END_STREAM: the stream is closed
// if the client's came already.
func (st *stream) localDoneLocked() {
	st.localDone = true
	if st.remoteDone {
		delete(st.c.streams, st.id)
	}
}

// skipHeader reports whether a response header is not sent as such.
func skipHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Trailer":
		return true
	}
	return strings.HasPrefix(k, http.TrailerPrefix)
}

// trailers returns the trailer fields the handler set: keys with
// http.TrailerPrefix, and those the Trailer header announced.
func (w *response) trailers() []hpack.HeaderField {
	var fs []hpack.HeaderField
	add := func(k string, vv []string) {
		lk := strings.ToLower(k)
		if !httpguts.ValidHeaderFieldName(lk) {
			return
		}
		for _, v := range vv {
			if httpguts.ValidHeaderFieldValue(v) {
				fs = append(fs, hpack.HeaderField{Name: lk, Value: v})
			}
		}
	}
	for k, vv := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			add(k[len(http.TrailerPrefix):], vv)
		}
	}
	for _, v := range w.header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
			if vv, ok := w.header[k]; ok && k != "" {
				add(k, vv)
			}
		}
	}
	return fs
}

// writeBufLocked writes the buffered body bytes as DATA frames, within
// the send windows, and END_STREAM with the last if end. It waits for
// the client to open a window that is shut, up to the write timeout.
func (w *response) writeBufLocked(end bool) error {
	st := w.st
	c := st.c
	var p []byte
	if w.buf != nil {
		p = *w.buf
	}
	var timer *time.Timer
	timedOut := false
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := st.writableLocked(); err != nil {
			return err
		}
		n := min(int64(len(p)), int64(c.peerFrame), c.sendWindow, st.sendWindow)
		if n <= 0 && len(p) > 0 {
			if timedOut {
				return errWindowShut
			}
			if timer == nil {
				timer = time.AfterFunc(c.srv.timeouts.Write, func() {
					c.mu.Lock()
					timedOut = true
					c.window.Broadcast()
					c.mu.Unlock()
				})
			}
			// What went before goes out, so that the client can make
			// room; and it is not a writer while it waits, so the others
			// flush without it.
			c.flushLocked()
			c.writers.Add(-1)
			c.window.Wait()
			c.writers.Add(1)
			continue
		}
		if n < 0 {
			n = 0
		}
		last := end && n == int64(len(p))
		if n > 0 || last {
			_ = c.fr.WriteData(st.id, last, p[:n])
			c.sendWindow -= n
			st.sendWindow -= n
			p = p[n:]
		}
		if last {
			st.localDoneLocked()
		}
		if len(p) == 0 {
			if w.buf != nil {
				*w.buf = (*w.buf)[:0]
			}
			return nil
		}
	}
}

// errWindowShut is a response the client gave no room to for the write
// timeout.
var errWindowShut = errors.New("http2: the client opened no flow-control window for the write timeout")

func (w *response) putBuf() {
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
		bufs.Put(w.buf)
		w.buf = nil
	}
}

// OnClientGone arranges for f to be called, once, when the client resets
// the stream or the connection ends, just before the request's context
// is canceled: at once (on this goroutine) if that happened already,
// else on the goroutine that finds out, until StopClientGone. It is the
// HTTP/1.1 server's (package h1) for HTTP/2. f must not block.
func (w *response) OnClientGone(f func()) {
	st := w.st
	c := st.c
	c.mu.Lock()
	gone := st.err != nil
	if !gone {
		st.gone = f
	}
	c.mu.Unlock()
	if gone {
		f()
	}
}

// StopClientGone cancels the OnClientGone function. It reports whether
// that stopped it from being called: false if it was called (or is being
// called) already, or none was set.
func (w *response) StopClientGone() bool {
	c := w.st.c
	c.mu.Lock()
	stopped := w.st.gone != nil
	w.st.gone = nil
	c.mu.Unlock()
	return stopped
}

// lockWrite takes the connection's lock to write frames (see hold);
// unlockWrite releases it, flushing them if no other writer waits.
func (c *conn) lockWrite() {
	c.hold()
	c.mu.Lock()
}

func (c *conn) unlockWrite() {
	c.release()
	c.mu.Unlock()
}

// encode adds a header field to the connection's encoding buffer.
func (c *conn) encode(name, value string) {
	_ = c.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// statuses are the status codes as text, made once.
var statuses = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusText(code int) string {
	if code < len(statuses) {
		return statuses[code]
	}
	return strconv.Itoa(code)
}

// commonKeys maps the header names most requests and responses carry
// between their lower-case (HTTP/2's) and canonical (net/http's) forms,
// so that converting them allocates nothing.
var commonKeys, commonLower = func() (canon, lower map[string]string) {
	names := []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Request-Headers", "Access-Control-Request-Method", "Age", "Allow",
		"Authorization", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type",
		"Cookie", "Date", "Dnt", "Etag", "Expect", "Expires", "Forwarded", "From", "Grpc-Encoding",
		"Grpc-Accept-Encoding", "Grpc-Timeout", "Host", "If-Match", "If-Modified-Since", "If-None-Match",
		"If-Range", "If-Unmodified-Since", "Last-Modified", "Link", "Location", "Max-Forwards", "Origin",
		"Pragma", "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Range", "Referer", "Refresh",
		"Retry-After", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
		"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Te", "Trailer", "Upgrade-Insecure-Requests", "User-Agent", "Vary",
		"Via", "Www-Authenticate", "X-Content-Type-Options", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Frame-Options", "X-Real-Ip", "X-Request-Id", "X-Requested-With",
		"X-Xss-Protection",
	}
	canon = make(map[string]string, len(names))
	lower = make(map[string]string, len(names))
	for _, n := range names {
		l := strings.ToLower(n)
		canon[l] = n
		lower[n] = l
	}
	return canon, lower
}()

// canonicalKey is the canonical form of a lower-case header name.
func canonicalKey(name string) string {
	if k, ok := commonKeys[name]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// lowerKey is the lower-case form of a header name.
func lowerKey(k string) string {
	if l, ok := commonLower[k]; ok {
		return l
	}
	return strings.ToLower(k)
}

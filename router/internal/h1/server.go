package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the server proper: the accept loop, the client
// connections and their request loop, the client-gone watch, and the
// http.ResponseWriter.

const (
	clientReadBufSize  = 4 << 10
	clientWriteBufSize = 4 << 10

	// maxBodyDiscard is how much of a request body the handler left
	// unread is read and dropped to keep the connection; past it the
	// connection is closed instead.
	maxBodyDiscard = 256 << 10
	// watchDelay is how long a request runs before the server watches its
	// connection for the client going away (see conn.watchClient), to
	// within as much again: the server looks for such requests once every
	// watchDelay.
	watchDelay = 50 * time.Millisecond
	// lingerTimeout bounds how long a connection closed with request
	// bytes unread is drained first, so that the client reads the
	// response rather than a reset.
	lingerTimeout = 500 * time.Millisecond
)

// Timeouts bound how long a client may take over each part of an
// exchange, so that a slow or stalled client cannot hold a connection and
// its goroutine (and, through the handler, a backend connection) for
// ever. The zero value of a field means the default written beside it.
type Timeouts struct {
	// ReadHeader bounds reading a request head, from its first byte.
	// Zero means 10s.
	ReadHeader time.Duration
	// Idle is how long a connection may wait for its next request, or a
	// new one for its first; like nginx's keepalive_timeout. Zero means
	// 75s.
	Idle time.Duration
	// BodyIdle bounds each wait for bytes of a request body: a client
	// that sends nothing of its body for this long (to within a tenth) is
	// cut off, however long the whole body takes. Zero means 60s.
	BodyIdle time.Duration
	// Write bounds each wait for the client to take bytes of a response:
	// a client that takes none for this long is cut off, after at least
	// it (to within a tenth) and less than twice it, while a download
	// that keeps going, however slowly, is not. Like nginx's
	// send_timeout. Zero means 60s.
	Write time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&t.ReadHeader, 10 * time.Second},
		{&t.Idle, 75 * time.Second},
		{&t.BodyIdle, 60 * time.Second},
		{&t.Write, 60 * time.Second},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	return t
}

// A Server serves HTTP/1.1 on a listener with one handler. Per connection
// it runs one goroutine, which reads requests, calls the handler and
// writes responses, in order; pipelined requests wait their turn. Its
// methods are safe for concurrent use.
type Server struct {
	handler http.Handler
	log     *slog.Logger
	ln      net.Listener

	timeouts   Timeouts      // defaults applied
	watchDelay time.Duration // a field so that tests can shorten it

	// Refused, if set, is told of each request the server refuses before
	// any handler sees it (a malformed head, say), for the access log and
	// metrics: the client's address, the status it is answered and the
	// reason given. It is set before Serve and called from the
	// connection's goroutine.
	Refused func(remoteAddr string, status int, reason string)
	// HTTP2, if set, takes the TLS connections whose client chose HTTP/2
	// by ALPN ("h2"), once their handshake is done: the server keeps
	// nothing of them. It is set before Serve and called from the
	// connection's goroutine.
	HTTP2 func(*tls.Conn)

	readers sync.Pool // *bufio.Reader of clientReadBufSize
	writers sync.Pool // *bufio.Writer of clientWriteBufSize

	closing    atomic.Bool   // shutdown began: keep no connection
	acceptDone chan struct{} // closed when serve returns

	stopSweep     chan struct{} // closed to end the watch sweep (see sweepWatches)
	stopSweepOnce sync.Once
	sweepDone     chan struct{} // closed when the sweep has ended

	mu    sync.Mutex
	conns map[*conn]struct{} // open, not hijacked
	wg    sync.WaitGroup     // one per conns entry
}

// NewServer returns a Server for h on ln, which logs to log and holds
// its clients to t. Serve starts it.
func NewServer(h http.Handler, log *slog.Logger, ln net.Listener, t Timeouts) *Server {
	return &Server{
		handler:    h,
		log:        log,
		ln:         ln,
		timeouts:   t.withDefaults(),
		watchDelay: watchDelay,
		acceptDone: make(chan struct{}),
		stopSweep:  make(chan struct{}),
		sweepDone:  make(chan struct{}),
		conns:      make(map[*conn]struct{}),
	}
}

// Serve accepts connections until the listener fails or Shutdown or Close
// closes it, which returns nil. Requests' contexts derive from base. It
// is called once; Shutdown, or else Close, must follow (they end the
// goroutine that watches long requests' clients).
func (s *Server) Serve(base context.Context) error {
	defer close(s.acceptDone)
	go s.sweepWatches()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				// Out of file descriptors, say: wait for some to be freed,
				// as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accepting a connection failed, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accepting connections: %w", err)
		}
		delay = 0
		c := s.newConn(base, nc)
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections and waits for the
// others to finish their request and close, until ctx is done: then it
// returns ctx's error and Close should cut what is left. Hijacked
// connections are their hijacker's to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	_ = s.ln.Close()
	<-s.acceptDone // no more wg.Add
	s.closeIdleClients()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.endSweep()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeIdleClients closes the client connections waiting for a request.
// Those reading or serving one close after their response, which says so.
func (s *Server) closeIdleClients() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.nc.Close()
		}
	}
}

// Close cuts every connection, in the middle of a request or not, and
// cancels their requests' contexts. Hijacked connections are not its.
func (s *Server) Close() {
	s.closing.Store(true)
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.cancelRequests()
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.endSweep() // not under mu, which the sweep takes
}

// endSweep ends the watch sweep and waits for it, if Serve started it.
func (s *Server) endSweep() {
	s.stopSweepOnce.Do(func() { close(s.stopSweep) })
	select {
	case <-s.acceptDone:
	default:
		return // Serve has not returned: closing stopSweep ends the sweep
	}
	<-s.sweepDone
}

// Connection states, for Shutdown. A connection is idle between requests
// and before the first: Shutdown may close it. It turns active when a
// request's first byte arrives.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// conn is one client connection and everything it reuses from request to
// request.
type conn struct {
	srv    *Server
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	cancel context.CancelFunc // of the connection's context, its requests'
	state  atomic.Int32

	readDeadline  time.Time // as set on nc; zero for none
	writeDeadline time.Time // as set on nc
	hijacked      bool

	// The request being served: a copy of tmpl (the context and remote
	// address) with the head's fields set, its URL, headers and body.
	tmpl   *http.Request
	req    http.Request
	url    url.URL
	header http.Header
	vals   []string // backing for the header values
	te     [1]string
	head   requestHead
	body   body
	res    response

	// The client-gone watch (see watchClient): watchArmed is the
	// connection goroutine's, watchState and watchSince also the
	// sweep's.
	watchArmed   bool
	watchState   atomic.Int32 // watchOff, watchPending or watchRunning
	watchSince   atomic.Int64 // when it was armed, in Unix nanoseconds
	watchMu      sync.Mutex
	watchStopped bool // under watchMu
	watchDone    chan struct{}

	// What to call when the client goes away (see OnClientGone), and
	// whether it has, under goneMu.
	goneMu sync.Mutex
	goneFn func()
	gone   bool

	dateSec int64    // when date was formatted, in Unix seconds
	date    [29]byte // a Date header value, http.TimeFormat
}

func (s *Server) newConn(base context.Context, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(base)
	c := &conn{
		srv:       s,
		nc:        nc,
		cancel:    cancel,
		header:    make(http.Header),
		watchDone: make(chan struct{}, 1),
	}
	c.tmpl = (&http.Request{RemoteAddr: nc.RemoteAddr().String()}).WithContext(ctx)
	c.body.c = c
	c.res = response{c: c, header: make(http.Header)}
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		br.Reset(nc)
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(nc, clientReadBufSize)
	}
	// The writer writes through c, under the write timeout.
	if bw, ok := s.writers.Get().(*bufio.Writer); ok {
		bw.Reset(c)
		c.bw = bw
	} else {
		c.bw = bufio.NewWriterSize(c, clientWriteBufSize)
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	return c
}

// untrack takes c out of the server's connections: it closed, or its
// handler took it over.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// serve runs c's requests one after the other until one of them, the
// client or the server ends the connection.
func (c *conn) serve() {
	defer c.end()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if !c.handshake(tc) {
			return
		}
		if c.tmpl.TLS.NegotiatedProtocol == "h2" && c.srv.HTTP2 != nil {
			_ = tc.SetDeadline(time.Time{}) // the handshake's: HTTP2 sets its own
			c.hijacked = true               // HTTP2's now: end leaves it open
			c.srv.untrack(c)
			c.srv.HTTP2(tc)
			return
		}
	}
	for c.awaitRequest() {
		if err := c.readRequest(); err != nil {
			if re, ok := errors.AsType[*requestError](err); ok && c.srv.Refused != nil {
				c.srv.Refused(c.tmpl.RemoteAddr, re.status, re.reason)
			}
			c.reject(err)
			return
		}
		if !c.serveRequest() {
			return
		}
	}
}

// handshake runs the TLS handshake of a connection the listener wrapped
// in TLS, within the read header timeout, and keeps its state for the
// requests (Request.TLS). It reports whether the handshake succeeded; a
// failed one (no certificate for the name asked, a protocol version
// refused) is logged at debug level, as clients' bad handshakes are many.
func (c *conn) handshake(tc *tls.Conn) bool {
	// Bounded by a deadline rather than a context: a handshake with a
	// context that can end costs a goroutine and a timer of its own.
	// Close cuts it by closing the connection.
	deadline := time.Now().Add(c.srv.timeouts.ReadHeader)
	_ = tc.SetDeadline(deadline)
	c.readDeadline, c.writeDeadline = deadline, deadline
	if err := tc.Handshake(); err != nil {
		c.srv.log.Debug("TLS handshake failed", "remote_addr", c.tmpl.RemoteAddr, "err", err)
		return false
	}
	st := tc.ConnectionState()
	c.tmpl.TLS = &st
	return true
}

// end closes the connection, unless a handler took it over, and cancels
// its context.
func (c *conn) end() {
	c.cancelRequests()
	if c.hijacked {
		return // the hijacker owns the connection and its buffers
	}
	_ = c.nc.Close()
	c.srv.untrack(c)
	c.br.Reset(nil)
	c.bw.Reset(nil)
	c.srv.readers.Put(c.br)
	c.srv.writers.Put(c.bw)
}

// awaitRequest waits until the next request's first byte is there, for up
// to the idle timeout, and reports whether it came and the connection may
// serve it.
func (c *conn) awaitRequest() bool {
	s := c.srv
	if c.br.Buffered() > 0 {
		// Pipelined: no waiting, no idling.
		return !s.closing.Load()
	}
	// Idle first, then check for a shutdown: Shutdown sets closing first,
	// then closeIdleClients looks for idle connections, so one of the two
	// sees the other.
	c.state.Store(stateIdle)
	if s.closing.Load() {
		return false
	}
	c.extendReadDeadline(s.timeouts.Idle)
	if _, err := c.br.Peek(1); err != nil {
		return false
	}
	return c.state.CompareAndSwap(stateIdle, stateActive)
}

// readRequest reads and parses the next request head into c.req.
func (c *conn) readRequest() error {
	head, err := c.readRequestHead()
	if err != nil {
		return err
	}
	clear(c.header)
	if n := strings.Count(head, "\n"); cap(c.vals) < n {
		c.vals = make([]string, 0, n)
	}
	p, vals, err := parseRequestHead(head, c.header, c.vals[:0], &c.url)
	c.vals = vals
	if err != nil {
		return err
	}
	c.head = p
	c.body.reset(&p)

	r := &c.req
	*r = *c.tmpl
	r.Method = p.method
	r.URL = p.url
	r.Proto, r.ProtoMajor, r.ProtoMinor = p.proto, 1, p.minor
	r.Header = c.header
	r.Host = p.host
	r.RequestURI = p.target
	r.Close = !p.wantsKeepAlive()
	r.ContentLength = p.contentLength
	switch {
	case p.chunked:
		r.ContentLength = -1
		c.te[0] = "chunked"
		r.TransferEncoding = c.te[:]
		r.Body = &c.body
	case p.contentLength > 0:
		r.Body = &c.body
	default:
		r.ContentLength = 0
		r.Body = http.NoBody
	}
	return nil
}

// readRequestHead reads a client's request head whose first byte has
// arrived and returns it whole as one string, for the header values to be
// substrings of.
func (c *conn) readRequestHead() (string, error) {
	br := c.br
	var deadline time.Time
	for from := 0; ; {
		buf, _ := br.Peek(br.Buffered())
		if n := headEnd(buf, from); n >= 0 {
			head := string(buf[:n])
			_, _ = br.Discard(n)
			return head, nil
		}
		if len(buf) == br.Size() {
			return c.readLongRequestHead(deadline)
		}
		from = max(0, len(buf)-2)
		if deadline.IsZero() {
			// Most heads come in one read. For the others the clock
			// starts at the first byte.
			deadline = time.Now().Add(c.srv.timeouts.ReadHeader)
			c.setReadDeadline(deadline)
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return "", NoEOF(err)
		}
	}
}

// readLongRequestHead reads a request head that does not fit in the
// connection's buffer, up to maxRequestHeadBytes.
func (c *conn) readLongRequestHead(deadline time.Time) (string, error) {
	if deadline.IsZero() {
		c.setReadDeadline(time.Now().Add(c.srv.timeouts.ReadHeader))
	}
	br := c.br
	var long []byte
	for {
		buf, _ := br.Peek(br.Buffered())
		from := max(0, len(long)-2)
		long = append(long, buf...)
		if n := headEnd(long, from); n >= 0 {
			if n > maxRequestHeadBytes {
				return "", errRequestHeadTooLarge
			}
			_, _ = br.Discard(n - (len(long) - len(buf)))
			return string(long[:n]), nil
		}
		if len(long) > maxRequestHeadBytes {
			return "", errRequestHeadTooLarge
		}
		_, _ = br.Discard(len(buf))
		if _, err := br.Peek(1); err != nil {
			return "", NoEOF(err)
		}
	}
}

// reject answers a request the server refuses, then the connection is
// closed. A connection that broke or timed out gets no answer.
func (c *conn) reject(err error) {
	re, ok := errors.AsType[*requestError](err)
	if !ok {
		return
	}
	text := strconv.Itoa(re.status) + " " + http.StatusText(re.status) + ": " + re.reason + "\n"
	bw := c.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(re.status))
	_, _ = bw.WriteString(" ")
	_, _ = bw.WriteString(http.StatusText(re.status))
	_, _ = bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	_, _ = bw.WriteString(strconv.Itoa(len(text)))
	_, _ = bw.WriteString("\r\nConnection: close\r\n\r\n")
	_, _ = bw.WriteString(text)
	if bw.Flush() == nil {
		c.linger()
	}
}

// linger half-closes the connection and drains what the client still
// sends for a moment, before the connection is closed: closing with unread
// bytes resets the connection, and the client may lose the response.
func (c *conn) linger() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		return
	}
	c.setReadDeadline(time.Now().Add(lingerTimeout))
	for {
		if _, err := c.br.Discard(c.br.Buffered() + 1); err != nil {
			return
		}
	}
}

// serveRequest calls the handler for the request in c.req and completes
// its response. It reports whether the connection may carry another.
func (c *conn) serveRequest() bool {
	c.res.reset(&c.head)
	if c.body.eof {
		c.armWatch() // no body to wait for
	}
	aborted := c.runHandler()
	c.stopWatch()
	c.res.StopClientGone() // the request's, if its handler left it set
	switch {
	case c.hijacked:
		return false
	case aborted:
		// Send what there is, short: the client sees a broken response.
		_ = c.bw.Flush()
		return false
	case !c.res.wroteHeader && c.tmpl.Context().Err() != nil:
		return false // the client went away: no one to answer
	case !c.res.wroteHeader && c.body.err != nil:
		// The handler gave up on a body the client broke off or framed
		// wrong: say which, not 200.
		c.reject(c.body.err)
		return false
	}
	keep := c.res.finish() && c.tmpl.Context().Err() == nil
	if !c.body.eof {
		// The handler left some of the body: read it (within the idle
		// timeout) to get to the next request, or drain the connection
		// before closing it.
		c.setReadDeadline(time.Now().Add(c.srv.timeouts.Idle))
		if !keep || !c.body.discard(maxBodyDiscard) {
			c.linger()
			return false
		}
	}
	return keep
}

// runHandler calls the handler and reports whether it panicked, which
// aborts the response (panicking with http.ErrAbortHandler is how a
// handler asks for that).
func (c *conn) runHandler() (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			aborted = true
			if v != http.ErrAbortHandler {
				c.srv.log.Error("panic serving a request", "err", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}
	}()
	c.srv.handler.ServeHTTP(&c.res, &c.req)
	return false
}

// sendContinue tells a client waiting to send its body to go on, unless
// the response has begun.
func (c *conn) sendContinue() {
	if c.res.wroteHeader {
		return
	}
	_, _ = c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	_ = c.bw.Flush()
}

// The client-gone watch. A handler waiting for a backend must learn that
// its client went away: the request's context is canceled then. net/http
// keeps a read pending on every connection for that; this server starts
// one only when a request has run for watchDelay (most are done by then)
// and its body has been read (the read must not take the body's bytes). A
// read that fails means the client is gone; one that returns data means
// the client sent its next request already, which ends the watch: the
// data stays in the buffer for the next request.
//
// The requests that have run that long are found by one goroutine for
// the whole server (sweepWatches) rather than by a timer a request: a
// timer set for each request would cost it the runtime's timer heap and,
// often, waking a thread to poll the network with the new deadline.

// Watch states.
const (
	watchOff     int32 = iota
	watchPending       // armed, the sweep has not started it
	watchRunning       // the sweep started watchClient
)

// armWatch marks the request as one to watch once it has run watchDelay.
func (c *conn) armWatch() {
	if c.watchArmed || c.hijacked {
		return
	}
	c.watchArmed = true
	c.watchStopped = false // the watch goroutine is not running
	c.watchSince.Store(time.Now().UnixNano())
	c.watchState.Store(watchPending)
}

// sweepWatches starts the watch of every request armed for watchDelay,
// once every watchDelay, until endSweep.
func (s *Server) sweepWatches() {
	defer close(s.sweepDone)
	tick := time.NewTicker(s.watchDelay)
	defer tick.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case now := <-tick.C:
			due := now.Add(-s.watchDelay).UnixNano()
			s.mu.Lock()
			for c := range s.conns {
				if c.watchState.Load() == watchPending && c.watchSince.Load() <= due &&
					c.watchState.CompareAndSwap(watchPending, watchRunning) {
					go c.watchClient()
				}
			}
			s.mu.Unlock()
		}
	}
}

// watchClient runs on a goroutine of its own, started by the sweep, and
// blocks until the client sends or goes away or stopWatch ends it.
func (c *conn) watchClient() {
	defer func() { c.watchDone <- struct{}{} }()
	c.watchMu.Lock()
	if c.watchStopped {
		c.watchMu.Unlock()
		return
	}
	c.clearReadDeadline()
	c.watchMu.Unlock()
	_, err := c.br.Peek(1)
	c.watchMu.Lock()
	stopped := c.watchStopped
	c.watchMu.Unlock()
	if err != nil && !stopped {
		c.cancelRequests()
	}
}

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// stopWatch ends the watch, waiting for its read to return, so that the
// connection's reader is the server's again.
func (c *conn) stopWatch() {
	if !c.watchArmed {
		return
	}
	c.watchArmed = false
	if c.watchState.CompareAndSwap(watchPending, watchOff) {
		return // it never started
	}
	defer c.watchState.Store(watchOff)
	c.watchMu.Lock()
	c.watchStopped = true
	c.watchMu.Unlock()
	// Whether the watch cleared the deadline before this or not, its read
	// returns now.
	c.readDeadline = aLongTimeAgo
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	<-c.watchDone
}

// setReadDeadline sets the connection's read deadline, unless it is set
// already.
func (c *conn) setReadDeadline(t time.Time) {
	if t.Equal(c.readDeadline) {
		return
	}
	c.readDeadline = t
	_ = c.nc.SetReadDeadline(t)
}

// extendReadDeadline moves the read deadline to now+d, within a tenth of
// d (see moveDeadline).
func (c *conn) extendReadDeadline(d time.Duration) {
	if want := time.Now().Add(d); moveDeadline(c.readDeadline, want, d) {
		c.setReadDeadline(want)
	}
}

// extendWriteDeadline moves the write deadline to now+d, within a tenth
// of d (see moveDeadline).
func (c *conn) extendWriteDeadline(d time.Duration) {
	if want := time.Now().Add(d); moveDeadline(c.writeDeadline, want, d) {
		c.writeDeadline = want
		_ = c.nc.SetWriteDeadline(want)
	}
}

// moveDeadline reports whether a deadline set at cur (zero: none) must
// move to want, a timeout d from now. Setting a deadline updates a
// runtime timer: one less than a tenth of d early is kept, which spares
// that on most requests of a busy connection. One later than want is
// moved, as it is another timeout's.
func moveDeadline(cur, want time.Time, d time.Duration) bool {
	diff := want.Sub(cur)
	return cur.IsZero() || diff < 0 || diff >= d/10
}

// Write writes p to the client for the connection's bufio.Writer, under
// the write timeout: each wait for the client to take bytes is bounded,
// and a write that the client took some of before its deadline goes on
// with a new one, so that a slow download is not cut off while it moves.
// A hijacked connection is written as it is: the hijacker sets its own
// deadlines.
func (c *conn) Write(p []byte) (int, error) {
	if c.hijacked {
		return c.nc.Write(p)
	}
	d := c.srv.timeouts.Write
	n := 0
	for {
		c.extendWriteDeadline(d)
		m, err := c.nc.Write(p[n:])
		n += m
		if err == nil || m == 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
	}
}

func (c *conn) clearReadDeadline() {
	if !c.readDeadline.IsZero() {
		c.setReadDeadline(time.Time{})
	}
}

// httpDate returns the current time as a Date header value, formatted at
// most once a second.
func (c *conn) httpDate() []byte {
	now := time.Now()
	if sec := now.Unix(); sec != c.dateSec {
		c.dateSec = sec
		now.UTC().AppendFormat(c.date[:0], http.TimeFormat)
	}
	return c.date[:]
}

// response is the http.ResponseWriter of a connection's requests, reused
// from one to the next.
type response struct {
	c      *conn
	header http.Header

	head          bool // the request's method is HEAD
	wroteHeader   bool
	status        int
	noBody        bool  // HEAD, 1xx, 204 or 304
	chunked       bool  // the body goes chunked
	contentLength int64 // the handler's, or -1
	written       int64 // body bytes written
	closeAfter    bool  // the connection ends with this response
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

func (w *response) reset(p *requestHead) {
	clear(w.header)
	*w = response{c: w.c, header: w.header, head: p.method == http.MethodHead}
}

// Header returns the response headers. Connection and Transfer-Encoding
// in it are the server's business and not sent; Connection: close ends
// the connection after the response.
func (w *response) Header() http.Header { return w.header }

// WriteHeader writes the response head into the connection's buffer. The
// body's framing is the handler's Content-Length if it set one, else
// chunked for an HTTP/1.1 client and until the connection closes for an
// HTTP/1.0 one. The server sends no interim responses: a 1xx status ends
// the connection after its head.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.c.hijacked {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	w.wroteHeader = true
	w.status = code
	w.frame()
	w.writeResponseHead()
}

// frame decides how the body is delimited and whether the connection
// stays open after the response.
func (w *response) frame() {
	c := w.c
	w.contentLength = -1
	if v := w.header["Content-Length"]; len(v) > 0 {
		if n, ok := ParseContentLength(v[0]); ok {
			w.contentLength = n
		}
	}
	keep := c.head.wantsKeepAlive() && !c.srv.closing.Load() &&
		!ConnectionListed(w.header["Connection"], "close") &&
		!c.body.wantContinue // the client may or may not send its body now
	switch {
	case w.status < 200:
		w.noBody, keep = true, false
	case w.status == http.StatusNoContent || w.status == http.StatusNotModified || w.head:
		w.noBody = true
	case w.contentLength >= 0:
	case c.head.http11():
		w.chunked = true
	default:
		keep = false // the end of the body is the end of the connection
	}
	w.closeAfter = !keep
}

// writeResponseHead writes the status line and headers for the client.
func (w *response) writeResponseHead() {
	c := w.c
	bw := c.bw
	if c.head.http11() {
		_, _ = bw.WriteString("HTTP/1.1 ")
	} else {
		_, _ = bw.WriteString("HTTP/1.0 ")
	}
	_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(w.status), 10))
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(http.StatusText(w.status))
	_, _ = bw.WriteString("\r\n")
	for k, vv := range w.header {
		if w.skipHeader(k) {
			continue
		}
		if k == "Content-Length" {
			vv = vv[:1] // the one frame used
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	if _, ok := w.header["Date"]; !ok {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.Write(c.httpDate())
		_, _ = bw.WriteString("\r\n")
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter && c.head.http11():
		_, _ = bw.WriteString("Connection: close\r\n")
	case !w.closeAfter && !c.head.http11():
		_, _ = bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// skipHeader reports whether a header of the handler's is left out of the
// head: the server's own framing and connection headers, a length that
// does not apply, and what net/http leaves out of a 304; and names that
// are not tokens, which would break the head.
func (w *response) skipHeader(k string) bool {
	switch k {
	case "Connection", "Transfer-Encoding":
		return true
	case "Content-Length":
		return w.contentLength < 0 || w.status < 200 || w.status == http.StatusNoContent ||
			w.status == http.StatusNotModified
	case "Content-Type":
		return w.status == http.StatusNotModified
	}
	return !isToken(k)
}

// writeField writes one header field. A CR or LF in the value would end
// the field early: it is made a space, as net/http does.
func writeField(bw *bufio.Writer, k, v string) {
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	if len(k)+len(v)+4 > bw.Available() {
		_, _ = bw.WriteString(k)
		_, _ = bw.WriteString(": ")
		_, _ = bw.WriteString(v)
		_, _ = bw.WriteString("\r\n")
		return
	}
	// Appended in the writer's free space and written at once: one call
	// rather than four.
	b := bw.AvailableBuffer()
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	b = append(b, "\r\n"...)
	_, _ = bw.Write(b)
}

// Write writes body bytes into the connection's buffer, as one chunk when
// chunked. Bytes past the handler's Content-Length are not written, and
// the connection is closed after the response.
func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		if w.head {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	var tooLong error
	if w.contentLength >= 0 {
		if left := w.contentLength - w.written; int64(len(p)) > left {
			// The response stays whole, but the handler is confused:
			// the connection ends with it.
			p, tooLong = p[:left], http.ErrContentLength
			w.closeAfter = true
		}
	}
	if len(p) == 0 {
		return 0, tooLong
	}
	bw := w.c.bw
	if w.chunked {
		_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		return n, err
	}
	return n, tooLong
}

// cancelRequests calls the OnClientGone function of the request being
// served, if any, and cancels the connection's context, its requests':
// the client went away or the server is closing. The function comes
// first, so that a handler that sees the context done finds it called.
func (c *conn) cancelRequests() {
	c.goneMu.Lock()
	f := c.goneFn
	c.goneFn, c.gone = nil, true
	c.goneMu.Unlock()
	if f != nil {
		f()
	}
	c.cancel()
}

// OnClientGone arranges for f to be called, once, when the request's
// client goes away or the server is closed, just before its context is
// canceled: at once (on this goroutine) if that happened already, else
// on the goroutine that finds out, until StopClientGone. It is what
// context.AfterFunc on the request's context does, without its
// allocations and the context's lock, for a handler that sets one for
// every request. f must not block. One function at a time: a second
// replaces the first; the server stops it when the handler returns.
func (w *response) OnClientGone(f func()) {
	c := w.c
	c.goneMu.Lock()
	gone := c.gone
	if !gone {
		c.goneFn = f
	}
	c.goneMu.Unlock()
	if gone {
		f()
	}
}

// StopClientGone cancels the OnClientGone function. It reports whether
// that stopped it from being called: false if it was called (or is
// being called) already, or none was set.
func (w *response) StopClientGone() bool {
	c := w.c
	c.goneMu.Lock()
	stopped := c.goneFn != nil
	c.goneFn = nil
	c.goneMu.Unlock()
	return stopped
}

// Flush sends what the handler wrote so far.
func (w *response) Flush() {
	if w.c.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.c.bw.Flush()
}

// Hijack hands the connection and its buffers over to the handler, which
// then owns them. The server forgets the connection.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c.stopWatch()
	if err := c.bw.Flush(); err != nil {
		return nil, nil, fmt.Errorf("flushing the response before a hijack: %w", err)
	}
	c.hijacked = true
	c.srv.untrack(c)
	return c.nc, bufio.NewReadWriter(c.br, c.bw), nil
}

// finish ends the response after the handler returned: the head if the
// handler wrote none (an empty 200), the last chunk, and a flush, one
// write for a response the handler did not flush. It reports whether the
// connection may carry another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		if _, ok := w.header["Content-Length"]; !ok && !w.head {
			w.header["Content-Length"] = []string{"0"}
		}
		w.WriteHeader(http.StatusOK)
	}
	bw := w.c.bw
	if w.chunked {
		_, _ = bw.WriteString("0\r\n\r\n")
	}
	short := !w.noBody && w.contentLength >= 0 && w.written < w.contentLength
	return bw.Flush() == nil && !short && !w.closeAfter
}

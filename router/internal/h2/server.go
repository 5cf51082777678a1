package h2

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// This file is the server and its connections: the frame-reading loop,
// the settings, flow control's bookkeeping, and the writes every
// goroutine of a connection shares.

const (
	// maxStreams is the streams a client may have open at once
	// (SETTINGS_MAX_CONCURRENT_STREAMS), counted by their handlers: a
	// stream the client reset still counts until its handler returns.
	maxStreams = 250
	// streamWindow and connWindow are the request-body bytes a client may
	// send ahead of the handlers' reads, on one stream and on the whole
	// connection: what a connection may make the server buffer.
	streamWindow = 1 << 20
	connWindow   = 1 << 20
	// maxHeaderList bounds a request's header list, as the HTTP/1.1
	// server bounds a request head (SETTINGS_MAX_HEADER_LIST_SIZE).
	maxHeaderList = 64 << 10
	// writeBufSize is the connection's write buffer: a few responses'
	// frames, one TLS record's worth.
	writeBufSize = 16 << 10
	// maxRefused is how many streams a connection may open over its limit
	// before it is told to go away (ENHANCE_YOUR_CALM): a client that
	// keeps doing it is resetting streams to open more.
	maxRefused = 1000
	// lingerTimeout bounds how long a connection refused at its preface
	// is drained first (see linger).
	lingerTimeout = 500 * time.Millisecond

	// initialPeerWindow and defaultMaxFrame are RFC 9113's defaults for
	// what the client has not set.
	initialPeerWindow = 65535
	defaultMaxFrame   = 16384
	maxWindow         = 1<<31 - 1
)

// Timeouts bound how long a client may take over each part of a
// connection. The zero value of a field means the default written beside
// it.
type Timeouts struct {
	// ReadHeader bounds the client's preface and first SETTINGS frame.
	// Zero means 10s.
	ReadHeader time.Duration
	// Idle is how long a connection without streams is kept open. Zero
	// means 75s, as the HTTP/1.1 server keeps idle connections.
	Idle time.Duration
	// BodyIdle bounds each wait of a handler for bytes of a request
	// body: a read that gets none for this long fails with
	// os.ErrDeadlineExceeded. Zero means 60s.
	BodyIdle time.Duration
	// Write bounds each wait for the client to take bytes: a connection
	// that takes none for this long is closed. Zero means 60s.
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

// A Server serves HTTP/2 connections with one handler. Its methods are
// safe for concurrent use.
type Server struct {
	handler  http.Handler
	log      *slog.Logger
	timeouts Timeouts

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup // ServeConn calls
}

// NewServer returns a Server for h, which logs to log.
func NewServer(h http.Handler, log *slog.Logger, t Timeouts) *Server {
	return &Server{handler: h, log: log, timeouts: t.withDefaults(), conns: make(map[*conn]struct{})}
}

// ServeConn serves HTTP/2 on nc until the client, the protocol or the
// server ends the connection, then closes it. nc is a TLS connection
// whose handshake chose "h2" (its state is the requests' TLS), or a plain
// one whose client speaks HTTP/2 with prior knowledge. Requests'
// contexts derive from base. It returns once the connection's handlers
// have.
func (s *Server) ServeConn(base context.Context, nc net.Conn) {
	c := s.newConn(base, nc)
	if c == nil {
		_ = nc.Close()
		return
	}
	defer s.wg.Done()
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown tells every connection to go away (GOAWAY: no new streams)
// and waits for their streams to end and the connections to close, until
// ctx is done: then it returns ctx's error and Close should cut what is
// left. Connections served after it are closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		go c.goAway(http2.ErrCodeNo, nil)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cuts every connection, with its streams, whose requests'
// contexts are canceled.
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
}

// conn is one client connection.
type conn struct {
	srv        *Server
	nc         net.Conn
	tls        *tls.ConnectionState
	remoteAddr string
	ctx        context.Context // the requests' parent
	cancel     context.CancelFunc
	handlers   sync.WaitGroup

	// fr reads frames on the serve goroutine and writes them, under mu,
	// on any; its writes go to bw.
	fr *http2.Framer
	bw *bufio.Writer
	dw deadlineWriter

	// writers counts the goroutines that are writing frames or about to:
	// the last one out flushes (see release).
	writers atomic.Int32

	// The rest is under mu.
	mu      sync.Mutex
	window  sync.Cond // broadcast when a send window grows or the connection ends
	enc     *hpack.Encoder
	encBuf  bytes.Buffer
	date    string // the Date header, made once a second
	dateSec int64

	streams    map[uint32]*stream // open and half-closed
	maxID      uint32             // the highest stream the client opened
	active     int                // handlers running
	refused    int                // streams refused for being over maxStreams
	goneAway   bool               // GOAWAY sent: no new streams
	closed     bool               // the connection is done: writes fail
	werr       error              // the write that failed
	idleSet    bool               // the read deadline is the idle timeout
	sendWindow int64              // the connection's, for DATA to the client
	peerWindow int64              // SETTINGS_INITIAL_WINDOW_SIZE of the client
	peerFrame  int                // SETTINGS_MAX_FRAME_SIZE of the client
	recvWindow int64              // DATA the client may still send on the connection
	recvOwed   int64              // DATA read or dropped, not yet given back by WINDOW_UPDATE
}

// errClosed is what a handler's writes and reads get once its connection
// is gone.
var errClosed = errors.New("http2: client connection closed")

func (s *Server) newConn(base context.Context, nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	c := &conn{
		srv:        s,
		nc:         nc,
		remoteAddr: nc.RemoteAddr().String(),
		streams:    make(map[uint32]*stream),
		sendWindow: initialPeerWindow,
		peerWindow: initialPeerWindow,
		peerFrame:  defaultMaxFrame,
		recvWindow: connWindow,
	}
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tls = &st
	}
	c.ctx, c.cancel = context.WithCancel(base)
	c.window.L = &c.mu
	c.dw = deadlineWriter{nc: nc, timeout: s.timeouts.Write}
	c.bw = bufio.NewWriterSize(&c.dw, writeBufSize)
	c.fr = http2.NewFramer(c.bw, nc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = maxHeaderList
	c.fr.SetReuseFrames()
	c.fr.SetMaxReadFrameSize(defaultMaxFrame) // what the server's SETTINGS leave it at
	c.enc = hpack.NewEncoder(&c.encBuf)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c
}

// serve reads the client's frames until the connection ends, then ends
// its streams and waits for their handlers.
func (c *conn) serve() {
	defer c.end()
	if err := c.start(); err != nil {
		c.srv.log.Debug("HTTP/2 connection refused", "remote_addr", c.remoteAddr, "err", err)
		return
	}
	for {
		f, err := c.fr.ReadFrame()
		if err == nil {
			err = c.process(f)
		}
		if err == nil {
			continue
		}
		if se, ok := errors.AsType[http2.StreamError](err); ok {
			c.resetStream(se.StreamID, se.Code)
			continue
		}
		switch ce := http2.ConnectionError(0); {
		case errors.As(err, &ce):
			c.goAway(http2.ErrCode(ce), c.fr.ErrorDetail())
		case errors.Is(err, http2.ErrFrameTooLarge):
			c.goAway(http2.ErrCodeFrameSize, err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Idle for too long: say goodbye, politely.
			c.goAway(http2.ErrCodeNo, nil)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			c.srv.log.Debug("HTTP/2 connection ended", "remote_addr", c.remoteAddr, "err", err)
		}
		return
	}
}

// start reads the client's preface and first SETTINGS, within the read
// header timeout, and sends the server's.
func (c *conn) start() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.timeouts.ReadHeader))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.nc, preface); err != nil {
		return fmt.Errorf("reading the client preface: %w", err)
	}
	if string(preface) != http2.ClientPreface {
		c.linger()
		return errors.New("the client did not send HTTP/2's preface")
	}
	c.hold()
	c.mu.Lock()
	_ = c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: maxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: maxHeaderList},
	)
	if connWindow > initialPeerWindow {
		_ = c.fr.WriteWindowUpdate(0, connWindow-initialPeerWindow)
	}
	c.release()
	c.mu.Unlock()

	f, err := c.fr.ReadFrame()
	if err != nil {
		return fmt.Errorf("reading the client's first SETTINGS: %w", err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		c.goAway(http2.ErrCodeProtocol, errors.New("the client's first frame was not SETTINGS"))
		return fmt.Errorf("the client's first frame was %v, not SETTINGS", f.Header().Type)
	}
	if err := c.settings(sf); err != nil {
		if ce, ok := errors.AsType[http2.ConnectionError](err); ok {
			c.goAway(http2.ErrCode(ce), err)
		}
		return err
	}
	c.mu.Lock()
	c.idleLocked()
	c.mu.Unlock()
	return nil
}

// end closes the connection: its streams' contexts are canceled, their
// waits end and their writes fail; it returns once their handlers have.
func (c *conn) end() {
	c.mu.Lock()
	c.flushLocked() // a last GOAWAY, say
	c.closed = true
	var gone []func()
	for id, st := range c.streams {
		gone = st.endLocked(gone, errClosed)
		delete(c.streams, id)
	}
	c.window.Broadcast()
	c.mu.Unlock()
	for _, f := range gone {
		f()
	}
	c.cancel()
	_ = c.nc.Close()
	c.handlers.Wait()
}

// process acts on one frame from the client. An error it returns is a
// stream or connection error (http2.StreamError, http2.ConnectionError).
func (c *conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.headers(f)
	case *http2.DataFrame:
		return c.data(f)
	case *http2.WindowUpdateFrame:
		return c.windowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.rstStream(f)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		return c.settings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		c.hold()
		c.mu.Lock()
		_ = c.fr.WritePing(true, f.Data)
		c.release()
		c.mu.Unlock()
		return nil
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil // priorities are advice the server does not take
	case *http2.GoAwayFrame:
		return nil // the client opens no more streams; those open finish
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // clients do not push
	default:
		return nil // unknown frame types are ignored (RFC 9113, 5.5)
	}
}

// settings applies the client's settings and acknowledges them.
func (c *conn) settings(f *http2.SettingsFrame) error {
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		return err
	}
	c.hold()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.release()
	err := f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(s.Val)
		case http2.SettingInitialWindowSize:
			// The change applies to every open stream's window, which may
			// go negative (RFC 9113, 6.9.2).
			delta := int64(s.Val) - c.peerWindow
			c.peerWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.window.Broadcast()
		case http2.SettingMaxFrameSize:
			c.peerFrame = int(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	_ = c.fr.WriteSettingsAck()
	return nil
}

// windowUpdate grows the connection's or a stream's send window.
func (c *conn) windowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		c.sendWindow += inc
		if c.sendWindow > maxWindow {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.window.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		return nil // a closed one: the client may not know yet
	}
	st.sendWindow += inc
	if st.sendWindow > maxWindow {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	c.window.Broadcast()
	return nil
}

// rstStream ends a stream the client reset.
func (c *conn) rstStream(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	st := c.streams[f.StreamID]
	if st == nil {
		idle := f.StreamID > c.maxID
		c.mu.Unlock()
		if idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	delete(c.streams, f.StreamID)
	gone := st.endLocked(nil, errStreamReset)
	c.window.Broadcast()
	c.mu.Unlock()
	for _, f := range gone {
		f()
	}
	return nil
}

// errStreamReset is what a handler's writes and reads get once its
// client reset the stream.
var errStreamReset = errors.New("http2: stream reset by the client")

// resetStream resets a stream the server finds in error, if it is open,
// and tells the client (RST_STREAM) either way.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	c.hold()
	c.mu.Lock()
	var gone []func()
	if st := c.streams[id]; st != nil {
		delete(c.streams, id)
		gone = st.endLocked(nil, fmt.Errorf("http2: stream reset by the server: %v", code))
		c.window.Broadcast()
	}
	if id > c.maxID {
		c.maxID = id // a stream the server refused, now closed
	}
	_ = c.fr.WriteRSTStream(id, code)
	c.release()
	c.mu.Unlock()
	for _, f := range gone {
		f()
	}
}

// goAway tells the client that the connection ends after the streams it
// opened so far (GOAWAY), with code and, for an error, why. A connection
// without running handlers is closed at once; one with closes when its
// last handler returns.
func (c *conn) goAway(code http2.ErrCode, why error) {
	c.hold()
	c.mu.Lock()
	if !c.goneAway {
		c.goneAway = true
		var debug []byte
		if why != nil && code != http2.ErrCodeNo {
			debug = []byte(why.Error())
		}
		_ = c.fr.WriteGoAway(c.maxID, code, debug)
	}
	closeNow := c.active == 0 || code != http2.ErrCodeNo
	c.release()
	c.mu.Unlock()
	if closeNow {
		c.closeRead()
	}
}

// linger reads and drops what the client sends, for lingerTimeout at
// most, before a connection is closed without a word: so that the client
// sees it closed, not reset for the bytes left unread.
func (c *conn) linger() {
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 64<<10))
}

// closeRead ends the serve loop: its read fails at once, and the
// connection ends.
func (c *conn) closeRead() { _ = c.nc.SetReadDeadline(aLongTimeAgo) }

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// idleLocked starts the idle timeout of a connection without handlers,
// or ends the connection after its GOAWAY.
func (c *conn) idleLocked() {
	if c.active > 0 {
		return
	}
	if c.goneAway {
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
		return
	}
	c.idleSet = true
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.timeouts.Idle))
}

// giveBackLocked returns n bytes of the connection's receive window to
// the client: DATA read by a handler or dropped. WINDOW_UPDATE goes out
// once half the window is owed, not for every frame.
func (c *conn) giveBackLocked(n int64) {
	c.recvWindow += n
	c.recvOwed += n
	if c.recvOwed >= connWindow/2 {
		_ = c.fr.WriteWindowUpdate(0, uint32(c.recvOwed))
		c.recvOwed = 0
	}
}

// hold says that the calling goroutine is about to write frames: it
// comes before taking mu. release, under mu after the writes, flushes
// them unless another writer is waiting for mu, whose release will. So
// the frames of responses that end together go out in one write.
func (c *conn) hold() { c.writers.Add(1) }

func (c *conn) release() {
	if c.writers.Add(-1) == 0 {
		c.flushLocked()
	}
}

// flushLocked sends the buffered frames, unless a write failed already.
func (c *conn) flushLocked() {
	if c.werr != nil || c.bw.Buffered() == 0 {
		return
	}
	if err := c.bw.Flush(); err != nil {
		c.failLocked(err)
	}
}

// failLocked records a failed write: the client is not taking bytes, or
// is gone. The connection ends.
func (c *conn) failLocked(err error) {
	if c.werr == nil {
		c.werr = err
		c.closed = true
		c.window.Broadcast()
		c.closeRead()
	}
}

// httpDateLocked is the current time as a Date header value, formatted
// at most once a second.
func (c *conn) httpDateLocked() string {
	if sec := time.Now().Unix(); sec != c.dateSec {
		c.dateSec = sec
		c.date = time.Unix(sec, 0).UTC().Format(http.TimeFormat)
	}
	return c.date
}

// deadlineWriter writes to a connection under the write timeout: each
// write has timeout to make progress, and one that made some goes on
// with a new deadline, so that a slow reader is not cut off while it
// reads.
type deadlineWriter struct {
	nc       net.Conn
	timeout  time.Duration
	deadline time.Time
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	written := 0
	for {
		now := time.Now()
		if want := now.Add(w.timeout); w.deadline.IsZero() || want.Sub(w.deadline) >= w.timeout/10 {
			w.deadline = want
			_ = w.nc.SetWriteDeadline(want)
		}
		n, err := w.nc.Write(p[written:])
		written += n
		if err == nil || n == 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
	}
}

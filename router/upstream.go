package router

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/platform-paas/platform/router/internal/sock"
)

const (
	backendReadBufSize  = 8 << 10
	backendWriteBufSize = 4 << 10
	copyBufSize         = 32 << 10
	// maxResponseHeaderBytes caps a backend's response head, like nginx's
	// "upstream sent too big header".
	maxResponseHeaderBytes = 64 << 10
	// downFor is how long an endpoint that refused a connection is passed
	// over while others are up: a pod that died before its EndpointSlice
	// says so costs one failed dial, not one per request.
	downFor = 2 * time.Second
)

// An upstream is one backend endpoint with its pool of idle keep-alive
// connections. It outlives tables: the tables that route to the same pod
// share it. It is safe for concurrent use.
type upstream struct {
	addr        string
	maxIdle     int
	idleTimeout int64 // nanoseconds

	downUntil atomic.Int64 // unix nanoseconds; see downFor

	mu      sync.Mutex
	idle    []*bconn // most recently used last
	retired bool     // no table routes here any more
}

func newUpstream(addr string, maxIdle int, idleTimeout time.Duration) *upstream {
	return &upstream{addr: addr, maxIdle: maxIdle, idleTimeout: int64(idleTimeout)}
}

// bconn is one connection to a backend. It belongs to one request at a
// time, or to its upstream's idle pool.
type bconn struct {
	up        *upstream
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince int64           // unix nanoseconds
	reused    bool            // served a request before this one
	deadline  time.Time       // the read and write deadline set on nc
	cut       func()          // makes blocked I/O on nc fail, for a client gone
	raw       syscall.RawConn // nc's, for waiting on it without a read; nil if none

	// send's state, and its callback made once (see send).
	sendFn  func(uintptr) bool
	sent    bool
	sendErr error

	// Scratch for parsing a response head, kept to spare allocations.
	hdrs []hdrEntry
	vals []byte
}

func (c *bconn) close() { _ = c.nc.Close() }

// send writes the buffered request to the backend and returns once its
// answer can be read, without trying a read before then.
//
// A read on a Go network connection first tries the system call and
// waits for the poller only when it finds nothing, and a backend's
// answer is never there the moment its request went out: that first try
// was a wasted system call on every request. Here the wait is registered
// first (RawConn.Read readies the connection's poll state before calling
// back), the request is written from inside it, and the poller wakes
// this goroutine when the answer arrives, however soon after the write
// that is. A wait that fails (the deadline, a client gone, a closed
// connection) is not reported here: the read that follows meets the same
// condition and reports it as it always has.
//
// Readying the poll state forgets what arrived on an idle connection
// before the request: the wait ends only on what comes after it. A
// backend that closed the connection answers the request with a reset,
// which ends the wait at once, and the request is retried on a new
// connection as before. One that sent bytes unasked, or half-closed and
// still reads, is waited on until it sends more or closes, at most the
// request timeout, where the read used to find those bytes at once.
func (c *bconn) send() error {
	if c.raw == nil || c.br.Buffered() > 0 {
		return c.bw.Flush()
	}
	c.sent, c.sendErr = false, nil
	_ = c.raw.Read(c.sendFn)
	if !c.sent {
		// The wait could not start (a deadline passed, the connection
		// closed): write as usual and let the read report.
		return c.bw.Flush()
	}
	err := c.sendErr
	c.sendErr = nil
	return err
}

// sendOrReadable is send's callback for RawConn.Read, made once per
// connection so that a request allocates no closure: called first, it
// writes the request and asks to wait (or to stop, if the write failed);
// called again, the answer is readable.
func (c *bconn) sendOrReadable(uintptr) bool {
	if c.sent {
		return true
	}
	c.sent = true
	c.sendErr = c.bw.Flush()
	return c.sendErr != nil
}

// extend moves the connection's deadline to now+timeout. Setting a
// deadline updates a runtime timer; one still within a tenth of the
// timeout of the wanted one is kept, which spares that on most requests
// of a busy connection. The timeout is so kept to within a tenth.
func (c *bconn) extend(now time.Time, timeout time.Duration) error {
	want := now.Add(timeout)
	if want.Sub(c.deadline) < timeout/10 {
		return nil
	}
	c.deadline = want
	return c.nc.SetDeadline(want)
}

// getIdle returns the most recently used idle connection, or nil. Idle
// connections past their timeout are closed.
func (u *upstream) getIdle(now int64) *bconn {
	u.mu.Lock()
	n := len(u.idle)
	if n == 0 {
		u.mu.Unlock()
		return nil
	}
	c := u.idle[n-1]
	u.idle[n-1] = nil
	u.idle = u.idle[:n-1]
	if now-c.idleSince <= u.idleTimeout {
		u.mu.Unlock()
		return c
	}
	// The most recent is stale, so all are.
	stale := u.idle
	u.idle = nil
	u.mu.Unlock()
	c.close()
	for _, s := range stale {
		s.close()
	}
	return nil
}

// put returns a connection whose exchange ended cleanly to the pool.
func (u *upstream) put(c *bconn, now int64) {
	c.idleSince = now
	c.reused = true
	u.mu.Lock()
	if u.retired || len(u.idle) >= u.maxIdle {
		u.mu.Unlock()
		c.close()
		return
	}
	u.idle = append(u.idle, c)
	u.mu.Unlock()
}

// reap closes the idle connections past their timeout.
func (u *upstream) reap(now int64) {
	u.mu.Lock()
	i := 0
	for i < len(u.idle) && now-u.idle[i].idleSince > u.idleTimeout {
		i++
	}
	stale := make([]*bconn, i)
	copy(stale, u.idle[:i])
	u.idle = append(u.idle[:0], u.idle[i:]...)
	clear(u.idle[len(u.idle):cap(u.idle)])
	u.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

// retire closes the idle connections and makes the upstream close the
// busy ones as their requests end.
func (u *upstream) retire() {
	u.mu.Lock()
	u.retired = true
	idle := u.idle
	u.idle = nil
	u.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

func (u *upstream) markDown(now int64) { u.downUntil.Store(now + int64(downFor)) }

// pick returns the first endpoint from index i on (round-robin) that is
// not marked down, or the one at i if all are, and the index to go on
// from.
func pick(eps []*upstream, i int, now int64) (*upstream, int) {
	n := len(eps)
	for k := range n {
		if u := eps[(i+k)%n]; u.downUntil.Load() <= now {
			return u, i + k + 1
		}
	}
	return eps[i%n], i + 1
}

// connect returns a connection to u: an idle one unless fresh, else a new
// one. With checkAlive, an idle one is first checked for a close by the
// backend (see alive).
func (rt *Router) connect(ctx context.Context, u *upstream, now int64, fresh, checkAlive bool) (*bconn, error) {
	if !fresh {
		for {
			c := u.getIdle(now)
			if c == nil {
				break
			}
			// Bytes that came unasked on an idle connection mean a
			// confused backend; a closed one fails the peek.
			if c.br.Buffered() > 0 || (checkAlive && !alive(c.nc)) {
				c.close()
				continue
			}
			return c, nil
		}
	}
	nc, err := rt.dialer.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", u.addr, err)
	}
	nc = sock.Wrap(nc)
	bc := &bconn{
		up:  u,
		nc:  nc,
		br:  bufio.NewReaderSize(nc, backendReadBufSize),
		bw:  bufio.NewWriterSize(nc, backendWriteBufSize),
		cut: func() { _ = nc.SetDeadline(aLongTimeAgo) },
	}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			bc.raw = raw
			bc.sendFn = bc.sendOrReadable
		}
	}
	return bc, nil
}

// reapIdleBackends closes the idle backend connections past their
// timeout, so that a quiet router holds no half-closed sockets.
func (rt *Router) reapIdleBackends(now time.Time) {
	rt.mu.Lock()
	ups := make([]*upstream, 0, len(rt.upstreams))
	for _, u := range rt.upstreams {
		ups = append(ups, u)
	}
	rt.mu.Unlock()
	for _, u := range ups {
		u.reap(now.UnixNano())
	}
}

// closeIdleBackends closes every idle backend connection when Run stops, and
// makes requests still in flight close theirs: with nothing left to reap
// them, no connection is kept.
func (rt *Router) closeIdleBackends() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, u := range rt.upstreams {
		u.retire()
	}
	rt.h2c.CloseIdleConnections()
}

// Package sock reads and writes the router's TCP connections with raw
// system calls, inside the waits of the connection's poller.
//
// A read or write of a Go network connection is a non-blocking system
// call made through the runtime's syscall entry: the goroutine's P is
// marked as in a system call, and the runtime's monitor thread, which
// checks every 20 µs while any P is, hands that P to another thread if
// the call is still running at its next check. On a machine as busy as a
// proxy's, a write that wakes its peer often is still running then: the
// kernel switches to the woken peer before the write returns. Each such
// hand-off wakes a thread, and the writing thread, back from the kernel,
// finds its P gone and sleeps; the monitor itself, finding work every
// time, never slows its checks. On the router's HTTP/1.1 path that was a
// tenth of its CPU time.
//
// The socket is non-blocking, so the call cannot block: Conn makes it as
// a raw system call from inside syscall.RawConn's Read and Write, which
// keep the poller's part (the wait for readiness, deadlines, a close).
// The goroutine keeps its P through the call, as through any other short
// computation, and the monitor, finding nothing to hand off, backs off.
// Each call moves at most maxChunk bytes, so that the P is held for a
// bounded copy.
package sock

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// maxChunk is the most bytes one system call moves.
const maxChunk = 256 << 10

// Conn is a TCP connection whose Read and Write are raw system calls.
// Everything else is the *net.TCPConn's. Read and Write may each be
// called by one goroutine at a time, as on any net.Conn, the two at once.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn

	// The read in progress, and its callback made once, so that a read
	// allocates nothing.
	rbuf   []byte
	rn     int
	rerr   error
	readFn func(uintptr) bool

	// The write in progress, and its callback.
	wbuf    []byte
	wn      int
	werr    error
	writeFn func(uintptr) bool
}

// Wrap returns c as a *Conn if it is a TCP connection whose descriptor
// can be reached, and c itself otherwise.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	sc := &Conn{TCPConn: tc, raw: raw}
	sc.readFn = sc.read
	sc.writeFn = sc.write
	return sc
}

// Read reads into p, waiting for the connection to be readable.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf, c.rn, c.rerr = p, 0, nil
	err := c.raw.Read(c.readFn)
	n, rerr := c.rn, c.rerr
	c.rbuf, c.rerr = nil, nil
	if err != nil {
		return 0, c.opError("read", err)
	}
	return n, rerr
}

// read is Read's callback: it reports false to wait for readiness.
func (c *Conn) read(fd uintptr) bool {
	p := c.rbuf
	if len(p) > maxChunk {
		p = p[:maxChunk]
	}
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch errno {
		case 0:
			c.rn = int(n)
			if n == 0 {
				c.rerr = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			c.rerr = c.opError("read", os.NewSyscallError("read", errno))
			return true
		}
	}
}

// Write writes all of p, waiting for the connection to take more as
// often as it needs. Like net.Conn's, it returns the bytes written
// before an error.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wbuf, c.wn, c.werr = p, 0, nil
	err := c.raw.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wbuf, c.werr = nil, nil
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, werr
}

// write is Write's callback: it writes until all is written (true), the
// socket's buffer is full (false: wait) or a call fails (true).
func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		p := c.wbuf[c.wn:]
		if len(p) > maxChunk {
			p = p[:maxChunk]
		}
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch errno {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = c.opError("write", os.NewSyscallError("write", errno))
			return true
		}
	}
	return true
}

// opError wraps err as net.Conn's methods do theirs; an error that is
// one already (the poller's, from RawConn) is kept as it is but for its
// operation's name.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Listener is a net.Listener whose TCP connections are Conns.
type Listener struct{ net.Listener }

// Accept waits for the next connection and returns it wrapped.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

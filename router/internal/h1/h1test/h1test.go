// Package h1test helps tests talk HTTP/1.1 on the wire: a client
// connection that speaks it by hand, to send what no well-behaved client
// would and to see exactly what a server answers, and a buffer for a
// server's log. It is for tests of the router and its server only.
package h1test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Conn is a client connection that speaks HTTP/1.x by hand. Reader reads
// what the server sends.
type Conn struct {
	net.Conn
	Reader *bufio.Reader
}

// Dial connects to addr until the test ends. Reads and writes fail after
// 20 seconds, so that a test that goes wrong fails rather than hangs.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	return &Conn{Conn: c, Reader: bufio.NewReader(c)}
}

// Send writes s as it is.
func (c *Conn) Send(t testing.TB, s string) {
	t.Helper()
	_, err := io.WriteString(c, s)
	require.NoError(t, err)
}

// Response reads one response to a request with the given method, and its
// whole body.
func (c *Conn) Response(t testing.TB, method string) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(c.Reader, &http.Request{Method: method})
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// Closed asserts that the server closed the connection.
func (c *Conn) Closed(t testing.TB) {
	t.Helper()
	b, err := c.Reader.ReadByte()
	require.Error(t, err, "read %q", b)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the connection was left open")
}

// Buffer is a bytes.Buffer safe for concurrent use: a log that a server's
// goroutines write and a test reads. The zero value is an empty buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

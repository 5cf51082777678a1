package sock

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pair returns a wrapped server-side connection and the plain client
// connection at its other end, both closed when the test ends.
func pair(t *testing.T) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wl := Listener{Listener: ln}
	defer func() { _ = wl.Close() }()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	server, err := wl.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = server.Close() })
	sc, ok := server.(*Conn)
	require.True(t, ok, "Accept returned a %T, not a *Conn", server)
	return sc, client.(*net.TCPConn)
}

func TestWrapKeepsOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	assert.Equal(t, a, Wrap(a), "a connection without a socket is returned as it is")
}

func TestReadWrite(t *testing.T) {
	sc, client := pair(t)

	_, err := client.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, err := sc.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "GET / HTTP/1.1\r\n\r\n", string(buf[:n]))

	n, err = sc.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	require.NoError(t, err)
	assert.Equal(t, 19, n)
	got := make([]byte, 19)
	_, err = io.ReadFull(client, got)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 200 OK\r\n\r\n", string(got))

	n, err = sc.Read(nil)
	assert.NoError(t, err)
	assert.Zero(t, n)
}

// A write larger than both the socket's buffer and one call's chunk
// waits for the peer to read and arrives whole, in order; so does a
// read into a buffer larger than a chunk.
func TestLargeTransfers(t *testing.T) {
	sc, client := pair(t)
	data := make([]byte, 8<<20)
	_, err := rand.Read(data)
	require.NoError(t, err)

	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	n, err := sc.Write(data)
	require.NoError(t, err)
	assert.Equal(t, len(data), n)
	require.NoError(t, sc.CloseWrite())
	assert.True(t, bytes.Equal(data, <-got), "the peer read other bytes than were written")

	go func() {
		_, _ = client.Write(data)
		_ = client.CloseWrite()
	}()
	var back bytes.Buffer
	buf := make([]byte, 2*maxChunk)
	for {
		n, err := sc.Read(buf)
		back.Write(buf[:n])
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	assert.True(t, bytes.Equal(data, back.Bytes()), "read other bytes than the peer wrote")
}

func TestEOF(t *testing.T) {
	sc, client := pair(t)
	require.NoError(t, client.Close())
	n, err := sc.Read(make([]byte, 8))
	assert.Zero(t, n)
	assert.Equal(t, io.EOF, err, "a closed peer is io.EOF itself, as net.Conn's")
}

func TestReset(t *testing.T) {
	sc, client := pair(t)
	require.NoError(t, client.SetLinger(0))
	require.NoError(t, client.Close()) // sends a reset
	_, err := sc.Read(make([]byte, 8))
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)

	// The socket is dead: writing fails too (with a reset or a broken
	// pipe), and says so.
	var werr error
	for range 10 {
		if _, werr = sc.Write([]byte("x")); werr != nil {
			break
		}
	}
	require.Error(t, werr)
	assert.True(t, errors.Is(werr, syscall.ECONNRESET) || errors.Is(werr, syscall.EPIPE), "%v", werr)
}

func TestReadDeadline(t *testing.T) {
	sc, _ := pair(t)
	require.NoError(t, sc.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := sc.Read(make([]byte, 8))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op, "the operation is named as net.Conn's Read names it")
}

// A write to a peer that reads nothing fills the socket's buffers and
// then waits until the deadline; it reports what went out before that.
func TestWriteDeadline(t *testing.T) {
	sc, _ := pair(t)
	require.NoError(t, sc.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	n, err := sc.Write(make([]byte, 64<<20))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Positive(t, n, "the buffers took some bytes before the wait")
	assert.Less(t, n, 64<<20)
}

func TestCloseEndsBlockedRead(t *testing.T) {
	sc, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := sc.Read(make([]byte, 8))
		errc <- err
	}()
	// Close does not wait for the read to be blocked: a read that starts
	// after it fails the same way.
	require.NoError(t, sc.Close())
	err := <-errc
	require.Error(t, err)
	assert.ErrorIs(t, err, net.ErrClosed)

	_, err = sc.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
}

// Read and Write run at once on one connection, as the router's server
// reads a client's next request while it writes the last answer.
func TestConcurrentReadAndWrite(t *testing.T) {
	sc, client := pair(t)
	const rounds = 2000
	msg := []byte("0123456789abcdef")

	done := make(chan error, 2)
	go func() { // the peer echoes
		_, err := io.CopyN(client, client, rounds*int64(len(msg)))
		done <- err
	}()
	go func() {
		for range rounds {
			if _, err := sc.Write(msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var got bytes.Buffer
	buf := make([]byte, 100)
	for got.Len() < rounds*len(msg) {
		n, err := sc.Read(buf)
		require.NoError(t, err)
		got.Write(buf[:n])
	}
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	assert.Equal(t, bytes.Repeat(msg, rounds), got.Bytes())
}

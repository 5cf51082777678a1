package h1

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/router/internal/h1/h1test"
)

// selfSigned is a TLS certificate for app.test, and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "app.test"},
		DNSNames:     []string{"app.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// The TLS handshake is bounded by the read header timeout, and what
// follows it is not: an HTTP/1.1 client's requests have their own
// timeouts, and an HTTP/2 connection goes to HTTP2 without a deadline.
func TestServerTLSHandshakeTimeout(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	h2conns := make(chan *tls.Conn, 1)
	addr := startServerOn(t, tln, echoHandler, func(s *Server) {
		s.timeouts.ReadHeader = 200 * time.Millisecond
		s.HTTP2 = func(c *tls.Conn) { h2conns <- c }
	})
	dial := func(protos ...string) *tls.Conn {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "app.test", NextProtos: protos})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	t.Run("a client that never says hello is cut", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "closed by the server, not by the test's deadline")
	})

	t.Run("HTTP/1.1 after the handshake's deadline", func(t *testing.T) {
		c := dial("http/1.1")
		require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
		rc := &h1test.Conn{Conn: c, Reader: bufio.NewReader(c)}
		for range 2 {
			time.Sleep(300 * time.Millisecond) // a slow client, past the handshake's deadline
			rc.Send(t, "GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n")
			res, body := rc.Response(t, "GET")
			assert.Equal(t, 200, res.StatusCode)
			assert.Equal(t, `GET /x host=app.test path=/x body=""`, body)
		}
	})

	t.Run("HTTP/2 is handed over without a deadline", func(t *testing.T) {
		c := dial("h2")
		sc := <-h2conns
		defer sc.Close()
		time.Sleep(300 * time.Millisecond) // past the handshake's deadline
		_, err := io.WriteString(c, "ping")
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = io.ReadFull(sc, buf)
		require.NoError(t, err, "the connection HTTP2 took has no deadline left")
		assert.Equal(t, "ping", string(buf))
	})
}

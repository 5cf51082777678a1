package localstack

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// test that must name an address before what listens on it starts. The
// port is below the range the kernel hands out for outgoing connections
// (32768 and up on Linux), so that a connection another test opens
// meanwhile cannot take it, as it can take a port that listening on :0
// gave and closing freed.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		require.NoError(t, ln.Close())
		return addr
	}
	t.Fatal("no free loopback port in 20000-31999 after 100 tries")
	return ""
}

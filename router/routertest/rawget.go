// Package routertest holds what the router's benchmarks, and platformd's
// benchmark of the router as it deploys it, share: a client with no more
// cost than the request itself, so that the figures are the server's.
package routertest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
)

// RawGet writes req (a whole HTTP/1.1 request) to c and reads, through br,
// a 200 response with a Content-Length body, which it discards. It
// allocates nothing on success, and keeps the connection usable for the
// next request.
func RawGet(c net.Conn, br *bufio.Reader, req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 12 || string(line[9:12]) != "200" {
		return fmt.Errorf("status line %q", line)
	}
	n := -1
	for {
		if line, err = br.ReadSlice('\n'); err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		const cl = "content-length:"
		if len(line) > len(cl) && bytes.EqualFold(line[:len(cl)], []byte(cl)) {
			n = 0
			for _, d := range bytes.TrimSpace(line[len(cl):]) {
				if d < '0' || d > '9' {
					return fmt.Errorf("content-length %q", line)
				}
				n = n*10 + int(d-'0')
			}
		}
	}
	if n < 0 {
		return fmt.Errorf("no content-length")
	}
	_, err = br.Discard(n)
	return err
}

package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// switchProtocols completes an upgrade (a WebSocket, say) the backend
// accepted: it sends the backend's 101 to the client, then copies bytes
// both ways until either side closes, then closes both.
func (ex *exchange) switchProtocols(bc *bconn, head respHead) {
	h := ex.w.Header()
	cc, crw, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		bc.close()
		clear(h)
		ex.err = fmt.Errorf("taking over the client connection for an upgrade: %w", err)
		ex.page(http.StatusBadGateway, pageBadGateway)
		return
	}
	ex.status = http.StatusSwitchingProtocols
	ex.rt.trackHijacked(cc, true)
	defer ex.rt.trackHijacked(cc, false)
	defer cc.Close()
	defer bc.close()

	// Hijacked connections keep whatever deadlines the server set.
	_ = cc.SetDeadline(time.Time{})
	_ = bc.nc.SetDeadline(time.Time{})

	bw := crw.Writer
	_, _ = bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = h.Write(bw)
	_, _ = bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
	_, _ = bw.WriteString(head.upgrade)
	_, _ = bw.WriteString("\r\n\r\n")
	if err := bw.Flush(); err != nil {
		ex.clientGone(err)
		return
	}

	// Either side may already have sent bytes past the head: the bufio
	// readers hold them, so copy from those. When one side ends, the
	// other gets a moment to finish, then both are closed.
	ended := make(chan struct{}, 2)
	go func() {
		_ = pipe(bc.nc, crw.Reader)
		closeWrite(bc.nc)
		ended <- struct{}{}
	}()
	go func() {
		_ = pipe(cc, bc.br)
		closeWrite(cc)
		ended <- struct{}{}
	}()
	<-ended
	linger := time.Now().Add(upgradeLinger)
	_ = cc.SetDeadline(linger)
	_ = bc.nc.SetDeadline(linger)
	<-ended
}

// upgradeLinger is how long an upgraded connection's other direction may
// go on after one has ended.
const upgradeLinger = 5 * time.Second

// pipe copies src to dst until EOF or an error.
func pipe(dst net.Conn, src *bufio.Reader) error {
	_, err := io.Copy(dst, src)
	return err
}

// closeWrite half-closes c so its peer sees the end of the stream while
// the other direction goes on; where it cannot, it closes c.
func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		if tc.CloseWrite() == nil {
			return
		}
	}
	_ = c.Close()
}

package router

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether an idle backend connection still looks usable:
// the peer has not closed it and sent nothing unasked. It peeks at the
// socket without blocking, one system call, and is used only before
// sending a request that could not be retried if the connection turned
// out dead.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, the connection is open and quiet.
		ok = errors.Is(err, syscall.EAGAIN)
		return true
	})
	return err == nil && ok
}

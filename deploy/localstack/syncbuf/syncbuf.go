// Package syncbuf provides Buffer, an io.Writer that a test can read while
// something else writes to it: a server's log, a build's output, an exec'd
// command's stderr. It is for tests; it has no dependencies beyond the
// standard library, so that a package's tests can use it without linking
// the local stack's kit (deploy/localstack) and its Kubernetes client.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use: writers and readers
// may call it from any goroutine. The zero value is an empty buffer ready
// to use. A Buffer must not be copied after first use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

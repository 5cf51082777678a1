// Package logwriter provides the writer under platformd's logger: it takes
// each log line without waiting for the write system call and hands the
// lines to a goroutine of its own, which writes whatever has gathered in
// one call. On a quiet server every line is written as it comes; under
// load, as the router's access log is with one line per request, many
// lines share a write, which spares the requests a system call each and
// the logger's lock held across it. It does not format or filter: lines
// go out in the order they came, byte for byte.
package logwriter

import (
	"io"
	"sync"
)

// DefaultMaxPending is how many bytes a Writer holds unwritten before
// Write waits for the goroutine to catch up.
const DefaultMaxPending = 1 << 20

// Writer writes to an underlying io.Writer from a goroutine of its own.
// It is safe for concurrent use; each Write is written whole and in the
// order the calls took its lock, as a Write under slog's handlers (one
// record per call) needs. Errors of the underlying writer are not
// reported: a log has no one to tell. What is pending when the process
// dies without Close (a crash) is lost: at most what came during one
// write system call.
type Writer struct {
	w          io.Writer
	maxPending int

	mu      sync.Mutex
	ready   sync.Cond // the goroutine waits on it for lines or a close
	room    sync.Cond // Write waits on it while pending is full
	flushed sync.Cond // Flush waits on it
	pending []byte
	spare   []byte
	writing bool // the goroutine is writing a batch
	closing bool
	done    chan struct{} // closed when the goroutine has returned
}

// New returns a Writer that writes to w and starts its goroutine, which
// runs until Close. maxPending bounds the bytes held unwritten; zero or
// less means DefaultMaxPending.
func New(w io.Writer, maxPending int) *Writer {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	lw := &Writer{w: w, maxPending: maxPending, done: make(chan struct{})}
	lw.ready.L, lw.room.L, lw.flushed.L = &lw.mu, &lw.mu, &lw.mu
	go lw.run()
	return lw
}

// Write queues a copy of p for writing and returns at once, unless more
// than the writer's maximum is already waiting, in which case it waits for
// room. After Close it writes p itself.
func (lw *Writer) Write(p []byte) (int, error) {
	lw.mu.Lock()
	for !lw.closing && len(lw.pending) > 0 && len(lw.pending)+len(p) > lw.maxPending {
		lw.room.Wait()
	}
	if !lw.closing {
		if len(lw.pending) == 0 {
			lw.ready.Signal()
		}
		lw.pending = append(lw.pending, p...)
		lw.mu.Unlock()
		return len(p), nil
	}
	lw.mu.Unlock()
	// Closed: once the goroutine has written the last batch, straight
	// through, under the lock so that lines are not interleaved.
	<-lw.done
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

// Flush waits until everything written before it has been handed to the
// underlying writer.
func (lw *Writer) Flush() {
	lw.mu.Lock()
	for !lw.closing && (len(lw.pending) > 0 || lw.writing) {
		lw.flushed.Wait()
	}
	closing := lw.closing
	lw.mu.Unlock()
	if closing {
		<-lw.done
	}
}

// Close writes what is pending, stops the goroutine and returns once it
// has. Later Writes write synchronously. It always returns nil.
func (lw *Writer) Close() error {
	lw.mu.Lock()
	lw.closing = true
	lw.ready.Signal()
	lw.room.Broadcast()
	lw.flushed.Broadcast()
	lw.mu.Unlock()
	<-lw.done
	return nil
}

func (lw *Writer) run() {
	defer close(lw.done)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for {
		for len(lw.pending) == 0 && !lw.closing {
			lw.flushed.Broadcast()
			lw.ready.Wait()
		}
		if len(lw.pending) == 0 {
			return // closing, and all written
		}
		batch := lw.pending
		lw.pending = lw.spare[:0]
		lw.writing = true
		lw.room.Broadcast()
		lw.mu.Unlock()
		_, _ = lw.w.Write(batch)
		lw.mu.Lock()
		lw.writing = false
		lw.spare = batch[:0] // at most maxPending and a line
	}
}

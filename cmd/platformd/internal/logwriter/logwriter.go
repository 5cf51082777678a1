// Package logwriter provides the writer under platformd's logger: it takes
// each log line without waiting for the write system call and hands the
// lines to a goroutine of its own, which lets lines gather for a short
// delay and then writes them in one call. The router's access log has a
// line a request: written each as it came, every request would cost a
// system call (or, handed to a goroutine, waking that goroutine and often
// a thread to run it); gathered, a busy router writes a few hundred times
// a second whatever its request rate. It does not format or filter: lines
// go out in the order they came, byte for byte.
package logwriter

import (
	"io"
	"sync"
	"time"
)

const (
	// DefaultMaxPending is how many bytes a Writer holds unwritten before
	// Write waits for the goroutine to catch up.
	DefaultMaxPending = 1 << 20
	// DefaultDelay is how long a line waits for others to share its
	// write.
	DefaultDelay = 10 * time.Millisecond
)

// Config configures a Writer. The zero value of each field means the
// default written beside it.
type Config struct {
	// MaxPending bounds the bytes held unwritten: past it, Write waits.
	// Half of it written at once does not wait for the delay. Zero or
	// less means DefaultMaxPending.
	MaxPending int
	// Delay is how long the first line of a batch waits for others
	// before the batch is written. Zero means DefaultDelay; negative
	// means none: a line is written as soon as the goroutine takes it.
	Delay time.Duration
}

// Writer writes to an underlying io.Writer from a goroutine of its own.
// It is safe for concurrent use; each Write is written whole and in the
// order the calls took its lock, as a Write under slog's handlers (one
// record per call) needs. Errors of the underlying writer are not
// reported: a log has no one to tell. What is pending when the process
// dies without Close (a crash) is lost: at most the lines of one delay
// and of one write system call.
type Writer struct {
	w          io.Writer
	maxPending int
	delay      time.Duration
	kick       chan struct{} // ends the goroutine's delay early; capacity 1

	mu       sync.Mutex
	ready    sync.Cond // the goroutine waits on it for lines or a close
	room     sync.Cond // Write waits on it while pending is full
	flushed  sync.Cond // Flush waits on it
	pending  []byte
	spare    []byte
	writing  bool // the goroutine is writing a batch
	flushing int  // Flush calls waiting: no delay for them
	closing  bool
	done     chan struct{} // closed when the goroutine has returned
}

// New returns a Writer that writes to w and starts its goroutine, which
// runs until Close.
func New(w io.Writer, cfg Config) *Writer {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Delay == 0 {
		cfg.Delay = DefaultDelay
	}
	lw := &Writer{
		w:          w,
		maxPending: cfg.MaxPending,
		delay:      max(cfg.Delay, 0),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
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
		if len(lw.pending) >= lw.maxPending/2 && len(lw.pending)-len(p) < lw.maxPending/2 {
			lw.wake() // enough for a write: no need to wait
		}
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

// wake ends the goroutine's delay, if it is in one.
func (lw *Writer) wake() {
	select {
	case lw.kick <- struct{}{}:
	default:
	}
}

// Flush waits until everything written before it has been handed to the
// underlying writer, without the delay.
func (lw *Writer) Flush() {
	lw.mu.Lock()
	lw.flushing++
	if len(lw.pending) > 0 {
		lw.wake()
	}
	for !lw.closing && (len(lw.pending) > 0 || lw.writing) {
		lw.flushed.Wait()
	}
	lw.flushing--
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
	lw.wake()
	lw.mu.Unlock()
	<-lw.done
	return nil
}

func (lw *Writer) run() {
	defer close(lw.done)
	var timer *time.Timer
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
		if lw.delay > 0 && !lw.closing && lw.flushing == 0 && len(lw.pending) < lw.maxPending/2 {
			// Let other lines join this one's write.
			lw.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(lw.delay)
			} else {
				timer.Reset(lw.delay)
			}
			select {
			case <-timer.C:
			case <-lw.kick:
				timer.Stop()
			}
			lw.mu.Lock()
		}
		select { // a kick that came meanwhile is for this batch
		case <-lw.kick:
		default:
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

package logwriter

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lockedBuffer is a bytes.Buffer that counts the writes it took.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestWriterKeepsEveryLineWholeAndInOrder(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"a limit smaller than a few lines", Config{MaxPending: 64}},
		{"no delay", Config{Delay: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuffer
			lw := New(&out, tt.cfg)
			const writers, lines = 4, 500
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range lines {
						_, err := fmt.Fprintf(lw, "writer=%d line=%d\n", w, i)
						assert.NoError(t, err)
					}
				})
			}
			wg.Wait()
			require.NoError(t, lw.Close())

			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			require.Len(t, got, writers*lines)
			next := make([]int, writers)
			for _, l := range got {
				var w, i int
				_, err := fmt.Sscanf(l, "writer=%d line=%d", &w, &i)
				require.NoError(t, err, "line %q", l)
				assert.Equal(t, next[w], i, "writer %d's lines out of order", w)
				next[w] = i + 1
			}
		})
	}
}

func TestWriterFlushWritesWhatCameBefore(t *testing.T) {
	var out lockedBuffer
	lw := New(&out, Config{})
	defer lw.Close()
	for i := range 100 {
		fmt.Fprintf(lw, "line %d\n", i)
	}
	lw.Flush()
	assert.Equal(t, 100, strings.Count(out.String(), "\n"))
}

func TestWriterGathersLinesForOneWrite(t *testing.T) {
	var out lockedBuffer
	lw := New(&out, Config{Delay: time.Hour})
	for i := range 100 {
		fmt.Fprintf(lw, "line %d\n", i)
	}
	lw.Flush() // the delay is not waited for
	assert.Equal(t, 100, strings.Count(out.String(), "\n"))
	out.mu.Lock()
	assert.Equal(t, 1, out.writes, "lines written in more than one write")
	out.mu.Unlock()

	fmt.Fprint(lw, "last\n")
	require.NoError(t, lw.Close()) // nor by Close
	assert.True(t, strings.HasSuffix(out.String(), "line 99\nlast\n"))
}

func TestWriterWritesALineAfterTheDelay(t *testing.T) {
	var out lockedBuffer
	lw := New(&out, Config{Delay: 20 * time.Millisecond})
	defer lw.Close()
	start := time.Now()
	fmt.Fprint(lw, "alone\n")
	require.Eventually(t, func() bool { return out.String() == "alone\n" }, 5*time.Second, time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "written before the delay")
}

func TestWriterWritesHalfItsLimitWithoutTheDelay(t *testing.T) {
	var out lockedBuffer
	lw := New(&out, Config{MaxPending: 1000, Delay: time.Hour})
	defer lw.Close()
	line := strings.Repeat("x", 99) + "\n"
	for range 5 {
		fmt.Fprint(lw, line)
	}
	require.Eventually(t, func() bool { return len(out.String()) == 500 }, 5*time.Second, time.Millisecond)
}

func TestWriterWritesThroughAfterClose(t *testing.T) {
	var out lockedBuffer
	lw := New(&out, Config{})
	fmt.Fprint(lw, "before\n")
	require.NoError(t, lw.Close())
	fmt.Fprint(lw, "after\n")
	lw.Flush()
	assert.Equal(t, "before\nafter\n", out.String())
}

func TestWriterWriteDoesNotAllocate(t *testing.T) {
	lw := New(&lockedBuffer{}, Config{})
	defer lw.Close()
	line := []byte("time=2026-12-04T17:00:00.000Z level=INFO msg=request status=200\n")
	for range 100 { // grow the buffers
		_, _ = lw.Write(line)
	}
	lw.Flush()
	allocs := testing.AllocsPerRun(1000, func() { _, _ = lw.Write(line) })
	assert.Zero(t, allocs)
}

// BenchmarkWriter is the cost of a line to its writer, the write system
// call left out (io.Discard).
func BenchmarkWriter(b *testing.B) {
	lw := New(io.Discard, Config{})
	defer lw.Close()
	line := []byte("time=2026-12-04T17:00:00.000Z level=INFO msg=request component=router method=GET host=app.test path=/ status=200\n")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = lw.Write(line)
		}
	})
}

package gitreceive

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
)

// errOutputClosed is returned by writes to a Push's output after Push
// returned.
var errOutputClosed = errors.New("push output closed")

// keepalivePacket is a side-band packet on the data channel with no data:
// git's own keepalive (receive-pack and upload-pack send it too). The
// client's demultiplexer reads it and passes nothing on.
var keepalivePacket = []byte("0005\x01")

// reporter writes to the client once it has sent its request: messages and
// progress on side-band channel 2, shown as "remote: ..." lines, and
// protocol data on channel 1. For a client that did not ask for side-band,
// messages go to stderr and data to stdout. It is safe for concurrent use.
type reporter struct {
	mu     sync.Mutex
	stdout io.Writer
	stderr io.Writer
	// maxData is the most data a side-band packet carries; 0 without
	// side-band.
	maxData  int
	lastSent time.Time
	ended    bool
}

func newReporter(stdout, stderr io.Writer, caps *capability.List) *reporter {
	r := &reporter{stdout: stdout, stderr: stderr, lastSent: time.Now()}
	// A pkt-line is at most 65520 bytes (1000 with the old side-band):
	// 4 of length, 1 of channel, the rest data.
	switch {
	case caps.Supports(capability.Sideband64k):
		r.maxData = pktline.MaxPayloadSize - 1
	case caps.Supports(capability.Sideband):
		r.maxData = 1000 - 5
	}
	return r
}

// writeBand writes p on side-band channel ch, in as many packets as needed.
// The caller holds r.mu.
func (r *reporter) writeBand(ch sideband.Channel, p []byte) (int, error) {
	enc := pktline.NewEncoder(r.stdout)
	written := 0
	for len(p) > 0 {
		n := min(len(p), r.maxData)
		if err := enc.Encode(ch.WithPayload(p[:n])); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// progress writes p to the client's terminal.
func (r *reporter) progress(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return 0, errOutputClosed
	}
	r.lastSent = time.Now()
	if r.maxData == 0 {
		return r.stderr.Write(p)
	}
	return r.writeBand(sideband.ProgressMessage, p)
}

// messagef writes one line to the client's terminal. Errors are ignored: a
// client that is gone cannot read it anyway.
func (r *reporter) messagef(format string, args ...any) {
	_, _ = r.progress([]byte(fmt.Sprintf(format, args...) + "\n"))
}

// data writes protocol data (a pack, a report) to the client.
func (r *reporter) data(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return 0, errOutputClosed
	}
	r.lastSent = time.Now()
	if r.maxData == 0 {
		return r.stdout.Write(p)
	}
	return r.writeBand(sideband.PackData, p)
}

// keepalive sends a keepalive packet if nothing was sent for idle. Without
// side-band there is no way to send one, and it does nothing.
func (r *reporter) keepalive(idle time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended || r.maxData == 0 || time.Since(r.lastSent) < idle {
		return nil
	}
	r.lastSent = time.Now()
	_, err := r.stdout.Write(keepalivePacket)
	return err
}

// end terminates the side-band stream with a flush packet. Nothing can be
// written afterwards.
func (r *reporter) end() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return nil
	}
	r.ended = true
	if r.maxData == 0 {
		return nil
	}
	return pktline.NewEncoder(r.stdout).Flush()
}

// dataWriter adapts reporter.data to io.Writer.
type dataWriter struct{ r *reporter }

func (w dataWriter) Write(p []byte) (int, error) { return w.r.data(p) }

// pushOutput is the io.Writer handed to Push. It stops working when Push
// returns, so a stray write cannot corrupt the protocol stream after it.
type pushOutput struct {
	mu     sync.Mutex
	r      *reporter
	closed bool
}

func (o *pushOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, errOutputClosed
	}
	return o.r.progress(p)
}

func (o *pushOutput) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
}

// userReason turns an error's text into a short single-line reason fit for
// "[remote rejected] main -> main (<reason>)".
func userReason(text string) string {
	text, _, _ = strings.Cut(strings.TrimSpace(text), "\n")
	text = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, text)
	text = strings.TrimSpace(text)
	const maxLen = 200
	if len(text) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "..."
	}
	if text == "" {
		return "deploy failed"
	}
	return text
}

// formatBytes formats n for humans: "1 GiB", "200 B", "1.5 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	suffix := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}[exp]
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), suffix)
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

package builder

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// tailLines is how many of a step's last output lines a BuildError keeps.
const tailLines = 30

// minMaskedLen is the shortest config value that is masked in build
// output: shorter ones ("1", "true") would mask half of every line.
const minMaskedLen = 4

// masker replaces config values in text the user sees with "***".
type masker struct{ r *strings.Replacer }

func newMasker(config map[string]string, extra ...string) masker {
	var vals []string
	seen := map[string]bool{}
	add := func(v string) {
		if len(v) >= minMaskedLen && !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	for _, v := range extra {
		add(v)
	}
	for _, v := range config {
		add(v)
		// Output is rendered line by line, so each line of a multi-line
		// value (a PEM key) is masked on its own too.
		for _, l := range strings.Split(v, "\n") {
			add(strings.TrimSpace(l))
		}
	}
	if len(vals) == 0 {
		return masker{}
	}
	// The longest value first, so that a value containing another is
	// masked whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, "***")
	}
	return masker{r: strings.NewReplacer(pairs...)}
}

func (m masker) mask(s string) string {
	if m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// mountFlagRE matches the --mount flags of a RUN, which say nothing to the
// user and make every step name long.
var mountFlagRE = regexp.MustCompile(`--mount=\S+\s+`)

// vertexState is what the renderer knows of one step.
type vertexState struct {
	num       int // 0 until the step is shown
	name      string
	started   *time.Time
	completed *time.Time
	cached    bool
	err       string
	partial   map[int][]byte // per stream, output not yet ended by a newline
	tail      []string       // the last tailLines lines of output
	statuses  map[string]bool

	// held is the step's output so far, for the summary to show in full
	// should the step fail; heldBytes is its size, and dropped counts the
	// first lines let go to keep it under maxHeldBytes.
	held      []string
	heldBytes int
	dropped   int
	// summarized says the summary has its line.
	summarized bool
}

// maxHeldBytes bounds the output of one step the summary holds, to show
// should the step fail: past it, the step's first lines are let go (the
// build's log has them all).
const maxHeldBytes = 1 << 20

// summaryNameLen is the longest step name a summary line shows.
const summaryNameLen = 80

// renderer turns BuildKit's status stream into plain lines of text: each
// step as `#N <name>` when it starts, its output as `#N <line>`, and
// `#N DONE 1.2s`, `#N CACHED` or `#N ERROR: ...` when it ends. Everything it
// writes is masked. It is used by one goroutine.
//
// With a summary writer, it also writes there one line per build step when
// the step ends (`#N <name> (1.2s)` or `(cached)`), leaving out BuildKit's
// own steps (loading the definition and the context), and a failing step's
// whole output with its error. The numbers are those of the full output.
type renderer struct {
	out      io.Writer
	summary  io.Writer // nil: none
	mask     masker
	next     int
	vertices map[digest.Digest]*vertexState
	order    []digest.Digest
	writeErr error
	sumErr   error
}

func newRenderer(out io.Writer, m masker) *renderer {
	return &renderer{out: out, mask: m, next: 1, vertices: map[digest.Digest]*vertexState{}}
}

// withSummary makes r write a summary of the build to w as well.
func (r *renderer) withSummary(w io.Writer) *renderer {
	r.summary = w
	return r
}

// run renders statuses until ch is closed. It keeps reading after a write
// error, so the solve never blocks on it.
func (r *renderer) run(ch <-chan *bkclient.SolveStatus) {
	for s := range ch {
		r.update(s)
	}
	r.flushAll()
	r.summarizeRest()
}

// summaryf writes a line of the summary, masked.
func (r *renderer) summaryf(format string, args ...any) {
	if r.summary == nil || r.sumErr != nil {
		return
	}
	line := r.mask.mask(fmt.Sprintf(format, args...))
	_, r.sumErr = io.WriteString(r.summary, line+"\n")
}

// ownStep reports whether a step is BuildKit's own bookkeeping rather than
// a step of the build: loading the Dockerfile, the context and the base
// images' metadata, and credentials.
func ownStep(name string) bool {
	if isExport(name) {
		return false
	}
	return !strings.HasPrefix(name, "[") || strings.HasPrefix(name, "[internal]") ||
		strings.HasPrefix(name, "[auth]") || strings.HasPrefix(name, "[context ")
}

// isExport reports whether a step is the image's export and push, which
// BuildKit starts and ends twice.
func isExport(name string) bool { return strings.HasPrefix(name, "exporting ") }

// summarize writes the summary's line of a step that ended: its name and
// time, or, if it failed, its whole output and why.
func (r *renderer) summarize(v *vertexState) {
	if r.summary == nil || v.summarized || v.num == 0 {
		return
	}
	switch {
	case v.err != "" && strings.Contains(v.err, "context canceled"):
		// Stopped because another step failed: that one explains.
		v.summarized = true
	case v.err != "":
		v.summarized = true
		r.summaryf("#%d %s", v.num, displayName(v.name))
		if v.dropped > 0 {
			r.summaryf("#%d (%d earlier lines: platform builds:output has them)", v.num, v.dropped)
		}
		for _, l := range v.held {
			if l == "" {
				r.summaryf("#%d", v.num)
				continue
			}
			r.summaryf("#%d %s", v.num, l)
		}
		r.summaryf("#%d ERROR: %s", v.num, errorReason(v.err))
	case ownStep(v.name) || isExport(v.name):
		// BuildKit's own steps say nothing to the user; the export is
		// summed up once the build ends.
	case v.cached:
		v.summarized = true
		r.summaryf("#%d %s (cached)", v.num, shortName(displayName(v.name)))
	default:
		v.summarized = true
		r.summaryf("#%d %s (%.1fs)", v.num, shortName(displayName(v.name)), v.duration().Seconds())
	}
	v.held, v.heldBytes = nil, 0
}

// summarizeRest writes the summary's lines of the steps left when the build
// ends: the export, and any step that ended without saying so.
func (r *renderer) summarizeRest() {
	if r.summary == nil {
		return
	}
	for _, d := range r.order {
		v := r.vertices[d]
		if v.summarized || v.num == 0 || v.completed == nil {
			continue
		}
		if isExport(v.name) && v.err == "" {
			v.summarized = true
			r.summaryf("#%d %s (%.1fs)", v.num, shortName(v.name), v.duration().Seconds())
			continue
		}
		r.summarize(v)
	}
}

// shortName cuts a long step name (a RUN with a long script) to
// summaryNameLen characters.
func shortName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if len(name) <= summaryNameLen {
		return name
	}
	cut := summaryNameLen - 3
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "..."
}

func (r *renderer) printf(format string, args ...any) {
	if r.writeErr != nil {
		return
	}
	line := r.mask.mask(fmt.Sprintf(format, args...))
	_, r.writeErr = io.WriteString(r.out, line+"\n")
}

func (r *renderer) vertex(d digest.Digest) *vertexState {
	v, ok := r.vertices[d]
	if !ok {
		v = &vertexState{partial: map[int][]byte{}, statuses: map[string]bool{}}
		r.vertices[d] = v
		r.order = append(r.order, d)
	}
	return v
}

// show announces a step the first time it has something to show.
func (r *renderer) show(v *vertexState) {
	if v.num != 0 {
		return
	}
	v.num = r.next
	r.next++
	r.printf("#%d %s", v.num, displayName(v.name))
}

func displayName(name string) string {
	return mountFlagRE.ReplaceAllString(name, "")
}

func (r *renderer) update(s *bkclient.SolveStatus) {
	for _, vx := range s.Vertexes {
		v := r.vertex(vx.Digest)
		if vx.Name != "" {
			v.name = vx.Name
		}
		if vx.Started != nil && v.started == nil {
			v.started = vx.Started
		}
		if vx.Started != nil && vx.Completed == nil && v.completed != nil {
			// The image exporter starts its step again to push: it
			// ends (and says DONE) a second time.
			v.completed = nil
		}
		if vx.Cached {
			v.cached = true
		}
		if vx.Started != nil || vx.Cached || vx.Completed != nil {
			r.show(v)
		}
		if vx.Completed != nil && v.completed == nil {
			v.completed = vx.Completed
			v.err = vx.Error
			r.flush(v)
			switch {
			case vx.Error != "":
				r.printf("#%d ERROR: %s", v.num, errorReason(vx.Error))
			case v.cached:
				r.printf("#%d CACHED", v.num)
			default:
				r.printf("#%d DONE %.1fs", v.num, v.duration().Seconds())
			}
			r.summarize(v)
		}
	}
	for _, st := range s.Statuses {
		v := r.vertex(st.Vertex)
		if st.Completed == nil || v.statuses[st.ID] {
			continue
		}
		v.statuses[st.ID] = true
		r.show(v)
		r.printf("#%d %s done", v.num, st.ID)
	}
	for _, l := range s.Logs {
		v := r.vertex(l.Vertex)
		r.show(v)
		buf := append(v.partial[l.Stream], l.Data...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			r.logLine(v, buf[:i])
			buf = buf[i+1:]
		}
		v.partial[l.Stream] = append([]byte(nil), buf...)
	}
	for _, w := range s.Warnings {
		r.printf("WARNING: %s", bytes.TrimSpace(w.Short))
	}
}

func (v *vertexState) duration() time.Duration {
	if v.started == nil || v.completed == nil {
		return 0
	}
	return v.completed.Sub(*v.started)
}

// logLine prints one line of a step's output. A carriage return redraws a
// terminal line, so only what follows the last one is kept.
func (r *renderer) logLine(v *vertexState, b []byte) {
	b = bytes.TrimRight(b, "\r")
	if i := bytes.LastIndexByte(b, '\r'); i >= 0 {
		b = b[i+1:]
	}
	line := r.mask.mask(string(b))
	v.tail = append(v.tail, line)
	if len(v.tail) > tailLines {
		v.tail = v.tail[len(v.tail)-tailLines:]
	}
	if r.summary != nil && !v.summarized {
		v.held = append(v.held, line)
		v.heldBytes += len(line) + 1
		for v.heldBytes > maxHeldBytes && len(v.held) > 1 {
			v.heldBytes -= len(v.held[0]) + 1
			v.held = v.held[1:]
			v.dropped++
		}
	}
	if line == "" {
		r.printf("#%d", v.num)
		return
	}
	r.printf("#%d %s", v.num, line)
}

// errorReason shortens a step's error: "process "/bin/sh -c ..." did not
// complete successfully: exit code: 1" repeats the step, with the build
// stage's shell wrapper, before the only news, the exit code.
func errorReason(err string) string {
	if code := exitCodeRE.FindString(err); code != "" && strings.HasPrefix(err, "process ") {
		return code
	}
	return err
}

// flush prints what is left of a step's output without a final newline.
func (r *renderer) flush(v *vertexState) {
	for stream, buf := range v.partial {
		if len(buf) > 0 {
			r.logLine(v, buf)
		}
		delete(v.partial, stream)
	}
}

func (r *renderer) flushAll() {
	for _, d := range r.order {
		if v := r.vertices[d]; v.num != 0 {
			r.flush(v)
		}
	}
}

// failed returns the first step that ended in an error other than being
// cancelled because another step failed.
func (r *renderer) failed() *vertexState {
	var fallback *vertexState
	for _, d := range r.order {
		v := r.vertices[d]
		if v.err == "" {
			continue
		}
		if !strings.Contains(v.err, "context canceled") {
			return v
		}
		if fallback == nil {
			fallback = v
		}
	}
	return fallback
}

// exportDuration is the time spent exporting and pushing the image.
func (r *renderer) exportDuration() time.Duration {
	var d time.Duration
	for _, v := range r.vertices {
		if strings.HasPrefix(v.name, "exporting ") && v.started != nil && v.completed != nil {
			d += v.completed.Sub(*v.started)
		}
	}
	return d
}

// counts returns how many steps were shown and how many of them BuildKit
// took from its cache.
func (r *renderer) counts() (steps, cached int) {
	for _, v := range r.vertices {
		if v.num == 0 {
			continue
		}
		steps++
		if v.cached {
			cached++
		}
	}
	return steps, cached
}

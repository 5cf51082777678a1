package gitreceive

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
)

// rawSession speaks the git protocol by hand through the real ssh client,
// to send what git would not.
type rawSession struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *pktline.Scanner
	stderr syncbuf.Buffer
	band   bandOutput
	data   bytes.Buffer
}

func (h *harness) rawSession(key, command string) *rawSession {
	h.t.Helper()
	base := strings.Fields(sshCommand(key))
	args := append(base[1:], "-p", fmt.Sprint(h.port), "git@127.0.0.1", command)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	h.t.Cleanup(cancel)
	s := &rawSession{t: h.t, cmd: exec.CommandContext(ctx, "ssh", args...)}
	s.cmd.Env = h.env()
	s.cmd.Stderr = &s.stderr
	stdin, err := s.cmd.StdinPipe()
	require.NoError(h.t, err)
	stdout, err := s.cmd.StdoutPipe()
	require.NoError(h.t, err)
	require.NoError(h.t, s.cmd.Start())
	h.t.Cleanup(func() { _ = s.cmd.Wait() })
	s.stdin, s.out = stdin, pktline.NewScanner(stdout)
	return s
}

// advertisement reads the refs and capabilities the server advertises.
func (s *rawSession) advertisement() *packp.AdvRefs {
	s.t.Helper()
	var buf bytes.Buffer
	enc := pktline.NewEncoder(&buf)
	for s.out.Scan() {
		if len(s.out.Bytes()) == 0 {
			require.NoError(s.t, enc.Flush())
			break
		}
		require.NoError(s.t, enc.Encode(s.out.Bytes()))
	}
	require.NoError(s.t, s.out.Err(), s.stderr.String())
	adv := packp.NewAdvRefs()
	require.NoError(s.t, adv.Decode(&buf))
	return adv
}

// push sends one update command with side-band-64k and report-status, and
// the pack.
func (s *rawSession) push(commands []string, pack []byte) {
	s.t.Helper()
	enc := pktline.NewEncoder(s.stdin)
	for i, c := range commands {
		if i == 0 {
			c += "\x00report-status side-band-64k agent=test"
		}
		require.NoError(s.t, enc.EncodeString(c+"\n"))
	}
	require.NoError(s.t, enc.Flush())
	_, err := s.stdin.Write(pack)
	require.NoError(s.t, err)
	require.NoError(s.t, s.stdin.Close())
}

// bandOutput is what the server sent after the request.
type bandOutput struct {
	report     *packp.ReportStatus
	progress   string
	keepalives int
}

// readPacket reads one side-band packet into s.band, and reports whether
// the stream ended.
func (s *rawSession) readPacket() (ended bool) {
	s.t.Helper()
	if !s.out.Scan() {
		require.NoError(s.t, s.out.Err(), s.stderr.String())
		s.t.Fatalf("stream ended without a flush; stderr: %s", s.stderr.String())
	}
	p := s.out.Bytes()
	if len(p) == 0 {
		return true
	}
	switch p[0] {
	case 1:
		if len(p) == 1 {
			s.band.keepalives++
		}
		s.data.Write(p[1:])
	case 2:
		s.band.progress += string(p[1:])
	default:
		s.t.Fatalf("unexpected side-band channel %d", p[0])
	}
	return false
}

// waitProgress reads until the progress output contains text.
func (s *rawSession) waitProgress(text string) {
	s.t.Helper()
	for !strings.Contains(s.band.progress, text) {
		if s.readPacket() {
			s.t.Fatalf("stream ended without %q in %q", text, s.band.progress)
		}
	}
}

// waitKeepalives reads until the server has sent n keepalives in all.
func (s *rawSession) waitKeepalives(n int) {
	s.t.Helper()
	for s.band.keepalives < n {
		if s.readPacket() {
			s.t.Fatalf("stream ended after %d keepalives, before %d", s.band.keepalives, n)
		}
	}
}

func (s *rawSession) readSideband() bandOutput {
	s.t.Helper()
	for !s.readPacket() {
	}
	s.band.report = packp.NewReportStatus()
	require.NoError(s.t, s.band.report.Decode(&s.data), "report: %q", s.data.String())
	return s.band
}

// packOf runs git pack-objects in dir with the given input lines.
func packOf(t *testing.T, dir string, args []string, input ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", append([]string{"pack-objects", "--stdout", "-q"}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(input, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	return out
}

func update(old, new, ref string) string {
	if old == "" {
		old = plumbing.ZeroHash.String()
	}
	return old + " " + new + " " + ref
}

func TestReceivePackProtocol(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.KeepAlive = 50 * time.Millisecond })
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	work := h.workRepo(map[string]string{"app.txt": strings.Repeat("line of text\n", 200)})
	first := h.mustGit(work, "", "rev-parse", "HEAD")
	second := h.commit(work, map[string]string{"app.txt": strings.Repeat("line of text\n", 200) + "one more\n"})
	const receive = "git-receive-pack 'myapp.git'"

	t.Run("advertisement", func(t *testing.T) {
		s := h.rawSession(alice.keyPath, receive)
		adv := s.advertisement()
		for _, c := range []string{"report-status", "side-band-64k", "ofs-delta", "no-thin", "agent"} {
			assert.Contains(t, adv.Capabilities.String(), c)
		}
		assert.NotContains(t, adv.Capabilities.String(), "delete-refs")
		assert.Empty(t, adv.References)
		require.NoError(t, s.stdin.Close())
	})

	t.Run("corrupt pack", func(t *testing.T) {
		s := h.rawSession(alice.keyPath, receive)
		s.advertisement()
		pack := []byte("PACK\x00\x00\x00\x02\x00\x00\x00\x01")
		pack = append(pack, bytes.Repeat([]byte{0xff}, 64)...)
		s.push([]string{update("", first, "refs/heads/main")}, pack)
		sb := s.readSideband()
		assert.Equal(t, "corrupt pack", sb.report.UnpackStatus)
		assert.Equal(t, "unpacker error", sb.report.CommandStatuses[0].Status)
		assert.Contains(t, sb.progress, "! rejected: corrupt pack")
	})

	t.Run("missing objects", func(t *testing.T) {
		s := h.rawSession(alice.keyPath, receive)
		s.advertisement()
		s.push([]string{update("", first, "refs/heads/main")}, packOf(t, work, nil, first))
		sb := s.readSideband()
		assert.Equal(t, "ok", sb.report.UnpackStatus)
		assert.Contains(t, sb.report.CommandStatuses[0].Status, "missing objects")
	})

	t.Run("main and master at once", func(t *testing.T) {
		s := h.rawSession(alice.keyPath, receive)
		s.advertisement()
		s.push([]string{update("", first, "refs/heads/main"), update("", first, "refs/heads/master")},
			packOf(t, work, []string{"--revs"}, first))
		sb := s.readSideband()
		for _, st := range sb.report.CommandStatuses {
			assert.Equal(t, "push main or master, not both", st.Status)
		}
	})

	t.Run("invalid ref name", func(t *testing.T) {
		s := h.rawSession(alice.keyPath, receive)
		s.advertisement()
		s.push([]string{update("", first, "refs/heads/ma..in")}, packOf(t, work, []string{"--revs"}, first))
		sb := s.readSideband()
		assert.Equal(t, "invalid ref name", sb.report.CommandStatuses[0].Status)
	})

	require.Empty(t, h.pusher.pushed())

	t.Run("keepalive while a deploy is quiet", func(t *testing.T) {
		// The deploy says nothing until the client has had three
		// keepalives.
		quiet := make(chan struct{})
		h.pusher.setPush(func(ctx context.Context, _ PushRequest, out io.Writer) error {
			select {
			case <-quiet:
			case <-ctx.Done():
				return ctx.Err()
			}
			fmt.Fprintln(out, "done")
			return nil
		})
		s := h.rawSession(alice.keyPath, receive)
		s.advertisement()
		s.push([]string{update("", first, "refs/heads/main")}, packOf(t, work, []string{"--revs"}, first))
		s.waitKeepalives(3)
		close(quiet)
		sb := s.readSideband()
		assert.Equal(t, "ok", sb.report.UnpackStatus)
		assert.Equal(t, "ok", sb.report.CommandStatuses[0].Status)
		assert.GreaterOrEqual(t, sb.keepalives, 3)
		assert.Equal(t, "done\n", sb.progress)
	})

	t.Run("stale old revision", func(t *testing.T) {
		h.pusher.setPush(nil)
		s := h.rawSession(alice.keyPath, receive)
		s.advertisement()
		s.push([]string{update(second, second, "refs/heads/main")}, packOf(t, work, []string{"--revs"}, second, "^"+first))
		sb := s.readSideband()
		assert.Contains(t, sb.report.CommandStatuses[0].Status, "changed during the push")
	})

	t.Run("thin pack", func(t *testing.T) {
		s := h.rawSession(alice.keyPath, receive)
		adv := s.advertisement()
		assert.Equal(t, first, adv.References["refs/heads/main"].String())
		s.push([]string{update(first, second, "refs/heads/main")},
			packOf(t, work, []string{"--revs", "--thin"}, second, "^"+first))
		sb := s.readSideband()
		assert.Equal(t, "corrupt pack", sb.report.UnpackStatus)
	})

	t.Run("nothing to update", func(t *testing.T) {
		s := h.rawSession(alice.keyPath, receive)
		s.advertisement()
		require.NoError(t, pktline.NewEncoder(s.stdin).Flush())
		require.NoError(t, s.stdin.Close())
		require.NoError(t, s.cmd.Wait(), s.stderr.String())
	})

	assert.Len(t, h.pusher.pushed(), 1)
	assert.Equal(t, first, h.remoteRefs(alice.keyPath, "myapp")["refs/heads/main"])
}

// TestConcurrentPushesFromTheSameRevision: the second waits for the first,
// then is refused without being deployed, as git refuses a stale push.
func TestConcurrentPushesFromTheSameRevision(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.KeepAlive = 50 * time.Millisecond })
	alice := h.newUser("alice")
	h.pusher.grant("alice", "myapp", Write)
	work := h.workRepo(map[string]string{"app.txt": "v1"})
	first := h.mustGit(work, "", "rev-parse", "HEAD")
	other := h.commit(work, map[string]string{"app.txt": "v2"})
	release := make(chan struct{})
	h.pusher.setPush(func(ctx context.Context, req PushRequest, out io.Writer) error {
		fmt.Fprintf(out, "deploying %.7s\n", req.NewRev)
		<-release
		return nil
	})
	const receive = "git-receive-pack 'myapp.git'"

	a := h.rawSession(alice.keyPath, receive)
	a.advertisement()
	a.push([]string{update("", first, "refs/heads/main")}, packOf(t, work, []string{"--revs"}, first))
	a.waitProgress("deploying " + first[:7])

	b := h.rawSession(alice.keyPath, receive)
	b.advertisement()
	b.push([]string{update("", other, "refs/heads/main")}, packOf(t, work, []string{"--revs"}, other))
	b.waitProgress("waiting for another push to myapp to finish")
	b.waitKeepalives(1) // the waiting client is kept alive
	close(release)

	assert.Equal(t, "ok", a.readSideband().report.CommandStatuses[0].Status)
	bOut := b.readSideband()
	assert.Equal(t, "main changed during the push; fetch and push again", bOut.report.CommandStatuses[0].Status)
	assert.Positive(t, bOut.keepalives, "the waiting client is kept alive")
	require.Len(t, h.pusher.pushed(), 1)
	assert.Equal(t, first, h.remoteRefs(alice.keyPath, "myapp")["refs/heads/main"])
}

func TestPackHelpers(t *testing.T) {
	t.Run("uvarint", func(t *testing.T) {
		b := binary.AppendUvarint(nil, 300)
		b = binary.AppendUvarint(b, 1<<40)
		d := &deltaSniffer{}
		_, _ = d.Write(b[:2])
		_, _ = d.Write(append(b[2:], make([]byte, 100)...))
		got, ok := d.targetSize()
		assert.True(t, ok)
		assert.Equal(t, uint64(1<<40), got)
		_, ok = (&deltaSniffer{head: []byte{0x80, 0x80}}).targetSize()
		assert.False(t, ok)
	})
	t.Run("formatBytes", func(t *testing.T) {
		for n, want := range map[int64]string{
			200: "200 B", 4 << 10: "4 KiB", 1 << 30: "1 GiB", 1536 << 10: "1.5 MiB",
		} {
			assert.Equal(t, want, formatBytes(n))
		}
	})
	t.Run("userReason", func(t *testing.T) {
		assert.Equal(t, "first line", userReason("  first line\nsecond"))
		assert.NotContains(t, userReason("red \x1b[31mtext\x07"), "\x1b")
		assert.Equal(t, "deploy failed", userReason("\n"))
		assert.Len(t, userReason(strings.Repeat("é", 300)), 200+len("..."))
	})
}

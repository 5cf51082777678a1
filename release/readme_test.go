package release_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
)

// readmeBlocks returns, for each of want, the first ```sh block of the
// README after heading that holds it.
func readmeBlocks(t *testing.T, heading string, want ...string) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(b)
	i := strings.Index(readme, "\n"+heading+"\n")
	require.GreaterOrEqual(t, i, 0, "the README has a section %q", heading)
	blocks := regexp.MustCompile("(?s)\n```sh\n(.*?)\n```\n").FindAllStringSubmatch(readme[i:], -1)
	var out []string
	for _, w := range want {
		found := false
		for _, m := range blocks {
			if strings.Contains(m[1], w) {
				out = append(out, m[1])
				found = true
				break
			}
		}
		require.True(t, found, "a sh block of %q holds %q", heading, w)
	}
	return out
}

// TestReadmeFirstDeploy runs the README's first deploy as a new user
// would: its commands verbatim, in bash, from the repository's root, with
// a fresh HOME that holds only what the README takes for granted (an SSH
// key and a git identity) and no StrictHostKeyChecking=no, so that the
// git server's host key must be trusted the way the README says. Then the
// app must answer at the URL the README curls.
func TestReadmeFirstDeploy(t *testing.T) {
	localstack.Require(t)
	blocks := readmeBlocks(t, "## A first deploy", "git push platform main", "curl http://hello.")
	deploy, check := blocks[0], blocks[1]
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	for _, tool := range []string{"bash", "git", "ssh", "ssh-keygen", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			localstack.Need(t, tool, "apt-get install bash git openssh-client curl")
		}
	}

	// ssh finds ~/.ssh through the user database, not HOME: the fresh home
	// is mounted over the user's own, in a mount namespace of the
	// script's alone. It is the host's slave, so that what the host
	// unmounts meanwhile (a pod's network namespace) goes from it too
	// instead of staying busy.
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		localstack.Need(t, "root and unshare", "run make test as root (util-linux has unshare)")
	}
	u, err := user.Current()
	require.NoError(t, err)
	home := t.TempDir()
	env := []string{"HOME=" + u.HomeDir, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "FRESH_HOME=" + home}
	// run runs script and returns its output, and its standard output
	// alone.
	run := func(ctx context.Context, script string) (output, stdout string, err error) {
		cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "slave", "bash", "-c",
			`mount --bind "$FRESH_HOME" "$HOME" && exec bash -euo pipefail -c "$0"`, script)
		cmd.Dir, cmd.Env = root, env
		cmd.WaitDelay = 10 * time.Second
		// Two copiers write the output at once: all is safe for that.
		var all syncbuf.Buffer
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&all, &out), &all
		err = cmd.Run()
		return all.String(), out.String(), err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// What the README takes for granted: a key and a git identity.
	// The key's comment, which keys:add names it by, is the test's own.
	out, _, err := run(ctx, `mkdir -m 700 ~/.ssh && ssh-keygen -q -t ed25519 -N "" -C "readme-$$-$RANDOM" -f ~/.ssh/id_ed25519 &&
git config --global user.name "New User" && git config --global user.email new.user@example.com`)
	require.NoError(t, err, out)
	// The README's names, freed from an earlier run; and freed again after.
	const cleanup = `. .platform/env
platform apps:destroy -a hello --confirm hello >/dev/null 2>&1 || true
platform tenants:destroy acme --confirm acme >/dev/null 2>&1 || true
fp=$(ssh-keygen -l -E sha256 -f ~/.ssh/id_ed25519.pub | cut -d' ' -f2)
platform keys:remove "$fp" >/dev/null 2>&1 || true
rm -rf /tmp/hello`
	out, _, err = run(ctx, cleanup)
	require.NoError(t, err, out)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, _, err := run(ctx, cleanup); err != nil {
			t.Logf("cleaning up: %v\n%s", err, out)
		}
	})

	out, _, err = run(ctx, deploy)
	require.NoError(t, err, "the README's first deploy:\n%s\n---\n%s", deploy, out)
	assert.Regexp(t, `remote: -----> Released v1 in [0-9hms.]+ — http://hello\.localhost:7880`, out)
	// The README's example of the push's output holds the lines this
	// push showed, times, digests and step numbers aside.
	example := readmePushExample(t)
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "remote: ----->") && !strings.HasPrefix(line, "remote:        ") {
			continue
		}
		assert.Contains(t, example, "\n"+readmeShape(line)+"\n", "the README's example output has the line %q", line)
	}
	assert.NotContains(t, out, "Host key verification failed")

	out, answer, err := run(ctx, check)
	require.NoError(t, err, out)
	assert.Equal(t, "hello from go\n", answer)
}

// readmePushExample returns the README's example of a first push's output,
// in readmeShape, each line between newlines.
func readmePushExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)\n```\n(remote: -----> Building .*?)\n```\n").FindSubmatch(b)
	require.NotNil(t, m, "the README shows a push's output")
	var lines []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		lines = append(lines, readmeShape(l))
	}
	return "\n" + strings.Join(lines, "\n") + "\n"
}

var (
	shapeTime   = regexp.MustCompile(`\b(\d+(\.\d+)?(ms|µs|h|m|s))+\b`)
	shapeReady  = regexp.MustCompile(`\d+/\d+ new pods ready`)
	shapeHex    = regexp.MustCompile(`\b(sha256:)?[0-9a-f]{7,64}\b(\.\.\.)?`)
	shapeCounts = regexp.MustCompile(`\(\d+ steps, \d+ cached\)`)
	shapeRouter = regexp.MustCompile(` \(router at [^)]*\)`)
)

// readmeShape is a line of a push's output with what changes from push to
// push (times, commits, digests, step counts, where the router listens,
// how many new pods are ready yet) replaced by placeholders.
func readmeShape(line string) string {
	line = strings.TrimRight(line, " ")
	line = shapeRouter.ReplaceAllString(line, "")
	line = shapeCounts.ReplaceAllString(line, "(N steps, N cached)")
	line = shapeHex.ReplaceAllString(line, "HEX")
	line = shapeTime.ReplaceAllString(line, "TIME")
	line = shapeReady.ReplaceAllString(line, "N/N new pods ready")
	return line
}

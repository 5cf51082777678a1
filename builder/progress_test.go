package builder

import (
	"fmt"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMasker(t *testing.T) {
	m := newMasker(map[string]string{
		"SHORT": "abc", // too short to mask
		"TOKEN": "s3cr3t",
		"LONG":  "s3cr3t-and-more",
		"KEY":   "-----BEGIN KEY-----\nAAAABBBB\n-----END KEY-----",
	})
	assert.Equal(t, "abc *** *** ***", m.mask("abc s3cr3t s3cr3t-and-more AAAABBBB"))
	assert.Equal(t, "plain", newMasker(nil).mask("plain"))
}

// feed sends statuses through a renderer and returns its output.
func feed(t *testing.T, config map[string]string, statuses ...*bkclient.SolveStatus) (string, *renderer) {
	t.Helper()
	var out strings.Builder
	r := newRenderer(&out, newMasker(config))
	ch := make(chan *bkclient.SolveStatus, len(statuses))
	for _, s := range statuses {
		ch <- s
	}
	close(ch)
	r.run(ch)
	return out.String(), r
}

func TestRenderer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(1200 * time.Millisecond)
	run := digest.FromString("run")
	cached := digest.FromString("cached")
	export := digest.FromString("export")
	name := "[build 4/5] RUN --mount=type=secret,id=env,target=/run/secrets/env --mount=type=cache,id=a/go-mod,target=/root/go/pkg/mod go build ./..."

	out, r := feed(t, map[string]string{"TOKEN": "hunter22"},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: cached, Name: "[build 2/5] WORKDIR /src", Cached: true, Completed: &t0}}},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: run, Name: name, Started: &t0}}},
		// A line split across chunks, a secret split across them too, and
		// a progress bar redrawn with carriage returns.
		&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: run, Data: []byte("compiling with hun")}}},
		&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: run, Data: []byte("ter22\n10%\r50%\r100%\n\nno newline")}}},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: run, Name: name, Started: &t0, Completed: &t1}}},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: export, Name: "exporting to image", Started: &t0, Completed: &t0}}},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: export, Name: "exporting to image", Started: &t0}}},
		&bkclient.SolveStatus{Statuses: []*bkclient.VertexStatus{{ID: "pushing layers", Vertex: export, Started: &t0, Completed: &t1}}},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: export, Name: "exporting to image", Started: &t0, Completed: &t1}}},
		&bkclient.SolveStatus{Warnings: []*bkclient.VertexWarning{{Vertex: run, Short: []byte("FromAsCasing: 'as' and 'FROM' keywords' casing do not match\n")}}},
	)
	want := `#1 [build 2/5] WORKDIR /src
#1 CACHED
#2 [build 4/5] RUN go build ./...
#2 compiling with ***
#2 100%
#2
#2 no newline
#2 DONE 1.2s
#3 exporting to image
#3 DONE 0.0s
#3 pushing layers done
#3 DONE 1.2s
WARNING: FromAsCasing: 'as' and 'FROM' keywords' casing do not match
`
	assert.Equal(t, want, out)
	steps, cachedSteps := r.counts()
	assert.Equal(t, 3, steps)
	assert.Equal(t, 1, cachedSteps)
	assert.Equal(t, 1200*time.Millisecond, r.exportDuration())
}

func TestRendererFailedStep(t *testing.T) {
	t0 := time.Unix(1000, 0)
	build := digest.FromString("build")
	other := digest.FromString("other")
	out, r := feed(t, map[string]string{"TOKEN": "hunter22"},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{
			{Digest: build, Name: "[build 6/6] RUN go build ./...", Started: &t0},
			{Digest: other, Name: "[run 2/4] RUN useradd", Started: &t0},
		}},
		&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: build, Data: []byte("./main.go:8:14: undefined: x (token hunter22)\n")}}},
		&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{
			{Digest: other, Name: "[run 2/4] RUN useradd", Started: &t0, Completed: &t0, Error: "context canceled"},
			{Digest: build, Name: "[build 6/6] RUN go build ./...", Started: &t0, Completed: &t0,
				Error: `process "/bin/sh -c if [ -r /run/secrets/env ]; then ...; eval \"$1\" sh go build ./..." did not complete successfully: exit code: 1`},
		}},
	)
	assert.Contains(t, out, "#1 ERROR: exit code: 1\n")
	assert.NotContains(t, out, "hunter22")

	b := &Builder{}
	err := b.buildError(r, newMasker(map[string]string{"TOKEN": "hunter22"}), assert.AnError)
	var be *BuildError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "[build 6/6] RUN go build ./...", be.Step)
	assert.Equal(t, "exit code: 1", be.Reason)
	assert.Equal(t, "step [build 6/6] RUN go build ./... failed: exit code: 1\n    ./main.go:8:14: undefined: x (token ***)", err.Error())
}

func TestBuildErrorWithoutStep(t *testing.T) {
	b := &Builder{}
	_, r := feed(t, nil)
	err := b.buildError(r, newMasker(nil), assertError("failed to solve: dockerfile parse error on line 1: unknown instruction: FORM"))
	assert.EqualError(t, err, "build failed: dockerfile parse error on line 1: unknown instruction: FORM")
}

type assertError string

func (e assertError) Error() string { return string(e) }

func TestBuildErrorWhenBuildKitGoes(t *testing.T) {
	b := &Builder{}
	_, r := feed(t, nil)
	for _, lost := range []error{
		status.Error(codes.Unavailable, "error reading from server: EOF"),
		fmt.Errorf("failed to solve: %w", status.Error(codes.Unavailable, "connection reset by peer")),
		assertError("failed to receive status: rpc error: code = Unavailable desc = error reading from server: EOF"),
	} {
		err := b.buildError(r, newMasker(nil), lost)
		var be *BuildError
		require.ErrorAs(t, err, &be)
		assert.Contains(t, be.Reason, "lost the connection to the builder (BuildKit)")
		assert.Contains(t, be.Hint, "Push again")
	}
	err := b.buildError(r, newMasker(nil), status.Error(codes.Canceled, "context canceled"))
	assert.NotContains(t, err.Error(), "BuildKit", "a cancelled build is not a lost builder")
}

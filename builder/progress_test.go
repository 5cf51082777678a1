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

// TestRendererSummary reads what a push shows by default: a line per build
// step with its time, none of BuildKit's own steps, the export once, and
// the whole output of a failing step (more than a BuildError's tail), while
// the full output still has every line.
func TestRendererSummary(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(1500 * time.Millisecond)
	def := digest.FromString("definition")
	from := digest.FromString("from")
	deps := digest.FromString("deps")
	build := digest.FromString("build")
	other := digest.FromString("other")
	long := "[build 3/6] RUN go mod download && echo " + strings.Repeat("x", 100)

	var logs []*bkclient.VertexLog
	for i := 1; i <= 2*tailLines; i++ {
		logs = append(logs, &bkclient.VertexLog{Vertex: build, Data: fmt.Appendf(nil, "./main.go:%d: undefined: x%d (token hunter22)\n", i, i)})
	}
	statuses := []*bkclient.SolveStatus{
		{Vertexes: []*bkclient.Vertex{{Digest: def, Name: "[internal] load build definition from Dockerfile", Started: &t0, Completed: &t0}}},
		{Vertexes: []*bkclient.Vertex{{Digest: from, Name: "[build 1/6] FROM 127.0.0.1:5000/platform/stack-go", Cached: true, Completed: &t0}}},
		{Vertexes: []*bkclient.Vertex{{Digest: deps, Name: long, Started: &t0}}},
		{Logs: []*bkclient.VertexLog{{Vertex: deps, Data: []byte("go: downloading example.com/m v1.0.0\n")}}},
		{Vertexes: []*bkclient.Vertex{{Digest: deps, Name: long, Started: &t0, Completed: &t1}}},
		{Vertexes: []*bkclient.Vertex{
			{Digest: build, Name: "[build 6/6] RUN go build ./...", Started: &t0},
			{Digest: other, Name: "[run 2/4] RUN useradd", Started: &t0},
		}},
		{Logs: logs},
		{Vertexes: []*bkclient.Vertex{
			{Digest: other, Name: "[run 2/4] RUN useradd", Started: &t0, Completed: &t1, Error: "context canceled"},
			{Digest: build, Name: "[build 6/6] RUN go build ./...", Started: &t0, Completed: &t1,
				Error: `process "/bin/sh -c go build ./..." did not complete successfully: exit code: 1`},
		}},
	}
	var full, summary strings.Builder
	r := newRenderer(&full, newMasker(map[string]string{"TOKEN": "hunter22"})).withSummary(&summary)
	ch := make(chan *bkclient.SolveStatus, len(statuses))
	for _, s := range statuses {
		ch <- s
	}
	close(ch)
	r.run(ch)

	lines := strings.Split(strings.TrimSuffix(summary.String(), "\n"), "\n")
	require.Len(t, lines, 2+1+2*tailLines+1, summary.String())
	assert.Equal(t, "#2 [build 1/6] FROM 127.0.0.1:5000/platform/stack-go (cached)", lines[0])
	assert.Equal(t, "#3 [build 3/6] RUN go mod download && echo "+strings.Repeat("x", summaryNameLen-3-len("[build 3/6] RUN go mod download && echo "))+"... (1.5s)", lines[1])
	assert.Equal(t, "#4 [build 6/6] RUN go build ./...", lines[2])
	assert.Equal(t, "#4 ./main.go:1: undefined: x1 (token ***)", lines[3], "the failing step's output from its first line")
	assert.Equal(t, fmt.Sprintf("#4 ./main.go:%d: undefined: x%d (token ***)", 2*tailLines, 2*tailLines), lines[len(lines)-2])
	assert.Equal(t, "#4 ERROR: exit code: 1", lines[len(lines)-1])
	assert.NotContains(t, summary.String(), "[internal]")
	assert.NotContains(t, summary.String(), "useradd", "a step cancelled by another's failure says nothing")
	assert.NotContains(t, summary.String(), "go: downloading", "a step that succeeded shows no output")

	assert.Contains(t, full.String(), "#1 [internal] load build definition from Dockerfile\n")
	assert.Contains(t, full.String(), "#3 go: downloading example.com/m v1.0.0\n")
	assert.Contains(t, full.String(), "#3 DONE 1.5s\n")
	assert.NotContains(t, full.String()+summary.String(), "hunter22")
}

// TestRendererSummaryExport: the image's export, which BuildKit ends twice
// (export, then push), gets one line, with the time of both.
func TestRendererSummaryExport(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(300 * time.Millisecond)
	t2 := t0.Add(2 * time.Second)
	export := digest.FromString("export")
	run := digest.FromString("run")
	statuses := []*bkclient.SolveStatus{
		{Vertexes: []*bkclient.Vertex{{Digest: run, Name: "[run 3/3] COPY --from=build /out/ /app/", Started: &t0, Completed: &t1}}},
		{Vertexes: []*bkclient.Vertex{{Digest: export, Name: "exporting to image", Started: &t0, Completed: &t1}}},
		{Vertexes: []*bkclient.Vertex{{Digest: export, Name: "exporting to image", Started: &t0}}},
		{Statuses: []*bkclient.VertexStatus{{ID: "pushing layers", Vertex: export, Started: &t0, Completed: &t2}}},
		{Vertexes: []*bkclient.Vertex{{Digest: export, Name: "exporting to image", Started: &t0, Completed: &t2}}},
	}
	var full, summary strings.Builder
	r := newRenderer(&full, newMasker(nil)).withSummary(&summary)
	ch := make(chan *bkclient.SolveStatus, len(statuses))
	for _, s := range statuses {
		ch <- s
	}
	close(ch)
	r.run(ch)
	assert.Equal(t, "#1 [run 3/3] COPY --from=build /out/ /app/ (0.3s)\n#2 exporting to image (2.0s)\n", summary.String())
	assert.Contains(t, full.String(), "#2 pushing layers done\n")
}

package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tonistiigi/fsutil"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
)

// The integration tests build the sample apps on the local stack's
// BuildKit and push them to its registry, under this tenant.
const testTenant = "buildertest"

// stackBuilder is a Builder on the local stack whose builds present the
// stack's registry credential, as platformd's present their own.
type stackBuilder struct {
	*Builder
	auth Credentials
}

// Build builds req, with the stack's registry credential if it names none.
func (b *stackBuilder) Build(ctx context.Context, req Request) (Result, error) {
	if req.RegistryAuth == (Credentials{}) {
		req.RegistryAuth = b.auth
	}
	return b.Builder.Build(ctx, req)
}

// newStackBuilder is a Builder on the local stack; opts change its Config.
func newStackBuilder(t testing.TB, opts ...func(*Config)) (*stackBuilder, localstack.Env) {
	t.Helper()
	env := localstack.Require(t)
	// The stack's builds trust what the machine trusts, as platformd's do.
	var network Network
	if env.BuildCAFile != "" {
		pem, err := os.ReadFile(env.BuildCAFile)
		require.NoError(t, err)
		network.CACerts = pem
	}
	cfg := Config{
		Addr:             env.BuildKitAddr,
		Registry:         env.Registry,
		InsecureRegistry: true,
		Images:           LocalStackImages(env.Registry),
		Network:          network,
	}
	for _, o := range opts {
		o(&cfg)
	}
	b, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.Ping(ctx), "BuildKit of the local stack")
	return &stackBuilder{Builder: b, auth: stackCredentials(env)}, env
}

// stackCredentials is the stack's registry credential, as a build
// presents it.
func stackCredentials(env localstack.Env) Credentials {
	return Credentials{Username: localstack.RegistryUser, Password: env.RegistryCredential}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// copySample copies a sample app to a temporary directory the test may
// change.
func copySample(t testing.TB, app string) string {
	t.Helper()
	src := filepath.Join("testdata", "apps", app)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	require.NoError(t, err)
	return dst
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestBuildSamples(t *testing.T) {
	b, env := newStackBuilder(t)
	secret := "cfg-" + randomHex(t, 12)
	dbURL := "postgres://app:pw-" + randomHex(t, 8) + "@db.internal/app"
	config := map[string]string{"SAMPLE_SECRET": secret, "DATABASE_URL": dbURL, "DEBUG": "1"}

	tests := []struct {
		app       string
		stack     Stack
		processes map[string]string
		release   string
		// bust changes a file so that the steps that print config run
		// again instead of coming from the cache.
		bust   string
		output []string
		// probe is the command that serves the app; body is in its answer.
		probe []string
		body  string
		// absent is in no layer of the image.
		absent string
	}{
		{
			app: "go", stack: StackGo,
			processes: map[string]string{"web": "hello", "worker": "worker"},
			output:    []string{"RUN go mod download", "RUN mkdir -p /out/bin && go build"},
			body:      "hello from go",
		},
		{
			// Third-party modules from the module proxy, and templates read
			// from the source tree at run time; README.md is .slugignored.
			app: "go-modules", stack: StackGo,
			processes: map[string]string{"web": "guestbook"},
			output:    []string{"RUN go mod download", "COPY --from=app --chown=1000:1000 . /app/"},
			body:      "guestbook from go-modules",
			absent:    "SLUGIGNORED-README",
		},
		{
			app: "node", stack: StackNode,
			processes: map[string]string{"web": "node server.js"},
			bust:      "build.js",
			output:    []string{"RUN npm ci", "build sees SAMPLE_SECRET=***"},
			body:      "hello from node (built by build.js)",
		},
		{
			app: "python", stack: StackPython,
			processes: map[string]string{"web": "python3 app.py"},
			release:   "python3 release.py",
			output:    []string{"RUN python3 -m venv /app/.venv", "-----> Release command: python3 release.py"},
			body:      "hello from python",
		},
		{
			app: "static", stack: StackStatic,
			processes: map[string]string{"web": "static-server /app/public"},
			output:    []string{"go build -trimpath", "COPY --chown=1000:1000 public/ /app/public/"},
			body:      "<h1>hello from static</h1>",
		},
		{
			app: "dockerfile", stack: StackDockerfile,
			processes: map[string]string{"web": ""},
			bust:      "main.go",
			output:    []string{"build sees SAMPLE_SECRET=***", "go build -trimpath -o /out/server"},
			probe:     []string{"/usr/local/bin/server"},
			body:      "hello from a Dockerfile",
		},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			t.Parallel()
			dir := copySample(t, tt.app)
			if tt.bust != "" {
				appendFile(t, filepath.Join(dir, tt.bust), "\n// build "+randomHex(t, 8)+"\n")
			}
			app := tt.app + "-sample"
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			var out, log syncbuf.Buffer
			res, err := b.Build(ctx, Request{
				Tenant: testTenant, App: app, SourceDir: dir,
				Commit: "0123456789abcdef0123456789abcdef01234567",
				Config: config, Out: &out, Log: &log,
			})
			output, shown := log.String(), out.String()
			require.NoError(t, err, output)
			t.Logf("%s: %d steps, %d cached, solve %s (export %s)", tt.app, res.Steps, res.CachedSteps, res.Timings.Solve, res.Timings.Export)

			assert.Regexp(t, digestRE, res.Digest)
			assert.Equal(t, env.Registry+"/"+testTenant+"/"+app+"@"+res.Digest, res.ImageRef)
			assert.Equal(t, tt.stack, res.Stack)
			assert.Equal(t, tt.processes, res.Processes)
			assert.Equal(t, tt.release, res.ReleaseCommand)
			assert.Positive(t, res.Timings.Solve)

			// The log shows the steps as they ran, with their output.
			assert.Regexp(t, `(?m)^#\d+ \[build \d+/\d+\] `, output)
			assert.Regexp(t, `(?m)^#\d+ (DONE \d+\.\d+s|CACHED)$`, output)
			assert.Contains(t, output, "-----> Pushed "+res.ImageRef)
			for _, s := range tt.output {
				assert.Contains(t, output, s)
			}
			// The person building sees the same headers and one line per
			// build step with its time, and no step's output.
			assert.Regexp(t, `(?m)^#\d+ \[build \d+/\d+\] .* \((\d+\.\d+s|cached)\)$`, shown)
			assert.NotRegexp(t, `(?m)^#\d+ (DONE|CACHED)`, shown)
			assert.NotContains(t, shown, "[internal]")
			assert.Regexp(t, `(?m)^#\d+ exporting to image \(\d+\.\d+s\)$`, shown)
			for _, l := range strings.Split(output, "\n") {
				if strings.HasPrefix(l, "----->") || strings.HasPrefix(l, "       ") {
					assert.Contains(t, shown, l+"\n", "the headers are the same in both")
				}
			}
			assert.Contains(t, shown, "-----> Process types and their commands\n")
			for _, all := range []string{output, shown} {
				assert.NotContains(t, all, "--mount=", "mount flags are left out of step names")
				assert.NotContains(t, all, secret)
				assert.NotContains(t, all, dbURL)
			}

			img := fetchImage(t, env, testTenant+"/"+app, res.Digest)
			assert.Equal(t, "1000:1000", img.Config.Config.User)
			if tt.stack != StackDockerfile {
				assert.Equal(t, "/app", img.Config.Config.WorkingDir)
				assert.Equal(t, []string{"/bin/sh", "-c", tt.processes["web"]}, img.Config.Config.Cmd)
				assert.Empty(t, img.Config.Config.Entrypoint)
				assert.Contains(t, img.Config.Config.Labels, "org.opencontainers.image.revision")
			}
			for _, v := range []string{secret, dbURL, "SAMPLE_SECRET", "DATABASE_URL"} {
				assert.NotContains(t, string(img.ConfigJSON), v, "image config")
			}
			for i, layer := range img.Layers {
				if tt.absent != "" {
					assert.False(t, bytes.Contains(layer, []byte(tt.absent)), "layer %d holds %q", i, tt.absent)
				}
				assert.False(t, bytes.Contains(layer, []byte(secret)), "layer %d holds a config value", i)
				assert.False(t, bytes.Contains(layer, []byte(dbURL)), "layer %d holds a config value", i)
			}

			if tt.stack == StackGo {
				assert.NotEmpty(t, appCacheMounts(t, b.Builder, app), "the app's cache mounts are under its namespace")
			}

			probe := tt.probe
			if probe == nil {
				probe = ProcessCommand(tt.processes["web"])
			}
			served := probeImage(t, b, res.ImageRef, probe)
			assert.Contains(t, served, "probe: uid=1000 gid=1000")
			assert.Contains(t, served, "probe: status=200")
			assert.Contains(t, served, tt.body)
		})
	}
}

func TestBuildBrokenGo(t *testing.T) {
	b, _ := newStackBuilder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, log syncbuf.Buffer
	_, err := b.Build(ctx, Request{
		Tenant: testTenant, App: "broken-go", SourceDir: filepath.Join("testdata", "apps", "broken-go"),
		Config: map[string]string{"GOFLAGS": "-v"}, Out: &out, Log: &log,
	})
	require.Error(t, err)
	var be *BuildError
	require.ErrorAs(t, err, &be, err.Error())
	assert.Contains(t, be.Step, "go build")
	assert.Equal(t, "exit code: 1", be.Reason)
	assert.Contains(t, strings.Join(be.Output, "\n"), "./main.go:8:14: undefined: undefinedGreeting")
	assert.Contains(t, err.Error(), "undefined: undefinedGreeting")
	// The person building sees the failing step's whole output, as the
	// log has it, though they see no output of the steps that succeed.
	assert.Contains(t, out.String(), "ERROR: exit code: 1")
	assert.Regexp(t, `(?m)^#\d+ \./main\.go:8:14: undefined: undefinedGreeting$`, out.String())
	failing := regexp.MustCompile(`(?m)^#(\d+) ERROR: exit code: 1$`).FindStringSubmatch(out.String())
	require.NotNil(t, failing, out.String())
	var want []string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.HasPrefix(l, "#"+failing[1]+" ") && !strings.HasPrefix(l, "#"+failing[1]+" ERROR") {
			want = append(want, l)
		}
	}
	assert.Contains(t, out.String(), strings.Join(want, "\n")+"\n", "every line of the failing step")
	assert.Less(t, len(out.String()), len(log.String()))
	t.Logf("the error a push shows:\n%s", err)
}

// TestBuildColdWarm builds the Go sample as a new app (nothing of it in
// the cache), changes one line and builds it again, and logs both times.
func TestBuildColdWarm(t *testing.T) {
	b, _ := newStackBuilder(t)
	dir := copySample(t, "go")
	app := "coldwarm-" + randomHex(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	build := func() Result {
		var out syncbuf.Buffer
		res, err := b.Build(ctx, Request{Tenant: testTenant, App: app, SourceDir: dir, Out: &out})
		require.NoError(t, err, out.String())
		return res
	}
	cold := build()
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(main, bytes.Replace(src, []byte("hello from go"), []byte("hello again from go"), 1), 0o644))
	warm := build()

	t.Logf("go sample, cold build (new app): total %s, solve %s, export %s, %d/%d steps cached",
		cold.Timings.Total.Round(time.Millisecond), cold.Timings.Solve.Round(time.Millisecond), cold.Timings.Export.Round(time.Millisecond), cold.CachedSteps, cold.Steps)
	t.Logf("go sample, warm build (one-line change): total %s, solve %s, export %s, %d/%d steps cached",
		warm.Timings.Total.Round(time.Millisecond), warm.Timings.Solve.Round(time.Millisecond), warm.Timings.Export.Round(time.Millisecond), warm.CachedSteps, warm.Steps)
	assert.NotEqual(t, cold.Digest, warm.Digest)

	require.NoError(t, b.DeleteCache(ctx, testTenant, app))
	assert.Empty(t, appCacheMounts(t, b.Builder, app), "cache mounts left after DeleteCache")
	assert.Greater(t, warm.CachedSteps, cold.CachedSteps, "the dependency layer is reused")
	assert.Less(t, warm.Timings.Solve, cold.Timings.Solve)
}

// BenchmarkBuildGoOneLineChange measures a warm build of the Go sample
// after a one-line change.
func BenchmarkBuildGoOneLineChange(b *testing.B) {
	bld, _ := newStackBuilder(b)
	dir := copySample(b, "go")
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(b, err)
	ctx := context.Background()
	req := Request{Tenant: testTenant, App: "bench-go", SourceDir: dir}
	_, err = bld.Build(ctx, req) // warm the cache
	require.NoError(b, err)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		line := fmt.Sprintf("hello from go, build %d %s", i, randomHex(b, 4))
		require.NoError(b, os.WriteFile(main, bytes.Replace(src, []byte("hello from go"), []byte(line), 1), 0o644))
		b.StartTimer()
		_, err := bld.Build(ctx, req)
		require.NoError(b, err)
	}
}

// appCacheMounts lists the descriptions of an app's cache mounts.
func appCacheMounts(t *testing.T, b *Builder, app string) []string {
	t.Helper()
	du, err := b.client.DiskUsage(context.Background(), bkclient.WithFilter([]string{"type==" + string(bkclient.UsageRecordTypeCacheMount)}))
	require.NoError(t, err)
	var found []string
	for _, u := range du {
		if strings.Contains(u.Description, `with id "`+testTenant+"/"+app+"/") {
			found = append(found, u.Description)
		}
	}
	return found
}

func TestBuildCancel(t *testing.T) {
	b, _ := newStackBuilder(t)
	// A new app: its go build has no cache and takes a while.
	app := "cancel-" + randomHex(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := b.Build(ctx, Request{Tenant: testTenant, App: app, SourceDir: filepath.Join("testdata", "apps", "go"), Log: &out})
		done <- err
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "go build -trimpath") }, 2*time.Minute, 50*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("the build did not stop after its context was cancelled")
	}
	assert.NoError(t, b.DeleteCache(context.Background(), testTenant, app))
}

func TestBuildRejects(t *testing.T) {
	b, err := New(Config{Addr: "unix:///nonexistent.sock", Registry: "registry.test:5000"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ok := Request{Tenant: "acme", App: "web", SourceDir: t.TempDir()}
	tests := []struct {
		name string
		edit func(*Request)
		err  string
	}{
		{"tenant", func(r *Request) { r.Tenant = "Acme" }, `tenant "Acme"`},
		{"app", func(r *Request) { r.App = "web_app" }, `app "web_app"`},
		{"no source", func(r *Request) { r.SourceDir = "" }, "source directory is required"},
		{"commit", func(r *Request) { r.Commit = "main; rm -rf /" }, "is not a hex commit id"},
		{"config name", func(r *Request) { r.Config = map[string]string{"BAD-NAME": "x"} }, `config var name "BAD-NAME"`},
		{"nothing to build", func(r *Request) {}, "no Dockerfile, go.mod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.edit(&req)
			_, err := b.Build(context.Background(), req)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}

	noRegistry, err := New(Config{Addr: "unix:///nonexistent.sock"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = noRegistry.Close() })
	_, err = noRegistry.Build(context.Background(), ok)
	assert.ErrorContains(t, err, "no registry configured")
}

func TestConfigValidatesImages(t *testing.T) {
	_, err := New(Config{Addr: "unix:///x.sock", Registry: "http://registry"})
	assert.ErrorContains(t, err, "is not host[:port]")
	_, err = New(Config{Addr: "unix:///x.sock", Images: Images{Go: StackImages{Build: "golang\nRUN evil"}}})
	assert.ErrorContains(t, err, "is not an image reference")
}

func TestImages(t *testing.T) {
	local := LocalStackImages("127.0.0.1:5000")
	assert.Equal(t, "127.0.0.1:5000/platform/stack-go:bookworm", local.Go.Build)
	assert.Equal(t, "127.0.0.1:5000/platform/run-node:bookworm", local.Node.Run)
	def := Images{Node: StackImages{Run: "my/node"}}.withDefaults()
	assert.Equal(t, "my/node", def.Node.Run)
	assert.Equal(t, DefaultImages().Node.Build, def.Node.Build)
	for _, img := range DefaultImages().all() {
		assert.True(t, strings.HasPrefix(img, "docker.io/library/"), img)
	}
}

// image is what the registry holds for a pushed image.
type image struct {
	ConfigJSON []byte
	Config     struct {
		Config struct {
			User       string
			WorkingDir string
			Cmd        []string
			Entrypoint []string
			Env        []string
			Labels     map[string]string
		} `json:"config"`
	}
	Layers [][]byte // uncompressed tar streams
}

const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"

// fetchImage reads an image by digest from the registry: the manifest
// (checked with HEAD and GET), its config and its layers.
func fetchImage(t *testing.T, env localstack.Env, repo, dgst string) image {
	t.Helper()
	base := "http://" + env.Registry + "/v2/" + repo
	client := &http.Client{Transport: env.RegistryTransport(t, "repository:"+repo+":pull")}
	get := func(method, url string) (*http.Response, []byte) {
		req, err := http.NewRequest(method, url, nil)
		require.NoError(t, err)
		req.Header.Set("Accept", manifestAccept)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, url, body)
		return resp, body
	}
	head, _ := get(http.MethodHead, base+"/manifests/"+dgst)
	assert.Equal(t, dgst, head.Header.Get("Docker-Content-Digest"))
	resp, body := get(http.MethodGet, base+"/manifests/"+dgst)
	assert.Contains(t, []string{"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"},
		resp.Header.Get("Content-Type"), "a single-platform image manifest")

	var m struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	require.NoError(t, json.Unmarshal(body, &m))
	var img image
	_, img.ConfigJSON = get(http.MethodGet, base+"/blobs/"+m.Config.Digest)
	require.NoError(t, json.Unmarshal(img.ConfigJSON, &img.Config))
	for _, l := range m.Layers {
		_, blob := get(http.MethodGet, base+"/blobs/"+l.Digest)
		var r io.Reader = bytes.NewReader(blob)
		if strings.HasSuffix(l.MediaType, "gzip") {
			zr, err := gzip.NewReader(r)
			require.NoError(t, err)
			r = zr
		}
		// Read through tar to check each layer is a whole archive.
		var all bytes.Buffer
		tr := tar.NewReader(io.TeeReader(r, &all))
		for {
			_, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
		}
		img.Layers = append(img.Layers, all.Bytes())
	}
	return img
}

// probeImage runs command in the image the way the deployer runs a
// process (as the image's user, in its working directory, with PORT set),
// on BuildKit, and returns what testdata/probe saw.
func probeImage(t *testing.T, b *stackBuilder, ref string, command []string) string {
	t.Helper()
	probeDir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(probeDir, "probe"), "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())

	args := append([]string{"/probe/probe", "-port", port, "--"}, command...)
	df := fmt.Sprintf("FROM %s\nRUN --mount=type=bind,from=probe,target=/probe %s\n", ref, jsonArray(args...))
	dfDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dfDir, "Dockerfile"), []byte(df), 0o644))
	dfFS, err := fsutil.NewFS(dfDir)
	require.NoError(t, err)
	probeFS, err := fsutil.NewFS(probeDir)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var buf syncbuf.Buffer
	r := newRenderer(&buf, masker{})
	ch := make(chan *bkclient.SolveStatus)
	done := make(chan struct{})
	go func() { r.run(ch); close(done) }()
	_, err = b.client.Solve(ctx, nil, bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"filename": "Dockerfile", "context:probe": "local:probe", "no-cache": ""},
		LocalMounts:   map[string]fsutil.FS{"context": dfFS, "dockerfile": dfFS, "probe": probeFS},
		Session:       []session.Attachable{b.registryAuth(b.auth)},
	}, ch)
	<-done
	require.NoError(t, err, buf.String())
	return buf.String()
}

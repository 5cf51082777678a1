package builder

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func generate(t *testing.T, app string) string {
	t.Helper()
	p, err := Detect(filepath.Join("testdata", "apps", app))
	require.NoError(t, err)
	df, err := generateDockerfile(dockerfileParams{
		plan:   p,
		images: LocalStackImages("registry.test:5000").forStack(p.Stack),
		commit: "abc1234",
		web:    p.Processes["web"],
	})
	require.NoError(t, err)
	return df
}

// lineIndex returns the index of the first line containing s.
func lineIndex(t *testing.T, df, s string) int {
	t.Helper()
	for i, l := range strings.Split(df, "\n") {
		if strings.Contains(l, s) {
			return i
		}
	}
	t.Fatalf("no line with %q in\n%s", s, df)
	return -1
}

func TestGeneratedDockerfiles(t *testing.T) {
	tests := []struct {
		app string
		// in order: dependency steps come before the source is copied
		order  []string
		mounts []string
		cmd    string
	}{
		{
			app:    "go",
			order:  []string{"FROM registry.test:5000/platform/stack-go:bookworm AS build", "COPY go.mod ./", "go mod download", "COPY . .", "go build", "FROM registry.test:5000/platform/run:bookworm AS run", "COPY --from=app --chown=1000:1000 . /app/", "COPY --from=build --chown=1000:1000 /out/bin/ /app/bin/", "USER 1000:1000"},
			mounts: []string{"id=go-mod,target=/root/go/pkg/mod", "id=go-build,target=/root/.cache/go-build"},
			cmd:    `CMD ["/bin/sh","-c","hello"]`,
		},
		{
			app:    "node",
			order:  []string{"FROM registry.test:5000/platform/stack-node:bookworm AS build", "COPY package.json package-lock.json ./", "npm ci", "COPY . .", "npm run build && npm prune --omit=dev", "FROM registry.test:5000/platform/run-node:bookworm AS run"},
			mounts: []string{"id=npm,target=/root/.npm,sharing=locked"},
			cmd:    `CMD ["/bin/sh","-c","node server.js"]`,
		},
		{
			app:   "python",
			order: []string{"FROM registry.test:5000/platform/stack-python:bookworm AS build", "python3 -m venv /app/.venv", "COPY requirements.txt ./", "FROM registry.test:5000/platform/run-python:bookworm AS run", "COPY --from=app --chown=1000:1000 . /app/"},
			cmd:   `CMD ["/bin/sh","-c","python3 app.py"]`,
		},
		{
			app:    "ruby",
			order:  []string{"FROM registry.test:5000/platform/stack-ruby:bookworm AS build", "BUNDLE_PATH=/app/vendor/bundle", "COPY Gemfile Gemfile.lock ./", "BUNDLE_FROZEN=true bundle install", "FROM registry.test:5000/platform/run-ruby:bookworm AS run", "COPY --from=app --chown=1000:1000 . /app/", "COPY --from=build --chown=1000:1000 /app/vendor/bundle/ /app/vendor/bundle/", "USER 1000:1000"},
			mounts: []string{"id=env,target=/run/secrets/env", "id=ca-certificates", "type=tmpfs,target=/run/platform-tls"},
			cmd:    `CMD ["/bin/sh","-c","bundle exec ruby app.rb"]`,
		},
		{
			app:    "static",
			order:  []string{"FROM registry.test:5000/platform/stack-go:bookworm AS build", "COPY --from=staticserver main.go ./", "go build", "FROM registry.test:5000/platform/run:bookworm AS run", "COPY --chown=1000:1000 public/ /app/public/"},
			mounts: []string{"id=static-server-go-build"},
			cmd:    `CMD ["/bin/sh","-c","static-server /app/public"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			df := generate(t, tt.app)
			last := -1
			for _, s := range tt.order {
				i := lineIndex(t, df, s)
				assert.Greater(t, i, last, "%q out of order in\n%s", s, df)
				last = i
			}
			for _, m := range tt.mounts {
				assert.Contains(t, df, m)
			}
			assert.Contains(t, df, tt.cmd)
			assert.Contains(t, df, "LABEL org.opencontainers.image.revision=abc1234")
			assert.NotContains(t, df, "ARG", "config must not become build args")

			// Every RUN of a build stage that runs the app's tools mounts the
			// config secret.
			stage := ""
			for _, l := range strings.Split(df, "\n") {
				if strings.HasPrefix(l, "FROM ") {
					stage = l
				}
				if tt.app != "static" && strings.HasSuffix(stage, " AS build") && strings.HasPrefix(l, "RUN ") && !strings.Contains(l, "python3 -m venv") {
					assert.Contains(t, l, "--mount=type=secret,id=env,target=/run/secrets/env", l)
				}
				if strings.HasSuffix(stage, " AS run") {
					assert.NotContains(t, l, "secret", "the run stage never sees the config")
				}
			}
		})
	}
}

func TestGeneratedDockerfileVariants(t *testing.T) {
	gen := func(p Plan) string {
		df, err := generateDockerfile(dockerfileParams{plan: p, images: StackImages{Build: "b", Run: "r"}, web: "x"})
		require.NoError(t, err)
		return df
	}
	df := gen(Plan{Stack: StackGo, golang: goPlan{hasSum: true}})
	assert.Contains(t, df, "COPY go.mod go.sum ./")

	df = gen(Plan{Stack: StackGo, golang: goPlan{hasVendor: true}})
	assert.NotContains(t, df, "go mod download")

	df = gen(Plan{Stack: StackNode})
	assert.Contains(t, df, "npm install --omit=dev")
	assert.Less(t, lineIndex(t, df, "npm install"), lineIndex(t, df, "COPY . ."))

	df = gen(Plan{Stack: StackPython, python: pythonPlan{requirements: true, hasDeps: true}})
	assert.Contains(t, df, "--mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked")
	assert.Less(t, lineIndex(t, df, "pip install -r requirements.txt"), lineIndex(t, df, "COPY --from=app --chown=1000:1000 . /app/"))

	df = gen(Plan{Stack: StackPython, python: pythonPlan{pyproject: true}})
	assert.Contains(t, df, "pip install .")

	df = gen(Plan{Stack: StackStatic, static: staticPlan{siteDir: "."}})
	assert.Contains(t, df, "COPY --chown=1000:1000 . /app/public/")

	_, err := generateDockerfile(dockerfileParams{plan: Plan{Stack: StackDockerfile}})
	assert.Error(t, err)
}

// TestConfigEnvFile sources the config secret with a real /bin/sh, as the
// build stages do, and checks every value arrives intact.
func TestConfigEnvFile(t *testing.T) {
	config := map[string]string{
		"PLAIN":    "value",
		"QUOTES":   `it's "quoted" \ back`,
		"DOLLAR":   "$HOME `id` $(id)",
		"NEWLINES": "line one\nline two\n",
		"EMPTY":    "",
	}
	secrets := configSecrets(config)
	for k, v := range config {
		assert.Equal(t, v, string(secrets[k]), "per-var secret %s", k)
	}
	dir := t.TempDir()
	env := filepath.Join(dir, "env")
	require.NoError(t, os.WriteFile(env, secrets[envSecretID], 0o600))
	for k, v := range config {
		// The same wrapper as buildShell, with the file elsewhere.
		script := strings.ReplaceAll(buildShell[2], envSecretPath, env)
		out, err := exec.Command(buildShell[0], buildShell[1], script, buildShell[3], `printf %s "$`+k+`"`).CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Equal(t, v, string(out), k)
	}
}

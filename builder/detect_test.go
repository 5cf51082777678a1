package builder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTree makes a source tree from path → content.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

const mainGo = "package main\n\nfunc main() {}\n"

func TestDetectSamples(t *testing.T) {
	tests := []struct {
		app       string
		stack     Stack
		processes map[string]string
		release   string
	}{
		{app: "dockerfile", stack: StackDockerfile, processes: map[string]string{"web": ""}},
		{app: "go", stack: StackGo, processes: map[string]string{"web": "hello", "worker": "worker"}},
		{app: "broken-go", stack: StackGo, processes: map[string]string{"web": "broken"}},
		{app: "node", stack: StackNode, processes: map[string]string{"web": "node server.js"}},
		{app: "python", stack: StackPython, processes: map[string]string{"web": "python3 app.py"}, release: "python3 release.py"},
		{app: "static", stack: StackStatic, processes: map[string]string{"web": "static-server /app/public"}},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			p, err := Detect(filepath.Join("testdata", "apps", tt.app))
			require.NoError(t, err)
			assert.Equal(t, tt.stack, p.Stack)
			assert.Equal(t, tt.processes, p.Processes)
			assert.Equal(t, tt.release, p.ReleaseCommand)
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		stack     Stack
		processes map[string]string
		err       string
	}{
		{
			name:  "empty tree",
			files: map[string]string{},
			err:   "no Dockerfile, go.mod, Gemfile, package.json, requirements.txt, pyproject.toml or index.html",
		},
		{
			name:  "a Gemfile without config.ru or app.rb",
			files: map[string]string{"README.md": "hi", "Gemfile": "source 'https://rubygems.org'"},
			err:   "detecting ruby app: no config.ru or app.rb to run by default; add a Procfile with a web: line",
		},
		{
			name:      "Ruby Rack app",
			files:     map[string]string{"Gemfile": "source 'https://rubygems.org'\ngem 'rack'\n", "Gemfile.lock": "", "config.ru": "run ->(env) { [200, {}, ['hi']] }\n", "package.json": "{}"},
			stack:     StackRuby,
			processes: map[string]string{"web": "bundle exec rackup config.ru --host 0.0.0.0 --port $PORT"},
		},
		{
			name:      "Ruby app.rb",
			files:     map[string]string{"Gemfile": "source 'https://rubygems.org'\n", "app.rb": "puts 1\n"},
			stack:     StackRuby,
			processes: map[string]string{"web": "bundle exec ruby app.rb"},
		},
		{
			name:  "PHP, even with a package.json",
			files: map[string]string{"composer.json": "{}", "package.json": `{"scripts": {"start": "node x.js"}}`},
			err:   "PHP app detected (composer.json): needs a Dockerfile: the platform has no PHP stack yet; add a Dockerfile at the root that builds and runs the app on $PORT, and push again",
		},
		{
			name:  "Java with Maven",
			files: map[string]string{"pom.xml": "<project/>"},
			err:   "Java app detected (pom.xml): needs a Dockerfile",
		},
		{
			name:  "Java with Gradle",
			files: map[string]string{"build.gradle.kts": ""},
			err:   "Java app detected (build.gradle.kts)",
		},
		{
			name:      "a Dockerfile wins over composer.json",
			files:     map[string]string{"composer.json": "{}", "Dockerfile": "FROM x\n"},
			stack:     StackDockerfile,
			processes: map[string]string{"web": ""},
		},
		{
			name:      "Dockerfile wins over go.mod",
			files:     map[string]string{"Dockerfile": "FROM scratch", "go.mod": "module x\n", "main.go": mainGo},
			stack:     StackDockerfile,
			processes: map[string]string{"web": ""},
		},
		{
			name:      "Dockerfile with a Procfile",
			files:     map[string]string{"Dockerfile": "FROM scratch", "Procfile": "web: /srv\nworker: /work\n"},
			stack:     StackDockerfile,
			processes: map[string]string{"web": "/srv", "worker": "/work"},
		},
		{
			name:      "go.mod wins over package.json",
			files:     map[string]string{"go.mod": "module example.com/x\n", "main.go": mainGo, "package.json": `{"scripts":{"start":"node a.js"}}`},
			stack:     StackGo,
			processes: map[string]string{"web": "x"},
		},
		{
			name:      "Go module with a major version suffix",
			files:     map[string]string{"go.mod": "// comment\nmodule \"example.com/api/v2\" // trailing\n", "main.go": mainGo},
			stack:     StackGo,
			processes: map[string]string{"web": "api"},
		},
		{
			name:      "Go with one command under cmd/",
			files:     map[string]string{"go.mod": "module example.com/x\n", "lib.go": "package x\n", "cmd/server/main.go": mainGo},
			stack:     StackGo,
			processes: map[string]string{"web": "server"},
		},
		{
			name:  "Go with two commands and no Procfile",
			files: map[string]string{"go.mod": "module example.com/x\n", "cmd/a/main.go": mainGo, "cmd/b/main.go": mainGo},
			err:   "add a Procfile with a web: line",
		},
		{
			name:      "Go worker-only Procfile",
			files:     map[string]string{"go.mod": "module example.com/x\n", "cmd/a/main.go": mainGo, "cmd/b/main.go": mainGo, "Procfile": "worker: a\n"},
			stack:     StackGo,
			processes: map[string]string{"worker": "a"},
		},
		{
			name:  "go.mod without module line",
			files: map[string]string{"go.mod": "go 1.26\n"},
			err:   "go.mod has no module line",
		},
		{
			name:      "Node main without start",
			files:     map[string]string{"package.json": `{"main":"lib/index.js"}`},
			stack:     StackNode,
			processes: map[string]string{"web": "node lib/index.js"},
		},
		{
			name:      "Node server.js",
			files:     map[string]string{"package.json": `{}`, "server.js": ""},
			stack:     StackNode,
			processes: map[string]string{"web": "node server.js"},
		},
		{
			name:  "Node without anything to start",
			files: map[string]string{"package.json": `{"scripts":{"test":"x"}}`},
			err:   `no "start" script`,
		},
		{
			name:  "Node with a broken package.json",
			files: map[string]string{"package.json": `{"scripts":`},
			err:   "parsing package.json",
		},
		{
			name:      "Python with main.py",
			files:     map[string]string{"requirements.txt": "flask\n", "main.py": ""},
			stack:     StackPython,
			processes: map[string]string{"web": "python3 main.py"},
		},
		{
			name:      "Python pyproject with a Procfile",
			files:     map[string]string{"pyproject.toml": "[project]\nname='x'\n", "Procfile": "web: gunicorn app:app\n"},
			stack:     StackPython,
			processes: map[string]string{"web": "gunicorn app:app"},
		},
		{
			name:  "Python without a command",
			files: map[string]string{"requirements.txt": ""},
			err:   "no app.py or main.py",
		},
		{
			name:      "static site at the root",
			files:     map[string]string{"index.html": "<h1>hi</h1>"},
			stack:     StackStatic,
			processes: map[string]string{"web": "static-server /app/public"},
		},
		{
			name:  "bad Procfile",
			files: map[string]string{"go.mod": "module x\n", "main.go": mainGo, "Procfile": "web: x\nWeb: y\n"},
			err:   "Procfile line 2:",
		},
		{
			name:  "a directory named go.mod is not a Go module",
			files: map[string]string{"go.mod/x": ""},
			err:   "no Dockerfile",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Detect(writeTree(t, tt.files))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.stack, p.Stack)
			assert.Equal(t, tt.processes, p.Processes)
		})
	}
}

func TestDetectNoStackIsErrNoStack(t *testing.T) {
	_, err := Detect(t.TempDir())
	assert.ErrorIs(t, err, ErrNoStack)
}

func TestDetectPlanDetails(t *testing.T) {
	p, err := Detect(writeTree(t, map[string]string{
		"package.json": `{"scripts":{"start":"node s.js"}}`, "npm-shrinkwrap.json": "{}", "package-lock.json": "{}",
	}))
	require.NoError(t, err)
	assert.Equal(t, "npm-shrinkwrap.json", p.node.lockfile)
	assert.False(t, p.node.build)

	p, err = Detect(writeTree(t, map[string]string{"requirements.txt": "# only comments\n\n", "app.py": ""}))
	require.NoError(t, err)
	assert.True(t, p.python.requirements)
	assert.False(t, p.python.hasDeps)

	p, err = Detect(writeTree(t, map[string]string{"go.mod": "module x\n", "go.sum": "", "main.go": mainGo, "vendor/modules.txt": ""}))
	require.NoError(t, err)
	assert.True(t, p.golang.hasSum)
	assert.True(t, p.golang.hasVendor)
}

// TestDetectSymlinkOutside checks that a Procfile linking outside the tree
// is not read.
func TestDetectSymlinkOutside(t *testing.T) {
	outside := writeTree(t, map[string]string{"Procfile": "web: stolen\n"})
	dir := writeTree(t, map[string]string{"index.html": "hi"})
	require.NoError(t, os.Symlink(filepath.Join(outside, "Procfile"), filepath.Join(dir, "Procfile")))
	_, err := Detect(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Procfile")
}

func TestExecName(t *testing.T) {
	for in, want := range map[string]string{
		"hello":                   "hello",
		"example.com/hello":       "hello",
		"example.com/hello/v2":    "hello",
		"example.com/hello/v1":    "v1",
		"example.com/hello/v0":    "v0",
		"example.com/hello/v2x":   "v2x",
		"example.com/cmd/server":  "server",
		"v2":                      "v2",
		"example.com/x/cmd/v3api": "v3api",
	} {
		assert.Equal(t, want, execName(in), in)
	}
}

func TestParseSlugIgnore(t *testing.T) {
	got := parseSlugIgnore([]byte("# docs\n*.md\n\n/tmp/\nassets/raw\n  spec  \n"))
	assert.Equal(t, []string{"*.md", "**/*.md", "tmp", "assets/raw", "spec", "**/spec"}, got)
	p, err := Detect(writeTree(t, map[string]string{"go.mod": "module x\n", "main.go": mainGo, ".slugignore": "*.md\n"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"*.md", "**/*.md"}, p.slugIgnore)
	assert.True(t, p.usesAppContext())
}

func TestDetectRefusesOwnFrontend(t *testing.T) {
	for _, df := range []string{
		"# syntax=docker/dockerfile:1\nFROM debian\n",
		"#syntax=registry.example.com/evil/frontend\nFROM debian\n",
		"# escape=`\n# syntax = example.com/other:latest\nFROM debian\n",
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644))
		_, err := Detect(dir)
		require.ErrorIs(t, err, ErrFrontendPinned, df)
		assert.Contains(t, err.Error(), "remove the syntax line")
	}
	// A comment that is not a directive is fine.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM debian\n# syntax=later is a comment\n"), 0o644))
	_, err := Detect(dir)
	require.NoError(t, err)
}

// TestDetectOrigins: the push says where each process type's command came
// from, and what a Dockerfile's web process runs.
func TestDetectOrigins(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		origins map[string]string
		web     string // CommandText("web")
	}{
		{
			name:    "procfile",
			files:   map[string]string{"go.mod": "module example.com/shop\n", "main.go": mainGo, "Procfile": "web: shop --port $PORT\nworker: shop work\n"},
			origins: map[string]string{"web": "Procfile", "worker": "Procfile"},
			web:     "shop --port $PORT",
		},
		{
			name:    "go root",
			files:   map[string]string{"go.mod": "module example.com/shop/v2\n", "main.go": mainGo},
			origins: map[string]string{"web": "the main package at the module's root"},
			web:     "shop",
		},
		{
			name:    "go cmd",
			files:   map[string]string{"go.mod": "module example.com/shop\n", "cmd/api/main.go": mainGo},
			origins: map[string]string{"web": "cmd/api, the module's only command"},
			web:     "api",
		},
		{
			name:    "node start with a worker",
			files:   map[string]string{"package.json": `{"scripts": {"start": "node web.js"}}`, "Procfile": "worker: node worker.js\n"},
			origins: map[string]string{"web": `package.json's "start" script`, "worker": "Procfile"},
			web:     "node web.js",
		},
		{
			name:    "node main",
			files:   map[string]string{"package.json": `{"main": "index.js"}`},
			origins: map[string]string{"web": `package.json's "main"`},
			web:     "node index.js",
		},
		{
			name:    "node server.js",
			files:   map[string]string{"package.json": `{}`, "server.js": ""},
			origins: map[string]string{"web": `server.js, as package.json has no "start" or "main"`},
			web:     "node server.js",
		},
		{
			name:    "python",
			files:   map[string]string{"requirements.txt": "", "main.py": ""},
			origins: map[string]string{"web": "main.py at the root"},
			web:     "python3 main.py",
		},
		{
			name:    "ruby",
			files:   map[string]string{"Gemfile": "", "config.ru": ""},
			origins: map[string]string{"web": "config.ru, a Rack app"},
			web:     "bundle exec rackup config.ru --host 0.0.0.0 --port $PORT",
		},
		{
			name:    "static",
			files:   map[string]string{"public/index.html": ""},
			origins: map[string]string{"web": "a static site: public/index.html"},
			web:     "static-server /app/public",
		},
		{
			name: "dockerfile",
			files: map[string]string{"Dockerfile": "FROM debian AS build\nCMD [\"make\"]\n" +
				"FROM debian:bookworm-slim\nENTRYPOINT [\"/app/server\"]\nCMD [\"--port\", \"8080\"]\n"},
			origins: map[string]string{"web": "no Procfile web line: the image's own command"},
			web:     `ENTRYPOINT ["/app/server"] CMD ["--port", "8080"]`,
		},
		{
			name:    "dockerfile without a command",
			files:   map[string]string{"Dockerfile": "FROM debian:bookworm-slim\nCMD [\"x\"]\nFROM nginx\n"},
			origins: map[string]string{"web": "no Procfile web line: the image's own command"},
			web:     "the base image's ENTRYPOINT and CMD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Detect(writeTree(t, tt.files))
			require.NoError(t, err)
			assert.Equal(t, tt.origins, p.Origins)
			assert.Equal(t, tt.web, p.CommandText("web"))
		})
	}
}

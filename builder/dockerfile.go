package builder

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The build stages see the app's config vars through one BuildKit secret,
// an env file of `NAME='value'` lines. Every RUN of a build stage mounts it
// and the stage's SHELL sources it before running the command, so the
// values exist only in the environment of build processes: never in a
// layer, in the image config or history, or in BuildKit's cache keys.
const (
	envSecretID   = "env"
	envSecretPath = "/run/secrets/env"
)

// buildShell is the SHELL of build stages. Docker appends a RUN's command
// as the last argument, so it is $1 of the script. It sources the
// operator's network settings, puts the image's CA bundle and the
// operator's CAs together on the tmpfs every RUN mounts and names it for
// the usual tools, then sources the app's config vars (which win).
var buildShell = []string{
	"/bin/sh", "-c",
	`if [ -r ` + networkSecretPath + ` ]; then set -a; . ` + networkSecretPath + `; set +a; fi; ` +
		`if [ -r ` + caSecretPath + ` ] && [ -d ` + caBundleDir + ` ]; then ` +
		`{ cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null; cat ` + caSecretPath + `; } > ` + caBundlePath + `; ` +
		`export SSL_CERT_FILE=` + caBundlePath + ` NODE_EXTRA_CA_CERTS=` + caSecretPath + ` PIP_CERT=` + caBundlePath +
		` REQUESTS_CA_BUNDLE=` + caBundlePath + ` CURL_CA_BUNDLE=` + caBundlePath + ` GIT_SSL_CAINFO=` + caBundlePath + `; fi; ` +
		`if [ -r ` + envSecretPath + ` ]; then set -a; . ` + envSecretPath + `; set +a; fi; eval "$1"`,
	"sh",
}

// staticServerContext is the named build context holding the static file
// server's source.
const staticServerContext = "staticserver"

// appContext is the named build context holding the app's files as its
// run image has them: the source tree less what .slugignore names.
const appContext = "app"

// usesAppContext reports whether the run image of p's stack copies the
// app's files from appContext.
func (p Plan) usesAppContext() bool {
	switch p.Stack {
	case StackGo, StackPython, StackRuby:
		return true
	}
	return false
}

// runUser is the user apps run as.
const runUser = "1000:1000"

// dockerfileParams is what a generated Dockerfile depends on.
type dockerfileParams struct {
	plan   Plan
	images StackImages
	commit string
	web    string // the image's default command; "" for none
}

// generateDockerfile returns the Dockerfile that builds p. The layers are
// ordered so that dependency manifests are installed before the rest of
// the source is copied: a change to the code alone reuses the dependency
// layer and the cache mounts.
func generateDockerfile(d dockerfileParams) (string, error) {
	var w dfWriter
	switch d.plan.Stack {
	case StackGo:
		goDockerfile(&w, d)
	case StackNode:
		nodeDockerfile(&w, d)
	case StackPython:
		pythonDockerfile(&w, d)
	case StackRuby:
		rubyDockerfile(&w, d)
	case StackStatic:
		staticDockerfile(&w, d)
	default:
		return "", fmt.Errorf("no generated Dockerfile for stack %q", d.plan.Stack)
	}
	return w.String(), nil
}

type dfWriter struct{ strings.Builder }

func (w *dfWriter) line(format string, args ...any) {
	fmt.Fprintf(w, format, args...)
	w.WriteByte('\n')
}

// jsonArray renders s in a Dockerfile's exec (JSON) form.
func jsonArray(s ...string) string {
	b, _ := json.Marshal(s) // []string always marshals.
	return string(b)
}

// buildStage starts a build stage whose RUNs source the config env file.
func (w *dfWriter) buildStage(image string) {
	w.line("FROM %s AS build", image)
	w.line("SHELL %s", jsonArray(buildShell...))
}

// secretMount mounts, in a RUN of a build stage, what buildShell reads:
// the app's config vars, the operator's network settings and CAs, and the
// tmpfs for the CA bundle. Secrets that a build was not given are simply
// absent.
func secretMount() string {
	return "--mount=type=secret,id=" + envSecretID + ",target=" + envSecretPath +
		" --mount=type=secret,id=" + networkSecretID + ",target=" + networkSecretPath +
		" --mount=type=secret,id=" + caSecretID + ",target=" + caSecretPath +
		" --mount=type=tmpfs,target=" + caBundleDir
}

// cacheMount mounts a BuildKit cache. Its id is relative: the build puts
// every cache id of an app under the app's namespace (see solveOpt).
func cacheMount(id, target string, locked bool) string {
	m := "--mount=type=cache,id=" + id + ",target=" + target
	if locked {
		m += ",sharing=locked"
	}
	return m
}

// runStage starts the image the app ships: the run image, a user with uid
// 1000 (the Docker Hub images have none), /app as working directory.
func (w *dfWriter) runStage(image string) {
	w.line("")
	w.line("FROM %s AS run", image)
	w.line("RUN getent passwd 1000 >/dev/null || useradd --uid 1000 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin app")
	w.line("WORKDIR /app")
}

// finish sets what every app image has in common.
func (w *dfWriter) finish(d dockerfileParams, path string, env ...string) {
	w.line("ENV PATH=%s:$PATH HOME=/app%s", path, strings.Join(append([]string{""}, env...), " "))
	w.line("USER %s", runUser)
	if d.commit != "" {
		w.line("LABEL org.opencontainers.image.revision=%s", d.commit)
	}
	if d.web != "" {
		w.line("CMD %s", jsonArray("/bin/sh", "-c", d.web))
	} else {
		w.line("CMD %s", jsonArray("/bin/sh", "-c", `echo "this app has no web process; run one of its process types" >&2; exit 1`))
	}
}

func goDockerfile(w *dfWriter, d dockerfileParams) {
	mod := cacheMount("go-mod", "/root/go/pkg/mod", false)
	build := cacheMount("go-build", "/root/.cache/go-build", false)
	w.buildStage(d.images.Build)
	w.line("ENV GOMODCACHE=/root/go/pkg/mod GOCACHE=/root/.cache/go-build CGO_ENABLED=0 GOFLAGS=-buildvcs=false")
	w.line("WORKDIR /src")
	if d.plan.golang.hasVendor {
		w.line("COPY . .")
	} else {
		if d.plan.golang.hasSum {
			w.line("COPY go.mod go.sum ./")
		} else {
			w.line("COPY go.mod ./")
		}
		w.line("RUN %s %s go mod download", secretMount(), mod)
		w.line("COPY . .")
	}
	w.line(`RUN %s %s %s mkdir -p /out/bin && go build -trimpath -ldflags="-s -w" -o /out/bin/ ./...`, secretMount(), mod, build)
	w.runStage(d.images.Run)
	// The app's files (templates, static assets, ...) beside its binaries,
	// which a Go app reads relative to its working directory.
	w.line("COPY --from=%s --chown=%s . /app/", appContext, runUser)
	w.line("COPY --from=build --chown=%s /out/bin/ /app/bin/", runUser)
	w.finish(d, "/app/bin")
}

func nodeDockerfile(w *dfWriter, d dockerfileParams) {
	npm := cacheMount("npm", "/root/.npm", true)
	w.buildStage(d.images.Build)
	w.line("ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false")
	w.line("WORKDIR /app")
	install := "npm install"
	if lock := d.plan.node.lockfile; lock != "" {
		w.line("COPY package.json %s ./", lock)
		install = "npm ci"
	} else {
		w.line("COPY package.json ./")
	}
	if d.plan.node.build {
		// The build script needs the dev dependencies; they are pruned
		// once it has run.
		w.line("RUN %s %s %s", secretMount(), npm, install)
		w.line("COPY . .")
		w.line("RUN %s %s npm run build && npm prune --omit=dev", secretMount(), npm)
	} else {
		w.line("RUN %s %s %s --omit=dev", secretMount(), npm, install)
		w.line("COPY . .")
	}
	w.runStage(d.images.Run)
	w.line("COPY --from=build --chown=%s /app/ /app/", runUser)
	w.finish(d, "/app/node_modules/.bin", "NODE_ENV=production")
}

func pythonDockerfile(w *dfWriter, d dockerfileParams) {
	pip := cacheMount("pip", "/root/.cache/pip", true)
	w.buildStage(d.images.Build)
	// pip must not ask PyPI whether it is current.
	w.line("ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore PYTHONDONTWRITEBYTECODE=1")
	// The venv lives where it runs: its scripts name /app/.venv/bin/python.
	w.line("RUN python3 -m venv /app/.venv")
	w.line("ENV PATH=/app/.venv/bin:$PATH VIRTUAL_ENV=/app/.venv")
	w.line("WORKDIR /src")
	switch py := d.plan.python; {
	case py.requirements:
		w.line("COPY requirements.txt ./")
		if py.hasDeps {
			w.line("RUN %s %s pip install -r requirements.txt", secretMount(), pip)
		}
	case py.pyproject:
		w.line("COPY . .")
		w.line("RUN %s %s pip install .", secretMount(), pip)
	}
	w.runStage(d.images.Run)
	w.line("COPY --from=build --chown=%s /app/.venv /app/.venv", runUser)
	w.line("COPY --from=%s --chown=%s . /app/", appContext, runUser)
	w.finish(d, "/app/.venv/bin", "VIRTUAL_ENV=/app/.venv", "PYTHONUNBUFFERED=1")
}

// bundlerEnv is where Bundler keeps the app's gems, in the build stage and
// at run time alike.
const bundlerEnv = "BUNDLE_PATH=/app/vendor/bundle BUNDLE_WITHOUT=development:test BUNDLE_APP_CONFIG=/app/.bundle"

func rubyDockerfile(w *dfWriter, d dockerfileParams) {
	w.buildStage(d.images.Build)
	w.line("ENV %s GEM_HOME=/app/vendor/bundle", bundlerEnv)
	w.line("WORKDIR /app")
	if d.plan.ruby.lockfile {
		w.line("COPY Gemfile Gemfile.lock ./")
		// The lock file is the app's: installing must not change it.
		w.line("RUN %s BUNDLE_FROZEN=true bundle install --jobs 4", secretMount())
	} else {
		w.line("COPY Gemfile ./")
		w.line("RUN %s bundle install --jobs 4", secretMount())
	}
	w.runStage(d.images.Run)
	w.line("COPY --from=%s --chown=%s . /app/", appContext, runUser)
	w.line("COPY --from=build --chown=%s /app/Gemfile.lock /app/", runUser)
	w.line("COPY --from=build --chown=%s /app/vendor/bundle/ /app/vendor/bundle/", runUser)
	w.finish(d, "/app/bin:/app/vendor/bundle/bin", bundlerEnv, "GEM_HOME=/app/vendor/bundle")
}

func staticDockerfile(w *dfWriter, d dockerfileParams) {
	build := cacheMount("static-server-go-build", "/root/.cache/go-build", false)
	w.line("FROM %s AS build", d.images.Build)
	w.line("ENV GOCACHE=/root/.cache/go-build CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN=local")
	w.line("WORKDIR /src")
	w.line("COPY --from=%s main.go ./", staticServerContext)
	w.line(`RUN %s go build -trimpath -ldflags="-s -w" -o /out/bin/static-server main.go`, build)
	w.runStage(d.images.Run)
	w.line("COPY --from=build /out/bin/ /app/bin/")
	site := "."
	if d.plan.static.siteDir != "." {
		site = d.plan.static.siteDir + "/"
	}
	w.line("COPY --chown=%s %s /app/public/", runUser, site)
	w.finish(d, "/app/bin")
}

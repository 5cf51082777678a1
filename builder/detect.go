package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Stack names how an app is built.
type Stack string

// The stacks, in the order Detect tries them.
const (
	StackDockerfile Stack = "dockerfile"
	StackGo         Stack = "go"
	StackRuby       Stack = "ruby"
	StackNode       Stack = "node"
	StackPython     Stack = "python"
	StackStatic     Stack = "static"
)

// ErrNoStack is returned (wrapped) by Detect when no stack matches the
// source tree.
var ErrNoStack = errors.New("no Dockerfile, go.mod, Gemfile, package.json, requirements.txt, pyproject.toml or index.html (at the root or in public/) found at the root of the pushed commit")

// ErrNeedsDockerfile is returned (wrapped) by Detect for a language it
// recognises but has no stack for yet.
var ErrNeedsDockerfile = errors.New("needs a Dockerfile")

// unsupported are the languages Detect recognises without building them:
// their marker files and what to tell the user.
var unsupported = []struct {
	language string
	files    []string
}{
	{"PHP", []string{"composer.json"}},
	{"Java", []string{"pom.xml", "build.gradle", "build.gradle.kts", "gradlew"}},
}

// maxManifestSize bounds the size of a file Detect reads (package.json,
// go.mod, requirements.txt, Procfile).
const maxManifestSize = 1 << 20

// Plan is what Detect found: the stack to build with and the commands the
// image will run.
type Plan struct {
	// Stack is the detected stack.
	Stack Stack
	// Processes maps process types to commands: the Procfile's entries, plus
	// the stack's default command as "web" when the Procfile has no web
	// entry. A command is run as `/bin/sh -c <command>`; an empty command
	// (only the Dockerfile stack's default web) means the image's own
	// ENTRYPOINT and CMD.
	Processes map[string]string
	// Origins says, per process type, where its command came from: the
	// Procfile, or what made the stack's default ("package.json \"start\"
	// script", "the module's main package", ...).
	Origins map[string]string
	// ReleaseCommand is the Procfile's release-phase command, or "".
	ReleaseCommand string
	// HealthPath is the HTTP path app.json declares for telling that a web
	// process is ready, or "" (see appjson.go).
	HealthPath string

	// imageCommand is the Dockerfile's ENTRYPOINT and CMD, as written, for
	// telling the user what a web process without a command runs.
	imageCommand string

	// slugIgnore are the .slugignore patterns, in the syntax of
	// .dockerignore: what the run image leaves out of the app's files.
	slugIgnore []string

	golang goPlan
	node   nodePlan
	ruby   rubyPlan
	python pythonPlan
	static staticPlan
}

type goPlan struct {
	hasSum    bool // go.sum is present
	hasVendor bool // vendor/modules.txt is present
}

type nodePlan struct {
	lockfile string // package-lock.json or npm-shrinkwrap.json, or ""
	build    bool   // package.json has a build script
}

type rubyPlan struct {
	lockfile bool // Gemfile.lock is present
}

type pythonPlan struct {
	requirements bool // requirements.txt is present
	hasDeps      bool // requirements.txt names at least one requirement
	pyproject    bool // pyproject.toml is present (used when requirements.txt is not)
}

type staticPlan struct {
	siteDir string // "public" or "."
}

// Detect inspects the checked-out tree at dir and decides how to build it.
// It tries, in order: a Dockerfile at the root, Go (go.mod), Ruby
// (Gemfile), Node (package.json), Python (requirements.txt or
// pyproject.toml) and a static site (index.html at the root or in
// public/). PHP (composer.json) and Java (pom.xml, build.gradle) are
// recognised before Node, since their apps often have a package.json too,
// and refused with ErrNeedsDockerfile. A Procfile at the root, if
// any, is parsed strictly; its web entry wins over the stack's default.
//
// Files are read through an os.Root, so a symbolic link in the tree cannot
// make Detect read outside dir.
func Detect(dir string) (Plan, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Plan{}, fmt.Errorf("opening source tree: %w", err)
	}
	defer root.Close()

	procfile := Procfile{Processes: map[string]string{}}
	if data, ok, err := readFile(root, "Procfile"); err != nil {
		return Plan{}, err
	} else if ok {
		procfile, err = ParseProcfile(bytes.NewReader(data))
		if err != nil {
			return Plan{}, err
		}
	}

	var p Plan
	var defaultWeb string
	var origin string    // what made defaultWeb
	var noDefault string // why there is no default web command
	// A language the platform recognises but has no stack for, looked for
	// before Node since such apps often have a package.json too.
	lang, marker := unsupportedLanguage(root)
	switch {
	case isFile(root, "Dockerfile"):
		p.Stack = StackDockerfile
		// The image's own ENTRYPOINT and CMD.
		defaultWeb, origin = "", "no Procfile web line: the image's own command"
		err = checkDockerfile(root)
		if data, ok, rerr := readFile(root, "Dockerfile"); rerr == nil && ok {
			p.imageCommand = imageCommand(data)
		}
	case isFile(root, "go.mod"):
		p.Stack = StackGo
		defaultWeb, origin, noDefault, err = detectGo(root, &p.golang)
	case isFile(root, "Gemfile"):
		p.Stack = StackRuby
		defaultWeb, origin, noDefault = detectRuby(root, &p.ruby)
	case lang != "":
		return Plan{}, fmt.Errorf("detecting stack: %s app detected (%s): %w: the platform has no %s stack yet; "+
			"add a Dockerfile at the root that builds and runs the app on $PORT, and push again", lang, marker, ErrNeedsDockerfile, lang)
	case isFile(root, "package.json"):
		p.Stack = StackNode
		defaultWeb, origin, noDefault, err = detectNode(root, &p.node)
	case isFile(root, "requirements.txt") || isFile(root, "pyproject.toml"):
		p.Stack = StackPython
		defaultWeb, origin, noDefault, err = detectPython(root, &p.python)
	case isFile(root, "index.html"):
		p.Stack = StackStatic
		p.static.siteDir = "."
		defaultWeb, origin = staticServerCommand, "a static site: index.html"
	case isFile(root, "public/index.html"):
		p.Stack = StackStatic
		p.static.siteDir = "public"
		defaultWeb, origin = staticServerCommand, "a static site: public/index.html"
	default:
		return Plan{}, fmt.Errorf("detecting stack: %w", ErrNoStack)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("detecting %s app: %w", p.Stack, err)
	}

	p.Processes = procfile.Processes
	p.Origins = make(map[string]string, len(p.Processes)+1)
	for t := range p.Processes {
		p.Origins[t] = "Procfile"
	}
	p.ReleaseCommand = procfile.Release
	if data, ok, err := readFile(root, "app.json"); err != nil {
		return Plan{}, err
	} else if ok {
		if p.HealthPath, err = parseAppJSON(data); err != nil {
			return Plan{}, err
		}
	}
	if data, ok, err := readFile(root, ".slugignore"); err != nil {
		return Plan{}, err
	} else if ok {
		p.slugIgnore = parseSlugIgnore(data)
	}
	if _, ok := p.Processes["web"]; !ok {
		if noDefault != "" && p.Stack != StackDockerfile {
			if len(p.Processes) == 0 {
				return Plan{}, fmt.Errorf("detecting %s app: %s; add a Procfile with a web: line", p.Stack, noDefault)
			}
			// Worker-only apps are fine: there is just no web process.
		} else {
			p.Processes["web"] = defaultWeb
			p.Origins["web"] = origin
		}
	}
	return p, nil
}

// parseSlugIgnore reads a .slugignore file as Heroku does: one pattern a
// line, # comments, a pattern without a slash matching at any depth and one
// with a leading slash only at the root. It returns .dockerignore patterns.
func parseSlugIgnore(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSuffix(line, "/")
		switch {
		case strings.HasPrefix(line, "/"):
			out = append(out, strings.TrimPrefix(line, "/"))
		case strings.Contains(line, "/"):
			out = append(out, line)
		default:
			out = append(out, line, "**/"+line)
		}
	}
	return out
}

// staticServerCommand is the web command of static sites; the binary is
// compiled from staticserver/ into the image.
const staticServerCommand = "static-server /app/public"

func detectGo(root *os.Root, p *goPlan) (web, origin, noDefault string, err error) {
	p.hasSum = isFile(root, "go.sum")
	p.hasVendor = isFile(root, "vendor/modules.txt")
	data, _, err := readFile(root, "go.mod")
	if err != nil {
		return "", "", "", err
	}
	mod := modulePath(data)
	if mod == "" {
		return "", "", "", errors.New("go.mod has no module line")
	}
	if isMainPackage(root, ".") {
		return execName(mod), "the main package at the module's root", "", nil
	}
	// A single command under cmd/ is the default too.
	entries, err := fs.ReadDir(root.FS(), "cmd")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", "", fmt.Errorf("reading cmd/: %w", err)
	}
	var mains []string
	for _, e := range entries {
		if e.IsDir() && isMainPackage(root, "cmd/"+e.Name()) {
			mains = append(mains, e.Name())
		}
	}
	if len(mains) == 1 {
		return execName(mod + "/cmd/" + mains[0]), "cmd/" + mains[0] + ", the module's only command", "", nil
	}
	return "", "", "no main package at the root of the module and not exactly one under cmd/", nil
}

// modulePath returns the module path of a go.mod file, or "".
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], "\"`")
		}
	}
	return ""
}

// execName is the name `go build -o dir/` gives the binary of the package
// with this import path (cmd/go's DefaultExecName): the last element, or
// the one before a major version suffix like /v2.
func execName(importPath string) string {
	dir, elem := path.Split(importPath)
	if dir != "" && isVersionElement(elem) {
		_, elem = path.Split(path.Clean(dir))
	}
	return elem
}

func isVersionElement(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] == '0' || s[1] == '1' && len(s) == 2 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isMainPackage reports whether a non-test .go file in dir declares
// package main.
func isMainPackage(root *os.Root, dir string) bool {
	entries, err := fs.ReadDir(root.FS(), dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		data, ok, err := readFile(root, path.Join(dir, name))
		if err != nil || !ok {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, data, parser.PackageClauseOnly)
		if err == nil && f.Name.Name == "main" {
			return true
		}
	}
	return false
}

type packageJSON struct {
	Main    string            `json:"main"`
	Scripts map[string]string `json:"scripts"`
}

func detectNode(root *os.Root, p *nodePlan) (web, origin, noDefault string, err error) {
	data, _, err := readFile(root, "package.json")
	if err != nil {
		return "", "", "", err
	}
	var pkg packageJSON
	if err := json.Unmarshal(data, &pkg); err != nil {
		return "", "", "", fmt.Errorf("parsing package.json: %w", err)
	}
	for _, lock := range []string{"npm-shrinkwrap.json", "package-lock.json"} {
		if isFile(root, lock) {
			p.lockfile = lock
			break
		}
	}
	p.build = strings.TrimSpace(pkg.Scripts["build"]) != ""
	// The run image has Node but not npm, so the start script runs as a
	// shell command (node_modules/.bin is on PATH) rather than `npm start`.
	switch {
	case strings.TrimSpace(pkg.Scripts["start"]) != "":
		return strings.TrimSpace(pkg.Scripts["start"]), `package.json's "start" script`, "", nil
	case pkg.Main != "":
		return "node " + shellQuote(pkg.Main), `package.json's "main"`, "", nil
	case isFile(root, "server.js"):
		return "node server.js", "server.js, as package.json has no \"start\" or \"main\"", "", nil
	}
	return "", "", `package.json has no "start" script or "main" and there is no server.js`, nil
}

// unsupportedLanguage returns the language and marker file of the first
// unsupported language found at the root, or "".
func unsupportedLanguage(root *os.Root) (language, file string) {
	for _, u := range unsupported {
		for _, f := range u.files {
			if isFile(root, f) {
				return u.language, f
			}
		}
	}
	return "", ""
}

// detectRuby reads a Ruby app: Bundler installs the Gemfile's gems, and the
// default web process is a Rack app (config.ru) or app.rb.
func detectRuby(root *os.Root, p *rubyPlan) (web, origin, noDefault string) {
	p.lockfile = isFile(root, "Gemfile.lock")
	switch {
	case isFile(root, "config.ru"):
		return "bundle exec rackup config.ru --host 0.0.0.0 --port $PORT", "config.ru, a Rack app", ""
	case isFile(root, "app.rb"):
		return "bundle exec ruby app.rb", "app.rb, as there is no config.ru", ""
	}
	return "", "", "no config.ru or app.rb to run by default"
}

func detectPython(root *os.Root, p *pythonPlan) (web, origin, noDefault string, err error) {
	p.pyproject = isFile(root, "pyproject.toml")
	if isFile(root, "requirements.txt") {
		p.requirements = true
		data, _, err := readFile(root, "requirements.txt")
		if err != nil {
			return "", "", "", err
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				p.hasDeps = true
				break
			}
		}
	}
	for _, f := range []string{"app.py", "main.py"} {
		if isFile(root, f) {
			return "python3 " + f, f + " at the root", "", nil
		}
	}
	return "", "", "no app.py or main.py to run by default", nil
}

// isFile reports whether name is a regular file (or a link to one inside
// the tree).
func isFile(root *os.Root, name string) bool {
	fi, err := root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

// readFile reads a small file of the tree; ok is false when it does not
// exist.
func readFile(root *os.Root, name string) (data []byte, ok bool, err error) {
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("%s is not a regular file", name)
	}
	data, err = io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxManifestSize {
		return nil, false, fmt.Errorf("%s is larger than %d bytes", name, maxManifestSize)
	}
	return data, true, nil
}

// shellQuote quotes s for /bin/sh when it holds anything but safe
// characters.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%_-+=:,./", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Types returns the plan's process types, web first.
func (p Plan) Types() []string {
	return processTypes(p.Processes)
}

// CommandText is how the push shows the command of a process type: its
// command, or for a Dockerfile's web process without one, the Dockerfile's
// ENTRYPOINT and CMD.
func (p Plan) CommandText(ptype string) string {
	cmd := p.Processes[ptype]
	if cmd != "" {
		return cmd
	}
	if p.imageCommand != "" {
		return p.imageCommand
	}
	return "the base image's ENTRYPOINT and CMD"
}

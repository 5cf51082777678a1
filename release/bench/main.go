// Command bench measures deploys on the local stack as a user sees them:
// from a command starting (git push, platform config:set, ps:scale,
// releases:rollback) until the router serves the change through
// PLATFORM_ROUTER_URL with the app's Host header. It drives the platform
// only through the `platform` CLI, git and ssh, as a developer would, and
// prints medians and spreads (min–max) of alternating rounds; with -write
// it also puts the table into BENCHMARKS.md. See release/bench/deploy.sh,
// which `make bench-deploy` runs.
//
// Each round measures, in an order that rotates from round to round (so
// that load from other work shows up as spread, not as a trend):
//
//   - push: a one-line change of the Go sample, pushed warm;
//   - config: config:set of a new value the app prints;
//   - scale: ps:scale web=1 to web=8, until 8 different processes
//     (told apart by $DYNO, which the app prints) have answered;
//   - rollback: releases:rollback, until the previous release's answer
//     is served;
//   - cold: the first push of a new app of the Go sample.
//
// For each it records when the router first answered with the change
// ("served"), when it last answered with what was there before ("old
// gone", the answer after the last old one), and when the command
// returned; for pushes also the phases the push prints (received, build
// and its solve and export, release recorded, apply, new pods ready,
// rollout done).
//
// It makes a tenant of its own (and an SSH key, registered to the stack's
// admin) and destroys both at the end. Requests go to the router on
// loopback only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type settings struct {
	rounds   int
	write    string // BENCHMARKS.md to update, or ""
	platform string // the CLI
	sample   string // the Go sample app's directory
	paths    []string
	timeout  time.Duration
	command  string // how it was run, for the table
}

type env struct {
	apiURL, token, gitURL, routerURL, appsDomain string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var s settings
	var paths string
	fs.IntVar(&s.rounds, "rounds", 5, "rounds of every measurement")
	fs.StringVar(&s.write, "write", "", "write the table into this BENCHMARKS.md")
	fs.StringVar(&s.platform, "platform", "bin/platform", "the platform CLI")
	fs.StringVar(&s.sample, "sample", "builder/testdata/apps/go", "the Go sample app")
	fs.StringVar(&paths, "paths", "push,config,scale,rollback,cold", "what to measure, comma-separated")
	fs.DurationVar(&s.timeout, "timeout", 3*time.Minute, "longest wait for one change to be served")
	fs.StringVar(&s.command, "command", "make bench-deploy", "the command to name in the table")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	for _, p := range strings.Split(paths, ",") {
		if !slices.Contains(allPaths, p) {
			return fmt.Errorf("-paths: unknown %q: use some of %s", p, strings.Join(allPaths, ","))
		}
		s.paths = append(s.paths, p)
	}
	e := env{
		apiURL: os.Getenv("PLATFORM_API_URL"), token: os.Getenv("PLATFORM_TOKEN"),
		gitURL: os.Getenv("PLATFORM_GIT_URL"), routerURL: os.Getenv("PLATFORM_ROUTER_URL"),
		appsDomain: os.Getenv("PLATFORM_APPS_DOMAIN"),
	}
	if e.apiURL == "" || e.token == "" || e.gitURL == "" || e.routerURL == "" || e.appsDomain == "" {
		return errors.New("PLATFORM_API_URL, PLATFORM_TOKEN, PLATFORM_GIT_URL, PLATFORM_ROUTER_URL and PLATFORM_APPS_DOMAIN must be set: bring the stack up (make up) and source .platform/env")
	}
	if _, err := os.Stat(s.platform); err != nil {
		return fmt.Errorf("the platform CLI: %w (make build makes bin/platform)", err)
	}
	abs, err := filepath.Abs(s.platform)
	if err != nil {
		return err
	}
	s.platform = abs

	b, err := newBench(ctx, s, e, stderr)
	if err != nil {
		return err
	}
	defer b.cleanup()
	loadBefore := loadAvg()
	started := time.Now().UTC()
	res, err := b.rounds()
	if err != nil {
		return err
	}
	loadAfter := loadAvg()
	table := report(s, res, started, loadBefore, loadAfter)
	fmt.Fprint(stdout, table)
	if s.write != "" {
		if err := writeSection(s.write, table); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote the table into %s\n", s.write)
	}
	return nil
}

var allPaths = []string{"push", "config", "scale", "rollback", "cold"}

// bench is one run: its tenant, key, work directory and the warm app.
type bench struct {
	ctx     context.Context
	s       settings
	e       env
	log     io.Writer
	work    string
	tenant  string
	keyName string
	// keyFingerprint is the key's, as keys:add printed it, to remove it.
	keyFingerprint string
	sshCmd         string
	app            string // the warm app
	repo           string // its git work tree
	client         *http.Client

	// What the warm app runs: the code marker and greeting of each
	// succeeded release, oldest first (what a rollback goes back to).
	history []state
	code    int // the code marker of the work tree's last commit
}

type state struct {
	code     int
	greeting string
}

func (s state) marker() string { return fmt.Sprintf("code=%d greeting=%s ", s.code, s.greeting) }

func newBench(ctx context.Context, s settings, e env, log io.Writer) (*bench, error) {
	work, err := os.MkdirTemp("", "bench-deploy-")
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%05x", rand.Uint32()&0xfffff)
	b := &bench{
		ctx: ctx, s: s, e: e, log: log, work: work,
		tenant: "bench" + id, keyName: "bench-deploy-" + id,
		client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
		},
	}
	ok := false
	defer func() {
		if !ok {
			b.cleanup()
		}
	}()
	key := filepath.Join(work, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", b.keyName, "-f", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	out, err := b.cli("keys:add", key+".pub", "--name", b.keyName)
	if err != nil {
		return nil, err
	}
	if m := addedKeyRE.FindStringSubmatch(out); m != nil {
		b.keyFingerprint = m[1]
	}
	hosts, err := b.cli("ssh-keyscan")
	if err != nil {
		return nil, err
	}
	known := filepath.Join(work, "known_hosts")
	if err := os.WriteFile(known, []byte(hosts), 0o600); err != nil {
		return nil, err
	}
	b.sshCmd = "ssh -i " + key + " -o IdentitiesOnly=yes -o UserKnownHostsFile=" + known + " -o LogLevel=ERROR"
	if _, err := b.cli("tenants:create", b.tenant, "--max-processes", "30", "--max-apps", "20", "--max-size", "standard"); err != nil {
		return nil, err
	}

	// The warm app: pushed once, one small web process, a greeting.
	b.app = "warm-" + b.tenant
	if b.repo, err = b.newRepo("warm"); err != nil {
		return nil, err
	}
	if _, err := b.cliIn(b.repo, "apps:create", b.app, "--tenant", b.tenant); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "==> %s: first push\n", b.app)
	if out, err := b.gitIn(b.repo, "push", "-q", "platform", "main"); err != nil {
		return nil, fmt.Errorf("first push of %s: %v\n%s", b.app, err, out)
	}
	if _, err := b.cli("ps:scale", "web=1:small", "worker=0", "-a", b.app); err != nil {
		return nil, err
	}
	if _, err := b.cli("config:set", "GREETING=g0", "-a", b.app); err != nil {
		return nil, err
	}
	b.history = []state{{code: 0, greeting: "g0"}}
	if _, err := b.waitFor(time.Now(), b.app, func(a answer) bool { return strings.Contains(a.body, b.history[0].marker()) }); err != nil {
		return nil, err
	}
	ok = true
	return b, nil
}

// cleanup destroys the tenant (its apps with it) and the key.
func (b *bench) cleanup() {
	if b.tenant != "" {
		if out, err := b.cli("tenants:destroy", b.tenant, "--confirm", b.tenant); err != nil {
			fmt.Fprintf(b.log, "destroying tenant %s: %v %s\n", b.tenant, err, out)
		}
	}
	if b.keyFingerprint != "" {
		if out, err := b.cli("keys:remove", b.keyFingerprint); err != nil {
			fmt.Fprintf(b.log, "removing key %s: %v %s\n", b.keyFingerprint, err, out)
		}
	}
	os.RemoveAll(b.work)
}

var addedKeyRE = regexp.MustCompile(`Added SSH key (\S+)`)

// appSource is the Go sample's main.go with a handler that prints what
// the bench tells versions and processes apart by.
func appSource(src string, code int) (string, error) {
	const from = `fmt.Fprintln(w, "hello from go")`
	if !strings.Contains(src, from) {
		return "", fmt.Errorf("the Go sample's main.go no longer has %s: update the bench", from)
	}
	to := fmt.Sprintf(`fmt.Fprintf(w, "hello from go code=%d greeting=%%s dyno=%%s\n", os.Getenv("GREETING"), os.Getenv("DYNO"))`, code)
	return strings.Replace(src, from, to, 1), nil
}

// newRepo copies the sample into a new git work tree with one commit.
func (b *bench) newRepo(name string) (string, error) {
	dir := filepath.Join(b.work, name)
	if err := os.CopyFS(dir, os.DirFS(b.s.sample)); err != nil {
		return "", fmt.Errorf("copying the sample: %w", err)
	}
	if err := b.writeCode(dir, 0); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "first"}} {
		if out, err := b.gitIn(dir, args...); err != nil {
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, out)
		}
	}
	return dir, nil
}

func (b *bench) writeCode(dir string, code int) error {
	src, err := os.ReadFile(filepath.Join(b.s.sample, "main.go"))
	if err != nil {
		return err
	}
	out, err := appSource(string(src), code)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "main.go"), []byte(out), 0o644)
}

func (b *bench) cli(args ...string) (string, error) { return b.cliIn("", args...) }

func (b *bench) cliIn(dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(b.ctx, b.s.platform, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("platform %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (b *bench) gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(b.ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@platform.test",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@platform.test",
		"GIT_SSH_COMMAND="+b.sshCmd)
	return cmd
}

func (b *bench) gitIn(dir string, args ...string) (string, error) {
	out, err := b.gitCmd(dir, args...).CombinedOutput()
	return string(out), err
}

// answer is one request through the router.
type answer struct {
	at     time.Time
	status int
	body   string
}

func (b *bench) get(app string) answer {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.e.routerURL+"/", nil)
	if err != nil {
		return answer{at: time.Now(), body: err.Error()}
	}
	req.Host = app + "." + b.e.appsDomain
	resp, err := b.client.Do(req)
	at := time.Now()
	if err != nil {
		return answer{at: at, body: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{at: at, status: resp.StatusCode, body: string(body)}
}

// poller sends requests to an app through the router from workers
// goroutines, one every interval each, and keeps every answer.
type poller struct {
	mu      sync.Mutex
	answers []answer
	stop    chan struct{}
	done    sync.WaitGroup
}

func (b *bench) poll(app string, workers int, interval time.Duration) *poller {
	p := &poller{stop: make(chan struct{})}
	for range workers {
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				a := b.get(app)
				p.mu.Lock()
				p.answers = append(p.answers, a)
				p.mu.Unlock()
				select {
				case <-p.stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	return p
}

// until waits for ok to hold for some answer, at most timeout, and
// returns that answer's time.
func (p *poller) until(timeout time.Duration, ok func([]answer) (time.Time, bool)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		at, done := ok(p.answers)
		p.mu.Unlock()
		if done {
			return at, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	last := "no answer"
	if n := len(p.answers); n > 0 {
		last = fmt.Sprintf("%d %s", p.answers[n-1].status, strings.TrimSpace(p.answers[n-1].body))
	}
	return time.Time{}, fmt.Errorf("not served after %s; last answer: %s", timeout, last)
}

func (p *poller) halt() []answer {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	slices.SortFunc(p.answers, func(a, b answer) int { return a.at.Compare(b.at) })
	return p.answers
}

// waitFor polls the app until an answer satisfies match, and returns
// its time since start.
func (b *bench) waitFor(start time.Time, app string, match func(answer) bool) (time.Duration, error) {
	p := b.poll(app, 1, 10*time.Millisecond)
	at, err := p.until(b.s.timeout, firstMatch(match))
	p.halt()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", app, err)
	}
	return at.Sub(start), nil
}

func firstMatch(match func(answer) bool) func([]answer) (time.Time, bool) {
	return func(as []answer) (time.Time, bool) {
		for _, a := range as {
			if a.status == http.StatusOK && match(a) {
				return a.at, true
			}
		}
		return time.Time{}, false
	}
}

// switched reads the answers of a change: when the new one was first
// served, and when the old one was last (the next answer's time).
func switched(start time.Time, as []answer, isNew func(answer) bool) (served, oldGone time.Duration) {
	served, oldGone = -1, -1
	lastOld := -1
	for i, a := range as {
		if a.status == http.StatusOK && isNew(a) {
			if served < 0 {
				served = a.at.Sub(start)
			}
		} else {
			lastOld = i
		}
	}
	if served >= 0 {
		if lastOld+1 < len(as) {
			oldGone = as[lastOld+1].at.Sub(start)
		}
	}
	return served, oldGone
}

// sample is one measurement: named durations since the command started.
type sample map[string]time.Duration

// rounds runs every measurement s.rounds times, in an order that rotates
// each round.
func (b *bench) rounds() (map[string][]sample, error) {
	res := map[string][]sample{}
	for r := 1; r <= b.s.rounds; r++ {
		order := slices.Clone(b.s.paths)
		k := (r - 1) % len(order)
		order = append(order[k:], order[:k]...)
		for _, p := range order {
			fmt.Fprintf(b.log, "==> round %d/%d: %s (load %s)\n", r, b.s.rounds, p, loadAvg())
			var (
				sm  sample
				err error
			)
			switch p {
			case "push":
				sm, err = b.push(r)
			case "config":
				sm, err = b.config(r)
			case "scale":
				sm, err = b.scale()
			case "rollback":
				sm, err = b.rollback()
			case "cold":
				sm, err = b.cold(r)
			}
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", r, p, err)
			}
			fmt.Fprintf(b.log, "    %s\n", sm)
			res[p] = append(res[p], sm)
		}
	}
	return res, nil
}

func (sm sample) String() string {
	keys := make([]string, 0, len(sm))
	for k := range sm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2fs", k, sm[k].Seconds()))
	}
	return strings.Join(parts, ", ")
}

func (b *bench) current() state { return b.history[len(b.history)-1] }

// Phases of a push, from the lines it prints. Matched loosely: what is
// not found is left out of the table.
var pushPhases = []struct {
	name string
	re   *regexp.Regexp
}{
	{"received", regexp.MustCompile(`-----> Building`)},
	{"built", regexp.MustCompile(`-----> Built in`)},
	{"release recorded", regexp.MustCompile(`-----> Releasing v\d+`)},
	{"new pods ready", regexp.MustCompile(`web: (\d+)/(\d+) new pods ready`)},
	{"rolled out", regexp.MustCompile(`Released v\d+ in`)},
}

// buildTimings reads the build's own timings: "solve 1.008s (of which
// export and push 326ms)".
var (
	solveRE  = regexp.MustCompile(`solve ((?:[0-9.]+(?:ms|µs|ns|h|m|s))+)`)
	exportRE = regexp.MustCompile(`export and push ((?:[0-9.]+(?:ms|µs|ns|h|m|s))+)`)
)

// timedPush runs git push in dir and returns its output lines' arrival
// times and the time it returned, both since start.
func (b *bench) timedPush(dir string, start time.Time, sm sample) (string, error) {
	cmd := b.gitCmd(dir, "push", "platform", "main")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		at := time.Since(start)
		out.WriteString(line + "\n")
		for _, ph := range pushPhases {
			m := ph.re.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if ph.name == "new pods ready" && m[1] != m[2] {
				continue
			}
			if _, seen := sm[ph.name]; !seen {
				sm[ph.name] = at
			}
		}
		if m := solveRE.FindStringSubmatch(line); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				sm["build: solve"] = d
			}
		}
		if m := exportRE.FindStringSubmatch(line); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				sm["build: export and push"] = d
			}
		}
	}
	err = cmd.Wait()
	sm["returned"] = time.Since(start)
	if err != nil {
		return out.String(), fmt.Errorf("git push: %v\n%s", err, out.String())
	}
	return out.String(), nil
}

// push commits a one-line change to the warm app and pushes it.
func (b *bench) push(round int) (sample, error) {
	b.code = round
	if err := b.writeCode(b.repo, b.code); err != nil {
		return nil, err
	}
	if out, err := b.gitIn(b.repo, "commit", "-q", "-am", fmt.Sprintf("change %d", round)); err != nil {
		return nil, fmt.Errorf("git commit: %v: %s", err, out)
	}
	next := state{code: b.code, greeting: b.current().greeting}
	isNew := func(a answer) bool { return strings.Contains(a.body, next.marker()) }
	sm := sample{}
	p := b.poll(b.app, 2, 10*time.Millisecond)
	start := time.Now()
	if _, err := b.timedPush(b.repo, start, sm); err != nil {
		p.halt()
		return nil, err
	}
	return b.finish(p, start, sm, isNew, next)
}

// finish waits for the change to be served, stops polling and adds
// served and old gone to sm.
func (b *bench) finish(p *poller, start time.Time, sm sample, isNew func(answer) bool, next state) (sample, error) {
	returned := start.Add(sm["returned"])
	_, err := p.until(b.s.timeout, func(as []answer) (time.Time, bool) {
		// The last few answers, all after the command returned, new.
		n := 0
		for _, a := range slices.Backward(as) {
			if a.at.Before(returned) || a.status != http.StatusOK || !isNew(a) {
				break
			}
			n++
		}
		return time.Time{}, n >= 5
	})
	as := p.halt()
	if err != nil {
		return nil, err
	}
	served, oldGone := switched(start, as, isNew)
	sm["served"], sm["old gone"] = served, oldGone
	b.history = append(b.history, next)
	return sm, nil
}

func (b *bench) config(round int) (sample, error) {
	next := state{code: b.current().code, greeting: fmt.Sprintf("g%d-%04x", round, rand.Uint32()&0xffff)}
	isNew := func(a answer) bool { return strings.Contains(a.body, next.marker()) }
	p := b.poll(b.app, 2, 10*time.Millisecond)
	start := time.Now()
	_, err := b.cli("config:set", "GREETING="+next.greeting, "-a", b.app)
	sm := sample{"returned": time.Since(start)}
	if err != nil {
		p.halt()
		return nil, err
	}
	return b.finish(p, start, sm, isNew, next)
}

func (b *bench) rollback() (sample, error) {
	if len(b.history) < 2 {
		return nil, errors.New("nothing to roll back to")
	}
	next := b.history[len(b.history)-2]
	isNew := func(a answer) bool { return strings.Contains(a.body, next.marker()) }
	p := b.poll(b.app, 2, 10*time.Millisecond)
	start := time.Now()
	_, err := b.cli("releases:rollback", "-a", b.app)
	sm := sample{"returned": time.Since(start)}
	if err != nil {
		p.halt()
		return nil, err
	}
	return b.finish(p, start, sm, isNew, next)
}

var dynoRE = regexp.MustCompile(`dyno=(\S+)`)

// scale scales web from 1 to 8 and waits until 8 processes answered;
// then back to 1, unmeasured.
func (b *bench) scale() (sample, error) {
	const n = 8
	p := b.poll(b.app, 4, 5*time.Millisecond)
	start := time.Now()
	_, err := b.cli("ps:scale", fmt.Sprintf("web=%d", n), "-a", b.app)
	sm := sample{"returned": time.Since(start)}
	if err != nil {
		p.halt()
		return nil, err
	}
	seen := map[string]time.Time{}
	at, err := p.until(b.s.timeout, func(as []answer) (time.Time, bool) {
		for _, a := range as {
			if m := dynoRE.FindStringSubmatch(a.body); m != nil && a.status == http.StatusOK && a.at.After(start) {
				if _, ok := seen[m[1]]; !ok {
					seen[m[1]] = a.at
				}
			}
		}
		if len(seen) < n {
			return time.Time{}, false
		}
		var last time.Time
		for _, t := range seen {
			if t.After(last) {
				last = t
			}
		}
		return last, true
	})
	p.halt()
	if err != nil {
		return nil, fmt.Errorf("%d of %d processes answered: %w", len(seen), n, err)
	}
	sm["all answering"] = at.Sub(start)

	if _, err := b.cli("ps:scale", "web=1", "-a", b.app); err != nil {
		return nil, err
	}
	return sm, b.waitProcesses(1)
}

// waitProcesses waits until the warm app runs n web processes and none
// is stopping.
func (b *bench) waitProcesses(n int) error {
	deadline := time.Now().Add(b.s.timeout)
	for time.Now().Before(deadline) {
		out, err := b.cli("ps", "--json", "-a", b.app)
		if err != nil {
			return err
		}
		var ds struct {
			Items []struct{ Type, State string } `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &ds); err != nil {
			return fmt.Errorf("platform ps --json: %w", err)
		}
		web, other := 0, 0
		for _, d := range ds.Items {
			switch {
			case d.Type == "web" && d.State == "up":
				web++
			default:
				other++
			}
		}
		if web == n && other == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come back to web=%d", b.app, n)
}

// cold pushes a new app of the sample for the first time, then destroys
// it.
func (b *bench) cold(round int) (sample, error) {
	app := fmt.Sprintf("cold%d-%s", round, b.tenant)
	dir, err := b.newRepo(app)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if _, err := b.cliIn(dir, "apps:create", app, "--tenant", b.tenant); err != nil {
		return nil, err
	}
	defer func() {
		if out, err := b.cli("apps:destroy", "-a", app, "--confirm", app); err != nil {
			fmt.Fprintf(b.log, "destroying %s: %v %s\n", app, err, out)
		}
	}()
	isNew := func(a answer) bool { return strings.Contains(a.body, "hello from go code=0") }
	p := b.poll(app, 1, 20*time.Millisecond)
	start := time.Now()
	sm := sample{}
	if _, err := b.timedPush(dir, start, sm); err != nil {
		p.halt()
		return nil, err
	}
	at, err := p.until(b.s.timeout, firstMatch(isNew))
	p.halt()
	if err != nil {
		return nil, err
	}
	sm["served"] = at.Sub(start)
	return sm, nil
}

// loadAvg is the machine's load average over 1, 5 and 15 minutes.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// machine describes the machine in one line.
func machine() string {
	var mem string
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.Atoi(f[1]); err == nil {
					mem = fmt.Sprintf(", %d GiB", (kb+(1<<19))>>20)
				}
			}
		}
	}
	kernel := ""
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", kernel " + strings.TrimSpace(string(raw))
	}
	return fmt.Sprintf("%d cores%s%s", runtime.NumCPU(), mem, kernel)
}

// The table: per path, the measures to show in order, the target, and
// the measures it is checked against.
var rows = []struct {
	path, title string
	measures    []string
	target      string
	checked     []string
	limit       time.Duration
}{
	{"push", "warm one-line Go push", []string{"received", "built", "build: solve", "build: export and push", "release recorded", "new pods ready", "served", "old gone", "rolled out", "returned"}, "≤ 1.5 s", []string{"served", "returned"}, 1500 * time.Millisecond},
	{"config", "config:set", []string{"served", "old gone", "returned"}, "≤ 1.0 s, none above 2 s", []string{"served", "returned"}, time.Second},
	{"scale", "ps:scale web=1 → 8", []string{"returned", "all answering"}, "≤ 1.0 s", []string{"all answering"}, time.Second},
	{"rollback", "releases:rollback", []string{"served", "old gone", "returned"}, "≤ 1.0 s", []string{"served", "returned"}, time.Second},
	{"cold", "cold first push of the Go sample", []string{"received", "built", "build: solve", "release recorded", "served", "returned"}, "≤ 20 s", []string{"served", "returned"}, 20 * time.Second},
}

func report(s settings, res map[string][]sample, started time.Time, loadBefore, loadAfter string) string {
	var w strings.Builder
	fmt.Fprintf(&w, "`%s` (%d alternating rounds), %s, on %s; load average (1, 5, 15 min) %s before, %s after.\n\n",
		s.command, s.rounds, started.Format("2006-01-02 15:04 UTC"), machine(), loadBefore, loadAfter)
	fmt.Fprintf(&w, "Seconds from the command starting, median (min–max). served: the router first answers with the change; old gone: it no longer answers with what was there before; returned: the command returned (it reports success once the rollout is complete); the other rows are when the push printed that phase (build: the build's own timings).\n\n")
	fmt.Fprintf(&w, "| what | measure | median (min–max) | target |\n|---|---|---|---|\n")
	for _, r := range rows {
		ss := res[r.path]
		if len(ss) == 0 {
			continue
		}
		for _, m := range r.measures {
			var v []time.Duration
			for _, sm := range ss {
				if d, ok := sm[m]; ok && d >= 0 {
					v = append(v, d)
				}
			}
			if len(v) == 0 {
				continue
			}
			target := ""
			if slices.Contains(r.checked, m) {
				met := median(v) <= r.limit
				if r.path == "config" && slices.Max(v) > 2*time.Second {
					met = false
				}
				target = r.target + ": not met"
				if met {
					target = r.target + ": met"
				}
			}
			fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", r.title, m, spread(v), target)
		}
	}
	return w.String()
}

func median(v []time.Duration) time.Duration {
	c := slices.Clone(v)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func spread(v []time.Duration) string {
	return fmt.Sprintf("%.2f (%.2f–%.2f)", median(v).Seconds(), slices.Min(v).Seconds(), slices.Max(v).Seconds())
}

// sectionTitle heads the bench's section of BENCHMARKS.md; the table
// goes between the markers, and text around them stays.
const (
	sectionTitle = "## Deploy speed, as a user sees it"
	beginMarker  = "<!-- make bench-deploy: table begins -->"
	endMarker    = "<!-- make bench-deploy: table ends -->"
)

// writeSection puts table between the markers in path, or, when they are
// not there, in a new section before "## Router" (at the end if there
// is none).
func writeSection(path, table string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(raw)
	block := beginMarker + "\n" + table + endMarker + "\n"
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	switch {
	case i >= 0 && j > i:
		doc = doc[:i] + block + strings.TrimPrefix(doc[j+len(endMarker):], "\n")
	case strings.Contains(doc, "\n## Router\n"):
		k := strings.Index(doc, "\n## Router\n") + 1
		doc = doc[:k] + sectionTitle + "\n\n" + block + "\n" + doc[k:]
	default:
		doc = strings.TrimRight(doc, "\n") + "\n\n" + sectionTitle + "\n\n" + block
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

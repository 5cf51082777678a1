package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Limits bound what one build may use. A build that reaches one fails with
// a *LimitError naming the limit and its value. Zero values take the
// defaults of DefaultLimits; there is no unlimited setting.
type Limits struct {
	// Timeout bounds a build's wall-clock time, from detection to the
	// pushed image.
	Timeout time.Duration
	// LogBytes bounds the build output a push shows and the platform keeps.
	LogBytes int64
	// Memory bounds the memory of a build's steps together, in bytes.
	Memory int64
	// CPUs bounds a build's steps together to this many cores.
	CPUs float64
	// Processes bounds the processes (and threads) a build's steps run at
	// once.
	Processes int64
	// CgroupRoot is the cgroup file system (/sys/fs/cgroup) when BuildKit
	// runs on this machine: each app's build steps then run in a cgroup of
	// their own, platform-builds/<tenant>-<app>, that the builder creates
	// with Memory, CPUs and Processes. Empty when BuildKit runs elsewhere
	// (its own pod in a cluster), where those limits are its pod's.
	CgroupRoot string
}

// DefaultLimits are the limits a build gets unless the operator sets
// others.
var DefaultLimits = Limits{
	Timeout:   15 * time.Minute,
	LogBytes:  8 << 20,
	Memory:    2 << 30,
	CPUs:      2,
	Processes: 2048,
}

func (l Limits) withDefaults() Limits {
	if l.Timeout == 0 {
		l.Timeout = DefaultLimits.Timeout
	}
	if l.LogBytes == 0 {
		l.LogBytes = DefaultLimits.LogBytes
	}
	if l.Memory == 0 {
		l.Memory = DefaultLimits.Memory
	}
	if l.CPUs == 0 {
		l.CPUs = DefaultLimits.CPUs
	}
	if l.Processes == 0 {
		l.Processes = DefaultLimits.Processes
	}
	return l
}

// Validate reports limits that cannot be applied.
func (l Limits) Validate() error {
	var errs []error
	if l.Timeout < 0 {
		errs = append(errs, errors.New("build timeout must not be negative"))
	}
	if l.LogBytes < 0 {
		errs = append(errs, errors.New("build log limit must not be negative"))
	}
	if l.Memory < 0 || (l.Memory > 0 && l.Memory < 64<<20) {
		errs = append(errs, errors.New("build memory limit must be at least 64 MiB"))
	}
	if l.CPUs < 0 || (l.CPUs > 0 && l.CPUs < 0.1) {
		errs = append(errs, errors.New("build CPU limit must be at least 0.1"))
	}
	if l.Processes < 0 || (l.Processes > 0 && l.Processes < 32) {
		errs = append(errs, errors.New("build process limit must be at least 32"))
	}
	return errors.Join(errs...)
}

// LimitError is a build stopped by one of its limits.
type LimitError struct {
	// Limit names the limit ("time", "log", "memory", "process").
	Limit string
	// Value is the limit's value as the operator set it.
	Value string
}

func (e *LimitError) Error() string {
	var what string
	switch e.Limit {
	case "time":
		what = "the build ran longer than its time limit of " + e.Value
	case "log":
		what = "the build wrote more output than its log limit of " + e.Value
	case "memory":
		what = "a build step ran out of memory: builds are limited to " + e.Value
	case "process":
		what = "a build step reached the process limit of " + e.Value + " processes and threads"
	default:
		what = "the build reached its " + e.Limit + " limit of " + e.Value
	}
	return what + " (set by the platform's operator; make the build smaller, or ask for more)"
}

func (l Limits) timeoutError() *LimitError {
	return &LimitError{Limit: "time", Value: l.Timeout.String()}
}

// logLimiter passes a build's output to out until limit bytes have gone
// through, then cancels the build with a log LimitError.
type logLimiter struct {
	out    io.Writer
	limit  int64
	n      atomic.Int64
	cancel context.CancelCauseFunc
}

func (w *logLimiter) Write(p []byte) (int, error) {
	if n := w.n.Add(int64(len(p))); n > w.limit {
		if n-int64(len(p)) <= w.limit {
			w.cancel(&LimitError{Limit: "log", Value: formatBytes(w.limit)})
		}
		// Swallowed: the renderer keeps going until the solve ends.
		return len(p), nil
	}
	return w.out.Write(p)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// cgroupParent is where BuildKit puts an app's build steps, relative to
// the cgroup root. It is per app, not per build, because BuildKit keeps
// the cgroup parent in each step's cache key.
func cgroupParent(tenant, app string) string {
	return "platform-builds/" + tenant + "-" + app
}

// buildCgroup is an app's build cgroup, made before its build and read
// after it to tell a step killed for memory or refused a process.
type buildCgroup struct {
	v2   bool
	dirs map[string]string // controller (or "" on cgroup v2) -> directory
	// Counters before the build: oom kills and refused forks.
	ooms, forks int64
}

// prepareCgroup creates (or updates) the app's build cgroup with the
// limits. It returns nil when l.CgroupRoot is empty.
func (l Limits) prepareCgroup(tenant, app string) (*buildCgroup, error) {
	if l.CgroupRoot == "" {
		return nil, nil
	}
	rel := cgroupParent(tenant, app)
	cg := &buildCgroup{dirs: map[string]string{}}
	var files map[string]map[string]string // dir key -> file -> value
	if _, err := os.Stat(filepath.Join(l.CgroupRoot, "cgroup.controllers")); err == nil {
		cg.v2 = true
		period := int64(100000)
		files = map[string]map[string]string{"": {
			"memory.max":      strconv.FormatInt(l.Memory, 10),
			"memory.swap.max": "0",
			"pids.max":        strconv.FormatInt(l.Processes, 10),
			"cpu.max":         fmt.Sprintf("%d %d", int64(l.CPUs*float64(period)), period),
		}}
		if err := enableControllers(l.CgroupRoot, rel); err != nil {
			return nil, err
		}
	} else {
		period := int64(100000)
		files = map[string]map[string]string{
			"memory": {"memory.limit_in_bytes": strconv.FormatInt(l.Memory, 10)},
			"pids":   {"pids.max": strconv.FormatInt(l.Processes, 10)},
			"cpu":    {"cpu.cfs_period_us": strconv.FormatInt(period, 10), "cpu.cfs_quota_us": strconv.FormatInt(int64(l.CPUs*float64(period)), 10)},
		}
	}
	for ctrl, kv := range files {
		dir := filepath.Join(l.CgroupRoot, ctrl, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("making build cgroup: %w", err)
		}
		for name, v := range kv {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
				if name == "memory.swap.max" && errors.Is(err, os.ErrNotExist) {
					continue // no swap accounting on this kernel
				}
				return nil, fmt.Errorf("setting build limit %s: %w", name, err)
			}
		}
		cg.dirs[ctrl] = dir
	}
	cg.ooms, cg.forks = cg.counters()
	return cg, nil
}

// enableControllers turns on the memory, pids and cpu controllers for the
// children of every cgroup from the root down to rel's parent (cgroup v2).
func enableControllers(root, rel string) error {
	dir := root
	for _, part := range strings.Split(rel, "/") {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0o644); err != nil {
			return fmt.Errorf("enabling cgroup controllers in %s: %w", dir, err)
		}
		dir = filepath.Join(dir, part)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("making build cgroup: %w", err)
		}
	}
	return nil
}

// counters reads how often the build's steps reached the memory and the
// process limit so far. Cgroup v1 keeps its oom-kill and fork-failure
// counts on the step's own cgroup, gone with the step: there the memory
// count is that of the parent's limit hits (memory.failcnt), and fork
// failures are told by the step's output (see exceeded).
func (cg *buildCgroup) counters() (ooms, forks int64) {
	if cg.v2 {
		return readKey(filepath.Join(cg.dirs[""], "memory.events"), "oom_kill"),
			readKey(filepath.Join(cg.dirs[""], "pids.events"), "max")
	}
	return readInt(filepath.Join(cg.dirs["memory"], "memory.failcnt")), 0
}

// forkFailures are what shells and runtimes print when a fork is refused.
var forkFailures = []string{"cannot fork", "can't fork", "resource temporarily unavailable", "spawn eagain", "fork: retry"}

// exceeded returns the limit a failed step reached, if any: its counters
// moved (for memory, with the step killed), or its output says a fork was
// refused.
func (cg *buildCgroup) exceeded(l Limits, be *BuildError) *LimitError {
	if cg == nil {
		return nil
	}
	ooms, forks := cg.counters()
	killed := cg.v2 || strings.Contains(be.Reason, "137") || strings.Contains(strings.ToLower(be.Reason), "killed")
	if ooms > cg.ooms && killed {
		return &LimitError{Limit: "memory", Value: formatBytes(l.Memory)}
	}
	refused := forks > cg.forks
	for _, line := range be.Output {
		line = strings.ToLower(line)
		for _, f := range forkFailures {
			refused = refused || strings.Contains(line, f)
		}
	}
	if refused {
		return &LimitError{Limit: "process", Value: strconv.FormatInt(l.Processes, 10)}
	}
	return nil
}

func readInt(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// readKey returns the value of key in a flat-keyed cgroup file ("key N"
// lines), or 0.
func readKey(path, key string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

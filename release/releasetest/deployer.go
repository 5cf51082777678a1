package releasetest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/platform-paas/platform/deployer"
)

// Deployer stands in for Kubernetes: it records what it is asked to
// run and reports it as running and ready.
type Deployer struct {
	// Fail, when it returns an error, fails Apply of that release with a
	// rollout error (a crash loop of web). Set it before the calls.
	Fail func(deployer.Release) error
	// LogText is what Logs streams: lines in the platform's log format.
	// Set it before the calls.
	LogText string
	// Followed, when set, is closed by the test to end a followed log.
	Followed chan struct{}

	mu sync.Mutex
	// Applied, Prevs, Scaled and Restarted record the calls: read them
	// once the calls are done.
	Applied   []deployer.Release
	Prevs     []*deployer.Release // the previous release of each Apply
	Scaled    []string            // "web=3:large", as asked
	Restarted []string
	procs     map[string]deployer.ProcessStatus // by type
}

// NewDeployer returns a Deployer that runs nothing yet.
func NewDeployer() *Deployer {
	return &Deployer{procs: map[string]deployer.ProcessStatus{}}
}

// EnsureTenant does nothing.
func (d *Deployer) EnsureTenant(context.Context, string, deployer.TenantQuota) error { return nil }

// Apply refuses what the real deployer refuses (an invalid release, or a
// previous release that is invalid or of another app), then records rel
// and prev.
func (d *Deployer) Apply(_ context.Context, rel deployer.Release, prev *deployer.Release, out io.Writer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := rel.Validate(); err != nil {
		return fmt.Errorf("applying release: %w", err)
	}
	if prev != nil {
		if err := prev.Validate(); err != nil {
			return fmt.Errorf("applying release: previous release: %w", err)
		}
		if prev.App != rel.App || prev.Tenant != rel.Tenant {
			return fmt.Errorf("%w: previous release is of another app", deployer.ErrInvalid)
		}
	}
	d.Applied = append(d.Applied, rel)
	d.Prevs = append(d.Prevs, prev)
	if d.Fail != nil {
		if err := d.Fail(rel); err != nil {
			return &deployer.RolloutError{Release: rel.Version, Reason: deployer.ReasonCrashLoop, Process: "web", Detail: err.Error(), ExitCode: 1}
		}
	}
	d.procs = map[string]deployer.ProcessStatus{}
	for _, p := range rel.Processes {
		st := deployer.ProcessStatus{Type: p.Type, Release: rel.Version, Size: p.Size, Command: p.Command,
			Desired: p.Quantity, Ready: p.Quantity, Updated: p.Quantity}
		for i := range p.Quantity {
			st.Dynos = append(st.Dynos, deployer.Dyno{Name: fmt.Sprintf("%s.%d", p.Type, i+1), Release: rel.Version, State: "up",
				Started: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)})
		}
		d.procs[p.Type] = st
	}
	return nil
}

// Last returns the release last applied, or the zero Release.
func (d *Deployer) Last() deployer.Release {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.Applied) == 0 {
		return deployer.Release{}
	}
	return d.Applied[len(d.Applied)-1]
}

// Scale changes the recorded status of a running process type.
func (d *Deployer) Scale(_ context.Context, _, _, ptype string, quantity int, size string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.procs[ptype]
	if !ok {
		return fmt.Errorf("%w: no %s processes", deployer.ErrNotFound, ptype)
	}
	q := ""
	if quantity >= 0 {
		st.Desired, st.Ready, q = quantity, quantity, fmt.Sprint(quantity)
	}
	if size != "" {
		st.Size = size
	}
	d.procs[ptype] = st
	d.Scaled = append(d.Scaled, ptype+"="+q+":"+size)
	return nil
}

// Restart records the restart of a running process type, or of all ("").
func (d *Deployer) Restart(_ context.Context, _, _, ptype string, _ bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.procs[ptype]; ptype != "" && !ok {
		return fmt.Errorf("%w: no %s processes", deployer.ErrNotFound, ptype)
	}
	d.Restarted = append(d.Restarted, ptype)
	return nil
}

// Status reports the processes of the release last applied, by type.
func (d *Deployer) Status(context.Context, string, string) ([]deployer.ProcessStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []deployer.ProcessStatus
	for _, st := range d.procs {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b deployer.ProcessStatus) int { return strings.Compare(a.Type, b.Type) })
	return out, nil
}

// Logs writes the lines of d.LogText of the asked process type, the last
// opts.Tail of them; following, it writes one more line and waits for ctx
// or for Followed to be closed.
func (d *Deployer) Logs(ctx context.Context, _, _ string, opts deployer.LogOptions, out io.Writer) error {
	lines := strings.SplitAfter(d.LogText, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	for _, l := range lines {
		if opts.Type == "" || strings.Contains(l, "app["+opts.Type+".") {
			if _, err := io.WriteString(out, l); err != nil {
				return err
			}
		}
	}
	if opts.Follow {
		if _, err := io.WriteString(out, "2026-11-25T10:00:09.000000+00:00 app[web.1]: followed line\n"); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-d.Followed:
		}
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// iptables runs iptables-save and iptables-restore. The zero value runs
// them in netpol's own network namespace.
type iptables struct {
	// wrap is put before each command: a test runs them in a network
	// namespace of its own with "ip netns exec NAME".
	wrap []string
}

func (t iptables) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, t.wrap...), name), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// save returns the filter table.
func (t iptables) save(ctx context.Context) (saved, error) {
	var stdout, stderr bytes.Buffer
	c := t.cmd(ctx, "iptables-save", "-t", "filter")
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return saved{}, fmt.Errorf("reading the filter table with iptables-save: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parseSave(stdout.String()), nil
}

var failedLine = regexp.MustCompile(`line (\d+) failed`)

// restore applies text, iptables-restore input for the filter table, as
// one transaction, leaving what text does not name as it is. It waits up
// to 5 s for another program's iptables lock.
func (t iptables) restore(ctx context.Context, text string) error {
	var stderr bytes.Buffer
	c := t.cmd(ctx, "iptables-restore", "-w", "5", "--noflush")
	c.Stdin, c.Stderr = strings.NewReader(text), &stderr
	if err := c.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if m := failedLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			if lines := strings.Split(text, "\n"); n >= 1 && n <= len(lines) {
				msg += fmt.Sprintf(" (line %d: %s)", n, lines[n-1])
			}
		}
		return fmt.Errorf("applying rules with iptables-restore: %w: %s", err, msg)
	}
	return nil
}

// enforcer keeps the node's filter table in step with a cluster's
// policies. It is not safe for concurrent use.
type enforcer struct {
	ipt iptables
	net network
	// last is the ruleset last applied, rendered; an apply of the same
	// rules to a table that still holds them is skipped unless forced.
	last string
}

// outcome is what an apply did.
type outcome struct {
	applied  bool     // rules were written to the table
	changed  bool     // they differ from those last applied
	chains   int      // the pod chains of the rules
	warnings []string // translate's
}

// apply makes the filter table enforce the policies of c. Unless force is
// set, it writes nothing when the rules are those it last applied and the
// table still has its chains and jumps as it left them.
func (e *enforcer) apply(ctx context.Context, c cluster, force bool) (outcome, error) {
	cur, err := e.ipt.save(ctx)
	if err != nil {
		return outcome{}, err
	}
	rs, warnings := translate(e.net, c)
	key := render(rs, e.net, saved{})
	o := outcome{changed: key != e.last, chains: len(rs.chains), warnings: warnings}
	if !force && !o.changed && settled(rs, e.net, cur) {
		return o, nil
	}
	if err := e.ipt.restore(ctx, render(rs, e.net, cur)); err != nil {
		e.last = ""
		return o, err
	}
	e.last = key
	o.applied = true
	return o, nil
}

// cleanup removes every chain netpol owns and every jump to them. It
// reports whether there was anything to remove.
func (e *enforcer) cleanup(ctx context.Context) (bool, error) {
	cur, err := e.ipt.save(ctx)
	if err != nil {
		return false, err
	}
	text := cleanupText(cur)
	if text == "" {
		return false, nil
	}
	e.last = ""
	return true, e.ipt.restore(ctx, text)
}

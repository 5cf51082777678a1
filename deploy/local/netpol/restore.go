package main

import (
	"fmt"
	"slices"
	"strings"
)

// builtin are the filter table's built-in chains, the only chains not
// netpol's own that it changes (and only to add or remove jumps to its
// chains).
var builtin = []string{"INPUT", "FORWARD", "OUTPUT"}

// owned reports whether a chain is netpol's.
func owned(name string) bool {
	return name == mainChain || strings.HasPrefix(name, chainPrefix)
}

// saved is the filter table as iptables-save printed it.
type saved struct {
	chains []string    // every chain, in order
	rules  []savedRule // every rule, in order
}

// savedRule is one rule of a saved table: its chain and its spec, the
// rest of the line after "-A CHAIN ".
type savedRule struct {
	chain, spec string
}

// target is the chain or target the rule jumps or goes to, or "".
func (r savedRule) target() string {
	f := fields(r.spec)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-j" || f[i] == "-g" {
			return f[i+1]
		}
	}
	return ""
}

// parseSave reads the output of iptables-save -t filter.
func parseSave(text string) saved {
	var s saved
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			s.chains = append(s.chains, name)
		case strings.HasPrefix(line, "-A "):
			chain, spec, _ := strings.Cut(line[3:], " ")
			s.rules = append(s.rules, savedRule{chain: chain, spec: spec})
		}
	}
	return s
}

// fields splits a rule spec into its words as iptables-restore does:
// at spaces, except inside double quotes, which it removes.
func fields(spec string) []string {
	var out []string
	var cur strings.Builder
	quoted, in := false, false
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		switch {
		case c == '\\' && quoted && i+1 < len(spec):
			i++
			cur.WriteByte(spec[i])
		case c == '"':
			quoted, in = !quoted, true
		case c == ' ' && !quoted:
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// render writes the iptables-restore --noflush input that makes the
// filter table, as cur has it, hold rs and the jumps of n, and nothing
// else of netpol's: it declares (and so empties) every chain it fills,
// fills them, puts the jumps first in FORWARD unless they already are,
// and deletes chains netpol owns that rs has no use for. Applied as one
// transaction, a packet sees either the old rules or the new.
func render(rs ruleset, n network, cur saved) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	want := map[string]bool{mainChain: true}
	fmt.Fprintf(&b, ":%s - [0:0]\n", mainChain)
	for _, c := range rs.chains {
		want[c.name] = true
		fmt.Fprintf(&b, ":%s - [0:0]\n", c.name)
	}
	var stale []string
	for _, name := range cur.chains {
		if owned(name) && !want[name] {
			stale = append(stale, name)
			fmt.Fprintf(&b, ":%s - [0:0]\n", name)
		}
	}
	for _, r := range rs.main {
		fmt.Fprintf(&b, "-A %s %s\n", mainChain, r)
	}
	for _, c := range rs.chains {
		for _, r := range c.rules {
			fmt.Fprintf(&b, "-A %s %s\n", c.name, r)
		}
	}
	jumps := n.jumps()
	if !jumpsInPlace(cur, jumps) {
		deleteJumps(&b, cur)
		for i, j := range jumps {
			fmt.Fprintf(&b, "-I FORWARD %d %s\n", i+1, j)
		}
	}
	deleteChains(&b, cur, stale)
	b.WriteString("COMMIT\n")
	return b.String()
}

// cleanupText is the iptables-restore --noflush input that removes all
// netpol installed: the jumps to its chains from the built-in chains, and
// the chains. It is empty when there is nothing to remove.
func cleanupText(cur saved) string {
	var mine []string
	for _, name := range cur.chains {
		if owned(name) {
			mine = append(mine, name)
		}
	}
	if len(mine) == 0 && len(jumpsToOwned(cur)) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, name := range mine {
		fmt.Fprintf(&b, ":%s - [0:0]\n", name)
	}
	deleteJumps(&b, cur)
	deleteChains(&b, cur, mine)
	b.WriteString("COMMIT\n")
	return b.String()
}

// settled reports whether cur has exactly the chains of rs that netpol
// owns and the jumps of n in place: what render would do to it is refill
// those chains, nothing more.
func settled(rs ruleset, n network, cur saved) bool {
	want := map[string]bool{mainChain: true}
	for _, c := range rs.chains {
		want[c.name] = true
	}
	have := 0
	for _, name := range cur.chains {
		if owned(name) {
			if !want[name] {
				return false
			}
			have++
		}
	}
	return have == len(want) && jumpsInPlace(cur, n.jumps())
}

// jumpsToOwned returns the rules of the built-in chains that jump or go
// to a chain netpol owns.
func jumpsToOwned(cur saved) []savedRule {
	var out []savedRule
	for _, r := range cur.rules {
		if slices.Contains(builtin, r.chain) && owned(r.target()) {
			out = append(out, r)
		}
	}
	return out
}

// jumpsInPlace reports whether FORWARD begins with jumps, in order, and no
// built-in chain has any other rule to netpol's chains.
func jumpsInPlace(cur saved, jumps []string) bool {
	if len(jumpsToOwned(cur)) != len(jumps) {
		return false
	}
	var fwd []savedRule
	for _, r := range cur.rules {
		if r.chain == "FORWARD" {
			fwd = append(fwd, r)
		}
	}
	if len(fwd) < len(jumps) {
		return false
	}
	for i, j := range jumps {
		if fwd[i].spec != j {
			return false
		}
	}
	return true
}

func deleteJumps(b *strings.Builder, cur saved) {
	for _, r := range jumpsToOwned(cur) {
		fmt.Fprintf(b, "-D %s %s\n", r.chain, r.spec)
	}
}

// deleteChains deletes chains netpol owns, emptied earlier in the same
// input, except one that a chain netpol does not own still refers to:
// that one stays, empty, which lets everything through it.
func deleteChains(b *strings.Builder, cur saved, names []string) {
	for _, name := range names {
		referred := false
		for _, r := range cur.rules {
			if !owned(r.chain) && !slices.Contains(builtin, r.chain) && r.target() == name {
				referred = true
			}
		}
		if !referred {
			fmt.Fprintf(b, "-X %s\n", name)
		}
	}
}

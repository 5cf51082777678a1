package main

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// evalRule is a rule of a restore text, as the evaluator reads it.
type evalRule struct {
	match  []func(packet) bool
	target string
}

// packet is a new connection's first packet through FORWARD.
type packet struct {
	src, dst netip.Addr
	in, out  string
	proto    string
	port     int
}

// table is a filter table the evaluator built from restore text.
type table map[string][]evalRule

// loadTable reads restore text into a table holding only what it adds:
// the -A and -I lines. It fails the test at any word it does not know, so
// that what the evaluator passes over cannot hide in the text.
func loadTable(t *testing.T, text string) table {
	t.Helper()
	tb := table{}
	for line := range strings.Lines(text) {
		f := fields(strings.TrimSpace(line))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "-A":
			tb[f[1]] = append(tb[f[1]], parseEvalRule(t, f[2:]))
		case "-I":
			n, err := strconv.Atoi(f[2])
			require.NoError(t, err, line)
			rules := tb[f[1]]
			require.LessOrEqual(t, n-1, len(rules), line)
			tb[f[1]] = append(rules[:n-1], append([]evalRule{parseEvalRule(t, f[3:])}, rules[n-1:]...)...)
		}
	}
	return tb
}

func parseEvalRule(t *testing.T, f []string) evalRule {
	t.Helper()
	var r evalRule
	neg := false
	add := func(m func(packet) bool) {
		if neg {
			inner := m
			m = func(p packet) bool { return !inner(p) }
			neg = false
		}
		r.match = append(r.match, m)
	}
	for i := 0; i < len(f); i++ {
		arg := ""
		if i+1 < len(f) {
			arg = f[i+1]
		}
		switch f[i] {
		case "!":
			neg = true
			continue
		case "-i":
			add(func(p packet) bool { return p.in == arg })
		case "-o":
			add(func(p packet) bool { return p.out == arg })
		case "-s", "-d":
			pfx := netip.MustParsePrefix(arg)
			if f[i] == "-s" {
				add(func(p packet) bool { return pfx.Contains(p.src) })
			} else {
				add(func(p packet) bool { return pfx.Contains(p.dst) })
			}
		case "-p":
			add(func(p packet) bool { return p.proto == arg })
		case "--dport":
			lo, hi, ok := strings.Cut(arg, ":")
			if !ok {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			require.NoError(t, err1)
			require.NoError(t, err2)
			add(func(p packet) bool { return p.port >= l && p.port <= h })
		case "--ctstate":
			// Every packet the evaluator sees opens a connection.
			add(func(packet) bool { return strings.Contains(arg, "NEW") })
		case "-m":
			require.Contains(t, []string{"tcp", "udp", "sctp", "conntrack", "comment"}, arg)
		case "--comment", "--reject-with":
		case "-j":
			r.target = arg
		default:
			t.Fatalf("the evaluator does not know %q in %q", f[i], strings.Join(f, " "))
		}
		i++
	}
	require.NotEmpty(t, r.target, strings.Join(f, " "))
	return r
}

// verdict is what happens to p in chain: "accept", "reject" or, when it
// falls off the chain or returns, "".
func (tb table) verdict(chain string, p packet, depth int) string {
	if depth > 10 {
		panic("chains loop")
	}
next:
	for _, r := range tb[chain] {
		for _, m := range r.match {
			if !m(p) {
				continue next
			}
		}
		switch r.target {
		case "RETURN":
			return ""
		case "ACCEPT":
			return "accept"
		case "REJECT", "DROP":
			return "reject"
		default:
			if v := tb.verdict(r.target, p, depth+1); v != "" {
				return v
			}
		}
	}
	return ""
}

// allowed reports whether FORWARD, whose policy is ACCEPT, lets p pass.
func (tb table) allowed(p packet) bool {
	return tb.verdict("FORWARD", p, 0) != "reject"
}

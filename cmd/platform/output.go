package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func addJSONFlag(cmd *cobra.Command, asJSON *bool) {
	cmd.Flags().BoolVar(asJSON, "json", false, "print JSON, for scripts")
}

// printJSON prints v as indented JSON on stdout.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table prints rows under a header, in aligned columns.
func (c *cli) table(header []string, rows [][]string) error {
	return c.rows(append([][]string{header}, rows...))
}

// rows prints rows in aligned columns, without a header. An empty last
// cell leaves no trailing blanks.
func (c *cli) rows(rows [][]string) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line == "" {
			continue
		}
		if _, err := fmt.Fprintln(c.stdout, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}

// fields prints "Key: value" lines, aligned, skipping empty values; the
// lines of a multi-line value are indented to match.
func (c *cli) fields(kv ...string) error {
	var keys []string
	values := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			keys = append(keys, kv[i])
			values[kv[i]] = kv[i+1]
		}
	}
	c.pairs(keys, func(k string) string { return values[k] })
	return nil
}

// progress prints "Doing something..." on stderr; done finishes the line.
func (c *cli) progress(format string, args ...any) (done func()) {
	fmt.Fprintf(c.stderr, format+"... ", args...)
	return func() { fmt.Fprintln(c.stderr, "done") }
}

// stampLayout is the one way the CLI writes a time for people, to the
// minute in the user's time zone: 2026-11-25 10:00 UTC. --json gives
// RFC 3339.
const stampLayout = "2006-01-02 15:04 MST"

// stamp formats a time for people (stampLayout).
func (c *cli) stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	tz := c.tz
	if tz == nil {
		tz = time.Local
	}
	return t.In(tz).Format(stampLayout)
}

// ago says how long ago t was, roughly, as Heroku does: "~ 3m ago".
func (c *cli) ago(t time.Time) string {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	d := now().Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("~ %ds ago", max(0, int(d/time.Second)))
	case d < time.Hour:
		return fmt.Sprintf("~ %dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("~ %dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("~ %dd ago", int(d/(24*time.Hour)))
}

// stampAgo is stamp followed by ago in parentheses.
func (c *cli) stampAgo(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return c.stamp(t) + " (" + c.ago(t) + ")"
}

// pairs prints "KEY: value" lines in the order of keys, the values aligned
// and the lines of a multi-line value indented to match, as Heroku prints
// config vars.
func (c *cli) pairs(keys []string, value func(string) string) {
	width := 0
	for _, k := range keys {
		width = max(width, len(k))
	}
	indent := strings.Repeat(" ", width+2)
	for _, k := range keys {
		v := strings.ReplaceAll(value(k), "\n", "\n"+indent)
		if v == "" {
			fmt.Fprintln(c.stdout, k+":")
			continue
		}
		fmt.Fprintf(c.stdout, "%-*s %s\n", width+1, k+":", v)
	}
}

// header prints a Heroku-style section header: "=== shop Config Vars".
func (c *cli) header(format string, args ...any) {
	fmt.Fprintf(c.stdout, "=== "+format+"\n", args...)
}

// firstLine is s up to its first line break, for a table cell.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// short is a commit SHA as people read it: its first seven characters.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// since is how long ago start was on the CLI's clock, in seconds to a
// tenth: "0.9s".
func (c *cli) since(start time.Time) string {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return fmt.Sprintf("%.1fs", now().Sub(start).Seconds())
}

// clock returns the time now on the CLI's clock.
func (c *cli) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// step prints "what... " on stderr, runs fn, and finishes the line with
// "done" and what fn returns to add (", v5"), or with "failed".
func (c *cli) step(what string, fn func() (string, error)) error {
	fmt.Fprintf(c.stderr, "%s... ", what)
	more, err := fn()
	if err != nil {
		fmt.Fprintln(c.stderr, "failed")
		return err
	}
	fmt.Fprintf(c.stderr, "done%s\n", more)
	return nil
}

package builder

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// MaxProcessTypeLen is the longest process type a Procfile may declare. It
// keeps `<app>-<type>` a valid Kubernetes name for any valid app name.
const MaxProcessTypeLen = 16

// maxProcfileSize bounds how much of a Procfile is read: a Procfile is a
// handful of lines, and a huge one is a mistake or an attack.
const maxProcfileSize = 64 << 10

// ReleaseProcessType is the Procfile entry that names the release-phase
// command rather than a process type.
const ReleaseProcessType = "release"

var processTypeRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Procfile is a parsed Procfile. The zero value is an empty Procfile.
type Procfile struct {
	// Processes maps each process type to its command.
	Processes map[string]string
	// Release is the release-phase command, or "" when there is none.
	Release string
}

// ParseProcfile parses a Procfile strictly: one `<type>: <command>` per
// line, blank lines and lines starting with '#' ignored. A type is a DNS
// label (lower-case letters, digits and '-') of at most MaxProcessTypeLen
// characters and appears once; `release` names the release-phase command.
// Every bad line is reported, each as "Procfile line N: ...".
func ParseProcfile(r io.Reader) (Procfile, error) {
	p := Procfile{Processes: map[string]string{}}
	seen := map[string]int{} // type → line it was defined on
	var errs []error
	data, err := io.ReadAll(io.LimitReader(r, maxProcfileSize+1))
	if err != nil {
		return Procfile{}, fmt.Errorf("reading Procfile: %w", err)
	}
	if len(data) > maxProcfileSize {
		return Procfile{}, fmt.Errorf("Procfile is larger than %d bytes", maxProcfileSize)
	}
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, cmd, err := parseProcfileLine(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("Procfile line %d: %w", n, err))
			continue
		}
		if first, dup := seen[typ]; dup {
			errs = append(errs, fmt.Errorf("Procfile line %d: process type %q is already defined on line %d", n, typ, first))
			continue
		}
		seen[typ] = n
		if typ == ReleaseProcessType {
			p.Release = cmd
			continue
		}
		p.Processes[typ] = cmd
	}
	if len(errs) > 0 {
		return Procfile{}, errors.Join(errs...)
	}
	return p, nil
}

func parseProcfileLine(line string) (typ, cmd string, err error) {
	typ, cmd, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", errors.New(`want "<type>: <command>"`)
	}
	typ = strings.TrimSpace(typ)
	cmd = strings.TrimSpace(cmd)
	switch {
	case typ == "":
		return "", "", errors.New("process type is empty")
	case len(typ) > MaxProcessTypeLen:
		return "", "", fmt.Errorf("process type %q is longer than %d characters", typ, MaxProcessTypeLen)
	case !processTypeRE.MatchString(typ):
		return "", "", fmt.Errorf("process type %q must be lower-case letters, digits and '-', starting and ending with a letter or digit", typ)
	case cmd == "":
		return "", "", fmt.Errorf("process type %q has no command", typ)
	case strings.ContainsRune(cmd, 0):
		return "", "", fmt.Errorf("command of %q contains a NUL byte", typ)
	}
	return typ, cmd, nil
}

// Types returns the process types in a stable order: web first, then the
// others sorted.
func (p Procfile) Types() []string {
	return processTypes(p.Processes)
}

func processTypes(m map[string]string) []string {
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if (types[i] == "web") != (types[j] == "web") {
			return types[i] == "web"
		}
		return types[i] < types[j]
	})
	return types
}

package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/platform-paas/platform/server/api"
)

// processTypeRE is what a process type may be: a short lower-case DNS
// label, so that <app>-<type> stays a valid Kubernetes name.
var processTypeRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,14}[a-z0-9])?$`)

// maxQuantity is the most processes of one type ps:scale asks for; the
// tenant's quota may allow fewer.
const maxQuantity = 1000

// sizeNames are the process sizes, smallest first (platform sizes shows
// what each may use).
var sizeNames = []string{"small", "standard", "large"}

// scaleUsage is the grammar of ps:scale's arguments, for error messages.
const scaleUsage = "TYPE=QUANTITY, TYPE=QUANTITY:SIZE or TYPE=SIZE, as in web=2, web=2:large or worker=small"

// parseScaleArgs parses ps:scale's arguments, in Heroku's grammar:
// TYPE=QUANTITY, TYPE=QUANTITY:SIZE or TYPE=SIZE. A type named twice is
// merged, the last value of each field winning ("web=3 web=large" is
// web=3:large). The updates are in the order their types first appear.
func parseScaleArgs(args []string) ([]api.ProcessUpdate, error) {
	var updates []api.ProcessUpdate
	for _, arg := range args {
		u, err := parseScaleArg(arg)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(updates, func(p api.ProcessUpdate) bool { return p.Type == u.Type })
		if i < 0 {
			updates = append(updates, u)
			continue
		}
		if u.Quantity != nil {
			updates[i].Quantity = u.Quantity
		}
		if u.Size != nil {
			updates[i].Size = u.Size
		}
	}
	return updates, nil
}

func parseScaleArg(arg string) (api.ProcessUpdate, error) {
	typ, value, ok := strings.Cut(arg, "=")
	if !ok {
		if t, n, rel := strings.Cut(arg, "+"); rel && processTypeRE.MatchString(t) && isDigits(n) {
			return api.ProcessUpdate{}, fmt.Errorf("%q: relative scaling is not supported: give the quantity, as in %s=3", arg, t)
		}
		return api.ProcessUpdate{}, fmt.Errorf("%q is not %s", arg, scaleUsage)
	}
	if !processTypeRE.MatchString(typ) {
		return api.ProcessUpdate{}, fmt.Errorf("%q: %q is not a process type: lower-case letters, digits and dashes, up to 16, as in web or worker", arg, typ)
	}
	if value == "" {
		return api.ProcessUpdate{}, fmt.Errorf("%q gives %s no quantity or size: use %s", arg, typ, scaleUsage)
	}
	if value[0] == '+' {
		return api.ProcessUpdate{}, fmt.Errorf("%q: relative scaling is not supported: give the quantity, as in %s=3", arg, typ)
	}
	qty, size, hasColon := strings.Cut(value, ":")
	switch {
	case hasColon:
	case value[0] == '-' || (value[0] >= '0' && value[0] <= '9'):
		size = "" // TYPE=QUANTITY
	default: // TYPE=SIZE
		qty, size = "", value
	}
	u := api.ProcessUpdate{Type: typ}
	if qty != "" || hasColon {
		n, err := strconv.Atoi(qty)
		if !isDigits(qty) || err != nil || n > maxQuantity {
			return api.ProcessUpdate{}, fmt.Errorf("%q: the quantity of %s must be a whole number from 0 to %d", arg, typ, maxQuantity)
		}
		u.Quantity = &n
	}
	if size != "" || hasColon {
		s := strings.ToLower(size)
		switch {
		case slices.Contains(sizeNames, s):
		case !hasColon:
			// TYPE=WORD: it may have been meant as either.
			return api.ProcessUpdate{}, fmt.Errorf("%q: %q is neither a quantity (a whole number from 0 to %d, as in %s=3) nor a size (%s, as in %s=%s)",
				arg, size, maxQuantity, typ, strings.Join(sizeNames, ", "), typ, sizeNames[len(sizeNames)-1])
		default:
			return api.ProcessUpdate{}, fmt.Errorf("%q: %q is not a size: use %s", arg, size, strings.Join(sizeNames, ", "))
		}
		u.Size = &s
	}
	return u, nil
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// formatScale words updates as ps:scale takes them: "web=3:large".
func formatScale(u api.ProcessUpdate) string {
	s := u.Type + "="
	if u.Quantity != nil {
		s += strconv.Itoa(*u.Quantity)
		if u.Size != nil {
			s += ":"
		}
	}
	if u.Size != nil {
		s += *u.Size
	}
	return s
}

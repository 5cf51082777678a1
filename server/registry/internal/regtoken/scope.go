package regtoken

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope is one resource scope of the distribution token spec,
// "repository:acme/shop:pull,push": a resource type, its name and the
// actions on it. In a token request and in a signed token the name is a
// repository's exact name; what a credential holds may use patterns (see
// package registry).
type Scope struct {
	Type    string
	Name    string
	Actions []string
}

// ParseScope parses "type:name:action[,action...]". The name is what lies
// between the first and the last colon, so that it may hold a colon
// itself (a registry host with a port, which clients do not send but the
// grammar allows).
func ParseScope(s string) (Scope, error) {
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return Scope{}, fmt.Errorf("scope %q is not type:name:actions", s)
	}
	name, actions := rest[:i], rest[i+1:]
	if typ == "" || name == "" || actions == "" {
		return Scope{}, fmt.Errorf("scope %q is not type:name:actions", s)
	}
	sc := Scope{Type: typ, Name: name}
	for a := range strings.SplitSeq(actions, ",") {
		if a == "" {
			return Scope{}, fmt.Errorf("scope %q has an empty action", s)
		}
		if !slices.Contains(sc.Actions, a) {
			sc.Actions = append(sc.Actions, a)
		}
	}
	return sc, nil
}

// String returns the scope as ParseScope reads it.
func (s Scope) String() string {
	return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
}

// parseScopes parses the scope parameters of a token request: each may
// hold several scopes separated by spaces (the OAuth2 form).
func parseScopes(params []string) ([]Scope, error) {
	var out []Scope
	for _, p := range params {
		for f := range strings.FieldsSeq(p) {
			sc, err := ParseScope(f)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	if len(out) > maxScopes {
		return nil, errors.New("too many scopes")
	}
	return out, nil
}

// maxScopes bounds the scopes of one token request: a push asks for two
// or three (the repository, and the one a blob is mounted from).
const maxScopes = 32

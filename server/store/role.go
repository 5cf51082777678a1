package store

import "strings"

// Role is what a user may do. Owner, Member and Viewer are roles in one
// tenant (memberships); Admin is platform-wide and comes from the user's
// is_admin flag, never from a membership.
type Role string

// The roles, strongest first.
const (
	Admin  Role = "admin"
	Owner  Role = "owner"
	Member Role = "member"
	Viewer Role = "viewer"
)

// ParseRole returns the role named s (case-insensitive), or an ErrInvalid
// error.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", invalidf("unknown role %q: use admin, owner, member or viewer", s)
	}
	return r, nil
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.level() > 0 }

// TenantRole reports whether r can be held in a tenant (owner, member,
// viewer).
func (r Role) TenantRole() bool { return r == Owner || r == Member || r == Viewer }

// AtLeast reports whether r grants everything min grants: admin > owner >
// member > viewer. An invalid role grants nothing.
func (r Role) AtLeast(min Role) bool {
	return r.Valid() && min.Valid() && r.level() >= min.level()
}

func (r Role) String() string { return string(r) }

func (r Role) level() int {
	switch r {
	case Admin:
		return 4
	case Owner:
		return 3
	case Member:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

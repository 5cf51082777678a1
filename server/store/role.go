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

// ParseRole returns the tenant role named s: owner, member or viewer, in
// any case, with spaces around it ignored. Any other s is an ErrInvalid
// error, meant for the user, that names the roles a tenant member can
// hold. Admin is not one of them: it comes from a user's is_admin flag,
// never from a name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	switch {
	case r.TenantRole():
		return r, nil
	case r == "":
		return "", invalidf("role is required")
	case r == Admin:
		return "", notTenantRole(s)
	}
	return "", invalidf("role must be one of owner, member, viewer")
}

// notTenantRole is the error for a role, named name, that a tenant member
// cannot hold.
func notTenantRole(name string) error {
	return invalidf("role %q cannot be held in a tenant: use owner, member or viewer", name)
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

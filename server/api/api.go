// Package api is the platform's JSON API as its clients see it: the wire
// types of /api/v1 and a Client that speaks them.
//
// It is what the CLI links instead of the server: it imports nothing of
// the platform and nothing beyond the standard library, so that the CLI
// stays free of pgx, client-go and BuildKit. The server encodes these
// types; it owns the routes, the authorization and the meaning of each
// field, which server/openapi.yaml documents.
package api

import "time"

// Version is the path prefix of this version of the API.
const Version = "/api/v1"

// ErrorBody is the wire shape of every API error:
// {"error":{"code":"not_found","message":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong. Code is stable and snake_case, for
// programs; Message is short and meant for people; Field names the request
// field that was refused, when one was.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error codes clients switch on.
const (
	CodeUnauthorized     = "unauthorized"      // 401: no token, or an unknown or expired one
	CodeDeactivated      = "deactivated"       // 401: the credential is right but an admin deactivated its user
	CodeForbidden        = "forbidden"         // 403: the role does not allow it
	CodeQuotaExceeded    = "quota_exceeded"    // 403: the tenant's quota does not allow it
	CodeNotFound         = "not_found"         // 404
	CodeExpired          = "expired"           // 410: an invitation past its expiry
	CodeConflict         = "conflict"          // 409: a name taken, a state that does not allow it
	CodeNotVerified      = "not_verified"      // 409: a domain's DNS TXT record is not (yet) there
	CodeInvalid          = "invalid"           // 400: a field's value, type or presence
	CodeInvalidJSON      = "invalid_json"      // 400: the body is not one JSON object
	CodeTooLarge         = "too_large"         // 413: the body is over the limit
	CodeUnsupportedMedia = "unsupported_media" // 415: the body is not application/json
	CodeMethodNotAllowed = "method_not_allowed"
	CodeCSRF             = "csrf"              // 403: a dashboard request without its session's X-CSRF-Token
	CodeTooManyRequests  = "too_many_requests" // 429: too many failed sign-ins; Retry-After says when to try again
	CodeReleaseFailed    = "release_failed"    // 422: the release was made, its rollout failed, the old one runs
	CodeInternal         = "internal"          // 500: the detail is in the server's log
	CodeBusy             = "busy"              // 503: too many sign-ins at once; try again in a few seconds
	CodeNotImplemented   = "not_implemented"   // 501: this platformd cannot do it
)

// Page is one page of a list. Lists are ordered (each endpoint says how)
// and paged with the query parameters limit (1 to MaxLimit, default
// DefaultLimit) and after (a cursor). NextAfter is the cursor of the next
// page, empty on the last one.
type Page[T any] struct {
	Items     []T    `json:"items"`
	NextAfter string `json:"next_after,omitempty"`
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 500
)

// Account is the user a token belongs to.
type Account struct {
	Email       string       `json:"email"`
	Admin       bool         `json:"admin"`
	Memberships []Membership `json:"memberships"`
	CreatedAt   time.Time    `json:"created_at"`
}

// Membership is the account's role in one tenant.
type Membership struct {
	Tenant string `json:"tenant"`
	Role   string `json:"role"` // owner, member or viewer
}

// Roles a membership can hold.
const (
	RoleOwner  = "owner"
	RoleMember = "member"
	RoleViewer = "viewer"
)

// Quota bounds what a tenant may run.
type Quota struct {
	MaxApps      int    `json:"max_apps"`
	MaxProcesses int    `json:"max_processes"` // across all the tenant's apps
	MaxSize      string `json:"max_size"`      // small, standard or large
}

// QuotaRequest sets a quota; a field left out keeps its default.
type QuotaRequest struct {
	MaxApps      *int    `json:"max_apps,omitempty"`
	MaxProcesses *int    `json:"max_processes,omitempty"`
	MaxSize      *string `json:"max_size,omitempty"`
}

// Tenant is an organisation that owns apps.
type Tenant struct {
	Name        string     `json:"name"`
	Quota       Quota      `json:"quota"`
	SuspendedAt *time.Time `json:"suspended_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// CreateTenantRequest is the body of POST /tenants.
type CreateTenantRequest struct {
	Name  string        `json:"name"`
	Quota *QuotaRequest `json:"quota,omitempty"`
}

// Member is a user's role in a tenant.
type Member struct {
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// AddMemberRequest is the body of POST /tenants/{name}/members. An
// address that is no user's is invited instead (see AddedMember).
type AddMemberRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// Invitation is a tenant's pending invitation of an e-mail address that
// had no account. Its invitee accepts it once signed in as that address.
type Invitation struct {
	ID        int64     `json:"id"`
	Tenant    string    `json:"tenant"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invited_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SSHKey is a public key its owner pushes with.
type SSHKey struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"` // SHA256:..., as ssh-keygen -l prints it
	PublicKey   string    `json:"public_key"`
	CreatedAt   time.Time `json:"created_at"`
}

// AddSSHKeyRequest is the body of POST /account/keys. Name defaults to the
// key's comment.
type AddSSHKeyRequest struct {
	Name      string `json:"name,omitempty"`
	PublicKey string `json:"public_key"`
}

// App is a deployable application.
type App struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant"`
	// GitURL is the remote to push to; empty when the platform runs no git
	// receiver.
	GitURL string `json:"git_url,omitempty"`
	// WebURL is where the app's web process answers.
	WebURL string `json:"web_url,omitempty"`
	// Release is the app's newest release, if any. Only GET /apps/{name}
	// sets it.
	Release   *ReleaseSummary `json:"release,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// ReleaseSummary is what app info says about a release.
type ReleaseSummary struct {
	Version      int        `json:"version"`
	Status       string     `json:"status"` // pending, deploying, succeeded or failed
	StatusReason string     `json:"status_reason,omitempty"`
	Description  string     `json:"description"`
	Commit       string     `json:"commit,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
}

// DestroyAppRequest is the body of DELETE /apps/{app}. Confirm must be the
// app's name.
type DestroyAppRequest struct {
	Confirm string `json:"confirm"`
}

// DestroyedApp is the answer to DELETE /apps/{app}.
type DestroyedApp struct {
	Name      string `json:"name"`
	Destroyed bool   `json:"destroyed"`
}

// CreateAppRequest is the body of POST /apps. Tenant may be left out by a
// user who is a member of exactly one tenant.
type CreateAppRequest struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant,omitempty"`
}

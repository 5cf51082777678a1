package api

import "time"

// Token describes an API token of the account. The token itself is shown
// once, when it is created (CreatedToken).
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// CreateTokenRequest is the body of POST /account/tokens. ExpiresIn is a
// Go duration such as "720h"; empty means the token never expires.
type CreateTokenRequest struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expires_in,omitempty"`
}

// CreatedToken is a new token: Token is its secret, shown only here.
type CreatedToken struct {
	Token string `json:"token"`
	Info  Token  `json:"info"`
}

// LoginRequest is the body of POST /login, which trades an e-mail address
// and password for a new API token named TokenName (default "cli").
type LoginRequest struct {
	Email     string `json:"email"`
	Password  string `json:"password"`
	TokenName string `json:"token_name,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"`
}

// SetPasswordRequest is the body of PUT /account/password. Current is
// required when the account has a password already.
type SetPasswordRequest struct {
	Current  string `json:"current,omitempty"`
	Password string `json:"password"`
}

// AddedMember is the answer to POST /tenants/{tenant}/members: Member
// when the address is a user's, who is a member now; else Invitation, the
// invitation made for it, which its invitee accepts once an admin has
// made their account and they have signed in. Exactly one is set.
type AddedMember struct {
	Member     *Member     `json:"member,omitempty"`
	Invitation *Invitation `json:"invitation,omitempty"`
}

// CreateUserRequest is the body of POST /users (admins).
type CreateUserRequest struct {
	Email string `json:"email"`
	Admin bool   `json:"admin,omitempty"`
}

// CreatedUser is the answer to POST /users: the user, and their first API
// token (expiring in a week), shown only here, for the admin to hand
// over. The user signs in with it (platform login --token) and then sets
// a password or adds an SSH key of their own.
type CreatedUser struct {
	User         User   `json:"user"`
	InitialToken string `json:"initial_token"`
}

// SetRoleRequest is the body of PATCH /tenants/{tenant}/members/{email}.
type SetRoleRequest struct {
	Role string `json:"role"`
}

// UpdateTenantRequest is the body of PATCH /tenants/{tenant}: a quota
// change, a suspension (true) or its end (false), or both. Fields left out
// stay as they are.
type UpdateTenantRequest struct {
	Quota     *QuotaRequest `json:"quota,omitempty"`
	Suspended *bool         `json:"suspended,omitempty"`
}

// DeleteTenantRequest is the body of DELETE /tenants/{tenant}. Confirm
// must be the tenant's name.
type DeleteTenantRequest struct {
	Confirm string `json:"confirm"`
}

// User is a platform user, as admins see them.
type User struct {
	Email       string       `json:"email"`
	Admin       bool         `json:"admin"`
	Memberships []Membership `json:"memberships"`
	CreatedAt   time.Time    `json:"created_at"`
	// DeactivatedAt is when an admin deactivated the user, who signs in
	// to nothing until reactivated; absent while the user is active.
	DeactivatedAt *time.Time `json:"deactivated_at,omitempty"`
}

// UpdateUserRequest is the body of PATCH /users/{email} (admins):
// Deactivated true deactivates the user, false reactivates them.
type UpdateUserRequest struct {
	Deactivated *bool `json:"deactivated"`
}

// ConfigVars are an app's config vars.
type ConfigVars struct {
	Vars map[string]string `json:"vars"`
}

// UpdateConfigRequest is the body of PATCH /apps/{app}/config: each key
// set to a string is set, each set to null is unset. Either makes a new
// release, which is rolled out before the request returns.
type UpdateConfigRequest struct {
	Vars map[string]*string `json:"vars"`
}

// ConfigChange is the answer to PATCH /apps/{app}/config.
type ConfigChange struct {
	// Keys are the keys the request changed, sorted; not the values.
	Keys    []string `json:"keys"`
	Release Release  `json:"release"`
}

// Process is one process type of an app's formation, with what runs.
type Process struct {
	Type     string `json:"type"`
	Quantity int    `json:"quantity"`
	Size     string `json:"size"`
	Command  string `json:"command,omitempty"`
	// Ready is how many of its processes are ready now; Release is the
	// release they are set to run. Both are 0 while nothing runs.
	Ready   int `json:"ready"`
	Release int `json:"release,omitempty"`
}

// Formation is an app's process types, by type.
type Formation struct {
	Items []Process `json:"items"`
}

// ScaleRequest is the body of PATCH /apps/{app}/formation. Scaling
// changes the running processes at once and makes no release.
type ScaleRequest struct {
	Updates []ProcessUpdate `json:"updates"`
}

// ProcessUpdate changes one process type; a field left out stays as it is.
type ProcessUpdate struct {
	Type     string  `json:"type"`
	Quantity *int    `json:"quantity,omitempty"`
	Size     *string `json:"size,omitempty"`
}

// Dyno is one running process of an app.
type Dyno struct {
	Name     string    `json:"name"` // "web.1"
	Type     string    `json:"type"`
	State    string    `json:"state"` // pending, starting, up, crashed, stopping
	Reason   string    `json:"reason,omitempty"`
	Release  int       `json:"release"`
	Size     string    `json:"size"`
	Command  string    `json:"command,omitempty"`
	Restarts int       `json:"restarts"`
	Since    time.Time `json:"since"`
}

// Dynos are an app's running processes, by type and name.
type Dynos struct {
	Items []Dyno `json:"items"`
}

// RestartRequest is the body of POST /apps/{app}/ps/restart. An empty
// Type restarts every process type.
type RestartRequest struct {
	Type string `json:"type,omitempty"`
	// NoWait answers once the restart has begun, rather than once the
	// new processes are ready.
	NoWait bool `json:"no_wait,omitempty"`
}

// Release is one numbered, immutable version of an app.
type Release struct {
	Version      int        `json:"version"`
	Status       string     `json:"status"` // pending, deploying, succeeded, failed
	StatusReason string     `json:"status_reason,omitempty"`
	Description  string     `json:"description"`
	Author       string     `json:"author,omitempty"`
	Commit       string     `json:"commit,omitempty"`
	Image        string     `json:"image,omitempty"`
	Build        int64      `json:"build,omitempty"`
	Formation    []Process  `json:"formation,omitempty"`
	ConfigKeys   []string   `json:"config_keys,omitempty"`
	Current      bool       `json:"current"` // the release that runs now
	CreatedAt    time.Time  `json:"created_at"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
}

// RollbackRequest is the body of POST /apps/{app}/releases: a new release
// with release Version's image, config and formation. Version 0 means the
// succeeded release before the current one.
type RollbackRequest struct {
	RollbackTo int `json:"rollback_to"`
}

// Build is one build of an app from a pushed commit.
type Build struct {
	ID         int64      `json:"id"`
	Status     string     `json:"status"` // pending, running, succeeded, failed, cancelled
	Commit     string     `json:"commit"`
	Author     string     `json:"author,omitempty"`
	Stack      string     `json:"stack,omitempty"`
	Image      string     `json:"image,omitempty"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Domain is a custom host name an app answers on, besides its default
// one, once verified.
type Domain struct {
	Host string `json:"host"`
	// Status is DomainVerified (routed to the app) or DomainPending
	// (waiting for the DNS record Verification names).
	Status string `json:"status"`
	// Verification is the DNS record that shows the domain is its
	// claimer's; set while the domain is pending.
	Verification *DomainVerification `json:"verification,omitempty"`
	CreatedAt    time.Time           `json:"created_at"`
	VerifiedAt   *time.Time          `json:"verified_at,omitempty"`
}

// Domain statuses.
const (
	DomainVerified = "verified"
	DomainPending  = "pending"
)

// DomainVerification is a DNS record to create: a TXT record named Name
// ("_platform-challenge.www.example.com") holding Value. Then POST
// /apps/{app}/domains/{host}/verify checks it.
type DomainVerification struct {
	Type  string `json:"type"` // TXT
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AddDomainRequest is the body of POST /apps/{app}/domains.
type AddDomainRequest struct {
	Host string `json:"host"`
}

// AuditEvent is one recorded change: who did what, when, from where.
type AuditEvent struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	Actor      string         `json:"actor"`
	Tenant     string         `json:"tenant,omitempty"`
	App        string         `json:"app,omitempty"`
	Action     string         `json:"action"`
	Target     string         `json:"target,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
	RemoteAddr string         `json:"remote_addr,omitempty"`
}

// AuditFilter selects audit events (GET /audit). Empty fields do not
// filter. Owners must name one of their tenants; admins see everything.
type AuditFilter struct {
	Tenant string
	App    string
	Actor  string // e-mail address
	Action string // exact action, or a prefix ending in "." ("config.")
}

// LogOptions selects the lines of GET /apps/{app}/logs.
type LogOptions struct {
	Process string // one process type; empty: all
	Lines   int    // the last N lines logged before the request; 0: the server's default (100)
	Follow  bool   // keep streaming new lines until the request ends
}

// Readiness is every readiness check of platformd with its result (GET
// /readiness, admins; the operator listener's /readyz).
type Readiness struct {
	Status string            `json:"status"` // "ok" or "unavailable"
	Checks map[string]string `json:"checks"` // name → "ok" or "error: ..."
}

// Git is where apps' repositories are served and the git server's SSH
// host keys (GET /git), for users to trust before their first push.
type Git struct {
	URL      string       `json:"url"` // such as ssh://git@git.example.com:2222
	HostKeys []GitHostKey `json:"host_keys"`
}

// GitHostKey is one SSH host key of the git server.
type GitHostKey struct {
	Type        string `json:"type"`        // such as ssh-ed25519
	Fingerprint string `json:"fingerprint"` // SHA256:..., as ssh prints it
	// KnownHosts is the line for ~/.ssh/known_hosts that trusts the key
	// for the git URL's host and port.
	KnownHosts string `json:"known_hosts"`
}

// Sizes are the process sizes, smallest first (GET /sizes).
type Sizes struct {
	Items []Size `json:"items"`
}

// Size is one process size: what a process of it may use.
type Size struct {
	Name string `json:"name"`
	// CPU in thousandths of a core: guaranteed (request) and at most (limit).
	CPURequestMillicores int `json:"cpu_request_millicores"`
	CPULimitMillicores   int `json:"cpu_limit_millicores"`
	// Memory in MiB: guaranteed (request) and at most (limit).
	MemoryRequestMiB int `json:"memory_request_mib"`
	MemoryLimitMiB   int `json:"memory_limit_mib"`
}

// Certificate is a certificate uploaded to an app, for its custom
// domains. Its private key is never returned.
type Certificate struct {
	ID int64 `json:"id"`
	// Names are the DNS names the certificate covers ("*.example.com"
	// for a wildcard).
	Names []string `json:"names"`
	// Domains are the app's custom domains it covers.
	Domains     []string  `json:"domains"`
	Issuer      string    `json:"issuer"`
	Fingerprint string    `json:"fingerprint"` // SHA-256 of the certificate, hex
	NotBefore   time.Time `json:"not_before"`
	ExpiresAt   time.Time `json:"expires_at"`
	CreatedAt   time.Time `json:"created_at"`
}

// AddCertificateRequest is the body of POST /apps/{app}/certificates:
// the certificate chain (the certificate first, then its intermediates)
// and its private key, both PEM.
type AddCertificateRequest struct {
	Certificate string `json:"certificate"`
	PrivateKey  string `json:"private_key"`
}

// DomainCertificate says how HTTPS serves one of an app's custom domains.
type DomainCertificate struct {
	Domain string `json:"domain"`
	// Source is CertUploaded, CertAutomatic or CertNone.
	Source string `json:"source"`
	// CertificateID is the uploaded certificate that serves the domain.
	CertificateID int64      `json:"certificate_id,omitempty"`
	Issuer        string     `json:"issuer,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	// Status is one of the CertStatus values.
	Status string `json:"status"`
	// LastError is why the domain has no working certificate, or the
	// certificate authority's reason an automatic one failed.
	LastError string `json:"last_error,omitempty"`
	// NextAttempt is when an automatic certificate that failed is tried
	// again.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
}

// Certificate sources.
const (
	CertUploaded  = "uploaded"
	CertAutomatic = "automatic"
	CertNone      = "none"
)

// Certificate statuses: an uploaded one is active or expired; an
// automatic one pending, issued or failed; a domain without one is none.
const (
	CertActive     = "active"
	CertExpired    = "expired"
	CertPending    = "pending"
	CertIssued     = "issued"
	CertFailed     = "failed"
	CertStatusNone = "none"
)

// CertificateList is GET /apps/{app}/certificates: how each custom
// domain is served, the uploaded certificates, and the HTTPS settings.
type CertificateList struct {
	Domains      []DomainCertificate `json:"domains"`
	Certificates []Certificate       `json:"certificates"`
	HTTPS        HTTPSSettings       `json:"https"`
	// Allowed says what the caller may change, as the API would decide.
	Allowed CertificateActions `json:"allowed"`
}

// CertificateActions are the changes of an app's certificates the caller
// may make: what a client offers, so that it never offers what the API
// refuses.
type CertificateActions struct {
	Upload bool `json:"upload"`
	// UploadRefusal says why not, and what to do, when Upload is false.
	UploadRefusal string `json:"upload_refusal,omitempty"`
	Remove        bool   `json:"remove"`
	ChangeHTTPS   bool   `json:"change_https"`
}

// HTTPSSettings are how an app answers plain HTTP and HTTPS.
type HTTPSSettings struct {
	// Redirect sends plain HTTP for a domain with a certificate to HTTPS
	// (308). On by default.
	Redirect bool `json:"redirect"`
	// HSTSMaxAge, when positive, adds Strict-Transport-Security with this
	// max-age (seconds) to HTTPS responses; 0 sends none.
	HSTSMaxAge            int  `json:"hsts_max_age"`
	HSTSIncludeSubdomains bool `json:"hsts_include_subdomains"`
	// BackendProtocol is how the router talks to the app's web
	// processes: "http1" (HTTP/1.1, the default) or "h2c" (HTTP/2
	// without TLS, for gRPC servers).
	BackendProtocol string `json:"backend_protocol"`
}

// UpdateHTTPSRequest is the body of PATCH /apps/{app}/https: the
// settings to change; those left out are kept.
type UpdateHTTPSRequest struct {
	Redirect              *bool   `json:"redirect,omitempty"`
	HSTSMaxAge            *int    `json:"hsts_max_age,omitempty"`
	HSTSIncludeSubdomains *bool   `json:"hsts_include_subdomains,omitempty"`
	BackendProtocol       *string `json:"backend_protocol,omitempty"`
}

package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Login trades an e-mail address and password for a new API token. It
// needs no token.
func (c *Client) Login(ctx context.Context, req LoginRequest) (CreatedToken, error) {
	var t CreatedToken
	return t, c.do(ctx, http.MethodPost, "/login", nil, req, &t)
}

// SetPassword sets the account's password, for signing in to the
// dashboard and for Login.
func (c *Client) SetPassword(ctx context.Context, req SetPasswordRequest) error {
	return c.do(ctx, http.MethodPut, "/account/password", nil, req, nil)
}

// ListTokens returns a page of the account's tokens, newest first.
func (c *Client) ListTokens(ctx context.Context, opts ListOptions) (Page[Token], error) {
	var p Page[Token]
	return p, c.do(ctx, http.MethodGet, "/account/tokens", opts.query(), nil, &p)
}

// CreateToken makes a new API token for the account.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (CreatedToken, error) {
	var t CreatedToken
	return t, c.do(ctx, http.MethodPost, "/account/tokens", nil, req, &t)
}

// RevokeToken revokes one of the account's tokens.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, "/account/tokens/"+strconv.FormatInt(id, 10), nil, nil, nil)
}

// ListUsers returns a page of the platform's users, by creation. Admins
// only.
func (c *Client) ListUsers(ctx context.Context, opts ListOptions) (Page[User], error) {
	var p Page[User]
	return p, c.do(ctx, http.MethodGet, "/users", opts.query(), nil, &p)
}

// UpdateTenant changes a tenant's quota or suspension. Admins only.
func (c *Client) UpdateTenant(ctx context.Context, name string, req UpdateTenantRequest) (Tenant, error) {
	var t Tenant
	return t, c.do(ctx, http.MethodPatch, "/tenants/"+url.PathEscape(name), nil, req, &t)
}

// DeleteTenant deletes a tenant with all its apps. confirm must be its
// name. Admins only.
func (c *Client) DeleteTenant(ctx context.Context, name, confirm string) error {
	return c.do(ctx, http.MethodDelete, "/tenants/"+url.PathEscape(name), nil, DeleteTenantRequest{Confirm: confirm}, nil)
}

// AddMember adds a user to a tenant, or invites the address if it is no
// user's.
func (c *Client) AddMember(ctx context.Context, tenant string, req AddMemberRequest) (AddedMember, error) {
	var m AddedMember
	return m, c.do(ctx, http.MethodPost, "/tenants/"+url.PathEscape(tenant)+"/members", nil, req, &m)
}

// ListTenantInvitations returns a page of the tenant's pending
// invitations, by address. Admins and the tenant's owners.
func (c *Client) ListTenantInvitations(ctx context.Context, tenant string, opts ListOptions) (Page[Invitation], error) {
	var p Page[Invitation]
	return p, c.do(ctx, http.MethodGet, "/tenants/"+url.PathEscape(tenant)+"/invitations", opts.query(), nil, &p)
}

// RevokeInvitation revokes the tenant's pending invitation of email.
func (c *Client) RevokeInvitation(ctx context.Context, tenant, email string) error {
	return c.do(ctx, http.MethodDelete, "/tenants/"+url.PathEscape(tenant)+"/invitations/"+url.PathEscape(email), nil, nil, nil)
}

// ListInvitations returns the pending invitations of the account's
// address, by tenant.
func (c *Client) ListInvitations(ctx context.Context, opts ListOptions) (Page[Invitation], error) {
	var p Page[Invitation]
	return p, c.do(ctx, http.MethodGet, "/account/invitations", opts.query(), nil, &p)
}

// AcceptInvitation accepts one of the account's invitations, and returns
// the membership it gave.
func (c *Client) AcceptInvitation(ctx context.Context, id int64) (Membership, error) {
	var m Membership
	return m, c.do(ctx, http.MethodPost, "/account/invitations/"+strconv.FormatInt(id, 10)+"/accept", nil, nil, &m)
}

// DeclineInvitation declines one of the account's invitations.
func (c *Client) DeclineInvitation(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/account/invitations/"+strconv.FormatInt(id, 10)+"/decline", nil, nil, nil)
}

// SetUserDeactivated deactivates the user with the address email
// (deactivated true), or reactivates them. Admins only.
func (c *Client) SetUserDeactivated(ctx context.Context, email string, deactivated bool) (User, error) {
	var u User
	return u, c.do(ctx, http.MethodPatch, "/users/"+url.PathEscape(email), nil, UpdateUserRequest{Deactivated: &deactivated}, &u)
}

// ListUserTokens returns a page of another user's tokens, newest first.
// Admins only.
func (c *Client) ListUserTokens(ctx context.Context, email string, opts ListOptions) (Page[Token], error) {
	var p Page[Token]
	return p, c.do(ctx, http.MethodGet, "/users/"+url.PathEscape(email)+"/tokens", opts.query(), nil, &p)
}

// RevokeUserToken revokes another user's token. Admins only.
func (c *Client) RevokeUserToken(ctx context.Context, email string, id int64) error {
	return c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(email)+"/tokens/"+strconv.FormatInt(id, 10), nil, nil, nil)
}

// CreateUser creates a user, with a first token to hand over. Admins only.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (CreatedUser, error) {
	var u CreatedUser
	return u, c.do(ctx, http.MethodPost, "/users", nil, req, &u)
}

// SetMemberRole changes a member's role in a tenant.
func (c *Client) SetMemberRole(ctx context.Context, tenant, email, role string) (Member, error) {
	var m Member
	return m, c.do(ctx, http.MethodPatch, "/tenants/"+url.PathEscape(tenant)+"/members/"+url.PathEscape(email), nil, SetRoleRequest{Role: role}, &m)
}

// RemoveMember removes a user from a tenant.
func (c *Client) RemoveMember(ctx context.Context, tenant, email string) error {
	return c.do(ctx, http.MethodDelete, "/tenants/"+url.PathEscape(tenant)+"/members/"+url.PathEscape(email), nil, nil, nil)
}

// ListAudit returns a page of audit events, newest first.
func (c *Client) ListAudit(ctx context.Context, f AuditFilter, opts ListOptions) (Page[AuditEvent], error) {
	q := opts.query()
	for k, v := range map[string]string{"tenant": f.Tenant, "app": f.App, "actor": f.Actor, "action": f.Action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var p Page[AuditEvent]
	return p, c.do(ctx, http.MethodGet, "/audit", q, nil, &p)
}

// Readiness returns platformd's readiness checks with their results.
// Admins only.
func (c *Client) Readiness(ctx context.Context) (Readiness, error) {
	var r Readiness
	return r, c.do(ctx, http.MethodGet, "/readiness", nil, nil, &r)
}

// Git returns where apps' repositories are and the git server's host keys.
func (c *Client) Git(ctx context.Context) (Git, error) {
	var g Git
	return g, c.do(ctx, http.MethodGet, "/git", nil, nil, &g)
}

// Sizes returns the process sizes.
func (c *Client) Sizes(ctx context.Context) (Sizes, error) {
	var s Sizes
	return s, c.do(ctx, http.MethodGet, "/sizes", nil, nil, &s)
}

func appPath(app string, rest ...string) string {
	p := "/apps/" + url.PathEscape(app)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// GetConfig returns an app's config vars. Viewers may not read them.
func (c *Client) GetConfig(ctx context.Context, app string) (ConfigVars, error) {
	var v ConfigVars
	return v, c.do(ctx, http.MethodGet, appPath(app, "config"), nil, nil, &v)
}

// UpdateConfig sets and unsets config vars, making a release that is
// rolled out before it returns.
func (c *Client) UpdateConfig(ctx context.Context, app string, req UpdateConfigRequest) (ConfigChange, error) {
	var ch ConfigChange
	return ch, c.do(ctx, http.MethodPatch, appPath(app, "config"), nil, req, &ch)
}

// GetFormation returns an app's process types with their scale.
func (c *Client) GetFormation(ctx context.Context, app string) (Formation, error) {
	var f Formation
	return f, c.do(ctx, http.MethodGet, appPath(app, "formation"), nil, nil, &f)
}

// Scale changes the quantity and size of process types at once, without
// a release.
func (c *Client) Scale(ctx context.Context, app string, req ScaleRequest) (Formation, error) {
	var f Formation
	return f, c.do(ctx, http.MethodPatch, appPath(app, "formation"), nil, req, &f)
}

// ListDynos returns an app's running processes.
func (c *Client) ListDynos(ctx context.Context, app string) (Dynos, error) {
	var d Dynos
	return d, c.do(ctx, http.MethodGet, appPath(app, "ps"), nil, nil, &d)
}

// Restart restarts an app's processes of one type, or all of them.
func (c *Client) Restart(ctx context.Context, app string, req RestartRequest) error {
	return c.do(ctx, http.MethodPost, appPath(app, "ps", "restart"), nil, req, nil)
}

// ListReleases returns a page of an app's releases, newest first.
func (c *Client) ListReleases(ctx context.Context, app string, opts ListOptions) (Page[Release], error) {
	var p Page[Release]
	return p, c.do(ctx, http.MethodGet, appPath(app, "releases"), opts.query(), nil, &p)
}

// GetRelease returns release version of an app.
func (c *Client) GetRelease(ctx context.Context, app string, version int) (Release, error) {
	var r Release
	return r, c.do(ctx, http.MethodGet, appPath(app, "releases", strconv.Itoa(version)), nil, nil, &r)
}

// Rollback makes a new release with an earlier one's image, config and
// formation, and rolls it out before it returns.
func (c *Client) Rollback(ctx context.Context, app string, req RollbackRequest) (Release, error) {
	var r Release
	return r, c.do(ctx, http.MethodPost, appPath(app, "releases"), nil, req, &r)
}

// ListBuilds returns a page of an app's builds, newest first.
func (c *Client) ListBuilds(ctx context.Context, app string, opts ListOptions) (Page[Build], error) {
	var p Page[Build]
	return p, c.do(ctx, http.MethodGet, appPath(app, "builds"), opts.query(), nil, &p)
}

// GetBuild returns one build of an app.
func (c *Client) GetBuild(ctx context.Context, app string, id int64) (Build, error) {
	var b Build
	return b, c.do(ctx, http.MethodGet, appPath(app, "builds", strconv.FormatInt(id, 10)), nil, nil, &b)
}

// BuildLog writes a build's output, as the push showed it, to w.
func (c *Client) BuildLog(ctx context.Context, app string, id int64, w io.Writer) error {
	return c.stream(ctx, appPath(app, "builds", strconv.FormatInt(id, 10), "log"), nil, w)
}

// Logs writes an app's runtime log lines to w; with Follow it returns only
// when ctx ends or the server stops.
func (c *Client) Logs(ctx context.Context, app string, opts LogOptions, w io.Writer) error {
	q := url.Values{}
	if opts.Process != "" {
		q.Set("process", opts.Process)
	}
	if opts.Lines > 0 {
		q.Set("lines", strconv.Itoa(opts.Lines))
	}
	if opts.Follow {
		q.Set("follow", "true")
	}
	err := c.stream(ctx, appPath(app, "logs"), q, w)
	if opts.Follow && ctx.Err() != nil {
		return nil
	}
	return err
}

// ListDomains returns an app's custom domains.
func (c *Client) ListDomains(ctx context.Context, app string, opts ListOptions) (Page[Domain], error) {
	var p Page[Domain]
	return p, c.do(ctx, http.MethodGet, appPath(app, "domains"), opts.query(), nil, &p)
}

// AddDomain adds a custom domain to an app: pending, until VerifyDomain
// finds its DNS record, unless the platform skips verification.
func (c *Client) AddDomain(ctx context.Context, app, host string) (Domain, error) {
	var d Domain
	return d, c.do(ctx, http.MethodPost, appPath(app, "domains"), nil, AddDomainRequest{Host: host}, &d)
}

// VerifyDomain has the platform check the DNS record of a domain awaiting
// verification and route it if it is there.
func (c *Client) VerifyDomain(ctx context.Context, app, host string) (Domain, error) {
	var d Domain
	return d, c.do(ctx, http.MethodPost, appPath(app, "domains", host, "verify"), nil, nil, &d)
}

// RemoveDomain removes a custom domain from an app.
func (c *Client) RemoveDomain(ctx context.Context, app, host string) error {
	return c.do(ctx, http.MethodDelete, appPath(app, "domains", host), nil, nil, nil)
}

// stream copies a text response to w as it arrives.
func (c *Client) stream(ctx context.Context, path string, query url.Values, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, path, query, nil, "text/plain")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return responseError(resp, b)
	}
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the API's answer: %w", err)
	}
	return nil
}

// ListCertificates returns how each of an app's custom domains is served
// over HTTPS, its uploaded certificates and its HTTPS settings.
func (c *Client) ListCertificates(ctx context.Context, app string) (CertificateList, error) {
	var l CertificateList
	return l, c.do(ctx, http.MethodGet, appPath(app, "certificates"), nil, nil, &l)
}

// AddCertificate uploads a certificate chain and its private key (PEM)
// for an app's custom domains, and returns once the router has them.
func (c *Client) AddCertificate(ctx context.Context, app, chainPEM, keyPEM string) (Certificate, error) {
	var cert Certificate
	return cert, c.do(ctx, http.MethodPost, appPath(app, "certificates"), nil,
		AddCertificateRequest{Certificate: chainPEM, PrivateKey: keyPEM}, &cert)
}

// RemoveCertificate removes an uploaded certificate of an app, named by
// its ID or by a domain it serves.
func (c *Client) RemoveCertificate(ctx context.Context, app, idOrDomain string) error {
	return c.do(ctx, http.MethodDelete, appPath(app, "certificates", idOrDomain), nil, nil, nil)
}

// GetHTTPS returns an app's HTTPS settings.
func (c *Client) GetHTTPS(ctx context.Context, app string) (HTTPSSettings, error) {
	var h HTTPSSettings
	return h, c.do(ctx, http.MethodGet, appPath(app, "https"), nil, nil, &h)
}

// UpdateHTTPS changes an app's HTTPS settings and returns them once
// applied.
func (c *Client) UpdateHTTPS(ctx context.Context, app string, req UpdateHTTPSRequest) (HTTPSSettings, error) {
	var h HTTPSSettings
	return h, c.do(ctx, http.MethodPatch, appPath(app, "https"), nil, req, &h)
}

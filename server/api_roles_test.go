package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// The outcomes of a request, as far as authorization goes.
type authz string

const (
	allowed  authz = "allowed"   // passed authorization: 2xx, or a refusal of something else (400, 404 of a sub-resource, 409, ...)
	denied   authz = "forbidden" // 403 forbidden: the role is not enough
	hidden   authz = "hidden"    // 404 "or no access": no role in the tenant, told apart from nothing
	unauthed authz = "unauthenticated"
)

// need is who may use a route.
type need int

const (
	public     need = iota // anyone, even without a token
	anyone                 // any signed-in user
	adminOnly              // platform admins; everyone else is refused with 403
	needViewer             // a viewer of acme or more
	needMember             // a member of acme or more
	needOwner              // an owner of acme, or an admin
	auditLog               // admins; owners of their tenant; others 403, or 404 for a tenant they have no role in
)

// roleRow is one route, called as each role would.
type roleRow struct {
	route  string // the chi pattern, "GET /api/v1/apps/{app}"
	path   string // what is called, with acme and shop
	body   any    // as f.call sends it; %s in a string is the role's name
	need   need
	expect map[string]authz // overrides for single roles (audit's outsider)
}

// roleRows is every route of the API against acme and its app shop.
// Requests meant to pass authorization are harmless: a wrong confirmation,
// an unknown sub-resource, a role set to what it is, so that the rows of
// one role run one after another on one fixture.
func roleRows(buildID int64) []roleRow {
	build := strconv.FormatInt(buildID, 10)
	return []roleRow{
		{route: "GET /api/v1/openapi.yaml", path: "/api/v1/openapi.yaml", need: public},
		{route: "POST /api/v1/login", path: "/api/v1/login", body: api.LoginRequest{Email: "login@example.com", Password: "login password 1"}, need: public},

		{route: "GET /api/v1/account", path: "/api/v1/account", need: anyone},
		{route: "PUT /api/v1/account/password", path: "/api/v1/account/password", body: api.SetPasswordRequest{Password: "a password for %s"}, need: anyone},
		{route: "GET /api/v1/account/keys", path: "/api/v1/account/keys", need: anyone},
		{route: "POST /api/v1/account/keys", path: "/api/v1/account/keys", body: "newkey", need: anyone},
		{route: "DELETE /api/v1/account/keys/{fingerprint}", path: "/api/v1/account/keys/SHA256:nosuchkey", need: anyone},
		{route: "GET /api/v1/account/tokens", path: "/api/v1/account/tokens", need: anyone},
		{route: "POST /api/v1/account/tokens", path: "/api/v1/account/tokens", body: api.CreateTokenRequest{Name: "roles"}, need: anyone},
		{route: "DELETE /api/v1/account/tokens/{id}", path: "/api/v1/account/tokens/999999", need: anyone},
		{route: "GET /api/v1/account/invitations", path: "/api/v1/account/invitations", need: anyone},
		{route: "POST /api/v1/account/invitations/{id}/accept", path: "/api/v1/account/invitations/999999/accept", need: anyone},
		{route: "POST /api/v1/account/invitations/{id}/decline", path: "/api/v1/account/invitations/999999/decline", need: anyone},
		{route: "GET /api/v1/sizes", path: "/api/v1/sizes", need: anyone},
		{route: "GET /api/v1/git", path: "/api/v1/git", need: anyone},
		{route: "GET /api/v1/apps", path: "/api/v1/apps", need: anyone},

		{route: "GET /api/v1/users", path: "/api/v1/users", need: adminOnly},
		{route: "GET /api/v1/readiness", path: "/api/v1/readiness", need: adminOnly},
		{route: "POST /api/v1/users", path: "/api/v1/users", body: `{"email":"created-by-%s@example.com"}`, need: adminOnly},
		{route: "PATCH /api/v1/users/{email}", path: "/api/v1/users/viewer@example.com", body: api.UpdateUserRequest{Deactivated: new(false)}, need: adminOnly},
		{route: "GET /api/v1/users/{email}/tokens", path: "/api/v1/users/viewer@example.com/tokens", need: adminOnly},
		{route: "DELETE /api/v1/users/{email}/tokens/{id}", path: "/api/v1/users/viewer@example.com/tokens/999999", need: adminOnly},
		{route: "GET /api/v1/tenants", path: "/api/v1/tenants", need: adminOnly},
		{route: "POST /api/v1/tenants", path: "/api/v1/tenants", body: `{"name":"t-%s"}`, need: adminOnly},
		{route: "GET /api/v1/tenants/{tenant}", path: "/api/v1/tenants/acme", need: needViewer},
		{route: "PATCH /api/v1/tenants/{tenant}", path: "/api/v1/tenants/acme", body: `{"quota":{"max_apps":10}}`, need: adminOnly},
		{route: "DELETE /api/v1/tenants/{tenant}", path: "/api/v1/tenants/acme", body: api.DeleteTenantRequest{Confirm: "not acme"}, need: adminOnly},

		{route: "GET /api/v1/audit", path: "/api/v1/audit", need: auditLog, expect: map[string]authz{"outsider": denied}},
		{route: "GET /api/v1/audit", path: "/api/v1/audit?tenant=acme", need: auditLog},

		{route: "GET /api/v1/tenants/{tenant}/members", path: "/api/v1/tenants/acme/members", need: needOwner},
		{route: "POST /api/v1/tenants/{tenant}/members", path: "/api/v1/tenants/acme/members", body: `{"email":"added-%s@example.com","role":"viewer"}`, need: needOwner},
		{route: "PATCH /api/v1/tenants/{tenant}/members/{email}", path: "/api/v1/tenants/acme/members/viewer@example.com", body: api.SetRoleRequest{Role: "viewer"}, need: needOwner},
		{route: "DELETE /api/v1/tenants/{tenant}/members/{email}", path: "/api/v1/tenants/acme/members/nobody@example.com", need: needOwner},
		{route: "GET /api/v1/tenants/{tenant}/invitations", path: "/api/v1/tenants/acme/invitations", need: needOwner},
		{route: "DELETE /api/v1/tenants/{tenant}/invitations/{email}", path: "/api/v1/tenants/acme/invitations/nobody@example.com", need: needOwner},

		{route: "POST /api/v1/apps", path: "/api/v1/apps", body: `{"name":"new-%s","tenant":"acme"}`, need: needMember},
		{route: "GET /api/v1/apps/{app}", path: "/api/v1/apps/shop", need: needViewer},
		{route: "DELETE /api/v1/apps/{app}", path: "/api/v1/apps/shop", body: api.DestroyAppRequest{Confirm: "not shop"}, need: needOwner},
		{route: "GET /api/v1/apps/{app}/config", path: "/api/v1/apps/shop/config", need: needMember}, // viewers never see config values
		{route: "PATCH /api/v1/apps/{app}/config", path: "/api/v1/apps/shop/config", body: `{"vars":{"SET_BY":"%s"}}`, need: needMember},
		{route: "GET /api/v1/apps/{app}/formation", path: "/api/v1/apps/shop/formation", need: needViewer},
		{route: "PATCH /api/v1/apps/{app}/formation", path: "/api/v1/apps/shop/formation", body: `{"updates":[{"type":"web","quantity":1}]}`, need: needMember},
		{route: "GET /api/v1/apps/{app}/ps", path: "/api/v1/apps/shop/ps", need: needViewer},
		{route: "POST /api/v1/apps/{app}/ps/restart", path: "/api/v1/apps/shop/ps/restart", body: `{}`, need: needMember},
		{route: "GET /api/v1/apps/{app}/releases", path: "/api/v1/apps/shop/releases", need: needViewer},
		{route: "GET /api/v1/apps/{app}/releases/{version}", path: "/api/v1/apps/shop/releases/1", need: needViewer},
		{route: "POST /api/v1/apps/{app}/releases", path: "/api/v1/apps/shop/releases", body: api.RollbackRequest{RollbackTo: 1}, need: needMember},
		{route: "GET /api/v1/apps/{app}/builds", path: "/api/v1/apps/shop/builds", need: needViewer},
		{route: "GET /api/v1/apps/{app}/builds/{id}", path: "/api/v1/apps/shop/builds/" + build, need: needViewer},
		{route: "GET /api/v1/apps/{app}/builds/{id}/log", path: "/api/v1/apps/shop/builds/" + build + "/log", need: needViewer},
		{route: "GET /api/v1/apps/{app}/logs", path: "/api/v1/apps/shop/logs", need: needMember}, // logs are a member's, as the role table says
		{route: "GET /api/v1/apps/{app}/domains", path: "/api/v1/apps/shop/domains", need: needViewer},
		{route: "POST /api/v1/apps/{app}/domains", path: "/api/v1/apps/shop/domains", body: `{"host":"%s.example.org"}`, need: needMember},
		{route: "DELETE /api/v1/apps/{app}/domains/{host}", path: "/api/v1/apps/shop/domains/nothing.example.org", need: needMember},
		{route: "POST /api/v1/apps/{app}/domains/{host}/verify", path: "/api/v1/apps/shop/domains/nothing.example.org/verify", need: needMember},
		{route: "GET /api/v1/apps/{app}/certificates", path: "/api/v1/apps/shop/certificates", need: needViewer},
		{route: "POST /api/v1/apps/{app}/certificates", path: "/api/v1/apps/shop/certificates", body: `{"certificate":"not PEM","private_key":"not PEM"}`, need: needMember},
		{route: "DELETE /api/v1/apps/{app}/certificates/{cert}", path: "/api/v1/apps/shop/certificates/999999", need: needMember},
		{route: "GET /api/v1/apps/{app}/https", path: "/api/v1/apps/shop/https", need: needViewer},
		{route: "PATCH /api/v1/apps/{app}/https", path: "/api/v1/apps/shop/https", body: `{"redirect":true}`, need: needMember},
	}
}

// roleLevels are the fixture's users in acme (admin above all; outsider
// has no role there, anonymous no token).
var roleLevels = map[string]store.Role{"admin": store.Admin, "owner": store.Owner, "member": store.Member, "viewer": store.Viewer}

// want is the outcome of row for role.
func (row roleRow) want(role string) authz {
	if w, ok := row.expect[role]; ok {
		return w
	}
	if row.need == public {
		return allowed
	}
	if role == "anonymous" {
		return unauthed
	}
	level, inTenant := roleLevels[role]
	switch row.need {
	case anyone:
		return allowed
	case adminOnly:
		if role == "admin" {
			return allowed
		}
		return denied
	case auditLog:
		switch {
		case role == "admin" || role == "owner":
			return allowed
		case inTenant:
			return denied
		}
		return hidden
	}
	if !inTenant {
		return hidden
	}
	min := map[need]store.Role{needViewer: store.Viewer, needMember: store.Member, needOwner: store.Owner}[row.need]
	if level.AtLeast(min) {
		return allowed
	}
	return denied
}

// outcome classifies a response; ok is false for a 501 (a handler not
// written yet, whose authorization cannot be seen).
func outcome(t *testing.T, rec *httptest.ResponseRecorder) (authz, bool) {
	t.Helper()
	if rec.Code == http.StatusNotImplemented {
		return "", false
	}
	var body api.ErrorBody
	if rec.Code >= 400 {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	}
	switch {
	case rec.Code == http.StatusUnauthorized && body.Error.Code == api.CodeUnauthorized:
		return unauthed, true
	case rec.Code == http.StatusForbidden && body.Error.Code == api.CodeForbidden:
		return denied, true
	case rec.Code == http.StatusNotFound && (body.Error.Message == release.ErrNoAccess.Error() || strings.HasSuffix(body.Error.Message, ", or no access")):
		return hidden, true
	}
	require.Less(t, rec.Code, 500, "a request that passed authorization failed: %s", rec.Body.String())
	return allowed, true
}

// TestRolesCoverEveryRoute keeps roleRows complete: a new route needs a
// row.
func TestRolesCoverEveryRoute(t *testing.T) {
	f := newAPIFixture(t)
	inTable := map[string]bool{}
	for _, row := range roleRows(1) {
		inTable[row.route] = true
	}
	routed := map[string]bool{}
	require.NoError(t, chi.Walk(f.srv.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, api.Version+"/") {
			routed[method+" "+route] = true
		}
		return nil
	}))
	for route := range routed {
		assert.True(t, inTable[route], "%s has no row in roleRows", route)
	}
	for route := range inTable {
		assert.True(t, routed[route], "roleRows has %s, which is not routed", route)
	}
}

// TestRoles calls every route as each role and checks that authorization
// lets through exactly whom the role table names: admin everything; owner
// everything in acme, members included; member deploy, config, scale,
// rollback, logs; viewer read-only, never config values; a user with no
// role in acme is told it does not exist; no token, 401.
func TestRoles(t *testing.T) {
	for _, role := range []string{"admin", "owner", "member", "viewer", "outsider", "anonymous"} {
		t.Run(role, func(t *testing.T) {
			f, _ := newReleaseFixture(t)
			ctx := context.Background()
			f.srv.tenants = &fakeTenantOps{}
			f.srv.remover = &fakeTenantRemover{}
			loginUser, err := f.st.CreateUser(ctx, "login@example.com", false)
			require.NoError(t, err)
			require.NoError(t, f.st.SetPassword(ctx, loginUser.ID, "login password 1"))
			builds, err := f.st.ListBuilds(ctx, f.shop.ID, store.ListOptions{})
			require.NoError(t, err)
			require.NotEmpty(t, builds)
			who := role
			if role == "anonymous" {
				who = ""
			}

			var unchecked []string
			for _, row := range roleRows(builds[0].ID) {
				body := row.body
				switch b := body.(type) {
				case string:
					if b == "newkey" {
						body = api.AddSSHKeyRequest{PublicKey: mustNewKey(t)}
					} else if strings.Contains(b, "%s") {
						body = fmt.Sprintf(b, role)
					}
				case api.SetPasswordRequest:
					b.Password = fmt.Sprintf(b.Password, role)
					body = b
				}
				method, _, _ := strings.Cut(row.route, " ")
				rec := f.call(t, who, method, row.path, body)
				got, ok := outcome(t, rec)
				if !ok {
					unchecked = append(unchecked, method+" "+row.path)
					continue
				}
				assert.Equal(t, row.want(role), got, "%s %s as %s: %d %s", method, row.path, role, rec.Code, rec.Body.String())
			}
			// Every handler is written and the fixture has what each needs:
			// a 501 would leave a row's authorization unchecked.
			if len(unchecked) > 0 {
				t.Errorf("answered 501, authorization not checked: %s", strings.Join(unchecked, ", "))
			}
		})
	}
}

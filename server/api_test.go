package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
	"github.com/platform-paas/platform/server/testdb"
)

// apiFixture is a server on a database of its own with two tenants, acme
// and rival, one user per role, and an app in each tenant:
//
//	admin     platform admin, in no tenant
//	owner     owner of acme
//	member    member of acme
//	viewer    viewer of acme
//	outsider  member of rival only
//	acme/shop and rival/rivalapp
type apiFixture struct {
	srv    *Server
	st     *store.Store
	dbURL  string
	logs   *bytes.Buffer
	users  map[string]store.User
	tokens map[string]string
	acme   store.Tenant
	rival  store.Tenant
	shop   store.App

	mu    sync.Mutex
	slept []time.Duration // the sign-in delays asked for, which pass at once
}

const (
	testGitURL = "ssh://git@git.test:2222"
	testKey    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
)

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	st, dbURL := testdb.Open(t)
	var logs bytes.Buffer
	srv, err := New(Config{
		Logger:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: prometheus.NewRegistry(),
		GitURL:  testGitURL,
		WebURL:  func(app string) string { return "http://" + app + ".apps.test" },
	}, st)
	require.NoError(t, err)

	f := &apiFixture{srv: srv, st: st, dbURL: dbURL, logs: &logs, users: map[string]store.User{}, tokens: map[string]string{}}
	srv.signIns.sleep = func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.slept = append(f.slept, d)
		return ctx.Err()
	}
	f.acme, err = st.CreateTenant(ctx, "acme", store.DefaultQuota())
	require.NoError(t, err)
	f.rival, err = st.CreateTenant(ctx, "rival", store.DefaultQuota())
	require.NoError(t, err)
	for _, u := range []struct {
		name   string
		tenant store.Tenant
		role   store.Role
	}{
		{"admin", store.Tenant{}, store.Admin},
		{"owner", f.acme, store.Owner},
		{"member", f.acme, store.Member},
		{"viewer", f.acme, store.Viewer},
		{"outsider", f.rival, store.Member},
	} {
		user, err := st.CreateUser(ctx, u.name+"@example.com", u.role == store.Admin)
		require.NoError(t, err)
		if u.role != store.Admin {
			require.NoError(t, st.AddMember(ctx, u.tenant.ID, user.ID, u.role))
		}
		token, _, err := st.CreateToken(ctx, user.ID, "test", nil)
		require.NoError(t, err)
		f.users[u.name], f.tokens[u.name] = user, token
	}
	f.shop, err = st.CreateApp(ctx, f.acme.ID, "shop")
	require.NoError(t, err)
	_, err = st.CreateApp(ctx, f.rival.ID, "rivalapp")
	require.NoError(t, err)
	return f
}

// call sends a request as who (a user of the fixture, or "" for no token).
// body is sent as is if it is a string, else as JSON.
func (f *apiFixture) call(t *testing.T, who, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		token, ok := f.tokens[who]
		require.True(t, ok, "no user %q in the fixture", who)
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

// decode reads a successful response's body into a T.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

// wantError checks that rec is an API error with this status, code and
// field, and returns its message.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code, field string) string {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	body := decode[api.ErrorBody](t, rec)
	assert.Equal(t, code, body.Error.Code, rec.Body.String())
	assert.Equal(t, field, body.Error.Field, rec.Body.String())
	return body.Error.Message
}

// audits returns the audit events with this action, oldest first.
func (f *apiFixture) audits(t *testing.T, action string) []store.AuditEvent {
	t.Helper()
	all, err := f.st.ListAudit(context.Background(), store.AuditFilter{})
	require.NoError(t, err)
	var out []store.AuditEvent
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Action == action {
			out = append(out, all[i])
		}
	}
	return out
}

// auditCount is the number of audit events recorded so far.
func (f *apiFixture) auditCount(t *testing.T) int {
	t.Helper()
	all, err := f.st.ListAudit(context.Background(), store.AuditFilter{})
	require.NoError(t, err)
	return len(all)
}

func TestAPIAuthentication(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	expired, tok, err := f.st.CreateToken(ctx, f.users["owner"].ID, "soon", new(time.Now().Add(time.Hour)))
	require.NoError(t, err)
	// Tokens cannot be made already expired; age this one in the database.
	conn, err := pgx.Connect(ctx, f.dbURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, tok.ID)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	tests := []struct {
		name    string
		header  string
		status  int
		message string
	}{
		{"no token", "", 401, "missing API token: run platform login"},
		{"not bearer", "Basic YWRtaW46YWRtaW4=", 401, "missing API token: run platform login"},
		{"empty bearer", "Bearer ", 401, "missing API token: run platform login"},
		{"unknown token", "Bearer plt_notarealtoken", 401, "invalid or expired token: run platform login"},
		{"no prefix", "Bearer something", 401, "invalid or expired token: run platform login"},
		{"expired token", "Bearer " + expired, 401, "invalid or expired token: run platform login"},
		{"valid token", "Bearer " + f.tokens["owner"], 200, ""},
		{"lower-case scheme", "bearer " + f.tokens["owner"], 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/account", "/api/v1/apps", "/api/v1/apps/shop", "/api/v1/tenants/acme/members"} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				rec := httptest.NewRecorder()
				f.srv.ServeHTTP(rec, req)
				if tt.status == 200 {
					assert.Equal(t, 200, rec.Code, "%s: %s", path, rec.Body.String())
					continue
				}
				msg := wantError(t, rec, tt.status, api.CodeUnauthorized, "")
				assert.Equal(t, tt.message, msg, path)
				assert.Equal(t, `Bearer realm="platform"`, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	assert.NotContains(t, f.logs.String(), f.tokens["owner"], "tokens are never logged")
	assert.NotContains(t, f.logs.String(), expired, "tokens are never logged")
}

func TestAPIAccount(t *testing.T) {
	f := newAPIFixture(t)

	rec := f.call(t, "owner", http.MethodGet, "/api/v1/account", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	acct := decode[api.Account](t, rec)
	assert.Equal(t, "owner@example.com", acct.Email)
	assert.False(t, acct.Admin)
	assert.Equal(t, []api.Membership{{Tenant: "acme", Role: "owner"}}, acct.Memberships)
	assert.False(t, acct.CreatedAt.IsZero())

	acct = decode[api.Account](t, f.call(t, "admin", http.MethodGet, "/api/v1/account", nil))
	assert.True(t, acct.Admin)
	assert.Equal(t, []api.Membership{}, acct.Memberships)
}

func TestAPITenants(t *testing.T) {
	f := newAPIFixture(t)

	t.Run("create with the default quota", func(t *testing.T) {
		rec := f.call(t, "admin", http.MethodPost, "/api/v1/tenants", api.CreateTenantRequest{Name: "globex"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		assert.Equal(t, "/api/v1/tenants/globex", rec.Header().Get("Location"))
		tn := decode[api.Tenant](t, rec)
		assert.Equal(t, "globex", tn.Name)
		assert.Equal(t, api.Quota{MaxApps: 10, MaxProcesses: 20, MaxSize: "standard"}, tn.Quota)
		assert.Nil(t, tn.SuspendedAt)

		events := f.audits(t, "tenant.create")
		require.Len(t, events, 1)
		e := events[0]
		assert.Equal(t, "admin@example.com", e.ActorEmail)
		assert.Equal(t, f.users["admin"].ID, *e.ActorID)
		assert.Equal(t, "globex", e.Target)
		assert.Equal(t, "globex", e.TenantName)
		assert.Equal(t, "192.0.2.1", e.RemoteAddr, "httptest's client address")
	})

	t.Run("create with part of a quota", func(t *testing.T) {
		rec := f.call(t, "admin", http.MethodPost, "/api/v1/tenants", `{"name":"initech","quota":{"max_apps":3,"max_size":"LARGE"}}`)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		assert.Equal(t, api.Quota{MaxApps: 3, MaxProcesses: 20, MaxSize: "large"}, decode[api.Tenant](t, rec).Quota)
	})

	t.Run("refusals", func(t *testing.T) {
		before := f.auditCount(t)
		tests := []struct {
			name   string
			who    string
			body   any
			status int
			code   string
			field  string
			msg    string
		}{
			{"an owner", "owner", api.CreateTenantRequest{Name: "x"}, 403, api.CodeForbidden, "", "only platform admins can create tenants"},
			{"a member", "member", api.CreateTenantRequest{Name: "x"}, 403, api.CodeForbidden, "", "only platform admins"},
			{"a taken name", "admin", api.CreateTenantRequest{Name: "acme"}, 409, api.CodeConflict, "", `tenant name "acme" is already taken`},
			{"no name", "admin", `{}`, 400, api.CodeInvalid, "name", "name is required"},
			{"a bad name", "admin", api.CreateTenantRequest{Name: "Acme!"}, 400, api.CodeInvalid, "name", `tenant name "Acme!" is invalid`},
			{"an unknown size", "admin", `{"name":"x","quota":{"max_size":"huge"}}`, 400, api.CodeInvalid, "quota.max_size", `unknown size "huge"`},
			{"a negative quota", "admin", `{"name":"x","quota":{"max_apps":-1}}`, 400, api.CodeInvalid, "quota.max_apps", "must not be negative"},
			{"a wrong type", "admin", `{"name":"x","quota":{"max_apps":"ten"}}`, 400, api.CodeInvalid, "quota.max_apps", `field "quota.max_apps" must be a whole number, not a string`},
			{"a fraction", "admin", `{"name":"x","quota":{"max_processes":1.5}}`, 400, api.CodeInvalid, "quota.max_processes", "must be a whole number, not a number"},
			{"an unknown field", "admin", `{"name":"x","owner":"bob"}`, 400, api.CodeInvalid, "owner", `unknown field "owner"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := f.call(t, tt.who, http.MethodPost, "/api/v1/tenants", tt.body)
				assert.Contains(t, wantError(t, rec, tt.status, tt.code, tt.field), tt.msg)
			})
		}
		assert.Equal(t, before, f.auditCount(t), "nothing refused is audited")
	})

	t.Run("list in pages", func(t *testing.T) {
		p := decode[api.Page[api.Tenant]](t, f.call(t, "admin", http.MethodGet, "/api/v1/tenants?limit=2", nil))
		require.Len(t, p.Items, 2)
		assert.Equal(t, "acme", p.Items[0].Name)
		assert.Equal(t, "rival", p.Items[1].Name)
		require.NotEmpty(t, p.NextAfter)

		p = decode[api.Page[api.Tenant]](t, f.call(t, "admin", http.MethodGet, "/api/v1/tenants?limit=2&after="+p.NextAfter, nil))
		names := []string{}
		for _, tn := range p.Items {
			names = append(names, tn.Name)
		}
		assert.Equal(t, []string{"globex", "initech"}, names)
		assert.Empty(t, p.NextAfter, "the last page")

		wantError(t, f.call(t, "owner", http.MethodGet, "/api/v1/tenants", nil), 403, api.CodeForbidden, "")
	})

	t.Run("get", func(t *testing.T) {
		tn := decode[api.Tenant](t, f.call(t, "admin", http.MethodGet, "/api/v1/tenants/acme", nil))
		assert.Equal(t, "acme", tn.Name)
		wantError(t, f.call(t, "admin", http.MethodGet, "/api/v1/tenants/nope", nil), 404, api.CodeNotFound, "")
		// Its members may read it, quota included, to know their limits.
		tn = decode[api.Tenant](t, f.call(t, "viewer", http.MethodGet, "/api/v1/tenants/acme", nil))
		assert.Equal(t, 20, tn.Quota.MaxProcesses)
		msg := wantError(t, f.call(t, "outsider", http.MethodGet, "/api/v1/tenants/acme", nil), 404, api.CodeNotFound, "")
		assert.Equal(t, `no such tenant "acme", or no access`, msg)
	})
}

func TestAPIMembers(t *testing.T) {
	f := newAPIFixture(t)

	t.Run("an owner adds an existing user", func(t *testing.T) {
		newbie, err := f.st.CreateUser(context.Background(), "Newbie@Example.com", false)
		require.NoError(t, err)
		rec := f.call(t, "owner", http.MethodPost, "/api/v1/tenants/acme/members", api.AddMemberRequest{Email: "newbie@example.com", Role: "member"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		added := decode[api.AddedMember](t, rec)
		assert.Nil(t, added.Invitation)
		require.NotNil(t, added.Member)
		assert.Equal(t, "Newbie@Example.com", added.Member.Email)
		assert.Equal(t, "member", added.Member.Role)
		assert.False(t, added.Member.CreatedAt.IsZero())
		role, err := f.st.RoleOf(context.Background(), newbie.ID, f.acme.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Member, role)

		added2 := f.audits(t, "member.add")
		require.Len(t, added2, 1)
		assert.Equal(t, "owner@example.com", added2[0].ActorEmail)
		assert.Equal(t, "acme", added2[0].TenantName)
		assert.Equal(t, "Newbie@Example.com", added2[0].Target)
		assert.Equal(t, map[string]any{"role": "member"}, added2[0].Details)
	})

	t.Run("an admin adds an existing user", func(t *testing.T) {
		rec := f.call(t, "admin", http.MethodPost, "/api/v1/tenants/rival/members", api.AddMemberRequest{Email: "viewer@example.com", Role: "Viewer"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		assert.Empty(t, f.audits(t, "user.create"), "no user was created")
	})

	t.Run("refusals", func(t *testing.T) {
		before := f.auditCount(t)
		tests := []struct {
			name   string
			who    string
			tenant string
			body   any
			status int
			code   string
			field  string
			msg    string
		}{
			{"a member", "member", "acme", api.AddMemberRequest{Email: "x@example.com", Role: "viewer"}, 403, api.CodeForbidden, "", "you are a member of tenant acme: adding members needs the owner role; ask one of its owners (owner@example.com)"},
			{"a member of a tenant without an owner", "outsider", "rival", api.AddMemberRequest{Email: "x@example.com", Role: "viewer"}, 403, api.CodeForbidden, "",
				"you are a member of tenant rival: adding members needs the owner role; tenant rival has no owner to ask: a platform admin must add one (platform members:add EMAIL --tenant rival --role owner)"},
			{"a viewer", "viewer", "acme", api.AddMemberRequest{Email: "x@example.com", Role: "viewer"}, 403, api.CodeForbidden, "", "adding members needs the owner role"},
			{"another tenant's member", "outsider", "acme", api.AddMemberRequest{Email: "x@example.com", Role: "viewer"}, 404, api.CodeNotFound, "", `no such tenant "acme", or no access`},
			{"an unknown tenant", "owner", "nope", api.AddMemberRequest{Email: "x@example.com", Role: "viewer"}, 404, api.CodeNotFound, "", `no such tenant "nope", or no access`},
			{"an unknown tenant, to an admin", "admin", "nope", api.AddMemberRequest{Email: "x@example.com", Role: "viewer"}, 404, api.CodeNotFound, "", `there is no tenant "nope"`},
			{"a member already", "owner", "acme", api.AddMemberRequest{Email: "VIEWER@example.com", Role: "owner"}, 409, api.CodeConflict, "", "viewer@example.com is already a member of tenant acme"},
			{"the admin role", "owner", "acme", api.AddMemberRequest{Email: "x@example.com", Role: "admin"}, 400, api.CodeInvalid, "role", "cannot be held in a tenant"},
			{"an unknown role", "owner", "acme", api.AddMemberRequest{Email: "x@example.com", Role: "boss"}, 400, api.CodeInvalid, "role", "role must be one of owner, member, viewer"},
			{"no role", "owner", "acme", api.AddMemberRequest{Email: "x@example.com"}, 400, api.CodeInvalid, "role", "role is required"},
			{"no email", "owner", "acme", api.AddMemberRequest{Role: "viewer"}, 400, api.CodeInvalid, "email", "email is required"},
			{"a bad email", "owner", "acme", api.AddMemberRequest{Email: "not an address", Role: "viewer"}, 400, api.CodeInvalid, "email", `email "not an address" is invalid`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := f.call(t, tt.who, http.MethodPost, "/api/v1/tenants/"+tt.tenant+"/members", tt.body)
				assert.Contains(t, wantError(t, rec, tt.status, tt.code, tt.field), tt.msg)
			})
		}
		assert.Equal(t, before, f.auditCount(t), "nothing refused is audited")
		_, err := f.st.GetUserByEmail(context.Background(), "x@example.com")
		assert.ErrorIs(t, err, store.ErrNotFound, "no user was created by a refused request")
	})

	t.Run("list", func(t *testing.T) {
		p := decode[api.Page[api.Member]](t, f.call(t, "owner", http.MethodGet, "/api/v1/tenants/acme/members", nil))
		var got []string
		for _, m := range p.Items {
			got = append(got, m.Email+" "+m.Role)
		}
		assert.Equal(t, []string{"member@example.com member", "Newbie@Example.com member", "owner@example.com owner", "viewer@example.com viewer"}, got)
		assert.Empty(t, p.NextAfter)

		p = decode[api.Page[api.Member]](t, f.call(t, "admin", http.MethodGet, "/api/v1/tenants/acme/members?limit=3", nil))
		require.Len(t, p.Items, 3)
		assert.Equal(t, "owner@example.com", p.NextAfter)
		p = decode[api.Page[api.Member]](t, f.call(t, "admin", http.MethodGet, "/api/v1/tenants/acme/members?limit=3&after="+p.NextAfter, nil))
		require.Len(t, p.Items, 1)
		assert.Equal(t, "viewer@example.com", p.Items[0].Email)
		assert.Empty(t, p.NextAfter)

		wantError(t, f.call(t, "member", http.MethodGet, "/api/v1/tenants/acme/members", nil), 403, api.CodeForbidden, "")
		wantError(t, f.call(t, "outsider", http.MethodGet, "/api/v1/tenants/acme/members", nil), 404, api.CodeNotFound, "")
	})
}

func TestAPISSHKeys(t *testing.T) {
	f := newAPIFixture(t)
	slashKey, slashFP := keyWithSlash(t)

	rec := f.call(t, "member", http.MethodPost, "/api/v1/account/keys", api.AddSSHKeyRequest{PublicKey: testKey + "\n"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	k := decode[api.SSHKey](t, rec)
	assert.Equal(t, "alice@laptop", k.Name, "named after its comment")
	assert.True(t, strings.HasPrefix(k.Fingerprint, "SHA256:"), k.Fingerprint)
	assert.Equal(t, testKey, k.PublicKey)

	rec = f.call(t, "member", http.MethodPost, "/api/v1/account/keys", api.AddSSHKeyRequest{Name: "ci", PublicKey: slashKey})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, slashFP, decode[api.SSHKey](t, rec).Fingerprint)

	added := f.audits(t, "ssh_key.add")
	require.Len(t, added, 2)
	assert.Equal(t, k.Fingerprint, added[0].Target)
	assert.Equal(t, map[string]any{"name": "alice@laptop"}, added[0].Details)
	assert.NotContains(t, fmt.Sprint(added), "AAAAC3Nza", "the key itself is not in the audit log")

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			who    string
			body   any
			status int
			code   string
			field  string
			msg    string
		}{
			{"a key registered by someone else", "owner", api.AddSSHKeyRequest{PublicKey: testKey}, 409, api.CodeConflict, "", "is already registered"},
			{"a name in use", "member", api.AddSSHKeyRequest{Name: "ci", PublicKey: mustNewKey(t)}, 409, api.CodeConflict, "", `you already have an SSH key named "ci"`},
			{"no key", "member", `{"name":"x"}`, 400, api.CodeInvalid, "public_key", "public_key is required"},
			{"not a key", "member", api.AddSSHKeyRequest{PublicKey: "hello world"}, 400, api.CodeInvalid, "public_key", "public key type"},
			{"a private key", "member", api.AddSSHKeyRequest{PublicKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"}, 400, api.CodeInvalid, "public_key", "is not supported"},
			{"a long name", "member", api.AddSSHKeyRequest{Name: strings.Repeat("n", 101), PublicKey: mustNewKey(t)}, 400, api.CodeInvalid, "name", "1 to 100 characters"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := f.call(t, tt.who, http.MethodPost, "/api/v1/account/keys", tt.body)
				assert.Contains(t, wantError(t, rec, tt.status, tt.code, tt.field), tt.msg)
			})
		}
	})

	t.Run("list only one's own", func(t *testing.T) {
		p := decode[api.Page[api.SSHKey]](t, f.call(t, "member", http.MethodGet, "/api/v1/account/keys", nil))
		require.Len(t, p.Items, 2)
		assert.Equal(t, []string{"alice@laptop", "ci"}, []string{p.Items[0].Name, p.Items[1].Name})

		p = decode[api.Page[api.SSHKey]](t, f.call(t, "member", http.MethodGet, "/api/v1/account/keys?limit=1", nil))
		require.Len(t, p.Items, 1)
		p = decode[api.Page[api.SSHKey]](t, f.call(t, "member", http.MethodGet, "/api/v1/account/keys?limit=1&after="+p.NextAfter, nil))
		require.Len(t, p.Items, 1)
		assert.Equal(t, "ci", p.Items[0].Name)
		assert.Empty(t, p.NextAfter)

		p = decode[api.Page[api.SSHKey]](t, f.call(t, "owner", http.MethodGet, "/api/v1/account/keys", nil))
		assert.Empty(t, p.Items)
	})

	t.Run("remove", func(t *testing.T) {
		escaped := "/api/v1/account/keys/" + strings.ReplaceAll(slashFP, "/", "%2F")
		wantError(t, f.call(t, "owner", http.MethodDelete, escaped, nil), 404, api.CodeNotFound, "")

		rec := f.call(t, "member", http.MethodDelete, escaped, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Empty(t, rec.Body.String())
		msg := wantError(t, f.call(t, "member", http.MethodDelete, escaped, nil), 404, api.CodeNotFound, "")
		assert.Equal(t, "you have no SSH key "+slashFP+": platform keys lists yours", msg)

		// Without the SHA256: prefix.
		rec = f.call(t, "member", http.MethodDelete, "/api/v1/account/keys/"+url.PathEscape(strings.TrimPrefix(k.Fingerprint, "SHA256:")), nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())

		removed := f.audits(t, "ssh_key.remove")
		require.Len(t, removed, 2)
		assert.Equal(t, slashFP, removed[0].Target)
		p := decode[api.Page[api.SSHKey]](t, f.call(t, "member", http.MethodGet, "/api/v1/account/keys", nil))
		assert.Empty(t, p.Items)
	})
}

func TestAPIApps(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()

	t.Run("a member creates an app", func(t *testing.T) {
		rec := f.call(t, "member", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "blog", Tenant: "acme"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		assert.Equal(t, "/api/v1/apps/blog", rec.Header().Get("Location"))
		a := decode[api.App](t, rec)
		assert.Equal(t, "blog", a.Name)
		assert.Equal(t, "acme", a.Tenant)
		assert.Equal(t, "ssh://git@git.test:2222/blog.git", a.GitURL)
		assert.Equal(t, "http://blog.apps.test", a.WebURL)
		assert.Nil(t, a.Release)

		events := f.audits(t, "app.create")
		require.Len(t, events, 1)
		e := events[0]
		assert.Equal(t, "member@example.com", e.ActorEmail)
		assert.Equal(t, "blog", e.AppName)
		assert.Equal(t, "blog", e.Target)
		assert.Equal(t, "acme", e.TenantName)
		assert.Equal(t, "192.0.2.1", e.RemoteAddr)
	})

	t.Run("the only tenant is the default", func(t *testing.T) {
		rec := f.call(t, "outsider", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "rivalblog"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		assert.Equal(t, "rival", decode[api.App](t, rec).Tenant)
	})

	t.Run("an admin creates an app anywhere", func(t *testing.T) {
		rec := f.call(t, "admin", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "adminapp", Tenant: "rival"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	})

	t.Run("refusals", func(t *testing.T) {
		small, err := f.st.CreateTenant(ctx, "small", store.Quota{MaxApps: 0, MaxProcesses: 1, MaxSize: store.SizeSmall})
		require.NoError(t, err)
		frozen, err := f.st.CreateTenant(ctx, "frozen", store.DefaultQuota())
		require.NoError(t, err)
		_, err = f.st.SuspendTenant(ctx, frozen.ID, true)
		require.NoError(t, err)
		both, err := f.st.CreateUser(ctx, "both@example.com", false)
		require.NoError(t, err)
		for _, tn := range []store.Tenant{f.acme, f.rival, small, frozen} {
			require.NoError(t, f.st.AddMember(ctx, tn.ID, both.ID, store.Owner))
		}
		f.tokens["both"], _, err = f.st.CreateToken(ctx, both.ID, "test", nil)
		require.NoError(t, err)

		before := f.auditCount(t)
		tests := []struct {
			name   string
			who    string
			body   any
			status int
			code   string
			field  string
			msg    string
		}{
			{"a viewer", "viewer", api.CreateAppRequest{Name: "x", Tenant: "acme"}, 403, api.CodeForbidden, "", "you are a viewer of tenant acme: creating apps needs the member role; ask one of its owners (both@example.com, owner@example.com)"},
			{"another tenant", "outsider", api.CreateAppRequest{Name: "x", Tenant: "acme"}, 404, api.CodeNotFound, "tenant", `no such tenant "acme", or no access`},
			{"an unknown tenant", "member", api.CreateAppRequest{Name: "x", Tenant: "nope"}, 404, api.CodeNotFound, "tenant", `no such tenant "nope", or no access`},
			{"an unknown tenant, to an admin", "admin", api.CreateAppRequest{Name: "x", Tenant: "nope"}, 404, api.CodeNotFound, "tenant", `there is no tenant "nope"`},
			{"a taken name", "member", api.CreateAppRequest{Name: "shop", Tenant: "acme"}, 409, api.CodeConflict, "", `app name "shop" is already taken`},
			{"a name taken in another tenant", "outsider", api.CreateAppRequest{Name: "shop"}, 409, api.CodeConflict, "", `app name "shop" is already taken`},
			{"a bad name", "member", api.CreateAppRequest{Name: "My_App", Tenant: "acme"}, 400, api.CodeInvalid, "name", `app name "My_App" is invalid`},
			{"no name", "member", api.CreateAppRequest{Tenant: "acme"}, 400, api.CodeInvalid, "name", "name is required"},
			{"no tenant, several", "both", api.CreateAppRequest{Name: "x"}, 400, api.CodeInvalid, "tenant", "tenant is required: you are a member of acme, frozen, rival, small"},
			{"no tenant, an admin", "admin", api.CreateAppRequest{Name: "x"}, 400, api.CodeInvalid, "tenant", "tenant is required: you are in no tenant; name one with platform apps:create x --tenant NAME (tenants: acme, rival, small, frozen), or create one with platform tenants:create NAME"},
			{"over the quota", "both", api.CreateAppRequest{Name: "x", Tenant: "small"}, 403, api.CodeQuotaExceeded, "", `tenant "small" may have at most 0 apps`},
			{"a suspended tenant", "both", api.CreateAppRequest{Name: "x", Tenant: "frozen"}, 403, api.CodeForbidden, "", "tenant frozen is suspended"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := f.call(t, tt.who, http.MethodPost, "/api/v1/apps", tt.body)
				assert.Contains(t, wantError(t, rec, tt.status, tt.code, tt.field), tt.msg)
			})
		}
		assert.Equal(t, before, f.auditCount(t), "nothing refused is audited")
		_, err = f.st.GetApp(ctx, "x")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("list", func(t *testing.T) {
		names := func(p api.Page[api.App]) []string {
			var out []string
			for _, a := range p.Items {
				out = append(out, a.Tenant+"/"+a.Name)
			}
			return out
		}
		p := decode[api.Page[api.App]](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps", nil))
		assert.Equal(t, []string{"acme/shop", "acme/blog"}, names(p))
		assert.Equal(t, "ssh://git@git.test:2222/shop.git", p.Items[0].GitURL)
		assert.Nil(t, p.Items[0].Release, "lists leave releases out")

		p = decode[api.Page[api.App]](t, f.call(t, "both", http.MethodGet, "/api/v1/apps?limit=2", nil))
		assert.Equal(t, []string{"acme/shop", "rival/rivalapp"}, names(p), "merged across tenants, by creation")
		p = decode[api.Page[api.App]](t, f.call(t, "both", http.MethodGet, "/api/v1/apps?limit=2&after="+p.NextAfter, nil))
		assert.Equal(t, []string{"acme/blog", "rival/rivalblog"}, names(p))
		p = decode[api.Page[api.App]](t, f.call(t, "both", http.MethodGet, "/api/v1/apps?limit=2&after="+p.NextAfter, nil))
		assert.Equal(t, []string{"rival/adminapp"}, names(p))
		assert.Empty(t, p.NextAfter)

		p = decode[api.Page[api.App]](t, f.call(t, "admin", http.MethodGet, "/api/v1/apps", nil))
		assert.Len(t, p.Items, 5, "an admin sees every app")

		wantError(t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps?limit=0", nil), 400, api.CodeInvalid, "limit")
		wantError(t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps?limit=501", nil), 400, api.CodeInvalid, "limit")
		wantError(t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps?after=shop", nil), 400, api.CodeInvalid, "after")
	})

	t.Run("info", func(t *testing.T) {
		a := decode[api.App](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop", nil))
		assert.Equal(t, "shop", a.Name)
		assert.Equal(t, "acme", a.Tenant)
		assert.Nil(t, a.Release)

		_, err := f.st.CreateRelease(ctx, store.NewRelease{AppID: f.shop.ID, Description: "Deploy 1a2b3c4",
			CommitSHA: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", Author: f.users["member"]})
		require.NoError(t, err)
		_, err = f.st.SetReleaseStatus(ctx, f.shop.ID, 1, store.ReleaseSucceeded, "")
		require.NoError(t, err)
		_, err = f.st.CreateRelease(ctx, store.NewRelease{AppID: f.shop.ID, Description: "Set FOO config vars", Author: f.users["member"]})
		require.NoError(t, err)
		_, err = f.st.SetReleaseStatus(ctx, f.shop.ID, 2, store.ReleaseFailed, "rollout timed out")
		require.NoError(t, err)

		a = decode[api.App](t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop", nil))
		require.NotNil(t, a.Release)
		assert.Equal(t, 2, a.Release.Version)
		assert.Equal(t, "failed", a.Release.Status)
		assert.Equal(t, "rollout timed out", a.Release.StatusReason)
		assert.Equal(t, "Set FOO config vars", a.Release.Description)
		assert.NotNil(t, a.Release.FinishedAt)

		// Another tenant's app and no app at all read the same.
		other := f.call(t, "outsider", http.MethodGet, "/api/v1/apps/shop", nil)
		missing := f.call(t, "outsider", http.MethodGet, "/api/v1/apps/nosuchapp", nil)
		assert.Equal(t, "no such app, or no access", wantError(t, other, 404, api.CodeNotFound, ""))
		assert.Equal(t, "no such app, or no access", wantError(t, missing, 404, api.CodeNotFound, ""))
		assert.Equal(t, other.Body.String(), missing.Body.String())

		a = decode[api.App](t, f.call(t, "admin", http.MethodGet, "/api/v1/apps/rivalapp", nil))
		assert.Equal(t, "rival", a.Tenant)
	})
}

func TestAPIRequestBodies(t *testing.T) {
	f := newAPIFixture(t)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		field       string
		msg         string
	}{
		{"bad JSON", "application/json", `{"name": "x",}`, 400, api.CodeInvalidJSON, "", "not valid JSON (at byte 14)"},
		{"cut short", "application/json", `{"name": "x"`, 400, api.CodeInvalidJSON, "", "ends too soon"},
		{"empty", "application/json", ``, 400, api.CodeInvalidJSON, "", "the request body is empty"},
		{"two objects", "application/json", `{"name":"x"} {"name":"y"}`, 400, api.CodeInvalidJSON, "", "one JSON object"},
		{"an array", "application/json", `[{"name":"x"}]`, 400, api.CodeInvalidJSON, "", "must be a JSON object, not an array"},
		{"a wrong type", "application/json", `{"name": 42}`, 400, api.CodeInvalid, "name", `field "name" must be a string, not a number`},
		{"an object for a string", "application/json", `{"name": {"a":1}}`, 400, api.CodeInvalid, "name", `field "name" must be a string, not an object`},
		{"an unknown field", "application/json", `{"name":"x","region":"eu"}`, 400, api.CodeInvalid, "region", `unknown field "region"`},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", maxRequestBody) + `"}`, 413, api.CodeTooLarge, "", "larger than 1048576 bytes"},
		{"a form", "application/x-www-form-urlencoded", `name=x`, 415, api.CodeUnsupportedMedia, "", "Content-Type: application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/apps", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Authorization", "Bearer "+f.tokens["member"])
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			assert.Contains(t, wantError(t, rec, tt.status, tt.code, tt.field), tt.msg)
		})
	}

	t.Run("no content type is taken as JSON", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/apps", strings.NewReader(`{"name":"plain","tenant":"acme"}`))
		req.Header.Set("Authorization", "Bearer "+f.tokens["member"])
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	})

	t.Run("method not allowed", func(t *testing.T) {
		wantError(t, f.call(t, "member", http.MethodPut, "/api/v1/apps", `{}`), 405, api.CodeMethodNotAllowed, "")
	})
}

func TestToAPIError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"not found", fmt.Errorf(`app "x": %w`, store.ErrNotFound), 404, api.CodeNotFound, `app "x": not found`},
		{"conflict", &store.ConflictError{What: `app name "x" is already taken`}, 409, api.CodeConflict, `app name "x" is already taken`},
		{"wrapped conflict", fmt.Errorf("creating: %w", &store.ConflictError{What: "taken"}), 409, api.CodeConflict, "taken"},
		{"invalid", store.ValidateAppName("X"), 400, api.CodeInvalid, `app name "X" is invalid`},
		{"quota", fmt.Errorf("tenant %q may have at most 1 apps: %w", "a", store.ErrQuotaExceeded), 403, api.CodeQuotaExceeded, "at most 1 apps"},
		{"expired token", store.ErrTokenExpired, 401, api.CodeUnauthorized, "run platform login"},
		{"api error", forbidden("no"), 403, api.CodeForbidden, "no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ae := toAPIError(tt.err)
			require.NotNil(t, ae)
			assert.Equal(t, tt.status, ae.Status)
			assert.Equal(t, tt.code, ae.Code)
			assert.Contains(t, ae.Message, tt.msg)
		})
	}
	assert.Nil(t, toAPIError(errors.New("dial tcp: refused")), "anything else is internal")
}

// mustNewKey returns a fresh ed25519 public key as an authorized_keys line.
func mustNewKey(t *testing.T) string {
	t.Helper()
	line, _ := newKey(t)
	return line
}

func newKey(t *testing.T) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " test", ssh.FingerprintSHA256(sshPub)
}

// keyWithSlash returns a key whose fingerprint has a '/', which a path
// must escape (about half of all keys).
func keyWithSlash(t *testing.T) (line, fingerprint string) {
	t.Helper()
	for {
		line, fp := newKey(t)
		if strings.Contains(fp, "/") {
			return line, fp
		}
	}
}

// TestAPIAppsFirstOfAll checks what a fresh install's first admin is told
// when creating an app before any tenant exists: the commands to run.
func TestAPIAppsFirstOfAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testdb.Open(t)
	srv, err := New(Config{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()}, st)
	require.NoError(t, err)
	admin, err := st.CreateUser(ctx, "admin@example.com", true)
	require.NoError(t, err)
	token, _, err := st.CreateToken(ctx, admin.ID, "test", nil)
	require.NoError(t, err)
	f := &apiFixture{srv: srv, st: st, tokens: map[string]string{"admin": token}}

	rec := f.call(t, "admin", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "hello"})
	assert.Equal(t, "tenant is required: there are no tenants yet; create one with platform tenants:create NAME, then platform apps:create hello --tenant NAME",
		wantError(t, rec, http.StatusBadRequest, api.CodeInvalid, "tenant"))
}

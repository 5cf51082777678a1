package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
)

// deactivate has the fixture's admin deactivate (or reactivate) email.
func (f *apiFixture) deactivate(t *testing.T, email string, deactivated bool) api.User {
	t.Helper()
	rec := f.call(t, "admin", http.MethodPatch, "/api/v1/users/"+email, api.UpdateUserRequest{Deactivated: &deactivated})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return decode[api.User](t, rec)
}

// TestAdminDeactivateUser: from the moment an admin deactivates a user,
// their API tokens, dashboard session and password sign in to nothing,
// with a message that says why; reactivated, their tokens work again.
// The git receiver's key check is held in cmd/platformd
// (TestDeactivationEndsEveryCredential) and in the store.
func TestAdminDeactivateUser(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	f.setPassword(t, "member", memberPassword)
	se := f.signIn(t, "member")
	require.Equal(t, http.StatusOK, f.call(t, "member", http.MethodGet, "/api/v1/apps", nil).Code)
	require.Equal(t, http.StatusOK, f.send(t, http.MethodGet, "/session", nil, se, nil).Code)

	u := f.deactivate(t, "Member@example.com", true)
	assert.Equal(t, "member@example.com", u.Email)
	require.NotNil(t, u.DeactivatedAt)
	assert.Equal(t, []api.Membership{{Tenant: "acme", Role: "member"}}, u.Memberships, "their roles stay")

	// The API token: refused at once, saying why.
	rec := f.call(t, "member", http.MethodGet, "/api/v1/apps", nil)
	msg := wantError(t, rec, http.StatusUnauthorized, api.CodeDeactivated, "")
	assert.Equal(t, "your account is deactivated: ask a platform admin to reactivate it", msg)
	assert.Equal(t, `Bearer realm="platform"`, rec.Header().Get("WWW-Authenticate"))
	// The dashboard session: ended.
	wantError(t, f.send(t, http.MethodGet, "/session", nil, se, nil), http.StatusUnauthorized, api.CodeUnauthorized, "")
	wantError(t, f.send(t, http.MethodGet, "/api/v1/apps", nil, se, nil), http.StatusUnauthorized, api.CodeUnauthorized, "")
	// Signing in again, with the token or the password, is refused; a
	// wrong password still says only that.
	wantError(t, f.send(t, http.MethodPost, "/session", map[string]string{"token": f.tokens["member"]}, nil, nil), http.StatusUnauthorized, api.CodeDeactivated, "")
	wantError(t, f.send(t, http.MethodPost, "/session", map[string]string{"email": "member@example.com", "password": memberPassword}, nil, nil), http.StatusUnauthorized, api.CodeDeactivated, "")
	wantError(t, f.login(t, "198.51.100.1", api.LoginRequest{Email: "member@example.com", Password: memberPassword}), http.StatusUnauthorized, api.CodeDeactivated, "")
	msg = wantError(t, f.login(t, "198.51.100.1", api.LoginRequest{Email: "member@example.com", Password: "not the password"}), http.StatusUnauthorized, api.CodeUnauthorized, "")
	assert.Equal(t, "wrong e-mail address or password", msg)

	events := f.audits(t, "user.deactivate")
	require.Len(t, events, 1)
	assert.Equal(t, "admin@example.com", events[0].ActorEmail)
	assert.Equal(t, "member@example.com", events[0].Target)
	assert.EqualValues(t, 1, events[0].Details["sessions_ended"])

	// Admins see it.
	users := decode[api.Page[api.User]](t, f.call(t, "admin", http.MethodGet, "/api/v1/users", nil))
	for _, u := range users.Items {
		assert.Equal(t, u.Email == "member@example.com", u.DeactivatedAt != nil, u.Email)
	}

	// Again changes nothing and records nothing.
	again := f.deactivate(t, "member@example.com", true)
	assert.Equal(t, u.DeactivatedAt.UTC(), again.DeactivatedAt.UTC())
	assert.Len(t, f.audits(t, "user.deactivate"), 1)

	// Reactivated, the token works again.
	u = f.deactivate(t, "member@example.com", false)
	assert.Nil(t, u.DeactivatedAt)
	assert.Equal(t, http.StatusOK, f.call(t, "member", http.MethodGet, "/api/v1/apps", nil).Code)
	require.Len(t, f.audits(t, "user.reactivate"), 1)

	t.Run("refusals", func(t *testing.T) {
		before := f.auditCount(t)
		for _, who := range []string{"owner", "member", "viewer", "outsider"} {
			msg := wantError(t, f.call(t, who, http.MethodPatch, "/api/v1/users/viewer@example.com", api.UpdateUserRequest{Deactivated: new(true)}), 403, api.CodeForbidden, "")
			assert.Equal(t, "only platform admins can deactivate or reactivate users", msg)
		}
		msg := wantError(t, f.call(t, "admin", http.MethodPatch, "/api/v1/users/admin@example.com", api.UpdateUserRequest{Deactivated: new(true)}), 409, api.CodeConflict, "")
		assert.Equal(t, "you cannot deactivate your own account: ask another platform admin", msg)
		msg = wantError(t, f.call(t, "admin", http.MethodPatch, "/api/v1/users/nobody@example.com", api.UpdateUserRequest{Deactivated: new(true)}), 404, api.CodeNotFound, "")
		assert.Equal(t, "there is no user nobody@example.com: platform users lists them", msg)
		wantError(t, f.call(t, "admin", http.MethodPatch, "/api/v1/users/viewer@example.com", map[string]any{}), 400, api.CodeInvalid, "deactivated")
		assert.Equal(t, before, f.auditCount(t))
		for _, who := range []string{"viewer", "admin"} {
			assert.Equal(t, http.StatusOK, f.call(t, who, http.MethodGet, "/api/v1/account", nil).Code, who)
		}
	})

	t.Run("another admin", func(t *testing.T) {
		ops, err := f.st.CreateUser(ctx, "ops@example.com", true)
		require.NoError(t, err)
		f.users["ops"] = ops
		f.tokens["ops"], _, err = f.st.CreateToken(ctx, ops.ID, "test", nil)
		require.NoError(t, err)
		f.deactivate(t, "ops@example.com", true)
		wantError(t, f.call(t, "ops", http.MethodPatch, "/api/v1/users/admin@example.com", api.UpdateUserRequest{Deactivated: new(true)}), http.StatusUnauthorized, api.CodeDeactivated, "")
	})
}

func TestAdminRevokesAUsersToken(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	laptop, tok, err := f.st.CreateToken(ctx, f.users["member"].ID, "laptop", nil)
	require.NoError(t, err)
	se := f.signIn(t, "member") // signed in with the fixture's token, not laptop

	p := decode[api.Page[api.Token]](t, f.call(t, "admin", http.MethodGet, "/api/v1/users/member@example.com/tokens", nil))
	require.Len(t, p.Items, 2)
	assert.Equal(t, "laptop", p.Items[0].Name, "newest first")
	for _, who := range []string{"owner", "member"} {
		wantError(t, f.call(t, who, http.MethodGet, "/api/v1/users/member@example.com/tokens", nil), 403, api.CodeForbidden, "")
		wantError(t, f.call(t, who, http.MethodDelete, fmt.Sprintf("/api/v1/users/member@example.com/tokens/%d", tok.ID), nil), 403, api.CodeForbidden, "")
	}

	rec := f.call(t, "admin", http.MethodDelete, fmt.Sprintf("/api/v1/users/member@example.com/tokens/%d", tok.ID), nil)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	wantError(t, f.bearer(t, laptop, http.MethodGet, "/api/v1/account"), 401, api.CodeUnauthorized, "")
	assert.Equal(t, http.StatusOK, f.call(t, "member", http.MethodGet, "/api/v1/account", nil).Code, "their other token works")
	assert.Equal(t, http.StatusOK, f.send(t, http.MethodGet, "/session", nil, se, nil).Code)
	events := f.audits(t, "token.revoke")
	require.Len(t, events, 1)
	assert.Equal(t, "admin@example.com", events[0].ActorEmail)
	assert.Equal(t, "laptop", events[0].Target)
	assert.Equal(t, "member@example.com", events[0].Details["user"])

	// Another user's token, or one gone, is not found.
	other, err := f.st.ListTokens(ctx, f.users["owner"].ID)
	require.NoError(t, err)
	for _, id := range []string{strconv.FormatInt(tok.ID, 10), strconv.FormatInt(other[0].ID, 10), "x"} {
		msg := wantError(t, f.call(t, "admin", http.MethodDelete, "/api/v1/users/member@example.com/tokens/"+id, nil), 404, api.CodeNotFound, "")
		assert.Equal(t, "member@example.com has no API token "+id+": platform tokens --user member@example.com lists theirs", msg)
	}
	_, err = f.st.UserByToken(ctx, f.tokens["owner"])
	assert.NoError(t, err)
	wantError(t, f.call(t, "admin", http.MethodGet, "/api/v1/users/nobody@example.com/tokens", nil), 404, api.CodeNotFound, "")
	assert.Len(t, f.audits(t, "token.revoke"), 1)
}

func TestAPIReadiness(t *testing.T) {
	f := newAPIFixture(t)
	rec := f.call(t, "admin", http.MethodGet, "/api/v1/readiness", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, api.Readiness{Status: "ok", Checks: map[string]string{}}, decode[api.Readiness](t, rec))
	msg := wantError(t, f.call(t, "owner", http.MethodGet, "/api/v1/readiness", nil), 403, api.CodeForbidden, "")
	assert.Equal(t, "only platform admins can read the readiness checks", msg)
}

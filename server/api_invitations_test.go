package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// adminCreates has the fixture's admin create a user with POST /users and
// adds them to the fixture as who, with their first token.
func (f *apiFixture) adminCreates(t *testing.T, who, email string) {
	t.Helper()
	rec := f.call(t, "admin", http.MethodPost, "/api/v1/users", api.CreateUserRequest{Email: email})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	created := decode[api.CreatedUser](t, rec)
	u, err := f.st.GetUserByEmail(context.Background(), email)
	require.NoError(t, err)
	f.users[who], f.tokens[who] = u, created.InitialToken
}

// invite has who add email to tenant with role, which must make an
// invitation, and returns it.
func (f *apiFixture) invite(t *testing.T, who, tenant, email, role string) api.Invitation {
	t.Helper()
	rec := f.call(t, who, http.MethodPost, "/api/v1/tenants/"+tenant+"/members", api.AddMemberRequest{Email: email, Role: role})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	added := decode[api.AddedMember](t, rec)
	require.Nil(t, added.Member)
	require.NotNil(t, added.Invitation)
	return *added.Invitation
}

func TestAPIInvitations(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()

	t.Run("an owner invites an address that has no account", func(t *testing.T) {
		rec := f.call(t, "owner", http.MethodPost, "/api/v1/tenants/acme/members", api.AddMemberRequest{Email: "Carol@example.com", Role: "member"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		assert.NotContains(t, rec.Body.String(), "token", "nothing that signs in is handed to the owner")
		added := decode[api.AddedMember](t, rec)
		assert.Nil(t, added.Member)
		require.NotNil(t, added.Invitation)
		inv := *added.Invitation
		assert.Equal(t, "acme", inv.Tenant)
		assert.Equal(t, "Carol@example.com", inv.Email)
		assert.Equal(t, "member", inv.Role)
		assert.Equal(t, "owner@example.com", inv.InvitedBy)
		assert.WithinDuration(t, time.Now().Add(7*24*time.Hour), inv.ExpiresAt, time.Minute)

		_, err := f.st.GetUserByEmail(ctx, "carol@example.com")
		assert.ErrorIs(t, err, store.ErrNotFound, "no account is made")
		events := f.audits(t, "invitation.create")
		require.Len(t, events, 1)
		assert.Equal(t, "acme", events[0].TenantName)
		assert.Equal(t, "owner@example.com", events[0].ActorEmail)
		assert.Equal(t, "Carol@example.com", events[0].Target)
		assert.Equal(t, "member", events[0].Details["role"])
		assert.Empty(t, f.audits(t, "user.create"))

		// The owner sees it pending; a member may not.
		p := decode[api.Page[api.Invitation]](t, f.call(t, "owner", http.MethodGet, "/api/v1/tenants/acme/invitations", nil))
		require.Len(t, p.Items, 1)
		assert.Equal(t, inv, p.Items[0])
		wantError(t, f.call(t, "member", http.MethodGet, "/api/v1/tenants/acme/invitations", nil), 403, api.CodeForbidden, "")
		wantError(t, f.call(t, "outsider", http.MethodGet, "/api/v1/tenants/acme/invitations", nil), 404, api.CodeNotFound, "")

		// Inviting the address again is refused while the first waits.
		msg := wantError(t, f.call(t, "owner", http.MethodPost, "/api/v1/tenants/acme/members", api.AddMemberRequest{Email: "carol@EXAMPLE.com", Role: "owner"}), 409, api.CodeConflict, "")
		assert.Equal(t, "carol@EXAMPLE.com is invited to this tenant already: revoke that invitation first to change it", msg)
	})

	t.Run("the invitee accepts once an admin made their account", func(t *testing.T) {
		f.adminCreates(t, "carol", "carol@example.com")
		p := decode[api.Page[api.Invitation]](t, f.call(t, "carol", http.MethodGet, "/api/v1/account/invitations", nil))
		require.Len(t, p.Items, 1)
		inv := p.Items[0]
		assert.Equal(t, "acme", inv.Tenant)
		path := "/api/v1/account/invitations/" + strconv.FormatInt(inv.ID, 10)

		// Nobody else sees or answers it, owners included.
		for _, who := range []string{"owner", "member", "outsider", "admin"} {
			assert.Empty(t, decode[api.Page[api.Invitation]](t, f.call(t, who, http.MethodGet, "/api/v1/account/invitations", nil)).Items, who)
			msg := wantError(t, f.call(t, who, http.MethodPost, path+"/accept", nil), 404, api.CodeNotFound, "")
			assert.Equal(t, fmt.Sprintf("you have no invitation %d: platform invitations lists yours", inv.ID), msg)
			wantError(t, f.call(t, who, http.MethodPost, path+"/decline", nil), 404, api.CodeNotFound, "")
		}

		rec := f.call(t, "carol", http.MethodPost, path+"/accept", nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, api.Membership{Tenant: "acme", Role: "member"}, decode[api.Membership](t, rec))
		acct := decode[api.Account](t, f.call(t, "carol", http.MethodGet, "/api/v1/account", nil))
		assert.Equal(t, []api.Membership{{Tenant: "acme", Role: "member"}}, acct.Memberships)

		// It is used up.
		assert.Empty(t, decode[api.Page[api.Invitation]](t, f.call(t, "carol", http.MethodGet, "/api/v1/account/invitations", nil)).Items)
		assert.Empty(t, decode[api.Page[api.Invitation]](t, f.call(t, "owner", http.MethodGet, "/api/v1/tenants/acme/invitations", nil)).Items)
		wantError(t, f.call(t, "carol", http.MethodPost, path+"/accept", nil), 404, api.CodeNotFound, "")

		accepted := f.audits(t, "invitation.accept")
		require.Len(t, accepted, 1)
		assert.Equal(t, "carol@example.com", accepted[0].ActorEmail)
		assert.Equal(t, "acme", accepted[0].TenantName)
		assert.Equal(t, "owner@example.com", accepted[0].Details["invited_by"])
		joined := f.audits(t, "member.add")
		require.Len(t, joined, 1)
		assert.Equal(t, "carol@example.com", joined[0].Target)
	})

	t.Run("the invitee declines", func(t *testing.T) {
		inv := f.invite(t, "owner", "acme", "dan@example.com", "viewer")
		f.adminCreates(t, "dan", "dan@example.com")
		rec := f.call(t, "dan", http.MethodPost, "/api/v1/account/invitations/"+strconv.FormatInt(inv.ID, 10)+"/decline", nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		_, err := f.st.RoleOf(ctx, f.users["dan"].ID, f.acme.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Empty(t, decode[api.Page[api.Invitation]](t, f.call(t, "dan", http.MethodGet, "/api/v1/account/invitations", nil)).Items)
		require.Len(t, f.audits(t, "invitation.decline"), 1)
	})

	t.Run("an owner revokes one", func(t *testing.T) {
		f.invite(t, "owner", "acme", "erin@example.com", "owner")
		wantError(t, f.call(t, "member", http.MethodDelete, "/api/v1/tenants/acme/invitations/erin@example.com", nil), 403, api.CodeForbidden, "")
		wantError(t, f.call(t, "outsider", http.MethodDelete, "/api/v1/tenants/acme/invitations/erin@example.com", nil), 404, api.CodeNotFound, "")
		rec := f.call(t, "owner", http.MethodDelete, "/api/v1/tenants/acme/invitations/ERIN@example.com", nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		msg := wantError(t, f.call(t, "owner", http.MethodDelete, "/api/v1/tenants/acme/invitations/erin@example.com", nil), 404, api.CodeNotFound, "")
		assert.Equal(t, "tenant acme has no pending invitation of erin@example.com: platform invitations --tenant acme lists them", msg)
		revoked := f.audits(t, "invitation.revoke")
		require.Len(t, revoked, 1)
		assert.Equal(t, "erin@example.com", revoked[0].Target)

		f.adminCreates(t, "erin", "erin@example.com")
		assert.Empty(t, decode[api.Page[api.Invitation]](t, f.call(t, "erin", http.MethodGet, "/api/v1/account/invitations", nil)).Items)
	})

	t.Run("an invitation expires", func(t *testing.T) {
		inv := f.invite(t, "owner", "acme", "fay@example.com", "member")
		f.adminCreates(t, "fay", "fay@example.com")
		conn, err := pgx.Connect(ctx, f.dbURL)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `UPDATE invitations SET created_at = now() - interval '8 days', expires_at = now() - interval '1 day' WHERE id = $1`, inv.ID)
		require.NoError(t, err)
		require.NoError(t, conn.Close(ctx))

		assert.Empty(t, decode[api.Page[api.Invitation]](t, f.call(t, "fay", http.MethodGet, "/api/v1/account/invitations", nil)).Items)
		assert.Empty(t, decode[api.Page[api.Invitation]](t, f.call(t, "owner", http.MethodGet, "/api/v1/tenants/acme/invitations", nil)).Items)
		msg := wantError(t, f.call(t, "fay", http.MethodPost, "/api/v1/account/invitations/"+strconv.FormatInt(inv.ID, 10)+"/accept", nil), http.StatusGone, api.CodeExpired, "")
		assert.Contains(t, msg, "your invitation to tenant acme expired on ")
		assert.Contains(t, msg, "ask one of its owners to invite you again")
		_, err = f.st.RoleOf(ctx, f.users["fay"].ID, f.acme.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)

		// fay has an account now: an owner adds her at once, and the stale
		// invitation goes.
		rec := f.call(t, "owner", http.MethodPost, "/api/v1/tenants/acme/members", api.AddMemberRequest{Email: "fay@example.com", Role: "member"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		require.NotNil(t, decode[api.AddedMember](t, rec).Member)
		wantError(t, f.call(t, "fay", http.MethodPost, "/api/v1/account/invitations/"+strconv.FormatInt(inv.ID, 10)+"/accept", nil), 404, api.CodeNotFound, "")
	})

	t.Run("an expired invitation is replaced by a new one", func(t *testing.T) {
		inv := f.invite(t, "owner", "acme", "gus@example.com", "member")
		conn, err := pgx.Connect(ctx, f.dbURL)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `UPDATE invitations SET created_at = now() - interval '8 days', expires_at = now() - interval '1 day' WHERE id = $1`, inv.ID)
		require.NoError(t, err)
		require.NoError(t, conn.Close(ctx))
		again := f.invite(t, "owner", "acme", "gus@example.com", "viewer")
		assert.NotEqual(t, inv.ID, again.ID)
		assert.Equal(t, "viewer", again.Role)
	})

	t.Run("a failed accept changes nothing", func(t *testing.T) {
		// hal is invited, then added by an admin before accepting: the
		// accept is refused and the invitation stays, to be declined.
		inv := f.invite(t, "admin", "rival", "hal@example.com", "member")
		hal, err := f.st.CreateUser(ctx, "hal@example.com", false)
		require.NoError(t, err)
		token, _, err := f.st.CreateToken(ctx, hal.ID, "test", nil)
		require.NoError(t, err)
		f.users["hal"], f.tokens["hal"] = hal, token
		require.NoError(t, f.st.AddMember(ctx, f.rival.ID, hal.ID, store.Viewer))
		before := f.auditCount(t)

		path := "/api/v1/account/invitations/" + strconv.FormatInt(inv.ID, 10)
		msg := wantError(t, f.call(t, "hal", http.MethodPost, path+"/accept", nil), 409, api.CodeConflict, "")
		assert.Equal(t, "you are a member of tenant rival already: decline the invitation with platform invitations:decline rival", msg)
		assert.Equal(t, before, f.auditCount(t))
		role, err := f.st.RoleOf(ctx, hal.ID, f.rival.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Viewer, role, "the role is as it was")
		require.Len(t, decode[api.Page[api.Invitation]](t, f.call(t, "hal", http.MethodGet, "/api/v1/account/invitations", nil)).Items, 1)
		require.Equal(t, http.StatusNoContent, f.call(t, "hal", http.MethodPost, path+"/decline", nil).Code)
	})
}

package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTenants(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()

	acme, err := s.CreateTenant(ctx, "acme", Quota{MaxApps: 2, MaxProcesses: 5, MaxSize: SizeSmall})
	require.NoError(t, err)
	assert.False(t, acme.Suspended())
	got, err := s.GetTenant(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, acme, got)

	updated, err := s.UpdateTenantQuota(ctx, acme.ID, Quota{MaxApps: 3, MaxProcesses: 6, MaxSize: SizeLarge})
	require.NoError(t, err)
	assert.Equal(t, Quota{MaxApps: 3, MaxProcesses: 6, MaxSize: SizeLarge}, updated.Quota)

	suspended, err := s.SuspendTenant(ctx, acme.ID, true)
	require.NoError(t, err)
	require.True(t, suspended.Suspended())
	again, err := s.SuspendTenant(ctx, acme.ID, true)
	require.NoError(t, err)
	assert.Equal(t, suspended.SuspendedAt, again.SuspendedAt, "suspending twice keeps the first time")
	resumed, err := s.SuspendTenant(ctx, acme.ID, false)
	require.NoError(t, err)
	assert.False(t, resumed.Suspended())

	invalid := []struct {
		name  string
		tname string
		quota Quota
	}{
		{"upper case", "Acme", DefaultQuota()},
		{"leading digit", "1acme", DefaultQuota()},
		{"trailing dash", "acme-", DefaultQuota()},
		{"too long", "a234567890123456789012345678901234567890x", DefaultQuota()},
		{"unknown size", "ok", Quota{MaxApps: 1, MaxProcesses: 1, MaxSize: "huge"}},
		{"negative", "ok", Quota{MaxApps: -1, MaxProcesses: 1, MaxSize: SizeSmall}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateTenant(ctx, tt.tname, tt.quota)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}

	for _, name := range []string{"b", "c", "d"} {
		_, err := s.CreateTenant(ctx, name, DefaultQuota())
		require.NoError(t, err)
	}
	page1, err := s.ListTenants(ctx, ListOptions{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page1, 2)
	page2, err := s.ListTenants(ctx, ListOptions{Limit: 2, After: page1[1].ID})
	require.NoError(t, err)
	require.Len(t, page2, 2)
	assert.Equal(t, []string{"acme", "b", "c", "d"}, []string{page1[0].Name, page1[1].Name, page2[0].Name, page2[1].Name})

	// Deleting a tenant takes its apps; audit events keep its name.
	app, err := s.CreateApp(ctx, acme.ID, "web")
	require.NoError(t, err)
	_, err = s.RecordAudit(ctx, AuditEvent{TenantID: &acme.ID, AppName: "web", Action: "app.create", Target: "web"})
	require.NoError(t, err)
	require.NoError(t, s.DeleteTenant(ctx, acme.ID))
	_, err = s.GetAppByID(ctx, app.ID)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.GetTenant(ctx, "acme")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.DeleteTenant(ctx, acme.ID), ErrNotFound)
	events, err := s.ListAudit(ctx, AuditFilter{AppName: "web"})
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Nil(t, events[0].TenantID)
	assert.Equal(t, "acme", events[0].TenantName)
}

func TestApps(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	acme, err := s.CreateTenant(ctx, "acme", Quota{MaxApps: 2, MaxProcesses: 5, MaxSize: SizeStandard})
	require.NoError(t, err)
	globex, err := s.CreateTenant(ctx, "globex", DefaultQuota())
	require.NoError(t, err)

	a1, err := s.CreateApp(ctx, acme.ID, "shop")
	require.NoError(t, err)
	assert.Equal(t, "acme", a1.TenantName)
	assert.Zero(t, a1.LastVersion)
	a2, err := s.CreateApp(ctx, acme.ID, "a-b-c-123")
	require.NoError(t, err)
	_, err = s.CreateApp(ctx, acme.ID, "third")
	assert.ErrorIs(t, err, ErrQuotaExceeded)
	assert.ErrorContains(t, err, `tenant "acme" may have at most 2 apps`)
	g1, err := s.CreateApp(ctx, globex.ID, "blog")
	require.NoError(t, err)

	got, err := s.GetApp(ctx, "shop")
	require.NoError(t, err)
	assert.Equal(t, a1, got)
	_, err = s.GetApp(ctx, "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorContains(t, err, `app "nope"`)

	forAcme, err := s.ListAppsForTenant(ctx, acme.ID, ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []App{a1, a2}, forAcme)
	all, err := s.ListApps(ctx, ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []App{a1, a2, g1}, all)
	rest, err := s.ListApps(ctx, ListOptions{After: a2.ID})
	require.NoError(t, err)
	assert.Equal(t, []App{g1}, rest)

	names := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"abcdefghijklmnopqrstuvwxyz0123", true}, // 30
		{"abcdefghijklmnopqrstuvwxyz01234", false},
		{"Shop", false},
		{"9shop", false},
		{"shop-", false},
		{"-shop", false},
		{"sh_op", false},
		{"sh.op", false},
		{"", false},
	}
	for _, tt := range names {
		t.Run("name "+tt.name, func(t *testing.T) {
			err := ValidateAppName(tt.name)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrInvalid)
			_, err = s.CreateApp(ctx, globex.ID, tt.name)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}

	require.NoError(t, s.DeleteApp(ctx, a1.ID))
	assert.ErrorIs(t, s.DeleteApp(ctx, a1.ID), ErrNotFound)
	_, err = s.CreateApp(ctx, acme.ID, "shop")
	require.NoError(t, err, "a deleted app frees its name and its quota slot")
}

func TestUsersAndRoles(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	acme, err := s.CreateTenant(ctx, "acme", DefaultQuota())
	require.NoError(t, err)
	alice, err := s.CreateUser(ctx, " Alice@Example.com ", false)
	require.NoError(t, err)
	assert.Equal(t, "Alice@Example.com", alice.Email)
	root, err := s.CreateUser(ctx, "root@example.com", true)
	require.NoError(t, err)
	carol, err := s.CreateUser(ctx, "carol@example.com", false)
	require.NoError(t, err)

	got, err := s.GetUserByEmail(ctx, "alice@EXAMPLE.com")
	require.NoError(t, err)
	assert.Equal(t, alice, got)
	_, err = s.CreateUser(ctx, "no-at-sign", false)
	assert.ErrorIs(t, err, ErrInvalid)

	require.NoError(t, s.AddMember(ctx, acme.ID, alice.ID, Member))
	assert.ErrorIs(t, s.AddMember(ctx, acme.ID, carol.ID, Admin), ErrInvalid, "admin is not a tenant role")
	assert.ErrorIs(t, s.AddMember(ctx, acme.ID, 424242, Viewer), ErrNotFound)

	roles := []struct {
		name string
		user int64
		want Role
		err  error
	}{
		{"member", alice.ID, Member, nil},
		{"admin without membership", root.ID, Admin, nil},
		{"not a member", carol.ID, "", ErrNotFound},
		{"unknown user", 424242, "", ErrNotFound},
	}
	for _, tt := range roles {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.RoleOf(ctx, tt.user, acme.ID)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, r)
		})
	}

	require.NoError(t, s.SetMemberRole(ctx, acme.ID, alice.ID, Owner))
	r, err := s.RoleOf(ctx, alice.ID, acme.ID)
	require.NoError(t, err)
	assert.Equal(t, Owner, r)
	require.NoError(t, s.AddMember(ctx, acme.ID, carol.ID, Viewer))
	members, err := s.ListMembers(ctx, acme.ID)
	require.NoError(t, err)
	require.Len(t, members, 2)
	assert.Equal(t, "Alice@Example.com", members[0].UserEmail)
	assert.Equal(t, Viewer, members[1].Role)
	ms, err := s.ListMemberships(ctx, carol.ID)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, "acme", ms[0].TenantName)

	require.NoError(t, s.RemoveMember(ctx, acme.ID, carol.ID))
	assert.ErrorIs(t, s.RemoveMember(ctx, acme.ID, carol.ID), ErrNotFound)
	users, err := s.ListUsers(ctx, ListOptions{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []User{alice, root}, users)

	require.NoError(t, s.DeleteUser(ctx, alice.ID))
	_, err = s.GetUser(ctx, alice.ID)
	assert.ErrorIs(t, err, ErrNotFound)
	members, err = s.ListMembers(ctx, acme.ID)
	require.NoError(t, err)
	assert.Empty(t, members)
}

func TestRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Role
		wantErr string
	}{
		{"Owner", Owner, ""},
		{" member ", Member, ""},
		{"viewer", Viewer, ""},
		{"admin", "", `role "admin" cannot be held in a tenant: use owner, member or viewer`},
		{"root", "", "role must be one of owner, member, viewer"},
		{" ", "", "role is required"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRole(tt.in)
			if tt.wantErr != "" {
				assert.ErrorIs(t, err, ErrInvalid)
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, r)
		})
	}
	assert.True(t, Admin.AtLeast(Owner))
	assert.True(t, Owner.AtLeast(Owner))
	assert.True(t, Member.AtLeast(Viewer))
	assert.False(t, Viewer.AtLeast(Member))
	assert.False(t, Role("root").AtLeast(Viewer))
	assert.False(t, Admin.TenantRole())
	assert.True(t, Viewer.TenantRole())
}

func TestTenantUsage(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	acme, err := s.CreateTenant(ctx, "acme", Quota{MaxApps: 5, MaxProcesses: 10, MaxSize: SizeLarge})
	require.NoError(t, err)
	other, err := s.CreateTenant(ctx, "other", DefaultQuota())
	require.NoError(t, err)

	use, err := s.TenantUsage(ctx, acme.ID)
	require.NoError(t, err)
	assert.Equal(t, TenantUsage{}, use, "an empty tenant uses nothing")

	shop, err := s.CreateApp(ctx, acme.ID, "shop")
	require.NoError(t, err)
	blog, err := s.CreateApp(ctx, acme.ID, "blog")
	require.NoError(t, err)
	_, err = s.CreateApp(ctx, acme.ID, "idle")
	require.NoError(t, err)
	elsewhere, err := s.CreateApp(ctx, other.ID, "elsewhere")
	require.NoError(t, err)
	_, err = s.UpsertFormation(ctx, shop.ID, []Process{{Type: "web", Quantity: 2, Size: SizeSmall}, {Type: "worker", Quantity: 0, Size: SizeLarge}})
	require.NoError(t, err)
	_, err = s.UpsertFormation(ctx, blog.ID, []Process{{Type: "web", Quantity: 1, Size: SizeStandard}})
	require.NoError(t, err)
	_, err = s.UpsertFormation(ctx, elsewhere.ID, []Process{{Type: "web", Quantity: 3}})
	require.NoError(t, err)

	use, err = s.TenantUsage(ctx, acme.ID)
	require.NoError(t, err)
	assert.Equal(t, TenantUsage{Apps: 3, Processes: 3, MaxSize: SizeStandard}, use,
		"a type scaled to zero does not count for the size; other tenants do not count")

	// LockTenant holds the tenant against a concurrent formation change
	// until the transaction ends.
	locked := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(tx *Store) error {
			if _, err := tx.LockTenant(ctx, acme.ID); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	scaled := make(chan error, 1)
	go func() {
		_, err := s.ScaleFormation(ctx, shop.ID, []ProcessScale{{Type: "web", Quantity: intp(3)}})
		scaled <- err
	}()
	select {
	case err := <-scaled:
		t.Fatalf("a formation change went through a locked tenant: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-scaled)

	_, err = s.LockTenant(ctx, 1<<40)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestListMembershipsOf(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	acme, err := s.CreateTenant(ctx, "acme", DefaultQuota())
	require.NoError(t, err)
	beta, err := s.CreateTenant(ctx, "beta", DefaultQuota())
	require.NoError(t, err)
	alice, err := s.CreateUser(ctx, "alice@example.com", false)
	require.NoError(t, err)
	bob, err := s.CreateUser(ctx, "bob@example.com", false)
	require.NoError(t, err)
	loner, err := s.CreateUser(ctx, "loner@example.com", false)
	require.NoError(t, err)
	require.NoError(t, s.AddMember(ctx, beta.ID, alice.ID, Owner))
	require.NoError(t, s.AddMember(ctx, acme.ID, alice.ID, Viewer))
	require.NoError(t, s.AddMember(ctx, acme.ID, bob.ID, Member))

	got, err := s.ListMembershipsOf(ctx, []int64{alice.ID, loner.ID})
	require.NoError(t, err)
	require.Len(t, got, 1, "only the users asked for, and only those in a tenant")
	require.Len(t, got[alice.ID], 2)
	assert.Equal(t, "acme", got[alice.ID][0].TenantName, "by tenant name")
	assert.Equal(t, Viewer, got[alice.ID][0].Role)
	assert.Equal(t, "beta", got[alice.ID][1].TenantName)
	assert.Equal(t, Owner, got[alice.ID][1].Role)

	got, err = s.ListMembershipsOf(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestAskAnOwner checks whom a member who lacks a role is sent to: the
// tenant's active owners by address, a few of them, or, with none, an
// admin who must add one.
func TestAskAnOwner(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	acme, err := s.CreateTenant(ctx, "acme", DefaultQuota())
	require.NoError(t, err)
	ask := func(role Role) string {
		t.Helper()
		msg, err := s.AskAnOwner(ctx, acme, role)
		require.NoError(t, err)
		return msg
	}
	assert.Equal(t, "tenant acme has no owner to ask: a platform admin must add one (platform members:add EMAIL --tenant acme --role owner)", ask(Member))

	add := func(email string, role Role) User {
		u, err := s.CreateUser(ctx, email, false)
		require.NoError(t, err)
		require.NoError(t, s.AddMember(ctx, acme.ID, u.ID, role))
		return u
	}
	add("dev@example.com", Member)
	gone := add("ann@example.com", Owner)
	add("Zed@example.com", Owner)
	assert.Equal(t, "ask one of its owners (ann@example.com, Zed@example.com) for the member role", ask(Member))
	assert.Equal(t, "ask one of its owners (ann@example.com, Zed@example.com)", ask(""))

	_, err = s.SetUserDeactivated(ctx, gone.ID, true)
	require.NoError(t, err)
	assert.Equal(t, "ask one of its owners (Zed@example.com)", ask(""), "a deactivated owner is not named")
	for _, e := range []string{"b@example.com", "c@example.com", "d@example.com"} {
		add(e, Owner)
	}
	assert.Equal(t, "ask one of its owners (b@example.com, c@example.com, d@example.com, ...)", ask(""))
}

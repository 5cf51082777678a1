package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	bob, err := s.CreateUser(ctx, "bob@example.com", false)
	require.NoError(t, err)

	e1, err := s.RecordAudit(ctx, AuditEvent{
		ActorID: &f.user.ID, ActorEmail: f.user.Email, TenantID: &f.tenant.ID, AppName: "shop",
		Action: "config.set", Target: "FOO,BAR", Details: map[string]any{"keys": []any{"FOO", "BAR"}},
		RemoteAddr: "127.0.0.1:5555",
	})
	require.NoError(t, err)
	assert.Equal(t, "acme", e1.TenantName, "tenant name filled from the tenant")
	assert.Equal(t, map[string]any{"keys": []any{"FOO", "BAR"}}, e1.Details)
	assert.WithinDuration(t, time.Now(), e1.At, time.Minute)
	e2, err := s.RecordAudit(ctx, AuditEvent{ActorID: &bob.ID, ActorEmail: bob.Email, Action: "app.create", Target: "blog", AppName: "blog"})
	require.NoError(t, err)
	e3, err := s.RecordAudit(ctx, AuditEvent{ActorID: &f.user.ID, ActorEmail: f.user.Email, TenantID: &f.tenant.ID, AppName: "shop", Action: "release.rollback", Target: "v3"})
	require.NoError(t, err)

	ids := func(es []AuditEvent) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	tests := []struct {
		name   string
		filter AuditFilter
		want   []int64
	}{
		{"all, newest first", AuditFilter{}, []int64{e3.ID, e2.ID, e1.ID}},
		{"by tenant", AuditFilter{TenantID: &f.tenant.ID}, []int64{e3.ID, e1.ID}},
		{"by app", AuditFilter{AppName: "blog"}, []int64{e2.ID}},
		{"by actor", AuditFilter{ActorID: &f.user.ID}, []int64{e3.ID, e1.ID}},
		{"since the future", AuditFilter{Since: time.Now().Add(time.Hour)}, []int64{}},
		{"since the past", AuditFilter{Since: time.Now().Add(-time.Hour), ActorID: &bob.ID}, []int64{e2.ID}},
		{"limit", AuditFilter{ListOptions: ListOptions{Limit: 1}}, []int64{e3.ID}},
		{"after cursor", AuditFilter{ListOptions: ListOptions{After: e3.ID}}, []int64{e2.ID, e1.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.filter)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(got))
		})
	}

	_, err = s.RecordAudit(ctx, AuditEvent{Action: "Config Set"})
	assert.ErrorIs(t, err, ErrInvalid)

	// Events outlive their actor.
	require.NoError(t, s.DeleteUser(ctx, bob.ID))
	got, err := s.ListAudit(ctx, AuditFilter{AppName: "blog"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Nil(t, got[0].ActorID)
	assert.Equal(t, "bob@example.com", got[0].ActorEmail)
}

func TestAuditFilters(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	gone, err := s.CreateTenant(ctx, "gone", DefaultQuota())
	require.NoError(t, err)

	record := func(e AuditEvent) int64 {
		t.Helper()
		out, err := s.RecordAudit(ctx, e)
		require.NoError(t, err)
		return out.ID
	}
	set := record(AuditEvent{ActorEmail: "Alice@Example.com", TenantID: &f.tenant.ID, Action: "config.set"})
	unset := record(AuditEvent{ActorEmail: "bob@example.com", TenantID: &f.tenant.ID, Action: "config.unset"})
	configure := record(AuditEvent{ActorEmail: "bob@example.com", TenantID: &f.tenant.ID, Action: "configure.thing"})
	goneEvent := record(AuditEvent{ActorEmail: "bob@example.com", TenantID: &gone.ID, Action: "app.create"})
	require.NoError(t, s.DeleteTenant(ctx, gone.ID))

	ids := func(es []AuditEvent) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	tests := []struct {
		name   string
		filter AuditFilter
		want   []int64
	}{
		{"an action", AuditFilter{Action: "config.set"}, []int64{set}},
		{"a prefix", AuditFilter{Action: "config."}, []int64{unset, set}},
		{"a prefix is not a word prefix", AuditFilter{Action: "configure."}, []int64{configure}},
		{"an action nobody did", AuditFilter{Action: "config.get"}, []int64{}},
		{"an actor, in any case", AuditFilter{ActorEmail: "alice@EXAMPLE.com"}, []int64{set}},
		{"an actor and a prefix", AuditFilter{ActorEmail: "bob@example.com", Action: "config."}, []int64{unset}},
		{"a tenant by name", AuditFilter{TenantName: "acme"}, []int64{configure, unset, set}},
		{"a deleted tenant by name", AuditFilter{TenantName: "gone"}, []int64{goneEvent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.filter)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(got))
		})
	}

	for _, bad := range []string{"config", "Config.set", "config..", ".", "config.%", "config._"} {
		_, err := s.ListAudit(ctx, AuditFilter{Action: bad})
		assert.ErrorIs(t, err, ErrInvalid, bad)
	}
}

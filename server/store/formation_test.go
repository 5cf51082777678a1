package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func intp(i int) *int { return &i }

func TestFormation(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	acme, err := s.CreateTenant(ctx, "acme", Quota{MaxApps: 5, MaxProcesses: 4, MaxSize: SizeStandard})
	require.NoError(t, err)
	shop, err := s.CreateApp(ctx, acme.ID, "shop")
	require.NoError(t, err)
	blog, err := s.CreateApp(ctx, acme.ID, "blog")
	require.NoError(t, err)

	procs, err := s.UpsertFormation(ctx, shop.ID, []Process{
		{Type: "web", Quantity: 1, Command: "./web"},
		{Type: "worker", Quantity: 0, Size: SizeSmall, Command: "./worker"},
	})
	require.NoError(t, err)
	assert.Equal(t, []Process{
		{Type: "web", Quantity: 1, Size: SizeStandard, Command: "./web"},
		{Type: "worker", Quantity: 0, Size: SizeSmall, Command: "./worker"},
	}, procs)

	// A redeploy updates commands and keeps the scale.
	procs, err = s.ScaleFormation(ctx, shop.ID, []ProcessScale{{Type: "web", Quantity: intp(2)}})
	require.NoError(t, err)
	assert.Equal(t, 2, procs[0].Quantity)
	procs, err = s.UpsertFormation(ctx, shop.ID, []Process{{Type: "web", Quantity: 1, Command: "./web --v2"}})
	require.NoError(t, err)
	assert.Equal(t, Process{Type: "web", Quantity: 2, Size: SizeStandard, Command: "./web --v2"}, procs[0])

	// Quotas: processes count across the tenant's apps; sizes are capped.
	_, err = s.UpsertFormation(ctx, blog.ID, []Process{{Type: "web", Quantity: 2}})
	require.NoError(t, err)
	_, err = s.ScaleFormation(ctx, shop.ID, []ProcessScale{{Type: "worker", Quantity: intp(1)}})
	assert.ErrorIs(t, err, ErrQuotaExceeded)
	assert.ErrorContains(t, err, `tenant "acme" may run at most 4 processes; this change would make 5`)
	_, err = s.ScaleFormation(ctx, shop.ID, []ProcessScale{{Type: "web", Size: SizeLarge}})
	assert.ErrorIs(t, err, ErrQuotaExceeded)
	_, err = s.UpsertFormation(ctx, shop.ID, []Process{{Type: "clock", Quantity: 1, Command: "./clock"}})
	assert.ErrorIs(t, err, ErrQuotaExceeded)
	procs, err = s.ListFormation(ctx, shop.ID)
	require.NoError(t, err)
	require.Len(t, procs, 2, "refused changes leave the formation as it was")
	assert.Equal(t, 2, procs[0].Quantity)
	assert.Equal(t, 0, procs[1].Quantity)

	// A tenant above a lowered quota may still scale down.
	_, err = s.UpdateTenantQuota(ctx, acme.ID, Quota{MaxApps: 5, MaxProcesses: 1, MaxSize: SizeSmall})
	require.NoError(t, err)
	procs, err = s.ScaleFormation(ctx, shop.ID, []ProcessScale{{Type: "web", Quantity: intp(1)}})
	require.NoError(t, err)
	assert.Equal(t, 1, procs[0].Quantity)

	_, err = s.ScaleFormation(ctx, shop.ID, []ProcessScale{{Type: "nope", Quantity: intp(1)}})
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.ScaleFormation(ctx, shop.ID, []ProcessScale{{Type: "web", Quantity: intp(-1)}})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = s.UpsertFormation(ctx, shop.ID, []Process{{Type: "Web_1"}})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = s.UpsertFormation(ctx, shop.ID, []Process{{Type: "web", Size: "huge"}})
	assert.ErrorIs(t, err, ErrInvalid)

	require.NoError(t, s.RemoveProcess(ctx, shop.ID, "worker"))
	assert.ErrorIs(t, s.RemoveProcess(ctx, shop.ID, "worker"), ErrNotFound)
	procs, err = s.ListFormation(ctx, shop.ID)
	require.NoError(t, err)
	assert.Len(t, procs, 1)
}

func TestSizes(t *testing.T) {
	t.Parallel()
	sizes := Sizes()
	require.Len(t, sizes, 3)
	for i := 1; i < len(sizes); i++ {
		assert.Greater(t, sizes[i].MemoryLimitBytes, sizes[i-1].MemoryLimitBytes, "sizes are ordered")
		assert.Greater(t, sizes[i].CPURequestMillis, sizes[i-1].CPURequestMillis, "sizes are ordered")
	}
	for _, sp := range sizes {
		assert.LessOrEqual(t, sp.CPURequestMillis, sp.CPULimitMillis)
		assert.LessOrEqual(t, sp.MemoryRequestBytes, sp.MemoryLimitBytes)
		got, ok := sp.Name.Spec()
		assert.True(t, ok)
		assert.Equal(t, sp, got)
	}
	small, _ := SizeSmall.Spec()
	assert.Equal(t, int64(256<<20), small.MemoryLimitBytes)
	assert.True(t, SizeSmall.AtMost(SizeStandard))
	assert.True(t, SizeLarge.AtMost(SizeLarge))
	assert.False(t, SizeLarge.AtMost(SizeStandard))
	assert.False(t, Size("huge").AtMost(SizeLarge))
	sz, err := ParseSize(" Large ")
	require.NoError(t, err)
	assert.Equal(t, SizeLarge, sz)
	_, err = ParseSize("xl")
	assert.ErrorIs(t, err, ErrInvalid)
}

// TestSizesMatchSchema keeps the Go size table and the schema's CHECK
// constraints in step.
func TestSizesMatchSchema(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	for _, sp := range Sizes() {
		_, err := s.CreateTenant(ctx, "t-"+string(sp.Name), Quota{MaxApps: 1, MaxProcesses: 1, MaxSize: sp.Name})
		assert.NoError(t, err, "schema accepts size %s", sp.Name)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO tenants (name, max_apps, max_processes, max_size) VALUES ('x', 1, 1, 'huge')`)
	assert.ErrorIs(t, mapErr(err), ErrInvalid, "schema refuses an unknown size")
}

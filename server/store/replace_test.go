package store

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReplaceConfig(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	_, err := s.SetConfig(ctx, f.app.ID, map[string]string{"A": "1", "B": "2"})
	require.NoError(t, err)
	require.NoError(t, s.ReplaceConfig(ctx, f.app.ID, map[string]string{"B": "two", "C": "3"}))
	got, err := s.GetConfig(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"B": "two", "C": "3"}, got)

	require.NoError(t, s.ReplaceConfig(ctx, f.app.ID, map[string]string{}))
	got, err = s.GetConfig(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Empty(t, got)

	// Refusals leave the config as it was.
	_, err = s.SetConfig(ctx, f.app.ID, map[string]string{"KEEP": "me"})
	require.NoError(t, err)
	assert.ErrorIs(t, s.ReplaceConfig(ctx, f.app.ID, map[string]string{"PORT": "1"}), ErrInvalid)
	assert.ErrorIs(t, s.ReplaceConfig(ctx, f.app.ID, map[string]string{"A": strings.Repeat("x", 30<<10), "B": strings.Repeat("x", 30<<10), "C": strings.Repeat("x", 30<<10)}), ErrInvalid)
	assert.ErrorIs(t, s.ReplaceConfig(ctx, 999999, map[string]string{"A": "1"}), ErrNotFound)
	got, err = s.GetConfig(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"KEEP": "me"}, got)
}

func TestConfigLimits(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	for _, k := range []string{"PORT", "DYNO", "PLATFORM_APP", "PLATFORM_ANYTHING", "KUBERNETES_SERVICE_HOST", "KUBERNETES_PORT"} {
		_, err := s.SetConfig(ctx, f.app.ID, map[string]string{k: "x"})
		assert.ErrorIs(t, err, ErrInvalid, k)
		assert.ErrorContains(t, err, "reserved", k)
	}
	_, err := s.SetConfig(ctx, f.app.ID, map[string]string{"PORTS": "fine", "MY_PLATFORM_X": "fine"})
	require.NoError(t, err)

	// Values are bounded one by one and together.
	_, err = s.SetConfig(ctx, f.app.ID, map[string]string{"A": strings.Repeat("x", 30<<10), "B": strings.Repeat("x", 30<<10)})
	require.NoError(t, err)
	_, err = s.SetConfig(ctx, f.app.ID, map[string]string{"C": strings.Repeat("x", 10<<10)})
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "the limit is 65536")
	got, err := s.GetConfig(ctx, f.app.ID)
	require.NoError(t, err)
	assert.NotContains(t, got, "C", "a refused change writes nothing")
}

func TestReplaceFormationAndHealthPath(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	_, err := s.UpsertFormation(ctx, f.app.ID, []Process{
		{Type: "web", Quantity: 1, Command: "./web", HealthPath: "/healthz"},
		{Type: "worker", Quantity: 2, Command: "./worker"},
	})
	require.NoError(t, err)
	procs, err := s.ReplaceFormation(ctx, f.app.ID, []Process{
		{Type: "web", Quantity: 3, Size: SizeSmall, Command: "./web-old"},
		{Type: "clock", Quantity: 1, Command: "./clock"},
	})
	require.NoError(t, err)
	assert.Equal(t, []Process{
		{Type: "clock", Quantity: 1, Size: SizeStandard, Command: "./clock"},
		{Type: "web", Quantity: 3, Size: SizeSmall, Command: "./web-old"},
	}, procs, "worker is gone, web is exactly as given")

	// Over the quota (20 processes by default) is refused and changes nothing.
	_, err = s.ReplaceFormation(ctx, f.app.ID, []Process{{Type: "web", Quantity: 21}})
	assert.ErrorIs(t, err, ErrQuotaExceeded)
	_, err = s.ReplaceFormation(ctx, f.app.ID, []Process{{Type: "web", HealthPath: "healthz"}})
	assert.ErrorIs(t, err, ErrInvalid)
	after, err := s.ListFormation(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, procs, after)

	// The health path is in the formation and in release snapshots.
	_, err = s.UpsertFormation(ctx, f.app.ID, []Process{{Type: "web", Command: "./web", HealthPath: "/ready?deep=1"}})
	require.NoError(t, err)
	rel, err := s.CreateRelease(ctx, NewRelease{AppID: f.app.ID, Description: "Deploy", ImageRef: "r/a@" + testDigest, ImageDigest: testDigest})
	require.NoError(t, err)
	got, err := s.GetRelease(ctx, f.app.ID, rel.Version)
	require.NoError(t, err)
	require.Len(t, got.Formation, 2)
	assert.Equal(t, "/ready?deep=1", got.Formation[1].HealthPath)
	assert.Empty(t, got.Formation[0].HealthPath)
}

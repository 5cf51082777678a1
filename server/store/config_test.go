package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretValue = "hunter2-very-secret-marker"

func TestConfigSetUnset(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()

	cfg, err := s.GetConfig(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Empty(t, cfg)

	cfg, err = s.SetConfig(ctx, f.app.ID, map[string]string{"FOO": "1", "BAR": "2", "_X9": ""})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"FOO": "1", "BAR": "2", "_X9": ""}, cfg)

	cfg, err = s.SetConfig(ctx, f.app.ID, map[string]string{"FOO": "one"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"FOO": "one", "BAR": "2", "_X9": ""}, cfg)

	cfg, err = s.UnsetConfig(ctx, f.app.ID, []string{"BAR", "NEVER_SET"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"FOO": "one", "_X9": ""}, cfg)

	invalid := []struct {
		name string
		vars map[string]string
	}{
		{"leading digit", map[string]string{"1FOO": "x"}},
		{"dash", map[string]string{"FOO-BAR": "x"}},
		{"empty key", map[string]string{"": "x"}},
		{"space", map[string]string{"FOO BAR": "x"}},
		{"nul in value", map[string]string{"FOO": "a\x00b"}},
		{"nothing", map[string]string{}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SetConfig(ctx, f.app.ID, tt.vars)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}
	after, err := s.GetConfig(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, cfg, after, "refused writes change nothing")

	_, err = s.SetConfig(ctx, 424242, map[string]string{"FOO": "x"})
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.GetConfig(ctx, 424242)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestConfigEncryptedAtRest(t *testing.T) {
	t.Parallel()
	dbURL := newMigratedDatabase(t)
	key := newKey(t)
	s := openStore(t, dbURL, key)
	f := newFixture(t, s)
	ctx := context.Background()

	_, err := s.SetConfig(ctx, f.app.ID, map[string]string{"SECRET": secretValue, "OTHER": "something-else"})
	require.NoError(t, err)
	rel, err := s.CreateRelease(ctx, NewRelease{AppID: f.app.ID, Description: "Set SECRET config vars"})
	require.NoError(t, err)

	// The raw bytes hold no plaintext, and two writes of a value differ.
	var raw []byte
	require.NoError(t, s.db.QueryRow(ctx, `SELECT value FROM config_vars WHERE app_id = $1 AND key = 'SECRET'`, f.app.ID).Scan(&raw))
	assert.False(t, bytes.Contains(raw, []byte(secretValue)), "config var stored in clear")
	assert.False(t, bytes.Contains(raw, []byte("hunter2")), "config var stored in clear")
	var rawRelease []byte
	require.NoError(t, s.db.QueryRow(ctx, `SELECT config FROM releases WHERE id = $1`, rel.ID).Scan(&rawRelease))
	assert.False(t, bytes.Contains(rawRelease, []byte(secretValue)), "release config stored in clear")
	assert.False(t, bytes.Contains(rawRelease, []byte("SECRET")), "release config keys stored in clear")
	var dump string
	require.NoError(t, s.db.QueryRow(ctx, `
		SELECT coalesce(string_agg(to_jsonb(c)::text, ''), '') || coalesce((SELECT string_agg(to_jsonb(r)::text, '') FROM releases r), '')
		FROM config_vars c`).Scan(&dump))
	assert.NotContains(t, dump, secretValue)

	// The same key reads it back, through another Store too.
	again := openStore(t, dbURL, key)
	cfg, err := again.GetConfig(ctx, f.app.ID)
	require.NoError(t, err)
	assert.Equal(t, secretValue, cfg["SECRET"])
	got, err := again.GetRelease(ctx, f.app.ID, rel.Version)
	require.NoError(t, err)
	assert.Equal(t, secretValue, got.Config["SECRET"])

	// Another key cannot read them, and says so.
	wrong := openStore(t, dbURL, newKey(t))
	_, err = wrong.GetConfig(ctx, f.app.ID)
	require.ErrorIs(t, err, ErrDecrypt)
	assert.ErrorContains(t, err, "decrypting config: wrong key or corrupted value")
	_, err = wrong.GetRelease(ctx, f.app.ID, rel.Version)
	require.ErrorIs(t, err, ErrDecrypt)
	assert.ErrorContains(t, err, "decrypting config: wrong key or corrupted value")
	_, err = wrong.LatestSucceededRelease(ctx, f.app.ID)
	assert.ErrorIs(t, err, ErrNotFound, "no succeeded release yet")
	_, err = wrong.CreateRelease(ctx, NewRelease{AppID: f.app.ID, Description: "Deploy"})
	require.ErrorIs(t, err, ErrDecrypt, "snapshotting config with the wrong key fails rather than storing garbage")

	// A ciphertext moved to another row does not open there.
	_, err = s.db.Exec(ctx, `
		UPDATE config_vars SET value = (SELECT value FROM config_vars WHERE app_id = $1 AND key = 'SECRET')
		WHERE app_id = $1 AND key = 'OTHER'`, f.app.ID)
	require.NoError(t, err)
	_, err = s.GetConfig(ctx, f.app.ID)
	assert.ErrorIs(t, err, ErrDecrypt)

	// A tampered value does not open.
	_, err = s.db.Exec(ctx, `
		UPDATE config_vars SET value = set_byte(value, length(value) - 1, get_byte(value, length(value) - 1) # 1)
		WHERE app_id = $1`, f.app.ID)
	require.NoError(t, err)
	_, err = s.GetConfig(ctx, f.app.ID)
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestSealBindsToRow(t *testing.T) {
	t.Parallel()
	s := &Store{}
	var err error
	s.aead, err = newAEAD(newKey(t))
	require.NoError(t, err)

	a := s.seal([]byte("v"), configVarAD(1, "FOO"))
	b := s.seal([]byte("v"), configVarAD(1, "FOO"))
	assert.NotEqual(t, a, b, "fresh nonce per value")

	tests := []struct {
		name string
		ad   []byte
		ok   bool
	}{
		{"same row", configVarAD(1, "FOO"), true},
		{"other key", configVarAD(1, "FOO2"), false},
		{"other app", configVarAD(2, "FOO"), false},
		{"release snapshot", releaseConfigAD(1, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := s.open(a, tt.ad)
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, "v", string(pt))
				return
			}
			assert.ErrorIs(t, err, ErrDecrypt)
			assert.Nil(t, pt)
		})
	}
	_, err = s.open(nil, configVarAD(1, "FOO"))
	assert.ErrorIs(t, err, ErrDecrypt)
}

package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAuthorizedKey(t *testing.T) {
	t.Parallel()
	// Fingerprints as printed by ssh-keygen -l for these keys.
	tests := []struct {
		name    string
		line    string
		want    string
		wantFP  string
		wantErr bool
	}{
		{
			name:   "ed25519",
			line:   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIzv85EZ5Z5alDd5C8VcjOF5HhTzaOzLg3JVu6gqRIOc test\n",
			want:   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIzv85EZ5Z5alDd5C8VcjOF5HhTzaOzLg3JVu6gqRIOc test",
			wantFP: "SHA256:UaKxudZopPi/ghwl1V5V24PzBVRRz+fKK+Eo0jUrGZo",
		},
		{
			name:   "rsa",
			line:   "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCMlbK4Uai/nF9rtLjiCUbotVzcqXfQqoqudHAtd3jAFXVglNCrDrlN2YeGPHJJHD26pYjv85fnB6qmY3Uyzrt/VFmWqzqQqylrGgsm7LaH2LMR+dB6vXk9Nx8pxlQrR4EQV2ROJKhtXvkMioTongstlxdvqLVHoqGHpNorEiV6G2LjNVBimVhlIyE4cdTywu0tUesBiUgdtScYDHcX4CcSIoRjWEpLvBk38eTCHXJ60oYUgFcMMpiQJcjSx98ALg51znrks3sFqXCnY5b/D3tZuL9GumkoVTJQfPGMCHOmGNeP0diRtmpMh17yvmRJ5wvqJ4/1bOMM4ZVgt0hgHVhv",
			want:   "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCMlbK4Uai/nF9rtLjiCUbotVzcqXfQqoqudHAtd3jAFXVglNCrDrlN2YeGPHJJHD26pYjv85fnB6qmY3Uyzrt/VFmWqzqQqylrGgsm7LaH2LMR+dB6vXk9Nx8pxlQrR4EQV2ROJKhtXvkMioTongstlxdvqLVHoqGHpNorEiV6G2LjNVBimVhlIyE4cdTywu0tUesBiUgdtScYDHcX4CcSIoRjWEpLvBk38eTCHXJ60oYUgFcMMpiQJcjSx98ALg51znrks3sFqXCnY5b/D3tZuL9GumkoVTJQfPGMCHOmGNeP0diRtmpMh17yvmRJ5wvqJ4/1bOMM4ZVgt0hgHVhv",
			wantFP: "SHA256:j81inMuobv1mexcM23I/F0OHAFOSmLTJkrZntqsq5Lc",
		},
		{
			name:   "ecdsa with spaces in the comment",
			line:   "  ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOVW3JrofnqjvXTjux/QqRquGIdxxt874fGs4Q2hVsEEe8lEqj3qIVJK031zMbCRgVOQ2TQEEUKvfMk46KNtPBE= root at  vm",
			want:   "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOVW3JrofnqjvXTjux/QqRquGIdxxt874fGs4Q2hVsEEe8lEqj3qIVJK031zMbCRgVOQ2TQEEUKvfMk46KNtPBE= root at vm",
			wantFP: "SHA256:MTQB1CEtC0a1V8lEku6oUdMqUBfmyAiagjOtBfrSQCQ",
		},
		{name: "empty", line: "", wantErr: true},
		{name: "no key data", line: "ssh-ed25519", wantErr: true},
		{name: "options", line: `command="ls" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIzv85EZ5Z5alDd5C8VcjOF5HhTzaOzLg3JVu6gqRIOc`, wantErr: true},
		{name: "dsa", line: "ssh-dss AAAAB3NzaC1kc3MAAACBAP", wantErr: true},
		{name: "not base64", line: "ssh-ed25519 !!!!", wantErr: true},
		{name: "type mismatch", line: "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIzv85EZ5Z5alDd5C8VcjOF5HhTzaOzLg3JVu6gqRIOc", wantErr: true},
		{name: "private key", line: "-----BEGIN OPENSSH PRIVATE KEY-----", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fp, err := ParseAuthorizedKey(tt.line)
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantFP, fp)
		})
	}
}

func TestSSHKeys(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := newFixture(t, s)
	ctx := context.Background()
	bob, err := s.CreateUser(ctx, "bob@example.com", false)
	require.NoError(t, err)

	k, err := s.AddSSHKey(ctx, f.user.ID, "laptop", testEd25519)
	require.NoError(t, err)
	assert.Regexp(t, `^SHA256:[A-Za-z0-9+/]{43}$`, k.Fingerprint)

	u, err := s.UserByFingerprint(ctx, k.Fingerprint)
	require.NoError(t, err)
	assert.Equal(t, f.user.ID, u.ID)
	_, err = s.UserByFingerprint(ctx, "SHA256:UaKxudZopPi/ghwl1V5V24PzBVRRz+fKK+Eo0jUrGZo")
	assert.ErrorIs(t, err, ErrNotFound)

	keys, err := s.ListSSHKeys(ctx, f.user.ID)
	require.NoError(t, err)
	assert.Equal(t, []SSHKey{k}, keys)

	assert.ErrorIs(t, s.RemoveSSHKey(ctx, bob.ID, k.ID), ErrNotFound, "bob cannot remove alice's key")
	require.NoError(t, s.RemoveSSHKey(ctx, f.user.ID, k.ID))
	_, err = s.UserByFingerprint(ctx, k.Fingerprint)
	assert.ErrorIs(t, err, ErrNotFound)

	// Once removed, the key may be registered by someone else.
	_, err = s.AddSSHKey(ctx, bob.ID, "desktop", testEd25519)
	require.NoError(t, err)
	_, err = s.AddSSHKey(ctx, 424242, "x", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIzv85EZ5Z5alDd5C8VcjOF5HhTzaOzLg3JVu6gqRIOc")
	assert.ErrorIs(t, err, ErrNotFound)
}

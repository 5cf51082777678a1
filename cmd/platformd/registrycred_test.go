package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/registry"
)

func TestRegistryCredentialCommand(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(goodKey+"\n"), 0o600))
	key, err := base64.StdEncoding.DecodeString(goodKey)
	require.NoError(t, err)
	auth, err := registry.NewAuth(key)
	require.NoError(t, err)

	mint := func(args []string, getenv map[string]string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), append([]string{"registry-credential"}, args...), env(getenv), &out, &errOut)
		return strings.TrimSpace(out.String()), err
	}

	cred, err := mint(nil, map[string]string{"PLATFORM_SECRET_KEY_FILE": keyFile})
	require.NoError(t, err)
	subject, granted, err := auth.Authorize(registry.Username, cred, nil)
	require.NoError(t, err, "platformd accepts what the command prints")
	assert.Equal(t, "platformd", subject)
	assert.Empty(t, granted)

	cred, err = mint([]string{"--secret-key-file", keyFile, "--ttl", "1m", "--scope", "repository:platform/*:pull,push", "--subject", "images.sh"}, nil)
	require.NoError(t, err)
	subject, _, err = auth.Authorize(registry.Username, cred, nil)
	require.NoError(t, err)
	assert.Equal(t, "images.sh", subject)

	_, err = mint(nil, map[string]string{"PLATFORM_SECRET_KEY": goodKey})
	assert.NoError(t, err)
	_, err = mint(nil, nil)
	assert.ErrorContains(t, err, "secret key is required")
	_, err = mint([]string{"--scope", "repository:acme"}, map[string]string{"PLATFORM_SECRET_KEY": goodKey})
	assert.ErrorContains(t, err, "type:name:actions")
	_, err = mint([]string{"--ttl", "-1h"}, map[string]string{"PLATFORM_SECRET_KEY": goodKey})
	assert.Error(t, err)
}

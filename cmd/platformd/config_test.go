package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goodKey is a valid secret key for tests.
var goodKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// minimalEnv is the least configuration platformd accepts.
func minimalEnv() map[string]string {
	return map[string]string{
		"PLATFORM_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/platform?sslmode=disable",
		"PLATFORM_SECRET_KEY":   goodKey,
		"PLATFORM_DATA_DIR":     "/var/lib/platform",
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(nil, env(minimalEnv()), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7800", cfg.HTTPAddr)
	assert.Equal(t, "unix:///run/buildkit/buildkitd.sock", cfg.BuildkitAddr)
	assert.Equal(t, "127.0.0.1:5000", cfg.RegistryAddr)
	assert.Equal(t, "platform.test", cfg.AppsDomain)
	assert.Equal(t, "admin@platform.test", cfg.AdminEmail)
	assert.Equal(t, "text", cfg.LogFormat)
	assert.Equal(t, 20*time.Second, cfg.ShutdownTimeout)
	assert.Equal(t, "/var/lib/platform", cfg.DataDir)
	assert.Empty(t, cfg.Kubeconfig)
	assert.Len(t, cfg.SecretKey, 32)
}

func TestLoadConfig(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(goodKey+"\n"), 0o600))
	otherKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))

	tests := []struct {
		name    string
		args    []string
		env     map[string]string // merged over minimalEnv; "" deletes
		wantErr []string          // substrings of the error
		check   func(t *testing.T, cfg config)
	}{
		{
			name:    "missing key",
			env:     map[string]string{"PLATFORM_SECRET_KEY": ""},
			wantErr: []string{"PLATFORM_SECRET_KEY", "is required", "head -c32 /dev/urandom | base64"},
		},
		{
			name:    "bad base64",
			env:     map[string]string{"PLATFORM_SECRET_KEY": "not base64!!"},
			wantErr: []string{"--secret-key (PLATFORM_SECRET_KEY)", "not valid base64", "head -c32 /dev/urandom | base64"},
		},
		{
			name:    "wrong key length",
			env:     map[string]string{"PLATFORM_SECRET_KEY": base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))},
			wantErr: []string{"PLATFORM_SECRET_KEY", "decodes to 16 bytes, want 32"},
		},
		{
			name:    "bad http addr",
			args:    []string{"--http-addr", "localhost"},
			wantErr: []string{"--http-addr (PLATFORM_HTTP_ADDR)", "host:port"},
		},
		{
			name:    "bad port",
			env:     map[string]string{"PLATFORM_HTTP_ADDR": "127.0.0.1:http"},
			wantErr: []string{"PLATFORM_HTTP_ADDR", "not a number"},
		},
		{
			name: "flag beats env",
			args: []string{"--http-addr", "127.0.0.1:9999", "--apps-domain=flag.test", "--secret-key", otherKey},
			env:  map[string]string{"PLATFORM_HTTP_ADDR": "127.0.0.1:1111", "PLATFORM_APPS_DOMAIN": "env.test"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "127.0.0.1:9999", cfg.HTTPAddr)
				assert.Equal(t, "flag.test", cfg.AppsDomain)
				assert.Equal(t, bytes.Repeat([]byte{9}, 32), cfg.SecretKey)
			},
		},
		{
			name: "env beats default",
			env:  map[string]string{"PLATFORM_HTTP_ADDR": "127.0.0.1:1111", "PLATFORM_LOG_LEVEL": "debug", "PLATFORM_LOG_FORMAT": "json"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "127.0.0.1:1111", cfg.HTTPAddr)
				assert.Equal(t, "json", cfg.LogFormat)
				assert.Equal(t, "DEBUG", cfg.LogLevel.String())
			},
		},
		{
			name: "database url falls back to DATABASE_URL",
			env:  map[string]string{"PLATFORM_DATABASE_URL": "", "DATABASE_URL": "postgres://db.internal/x"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "postgres://db.internal/x", cfg.DatabaseURL)
			},
		},
		{
			name: "PLATFORM_DATABASE_URL beats DATABASE_URL",
			env:  map[string]string{"DATABASE_URL": "postgres://other/x"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "postgres://postgres@127.0.0.1:5432/platform?sslmode=disable", cfg.DatabaseURL)
			},
		},
		{
			name: "database url as key=value",
			env:  map[string]string{"PLATFORM_DATABASE_URL": "host=127.0.0.1 user=postgres dbname=platform"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "host=127.0.0.1 user=postgres dbname=platform", cfg.DatabaseURL)
			},
		},
		{
			name: "kubeconfig falls back to KUBECONFIG",
			env:  map[string]string{"KUBECONFIG": "/home/me/.kube/config"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "/home/me/.kube/config", cfg.Kubeconfig)
			},
		},
		{
			name: "key from file",
			env:  map[string]string{"PLATFORM_SECRET_KEY": "", "PLATFORM_SECRET_KEY_FILE": keyFile},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, bytes.Repeat([]byte{7}, 32), cfg.SecretKey)
			},
		},
		{
			name: "key file flag beats key env",
			args: []string{"--secret-key-file", keyFile},
			env:  map[string]string{"PLATFORM_SECRET_KEY": otherKey},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, bytes.Repeat([]byte{7}, 32), cfg.SecretKey)
			},
		},
		{
			name:    "key and key file in env",
			env:     map[string]string{"PLATFORM_SECRET_KEY_FILE": keyFile},
			wantErr: []string{"set only one of PLATFORM_SECRET_KEY and PLATFORM_SECRET_KEY_FILE"},
		},
		{
			name:    "key and key file flags",
			args:    []string{"--secret-key", goodKey, "--secret-key-file", keyFile},
			wantErr: []string{"only one of --secret-key and --secret-key-file"},
		},
		{
			name:    "missing key file",
			env:     map[string]string{"PLATFORM_SECRET_KEY": "", "PLATFORM_SECRET_KEY_FILE": keyFile + ".nope"},
			wantErr: []string{"PLATFORM_SECRET_KEY_FILE", "reading secret key file"},
		},
		{
			name: "registry off",
			args: []string{"--registry-addr=off", "--image-registry=registry.example.com"},
			check: func(t *testing.T, cfg config) {
				assert.Empty(t, cfg.RegistryAddr)
				assert.Equal(t, "registry.example.com", cfg.ImageRegistry)
			},
		},
		{
			name:    "registry off needs an image registry",
			args:    []string{"--registry-addr=off"},
			wantErr: []string{"--image-registry", "required when the embedded registry is off"},
		},
		{
			name: "image registry defaults to the embedded one",
			args: []string{"--registry-addr=127.0.0.1:5123"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "127.0.0.1:5123", cfg.ImageRegistry)
			},
		},
		{
			name: "git receiver and router off",
			args: []string{"--git-addr=off", "--router-addr=off"},
			check: func(t *testing.T, cfg config) {
				assert.Empty(t, cfg.GitAddr)
				assert.Empty(t, cfg.RouterAddr)
			},
		},
		{
			name:    "bad router cidr and rollout timeout",
			env:     map[string]string{"PLATFORM_ROUTER_CIDRS": "10.0.0.1/32,nope", "PLATFORM_ROLLOUT_TIMEOUT": "1s"},
			wantErr: []string{"PLATFORM_ROUTER_CIDRS", `"nope"`, "PLATFORM_ROLLOUT_TIMEOUT", "at least 10s"},
		},
		{
			name:    "registry not on loopback",
			env:     map[string]string{"PLATFORM_REGISTRY_ADDR": "0.0.0.0:5000"},
			wantErr: []string{"PLATFORM_REGISTRY_ADDR", "loopback", "no authentication"},
		},
		{
			name:    "bad apps domain",
			env:     map[string]string{"PLATFORM_APPS_DOMAIN": "Platform_Test"},
			wantErr: []string{"PLATFORM_APPS_DOMAIN", "DNS name"},
		},
		{
			name:    "apps domain with empty label",
			env:     map[string]string{"PLATFORM_APPS_DOMAIN": "platform..test"},
			wantErr: []string{"PLATFORM_APPS_DOMAIN", "empty label"},
		},
		{
			name:    "bad database url scheme",
			env:     map[string]string{"PLATFORM_DATABASE_URL": "mysql://root:hunter2@db/x"},
			wantErr: []string{"PLATFORM_DATABASE_URL", "scheme"},
		},
		{
			name: "every problem at once",
			args: []string{"--log-format=xml", "--log-level=loud", "--shutdown-timeout=-1s", "--admin-email=Admin <a@b.c>"},
			env: map[string]string{
				"PLATFORM_SECRET_KEY":    "",
				"PLATFORM_DATA_DIR":      "",
				"PLATFORM_DATABASE_URL":  "",
				"PLATFORM_BUILDKIT_ADDR": "buildkitd.sock",
			},
			wantErr: []string{
				"PLATFORM_SECRET_KEY", "PLATFORM_DATA_DIR", "PLATFORM_DATABASE_URL", "PLATFORM_BUILDKIT_ADDR",
				"PLATFORM_LOG_FORMAT", "PLATFORM_LOG_LEVEL", "PLATFORM_SHUTDOWN_TIMEOUT", "PLATFORM_ADMIN_EMAIL",
			},
		},
		{
			name:    "arguments",
			args:    []string{"serve"},
			wantErr: []string{"takes no arguments"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := minimalEnv()
			for k, v := range tt.env {
				if v == "" {
					delete(m, k)
					continue
				}
				m[k] = v
			}
			cfg, err := loadConfig(tt.args, env(m), &bytes.Buffer{})
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, want := range tt.wantErr {
					assert.Contains(t, err.Error(), want)
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

// TestLoadConfigNeverEchoesSecrets keeps keys and passwords out of errors,
// which end up in logs.
func TestLoadConfigNeverEchoesSecrets(t *testing.T) {
	m := minimalEnv()
	m["PLATFORM_SECRET_KEY"] = "c2VjcmV0LXZhbHVl" // base64 of 12 bytes
	m["PLATFORM_DATABASE_URL"] = "mysql://root:hunter2@db/x"
	_, err := loadConfig(nil, env(m), &bytes.Buffer{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "c2VjcmV0LXZhbHVl")
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestLoadConfigHelpAndVersion(t *testing.T) {
	var stderr bytes.Buffer
	_, err := loadConfig([]string{"--help"}, env(nil), &stderr)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	for _, s := range settings() {
		assert.Contains(t, stderr.String(), "--"+s.flag)
		for _, e := range s.env {
			assert.Contains(t, stderr.String(), e)
		}
	}

	// --version needs no other configuration.
	_, err = loadConfig([]string{"--version"}, env(nil), &stderr)
	assert.ErrorIs(t, err, errVersion)
}

func TestEverySettingHasPlatformEnv(t *testing.T) {
	for _, s := range settings() {
		require.NotEmpty(t, s.env, s.flag)
		assert.True(t, strings.HasPrefix(s.env[0], "PLATFORM_"), s.flag)
		assert.Equal(t, "PLATFORM_"+strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_")), s.env[0])
	}
}

func TestRunVersion(t *testing.T) {
	var stdout bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"--version"}, env(nil), &stdout, &bytes.Buffer{}))
	assert.Equal(t, "platformd dev\n", stdout.String())
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := run(t.Context(), nil, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid configuration")
}

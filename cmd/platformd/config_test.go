package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"net/netip"
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
	assert.Equal(t, "127.0.0.1:7800", cfg.HTTP.Addr)
	assert.Equal(t, "127.0.0.1:7801", cfg.Metrics.Addr, "the operator's endpoints are on loopback")
	assert.Equal(t, "unix:///run/buildkit/buildkitd.sock", cfg.Build.BuildkitAddr)
	assert.Equal(t, "127.0.0.1:5000", cfg.Registry.Addr)
	assert.Equal(t, "http://127.0.0.1:5000/token", cfg.Registry.Realm)
	assert.Equal(t, 5*time.Minute, cfg.Registry.TokenTTL)
	assert.Equal(t, "localhost", cfg.Deploy.AppsDomain)
	assert.Equal(t, 100, cfg.Deploy.CPURequestPercent, "processes ask for their size's whole CPU")
	assert.Equal(t, "admin@platform.test", cfg.AdminEmail)
	assert.Equal(t, "text", cfg.Log.Format)
	assert.Equal(t, 20*time.Second, cfg.ShutdownTimeout)
	assert.Equal(t, "/var/lib/platform", cfg.DataDir)
	assert.Empty(t, cfg.Kubeconfig)
	assert.Len(t, cfg.Store.SecretKey, 32)
	assert.Empty(t, cfg.Router.TrustedProxies)
	assert.Equal(t, 10*time.Second, cfg.Router.ReadHeaderTimeout)
	assert.Equal(t, 60*time.Second, cfg.Router.BodyIdleTimeout)
	assert.Equal(t, 60*time.Second, cfg.Router.WriteTimeout)
	assert.Equal(t, 4, cfg.API.PasswordHashes)
	assert.Empty(t, cfg.API.proxies, "no proxy is trusted unless named")
	assert.Equal(t, "dns", cfg.API.DomainVerification, "custom domains are verified unless turned off")
	assert.Empty(t, cfg.reservedHosts())
}

func TestLoadConfig(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(goodKey+"\n"), 0o600))
	otherKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("plt_0123456789abcdefghijklmnopqrstuvwxyz\n"), 0o600))

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
			name:    "password hash concurrency",
			args:    []string{"--password-hash-concurrency", "0"},
			wantErr: []string{"--password-hash-concurrency (PLATFORM_PASSWORD_HASH_CONCURRENCY)", "from 1 to 1024"},
		},
		{
			name:    "password hash concurrency not a number",
			env:     map[string]string{"PLATFORM_PASSWORD_HASH_CONCURRENCY": "many"},
			wantErr: []string{"PLATFORM_PASSWORD_HASH_CONCURRENCY", "a whole number"},
		},
		{
			name: "trusted proxies",
			args: []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.7,2001:db8::/32"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32"),
				}, cfg.API.proxies)
			},
		},
		{
			name: "public url, git host and domain verification",
			args: []string{"--public-url", "https://Platform.Example.com/", "--git-addr", "git.example.com:22", "--domain-verification", "off"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, []string{"Platform.Example.com", "git.example.com"}, cfg.reservedHosts())
				assert.Equal(t, "off", cfg.API.DomainVerification)
			},
		},
		{
			name: "git public url",
			args: []string{"--git-addr", "0.0.0.0:2322", "--git-public-url", "ssh://git@git.example.com:2322/"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "ssh://git@git.example.com:2322", gitURL(cfg))
				assert.Equal(t, []string{"git.example.com"}, cfg.reservedHosts())
			},
		},
		{
			name:  "git url from the listen address",
			args:  []string{"--git-addr", "127.0.0.1:2322"},
			check: func(t *testing.T, cfg config) { assert.Equal(t, "ssh://git@127.0.0.1:2322", gitURL(cfg)) },
		},
		{
			name:    "bad git public url",
			env:     map[string]string{"PLATFORM_GIT_PUBLIC_URL": "git.example.com:2322"},
			wantErr: []string{"--git-public-url (PLATFORM_GIT_PUBLIC_URL): must be an ssh:// URL with a user and a host"},
		},
		{
			name:    "git public url with a path",
			args:    []string{"--git-public-url", "ssh://git@git.example.com/apps"},
			wantErr: []string{"--git-public-url (PLATFORM_GIT_PUBLIC_URL): must be an ssh:// URL", "no path"},
		},
		{
			name:    "bad public url and domain verification",
			env:     map[string]string{"PLATFORM_PUBLIC_URL": "platform.example.com", "PLATFORM_DOMAIN_VERIFICATION": "txt"},
			wantErr: []string{"--public-url (PLATFORM_PUBLIC_URL): must be an http:// or https:// URL", `--domain-verification (PLATFORM_DOMAIN_VERIFICATION): must be "dns" or "off"`},
		},
		{
			name:    "metrics on the API's listener",
			args:    []string{"--metrics-addr", "127.0.0.1:7800"},
			wantErr: []string{"--metrics-addr (PLATFORM_METRICS_ADDR): must not be the --http-addr"},
		},
		{
			name:  "metrics off",
			args:  []string{"--metrics-addr=off"},
			check: func(t *testing.T, cfg config) { assert.Empty(t, cfg.Metrics.Addr) },
		},
		{
			name: "a cluster install's files and names",
			env: map[string]string{
				"PLATFORM_ADMIN_TOKEN_FILE": tokenFile, "PLATFORM_GIT_HOST_KEY_FILE": keyFile,
				"PLATFORM_INGRESS_CLASS": "platform-b", "PLATFORM_NAMESPACE_PREFIX": "b-",
				"PLATFORM_BUILDKIT_ADDR": "tcp://buildkit:1234", "PLATFORM_BUILDKIT_TLS_DIR": "/etc/platform/buildkit",
				"PLATFORM_IMAGE_REGISTRY_INSECURE": "true",
			},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, tokenFile, cfg.AdminTokenFile)
				assert.Equal(t, keyFile, cfg.Git.HostKeyPath)
				assert.Equal(t, "platform-b", cfg.Deploy.IngressClass)
				assert.Equal(t, "b-", cfg.Deploy.NamespacePrefix)
				assert.Equal(t, "/etc/platform/buildkit", cfg.Build.BuildkitTLSDir)
				assert.True(t, cfg.Build.ImageRegistryInsecure)
			},
		},
		{
			name: "bad cluster install files and names",
			env: map[string]string{
				"PLATFORM_ADMIN_TOKEN_FILE": keyFile, "PLATFORM_GIT_HOST_KEY_FILE": "/nonexistent/key",
				"PLATFORM_INGRESS_CLASS": "Platform_B", "PLATFORM_NAMESPACE_PREFIX": "-b",
				"PLATFORM_IMAGE_REGISTRY_INSECURE": "maybe", "PLATFORM_CPU_REQUEST_PERCENT": "0",
			},
			wantErr: []string{
				"--admin-token-file (PLATFORM_ADMIN_TOKEN_FILE): " + keyFile + ": an API token is plt_ followed by at least 32 letters and digits",
				"--git-host-key-file (PLATFORM_GIT_HOST_KEY_FILE): must name an existing private key file",
				"--ingress-class (PLATFORM_INGRESS_CLASS): must be a name like platform",
				"--namespace-prefix (PLATFORM_NAMESPACE_PREFIX): must be up to 20 lower-case letters",
				"--image-registry-insecure (PLATFORM_IMAGE_REGISTRY_INSECURE): must be true or false",
				"--cpu-request-percent (PLATFORM_CPU_REQUEST_PERCENT): must be a percentage from 1 to 100",
			},
		},
		{
			name:    "bad trusted proxy",
			env:     map[string]string{"PLATFORM_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"},
			wantErr: []string{"--trusted-proxies (PLATFORM_TRUSTED_PROXIES)", `"proxy.internal" is not a CIDR like 10.0.0.0/8`},
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
				assert.Equal(t, "127.0.0.1:9999", cfg.HTTP.Addr)
				assert.Equal(t, "flag.test", cfg.Deploy.AppsDomain)
				assert.Equal(t, bytes.Repeat([]byte{9}, 32), cfg.Store.SecretKey)
			},
		},
		{
			name: "env beats default",
			env:  map[string]string{"PLATFORM_HTTP_ADDR": "127.0.0.1:1111", "PLATFORM_LOG_LEVEL": "debug", "PLATFORM_LOG_FORMAT": "json"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "127.0.0.1:1111", cfg.HTTP.Addr)
				assert.Equal(t, "json", cfg.Log.Format)
				assert.Equal(t, "DEBUG", cfg.Log.Level.String())
			},
		},
		{
			name: "database url falls back to DATABASE_URL",
			env:  map[string]string{"PLATFORM_DATABASE_URL": "", "DATABASE_URL": "postgres://db.internal/x"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "postgres://db.internal/x", cfg.Store.DatabaseURL)
			},
		},
		{
			name: "PLATFORM_DATABASE_URL beats DATABASE_URL",
			env:  map[string]string{"DATABASE_URL": "postgres://other/x"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "postgres://postgres@127.0.0.1:5432/platform?sslmode=disable", cfg.Store.DatabaseURL)
			},
		},
		{
			name: "database url as key=value",
			env:  map[string]string{"PLATFORM_DATABASE_URL": "host=127.0.0.1 user=postgres dbname=platform"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "host=127.0.0.1 user=postgres dbname=platform", cfg.Store.DatabaseURL)
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
				assert.Equal(t, bytes.Repeat([]byte{7}, 32), cfg.Store.SecretKey)
			},
		},
		{
			name: "key file flag beats key env",
			args: []string{"--secret-key-file", keyFile},
			env:  map[string]string{"PLATFORM_SECRET_KEY": otherKey},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, bytes.Repeat([]byte{7}, 32), cfg.Store.SecretKey)
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
				assert.Empty(t, cfg.Registry.Addr)
				assert.Equal(t, "registry.example.com", cfg.Build.ImageRegistry)
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
				assert.Equal(t, "127.0.0.1:5123", cfg.Build.ImageRegistry)
			},
		},
		{
			name: "git receiver and router off",
			args: []string{"--git-addr=off", "--router-addr=off"},
			check: func(t *testing.T, cfg config) {
				assert.Empty(t, cfg.Git.Addr)
				assert.Empty(t, cfg.Router.Addr)
			},
		},
		{
			name:    "bad router cidr and rollout timeout",
			env:     map[string]string{"PLATFORM_ROUTER_CIDRS": "10.0.0.1/32,nope", "PLATFORM_ROLLOUT_TIMEOUT": "1s"},
			wantErr: []string{"PLATFORM_ROUTER_CIDRS", `"nope"`, "PLATFORM_ROLLOUT_TIMEOUT", "at least 10s"},
		},
		{
			name: "router edge settings",
			args: []string{"--router-trusted-proxies=10.0.0.0/8, 192.0.2.1,2001:db8::/32", "--router-write-timeout=2m"},
			env:  map[string]string{"PLATFORM_ROUTER_BODY_IDLE_TIMEOUT": "30s", "PLATFORM_ROUTER_READ_HEADER_TIMEOUT": "5s"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32"),
				}, cfg.Router.TrustedProxies)
				assert.Equal(t, 2*time.Minute, cfg.Router.WriteTimeout)
				assert.Equal(t, 30*time.Second, cfg.Router.BodyIdleTimeout)
				assert.Equal(t, 5*time.Second, cfg.Router.ReadHeaderTimeout)
			},
		},
		{
			name: "bad router edge settings",
			env: map[string]string{
				"PLATFORM_ROUTER_TRUSTED_PROXIES":     "10.0.0.0/8,proxy.example.com,10.0.0.0/33",
				"PLATFORM_ROUTER_BODY_IDLE_TIMEOUT":   "0s",
				"PLATFORM_ROUTER_WRITE_TIMEOUT":       "60",
				"PLATFORM_ROUTER_READ_HEADER_TIMEOUT": "100ms",
			},
			wantErr: []string{
				"--router-trusted-proxies (PLATFORM_ROUTER_TRUSTED_PROXIES): item 2 is not a CIDR like 10.0.0.0/8 or an address like 192.0.2.1",
				"--router-trusted-proxies (PLATFORM_ROUTER_TRUSTED_PROXIES): item 3 is not",
				"--router-body-idle-timeout (PLATFORM_ROUTER_BODY_IDLE_TIMEOUT): must be a duration of at least 1s, like 60s",
				"--router-write-timeout (PLATFORM_ROUTER_WRITE_TIMEOUT): must be a duration like 20s or 2m",
				"--router-read-header-timeout (PLATFORM_ROUTER_READ_HEADER_TIMEOUT): must be a duration of at least 1s",
			},
		},
		{
			name: "router edge settings are not checked with the router off",
			args: []string{"--router-addr=off"},
			env:  map[string]string{"PLATFORM_ROUTER_BODY_IDLE_TIMEOUT": "0s"},
			check: func(t *testing.T, cfg config) {
				assert.Empty(t, cfg.Router.Addr)
			},
		},
		{
			name: "registry on every interface, reached by name",
			env:  map[string]string{"PLATFORM_REGISTRY_ADDR": "0.0.0.0:5000", "PLATFORM_IMAGE_REGISTRY": "registry.example.com:5000"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "0.0.0.0:5000", cfg.Registry.Addr)
				assert.Equal(t, "http://registry.example.com:5000/token", cfg.Registry.Realm)
			},
		},
		{
			name:    "registry on every interface needs the address it is reached at",
			env:     map[string]string{"PLATFORM_REGISTRY_ADDR": ":5000"},
			wantErr: []string{"PLATFORM_IMAGE_REGISTRY", "every interface"},
		},
		{
			name: "registry token realm and lifetimes",
			args: []string{"--registry-token-realm=https://registry.example.com/token", "--registry-token-ttl=2m",
				"--registry-build-credential-ttl=30m", "--registry-pull-credential-ttl=48h"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "https://registry.example.com/token", cfg.Registry.Realm)
				assert.Equal(t, 2*time.Minute, cfg.Registry.TokenTTL)
				assert.Equal(t, 30*time.Minute, cfg.Registry.BuildCredentialTTL)
				assert.Equal(t, 48*time.Hour, cfg.Registry.PullCredentialTTL)
			},
		},
		{
			name: "bad registry token realm and lifetimes",
			env: map[string]string{"PLATFORM_REGISTRY_TOKEN_REALM": "registry.example.com/token", "PLATFORM_REGISTRY_TOKEN_TTL": "2h",
				"PLATFORM_REGISTRY_BUILD_CREDENTIAL_TTL": "1s", "PLATFORM_REGISTRY_PULL_CREDENTIAL_TTL": "5m"},
			wantErr: []string{"PLATFORM_REGISTRY_TOKEN_REALM", "http://", "PLATFORM_REGISTRY_TOKEN_TTL", "30s to 1h",
				"PLATFORM_REGISTRY_BUILD_CREDENTIAL_TTL", "at least 1m", "PLATFORM_REGISTRY_PULL_CREDENTIAL_TTL", "at least 1h"},
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
			name: "build network",
			args: []string{"--build-http-proxy=http://proxy:3128", "--build-no-proxy=localhost,10.0.0.0/8", "--build-goproxy=https://goproxy.example.com,direct"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "http://proxy:3128", cfg.Build.Network.HTTPProxy)
				assert.Equal(t, "localhost,10.0.0.0/8", cfg.Build.Network.NoProxy)
				assert.Equal(t, "https://goproxy.example.com,direct", cfg.Build.Network.GoProxy)
			},
		},
		{
			name: "bad build network settings name their flags",
			args: []string{"--build-https-proxy=ftp://proxy", "--build-ca-file=" + keyFile},
			env:  map[string]string{"PLATFORM_BUILD_NPM_REGISTRY": "npm.example.com", "PLATFORM_BUILD_GOPRIVATE": "a b"},
			wantErr: []string{
				"--build-https-proxy (PLATFORM_BUILD_HTTPS_PROXY): build HTTPS proxy: want an http:// or https:// URL",
				"--build-npm-registry (PLATFORM_BUILD_NPM_REGISTRY): build npm registry",
				"--build-goprivate (PLATFORM_BUILD_GOPRIVATE): build GOPRIVATE",
				"--build-ca-file (PLATFORM_BUILD_CA_FILE): build CA certificates: no PEM certificate found",
			},
		},
		{
			name:    "missing build CA file",
			env:     map[string]string{"PLATFORM_BUILD_CA_FILE": keyFile + ".nope"},
			wantErr: []string{"--build-ca-file (PLATFORM_BUILD_CA_FILE)", "no such file"},
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
	// Proxy and mirror URLs may hold credentials too.
	m["PLATFORM_BUILD_HTTP_PROXY"] = "socks5://user:hunter3@proxy:1080"
	m["PLATFORM_BUILD_HTTPS_PROXY"] = "proxy:hunter4@x"
	m["PLATFORM_BUILD_NPM_REGISTRY"] = "ftp://npm:hunter5@registry"
	m["PLATFORM_BUILD_PIP_INDEX_URL"] = "pip:hunter6"
	m["PLATFORM_BUILD_GOPROXY"] = "https://go:hunter7@proxy direct"
	_, err := loadConfig(nil, env(m), &bytes.Buffer{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "c2VjcmV0LXZhbHVl")
	for _, secret := range []string{"hunter2", "hunter3", "hunter4", "hunter5", "hunter6", "hunter7"} {
		assert.NotContains(t, err.Error(), secret)
	}
	for _, named := range []string{"PLATFORM_BUILD_HTTP_PROXY", "PLATFORM_BUILD_HTTPS_PROXY", "PLATFORM_BUILD_NPM_REGISTRY", "PLATFORM_BUILD_PIP_INDEX_URL", "PLATFORM_BUILD_GOPROXY"} {
		assert.Contains(t, err.Error(), named)
	}
}

// TestEverySettingHasItsOwnField: two settings bound to one field are
// alternatives, so a binding copied without changing its field would
// silently make one; the key and its file are the only pair.
func TestEverySettingHasItsOwnField(t *testing.T) {
	var cfg config
	byField := map[any][]string{}
	for _, s := range cfg.settings() {
		require.NotNil(t, s.bind.field, s.flag)
		require.NotNil(t, s.bind.parse, s.flag)
		byField[s.bind.field] = append(byField[s.bind.field], s.flag)
	}
	for field, flags := range byField {
		if field == any(&cfg.Store.SecretKey) {
			assert.Equal(t, []string{"secret-key", "secret-key-file"}, flags)
			continue
		}
		assert.Len(t, flags, 1, "flags bound to one field: %v", flags)
	}
}

func TestLoadConfigHelpAndVersion(t *testing.T) {
	var stderr bytes.Buffer
	_, err := loadConfig([]string{"--help"}, env(nil), &stderr)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	for _, s := range new(config).settings() {
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
	for _, s := range new(config).settings() {
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

func TestLoadConfigRegistryS3(t *testing.T) {
	load := func(extra map[string]string) (config, error) {
		e := minimalEnv()
		for k, v := range extra {
			e[k] = v
		}
		return loadConfig(nil, env(e), &bytes.Buffer{})
	}
	cfg, err := load(nil)
	require.NoError(t, err)
	assert.Nil(t, cfg.Registry.storageS3(), "images stay in the data directory unless a bucket is named")

	cfg, err = load(map[string]string{"PLATFORM_REGISTRY_S3_BUCKET": "images", "PLATFORM_REGISTRY_S3_ENDPOINT": "https://minio.example.com", "PLATFORM_REGISTRY_S3_PATH_STYLE": "true"})
	require.NoError(t, err)
	s3 := cfg.Registry.storageS3()
	require.NotNil(t, s3)
	assert.Equal(t, "images", s3.Bucket)
	assert.Equal(t, "us-east-1", s3.Region, "any region does for an S3-compatible store")
	assert.True(t, s3.PathStyle)

	_, err = load(map[string]string{"PLATFORM_REGISTRY_S3_ENDPOINT": "https://minio.example.com"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is required with the other registry S3 settings")
	_, err = load(map[string]string{"PLATFORM_REGISTRY_S3_BUCKET": "images", "PLATFORM_REGISTRY_S3_ENDPOINT": "minio:9000"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must be the store's http(s) URL")
}

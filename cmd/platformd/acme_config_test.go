package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/platform-paas/platform/deploy/localstack"
)

// TestConfigACME checks the router's ACME and default certificate
// settings, in router mode as in the full platformd: both need HTTPS, the
// directory must be an https URL, the extra roots PEM, and every problem
// says what to set.
func TestConfigACME(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	roots := filepath.Join(t.TempDir(), "roots.pem")
	sec := localstack.NewCA(t).TLSSecret(t, "x", "y", 1, "ca.test")
	require.NoError(t, os.WriteFile(roots, sec.Data[corev1.TLSCertKey], 0o600))
	notPEM := filepath.Join(t.TempDir(), "roots.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	router := []string{"--mode=router", "--kubeconfig", kubeconfig}
	https := append(router[:len(router):len(router)], "--router-https-addr=127.0.0.1:8443")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
		check   func(t *testing.T, cfg config)
	}{
		{
			name: "off by default",
			args: router,
			check: func(t *testing.T, cfg config) {
				assert.Empty(t, cfg.Router.ACME.Directory)
				assert.Empty(t, cfg.Router.DefaultCertificate)
			},
		},
		{
			name: "on, with roots and a default certificate",
			args: append(https, "--acme-directory=https://localhost:14000/dir", "--acme-email=ops@example.com", "--acme-ca-roots="+roots, "--router-default-certificate=platform/apps-wildcard"),
			env:  map[string]string{"POD_NAMESPACE": "edge"},
			check: func(t *testing.T, cfg config) {
				a := cfg.Router.ACME
				assert.Equal(t, "https://localhost:14000/dir", a.Directory)
				assert.Equal(t, "ops@example.com", a.Email)
				assert.Contains(t, string(a.CARoots), "BEGIN CERTIFICATE")
				assert.Equal(t, "edge", a.Namespace, "the pod's namespace")
				assert.Equal(t, "platform/apps-wildcard", cfg.Router.DefaultCertificate)
			},
		},
		{
			name: "from the environment, in the full platformd's settings too",
			args: https,
			env:  map[string]string{"PLATFORM_ACME_DIRECTORY": "https://acme.example/dir", "PLATFORM_ACME_NAMESPACE": "router"},
			check: func(t *testing.T, cfg config) {
				assert.Equal(t, "https://acme.example/dir", cfg.Router.ACME.Directory)
				assert.Equal(t, "router", cfg.Router.ACME.Namespace)
			},
		},
		{
			name:    "ACME without HTTPS",
			args:    append(router, "--acme-directory=https://acme.example/dir"),
			wantErr: []string{"--acme-directory (PLATFORM_ACME_DIRECTORY)", "set --router-https-addr"},
		},
		{
			name:    "a default certificate without HTTPS",
			args:    append(router, "--router-default-certificate=platform/wild"),
			wantErr: []string{"--router-default-certificate", "set --router-https-addr"},
		},
		{
			name: "every problem at once",
			args: append(https, "--acme-directory=http://acme.example/dir", "--acme-email=ops", "--acme-ca-roots="+notPEM, "--router-default-certificate=wild", "--acme-namespace=Not_A_Namespace"),
			wantErr: []string{
				"--acme-directory", "must be an ACME directory's https URL",
				"--acme-email", "--acme-ca-roots", "holds no PEM certificate",
				"--router-default-certificate", "as namespace/name", "--acme-namespace",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
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

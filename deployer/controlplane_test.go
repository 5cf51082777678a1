package deployer_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/platform-paas/platform/deploy/localstack"
)

// TestLocalStackControlPlaneLockedDown checks that the local stack's
// control plane is locked down as a real cluster's is: etcd answers only
// clients with a certificate of its own CA (not the cluster's), Secrets
// are encrypted in it, and the kubelet refuses anonymous requests.
func TestLocalStackControlPlaneLockedDown(t *testing.T) {
	env := localstack.Require(t)
	pki := filepath.Join(filepath.Dir(env.Kubeconfig), "pki")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	etcdCA := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(pki, "etcd", "ca.crt"))
	require.NoError(t, err)
	require.True(t, etcdCA.AppendCertsFromPEM(pem))
	client := func(cert string) *http.Client {
		cfg := &tls.Config{RootCAs: etcdCA, MinVersion: tls.VersionTLS12}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert+".crt", cert+".key")
			require.NoError(t, err)
			cfg.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	etcdRange := func(c *http.Client, key string) (*http.Response, error) {
		body, _ := json.Marshal(map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, localstack.EtcdURL+"/v3/kv/range", bytes.NewReader(body))
		require.NoError(t, err)
		return c.Do(req)
	}

	t.Run("etcd wants its own client certificates", func(t *testing.T) {
		for name, c := range map[string]*http.Client{
			"no certificate":          client(""),
			"the cluster's admin one": client(filepath.Join(pki, "admin")),
		} {
			resp, err := etcdRange(c, "/registry/namespaces/default")
			if err == nil {
				resp.Body.Close()
			}
			assert.Error(t, err, "etcd served a client with %s", name)
		}
	})

	t.Run("secrets are encrypted in etcd", func(t *testing.T) {
		kc := localstack.Kube(t, env)
		name := fmt.Sprintf("lockdown-%08x", rand.Uint32())
		plain := "config-value-" + name
		_, err = kc.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			StringData: map[string]string{"DATABASE_URL": plain},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = kc.CoreV1().Secrets("default").Delete(context.Background(), name, metav1.DeleteOptions{}) })

		// etcd's own client, with the API server's etcd certificate: its
		// JSON gateway does not pass client certificates on.
		etcdctl, err := exec.LookPath("etcdctl")
		if err != nil {
			localstack.Need(t, "etcdctl", "apt-get install etcd-client (make up installs it)")
		}
		cert := filepath.Join(pki, "etcd", "apiserver")
		cmd := exec.CommandContext(ctx, etcdctl, "--endpoints="+localstack.EtcdURL, "--cacert="+filepath.Join(pki, "etcd", "ca.crt"),
			"--cert="+cert+".crt", "--key="+cert+".key", "get", "--print-value-only", "/registry/secrets/default/"+name)
		cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
		raw, err := cmd.Output()
		require.NoError(t, err)
		require.NotEmpty(t, raw, "the secret is in etcd")
		assert.True(t, bytes.HasPrefix(raw, []byte("k8s:enc:aescbc:v1:")), "stored as %.40q", raw)
		assert.NotContains(t, string(raw), plain)
	})

	t.Run("the kubelet refuses anonymous requests", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			// The kubelet's serving certificate is self-signed; what is
			// checked is that it answers nothing without credentials.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
		}}
		for _, path := range []string{"/pods", "/runningpods/", "/metrics"} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(localstack.NodeIP, localstack.KubeletPort)+path, nil)
			require.NoError(t, err)
			resp, err := c.Do(req)
			require.NoError(t, err, "the host reaches the kubelet")
			resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
		}
	})
}

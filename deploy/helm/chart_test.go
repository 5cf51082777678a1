// Package helm_test checks the platform's Helm chart: that it lints, that
// what it renders is accepted by a real API server, that the secrets it
// makes are ones platformd takes, and that the plain manifests rendered
// from it (deploy/kubernetes/platform.yaml) are up to date.
package helm_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/server/store"
)

const chart = "platform"

// tool finds a binary the local stack builds (make up puts them on PATH
// through .platform/env).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		localstack.Need(t, name, "run make up, which builds it into .platform/bin, and source .platform/env")
	}
	return p
}

// run runs a command and returns its standard output; stderr goes in
// the error.
func run(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return out.String(), err
}

// required are the values an install must give.
func required(ns string) []string {
	return []string{
		"--set", "image.repository=registry.example.com/platform/platformd",
		"--set", "appsDomain=apps.example.com",
		"--set", "registry.host=registry.example.com:5000",
		"--set", "database.url=postgres://platform@db.example.com/platform",
		// Another platform (the local stack's) owns class "platform".
		"--set", "ingressClass.name=" + ns,
		"--set", "namespacePrefix=" + ns[:8] + "-",
	}
}

func TestChartLints(t *testing.T) {
	helm := tool(t, "helm")
	out, err := run(t, nil, helm, append([]string{"lint", chart, "--strict"}, required("lint-test")...)...)
	require.NoError(t, err)
	assert.Contains(t, out, "0 chart(s) failed")

	// What an install must give is asked for by name, with what to put.
	for _, c := range []struct{ unset, says string }{
		{"image.repository", "image.repository is required: the platformd image"},
		{"appsDomain", "appsDomain is required: apps answer at <app>.<appsDomain>"},
		{"registry.host", "registry.host is required"},
		{"database.url", "a database is required: database.existingSecret"},
	} {
		args := append([]string{"template", "x", chart}, required("lint-test")...)
		args = append(args, "--set", c.unset+"=")
		_, err := run(t, nil, helm, args...)
		require.Error(t, err, "rendering without %s", c.unset)
		assert.Contains(t, err.Error(), c.says)
	}
}

// objects splits a rendered multi-document YAML into its objects.
func objects(t *testing.T, rendered string) []map[string]any {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(rendered), 4096)
	var objs []map[string]any
	for {
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			break
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs
}

func TestChartRendersWhatTheClusterAccepts(t *testing.T) {
	env := localstack.Require(t)
	helm, kubectl := tool(t, "helm"), tool(t, "kubectl")
	ns := fmt.Sprintf("chart-%08x", rand.Uint32())
	kc := localstack.Kube(t, env)
	ctx := t.Context()
	_, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// Not t.Context(): it is cancelled before cleanups run.
	t.Cleanup(func() { _ = kc.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	for name, extra := range map[string][]string{
		"defaults":               nil,
		"bundled postgres":       {"--set", "database.url=", "--set", "database.bundled.enabled=true"},
		"router as a DaemonSet":  {"--set", "router.kind=DaemonSet", "--set", "router.hostPort.enabled=true", "--set", "ingressClass.default=true", "--set", "router.publishAddresses={203.0.113.7,router.example.com}"},
		"router without HTTPS":   {"--set", "router.https.enabled=false"},
		"router with ACME":       {"--set", "router.acme.directory=https://acme-staging-v02.api.letsencrypt.org/directory", "--set", "router.acme.email=ops@example.com", "--set", "router.acme.caRootsConfigMap=acme-roots", "--set", "router.defaultCertificate=platform/apps-wildcard"},
		"rootless buildkit":      {"--set", "buildkit.privileged=false", "--set", "buildkit.image=moby/buildkit:v0.34.2-rootless"},
		"API through the router": {"--set", "platformd.ingress.enabled=true", "--set", "platformd.ingress.host=platform.example.com", "--set", "platformd.ingress.tlsSecret=platform-tls", "--set", "platformd.trustedProxies=10.0.0.0/8"},
		"registry on S3":         {"--set", "registry.s3.bucket=images", "--set", "registry.s3.endpoint=https://minio.example.com", "--set", "registry.s3.pathStyle=true", "--set", "registry.s3.existingSecret=platform-s3"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"template", "p", chart, "--namespace", ns}, required(ns)...)
			rendered, err := run(t, nil, helm, append(args, extra...)...)
			require.NoError(t, err)
			out, err := run(t, []byte(rendered), kubectl, "--kubeconfig", env.Kubeconfig, "apply", "--dry-run=server", "-n", ns, "-f", "-")
			require.NoError(t, err, "the API server refuses what the chart renders")
			kinds := map[string]int{}
			for _, o := range objects(t, rendered) {
				kinds[o["kind"].(string)]++
			}
			assert.Equal(t, strings.Count(out, "(server dry run)"), len(objects(t, rendered)), out)
			assert.GreaterOrEqual(t, kinds["Deployment"]+kinds["DaemonSet"], 2, "platformd and the router")
			pdbs := 2 // platformd's and the router's
			if name == "router as a DaemonSet" {
				pdbs = 1 // a DaemonSet is one pod a node: none for it
			}
			assert.Equal(t, pdbs, kinds["PodDisruptionBudget"])
			assert.Equal(t, 1, kinds["IngressClass"])
		})
	}
}

// TestChartSecrets checks that the secrets the chart makes are ones
// platformd and BuildKit take: an SSH host key, an admin token in the
// platform's format, a 32-byte config key, and BuildKit's server and
// client certificates from one CA.
func TestChartSecrets(t *testing.T) {
	helm := tool(t, "helm")
	rendered, err := run(t, nil, helm, append([]string{"template", "p", chart, "--namespace", "platform", "--show-only", "templates/secrets.yaml"}, required("secrets-test")...)...)
	require.NoError(t, err)
	secrets := map[string]corev1.Secret{}
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(rendered), 4096)
	for {
		var s corev1.Secret
		if err := dec.Decode(&s); err != nil {
			break
		}
		secrets[s.Name] = s
	}
	require.Contains(t, secrets, "p-secrets")
	platform := secrets["p-secrets"].Data
	_, err = ssh.ParsePrivateKey(platform["ssh_host_ed25519_key"])
	require.NoError(t, err, "the SSH host key parses as platformd reads it")
	assert.NoError(t, store.ValidateTokenString(string(platform["admin-token"])))
	key := platform["secret-key"]
	assert.Len(t, key, 44, "base64 of 32 bytes, as --secret-key-file takes")

	server, client := secrets["p-buildkit-server"].Data, secrets["p-buildkit-client"].Data
	require.NotEmpty(t, server["tls.crt"])
	require.Equal(t, server["ca.crt"], client["ca.crt"], "one CA for both ends")
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(server["ca.crt"]))
	for name, usage := range map[string]x509.ExtKeyUsage{"p-buildkit-server": x509.ExtKeyUsageServerAuth, "p-buildkit-client": x509.ExtKeyUsageClientAuth} {
		block, _ := pem.Decode(secrets[name].Data["tls.crt"])
		require.NotNil(t, block, name)
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: time.Now()}
		if name == "p-buildkit-server" {
			opts.DNSName = "p-buildkit"
		}
		_, err = cert.Verify(opts)
		assert.NoError(t, err, "%s verifies against the CA", name)
	}
}

// TestRenderedManifestsAreCurrent checks that deploy/kubernetes/platform.yaml
// is what `make manifests` renders from the chart now.
func TestRenderedManifestsAreCurrent(t *testing.T) {
	tool(t, "helm")
	out := filepath.Join(t.TempDir(), "platform.yaml")
	_, err := run(t, nil, "./render.sh", out)
	require.NoError(t, err)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := os.ReadFile("../kubernetes/platform.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "deploy/kubernetes/platform.yaml is stale: run make manifests")
	assert.NotContains(t, string(got), "kind: Secret", "no generated secrets in a file that is applied again and again")
}

// TestChartKeepsTheOperatorPortClosed checks that platformd's operator
// port (/metrics, detailed /readyz) admits no one by default, tenants'
// apps included, and only the peers an operator names.
func TestChartKeepsTheOperatorPortClosed(t *testing.T) {
	helm := tool(t, "helm")
	render := func(extra ...string) []any {
		args := append([]string{"template", "p", chart, "--show-only", "templates/networkpolicy.yaml"}, required("metrics-test")...)
		out, err := run(t, nil, helm, append(args, extra...)...)
		require.NoError(t, err)
		for _, o := range objects(t, out) {
			if o["metadata"].(map[string]any)["name"] == "p-platformd" {
				return o["spec"].(map[string]any)["ingress"].([]any)
			}
		}
		t.Fatal("no NetworkPolicy p-platformd")
		return nil
	}
	opens9090 := func(rules []any) []any {
		var peers []any
		for _, r := range rules {
			rule := r.(map[string]any)
			for _, p := range rule["ports"].([]any) {
				if p.(map[string]any)["port"] == float64(9090) {
					from, ok := rule["from"].([]any)
					if !ok {
						from = []any{"anyone"}
					}
					peers = append(peers, from...)
				}
			}
		}
		return peers
	}
	assert.Empty(t, opens9090(render()), "by default no one reaches port 9090")
	peers := opens9090(render("--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring"))
	require.Len(t, peers, 1)
	assert.Contains(t, fmt.Sprint(peers[0]), "monitoring")
}

// TestChartAnnotationsAreStrings checks that every label and annotation
// the chart renders is a YAML string, whatever the values. A checksum
// annotation is 16 hex digits; when all sixteen happen to be decimal
// digits, an unquoted one is a number, and the API server refuses the
// whole install ("expected string"). The values below are an install's
// whose values checksum came out all digits.
func TestChartAnnotationsAreStrings(t *testing.T) {
	helm := tool(t, "helm")
	ns := "install-f5172a"
	digitsChecksum := []string{
		"--set", "image.repository=127.0.0.1:5000/platform/platformd", "--set", "image.tag=4a8b3ec",
		"--set", "imagePullSecrets[0].name=registry", "--set", "appsDomain=install-f5172a.test",
		"--set", "database.url=postgres://postgres@10.217.0.1:15432/platform_install_f5172a?sslmode=disable",
		"--set", "registry.host=10.217.0.1:30500", "--set", "registry.insecure=true",
		"--set", "registry.service.nodePort=30500", "--set", "registry.stackImages=10.217.0.1:30500",
		"--set", "ingressClass.name=install-f5172a", "--set", "namespacePrefix=if5172a-",
		"--set", "domainVerification=off", "--set", "platformd.service.type=NodePort",
		"--set", "platformd.ssh.service.type=NodePort", "--set", "platformd.ssh.publicURL=ssh://git@git.install-f5172a.test:2222",
		"--set", "router.service.type=NodePort", "--set", "buildkit.image=127.0.0.1:5000/platform/buildkitd:bookworm",
		"--set", "platformd.resources.requests.cpu=50m", "--set", "platformd.resources.requests.memory=64Mi",
		"--set", "router.resources.requests.cpu=50m", "--set", "router.resources.requests.memory=32Mi",
		"--set", "buildkit.resources.requests.cpu=100m", "--set", "buildkit.resources.requests.memory=128Mi",
		"--set", "data.size=2Gi", "--set", "buildkit.cache.size=4Gi", "--set", "cpuRequestPercent=25",
	}
	for name, args := range map[string][]string{
		"defaults":                    required(ns),
		"a values checksum of digits": digitsChecksum,
		"bundled postgres":            append(required(ns), "--set", "database.url=", "--set", "database.bundled.enabled=true"),
	} {
		t.Run(name, func(t *testing.T) {
			rendered, err := run(t, nil, helm, append([]string{"template", "p", chart, "--namespace", ns}, args...)...)
			require.NoError(t, err)
			checked := 0
			for _, o := range objects(t, rendered) {
				name := o["metadata"].(map[string]any)["name"]
				metas := []any{o["metadata"]}
				if spec, ok := o["spec"].(map[string]any); ok {
					if tmpl, ok := spec["template"].(map[string]any); ok {
						metas = append(metas, tmpl["metadata"])
					}
				}
				for _, m := range metas {
					meta, _ := m.(map[string]any)
					for _, field := range []string{"labels", "annotations"} {
						kv, _ := meta[field].(map[string]any)
						for k, v := range kv {
							assert.IsType(t, "", v, "%s %v: %s %s is %v, not a string", o["kind"], name, field, k, v)
							checked++
						}
					}
				}
			}
			assert.Greater(t, checked, 20, "labels and annotations found")
			// Each checksum is quoted in the text, so no value of it is
			// ever read as a number.
			lines := 0
			for _, line := range strings.Split(rendered, "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && strings.HasPrefix(k, "checksum/") {
					assert.Regexp(t, `^"[0-9a-f]{16}"$`, v, line)
					lines++
				}
			}
			assert.GreaterOrEqual(t, lines, 2, "platformd's and BuildKit's checksums")
		})
	}
}

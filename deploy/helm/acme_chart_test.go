package helm_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChartACME checks what router.acme gives the router: its settings,
// the right to write Secrets and, in its own namespace only, Leases and
// ConfigMaps; none of it while ACME is off; and a clear refusal without
// HTTPS.
func TestChartACME(t *testing.T) {
	helm := tool(t, "helm")
	render := func(extra ...string) (string, error) {
		args := append([]string{"template", "p", chart, "--show-only", "templates/router.yaml"}, required("acme-test")...)
		return run(t, nil, helm, append(args, extra...)...)
	}
	rules := func(out, kind string) string {
		var s []string
		for _, o := range objects(t, out) {
			if o["kind"] == kind {
				s = append(s, fmt.Sprint(o["rules"]))
			}
		}
		return strings.Join(s, " ")
	}

	off, err := render()
	require.NoError(t, err)
	assert.NotContains(t, off, "PLATFORM_ACME_")
	assert.NotContains(t, rules(off, "ClusterRole"), "create")
	assert.Empty(t, rules(off, "Role"))

	on, err := render("--set", "router.acme.directory=https://acme-v02.api.letsencrypt.org/directory", "--set", "router.acme.email=ops@example.com",
		"--set", "router.acme.caRootsConfigMap=acme-roots", "--set", "router.defaultCertificate=platform/apps-wildcard")
	require.NoError(t, err)
	for _, want := range []string{"PLATFORM_ACME_DIRECTORY", "https://acme-v02.api.letsencrypt.org/directory", "PLATFORM_ACME_EMAIL",
		"PLATFORM_ACME_NAMESPACE", "metadata.namespace", "PLATFORM_ACME_CA_ROOTS", "/etc/platform/acme-roots/ca.crt", "acme-roots",
		"PLATFORM_ROUTER_DEFAULT_CERTIFICATE", "platform/apps-wildcard"} {
		assert.Contains(t, on, want)
	}
	assert.Contains(t, rules(on, "ClusterRole"), "[create update patch]", "secrets written in the Ingresses' namespaces")
	role := rules(on, "Role")
	assert.Contains(t, role, "leases")
	assert.Contains(t, role, "configmaps")

	_, err = render("--set", "router.acme.directory=https://acme.example/dir", "--set", "router.https.enabled=false")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "router.acme.directory needs router.https.enabled")
}

// TestChartACMETellsTheDeployer checks that platformd, whose deployer
// writes apps' Ingresses, hears of ACME too, so that the Ingresses ask the
// router for certificates; and nothing of it while ACME is off.
func TestChartACMETellsTheDeployer(t *testing.T) {
	helm := tool(t, "helm")
	render := func(extra ...string) string {
		args := append([]string{"template", "p", chart, "--show-only", "templates/platformd.yaml"}, required("acme-test")...)
		out, err := run(t, nil, helm, append(args, extra...)...)
		require.NoError(t, err)
		return out
	}
	assert.NotContains(t, render(), "PLATFORM_ACME_")
	on := render("--set", "router.acme.directory=https://acme-v02.api.letsencrypt.org/directory")
	assert.Contains(t, on, `{name: PLATFORM_ACME_DIRECTORY, value: "https://acme-v02.api.letsencrypt.org/directory"}`)
}

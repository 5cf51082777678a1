package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/platform-paas/platform/deploy/localstack"
)

func TestUninstallNeedsThePrefix(t *testing.T) {
	err := run(t.Context(), []string{"uninstall"}, env(nil), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "give --namespace-prefix or set PLATFORM_NAMESPACE_PREFIX")
}

// TestUninstallDeletesTheTenantsNamespaces checks that `platformd
// uninstall` deletes the namespaces of its platform's tenants, and no
// other: not another platform's tenants', not one that only shares the
// prefix.
func TestUninstallDeletesTheTenantsNamespaces(t *testing.T) {
	stack := localstack.Require(t)
	kube, err := kubeClient(stack.Kubeconfig, "platformd-test")
	require.NoError(t, err)
	ctx := context.Background()
	id := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	prefix, other := "u"+id+"-", "o"+id+"-"
	tenantNS := func(name, tenant string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "platformd", "platform.io/tenant": tenant,
		}}}
	}
	made := []*corev1.Namespace{
		tenantNS(prefix+"acme", "acme"),
		tenantNS(prefix+"globex", "globex"),
		tenantNS(other+"acme", "acme"),                          // another platform's
		{ObjectMeta: metav1.ObjectMeta{Name: prefix + "notes"}}, // not a tenant's
		tenantNS(prefix+"x-initech", "initech"),                 // its name is not the prefix and the tenant
	}
	for _, ns := range made {
		_, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	}

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"uninstall", "--namespace-prefix=" + prefix, "--kubeconfig=" + stack.Kubeconfig}, env(nil), &out, io.Discard))
	assert.Contains(t, out.String(), "2 tenant namespaces of prefix "+prefix+" deleted")
	for _, ns := range made {
		_, err := kube.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		gone := apierrors.IsNotFound(err)
		want := ns.Name == prefix+"acme" || ns.Name == prefix+"globex"
		assert.Equal(t, want, gone, "namespace %s gone", ns.Name)
	}
}

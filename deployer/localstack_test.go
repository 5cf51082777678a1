package deployer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/session"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deployer"
)

// TestLocalStackRunsRegistryImage is the local stack's end-to-end check: an
// image built by the stack's BuildKit on the Debian base and pushed to the
// platform's registry runs as a Deployment whose pod becomes Ready on the
// stack's node (sandbox image, CNI, registry pulls, readiness probes).
func TestLocalStackRunsRegistryImage(t *testing.T) {
	env := localstack.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	suffix := fmt.Sprintf("%08x", rand.Uint32())
	ref := fmt.Sprintf("%s/stacktest/probe:%s", env.Registry, suffix)
	digest := buildAndPush(ctx, t, env, ref)

	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	require.NoError(t, err)
	kc, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)

	ns := "stacktest-" + suffix
	_, err = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = kc.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	localstack.CreatePullSecret(ctx, t, kc, env, ns)

	image := fmt.Sprintf("%s/stacktest/probe@%s", env.Registry, digest)
	replicas := int32(2)
	dep := localstack.Deployment("probe", image, replicas, []string{"sleep", "3600"},
		corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/ready"}}})
	_, err = kc.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)

	start := time.Now()
	var last *appsv1.Deployment
	for {
		last, err = kc.AppsV1().Deployments(ns).Get(ctx, "probe", metav1.GetOptions{})
		require.NoError(t, err)
		if last.Status.ReadyReplicas == replicas {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("deployment not ready: %+v\npods: %s", last.Status, localstack.PodReport(kc, ns))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d replicas of %s Ready %v after create", replicas, image, time.Since(start).Round(time.Millisecond))

	pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		assert.Equal(t, corev1.PodRunning, p.Status.Phase, p.Name)
		assert.True(t, strings.HasPrefix(p.Status.PodIP, "10.217."), "pod IP %q is on the stack's pod network", p.Status.PodIP)
		require.NotEmpty(t, p.Status.ContainerStatuses)
		assert.Contains(t, p.Status.ContainerStatuses[0].ImageID, digest, "the pod runs the pushed image")
	}
}

// buildAndPush builds a small image on the stack's Debian base with BuildKit
// and pushes it to the platform's registry, returning its digest.
func buildAndPush(ctx context.Context, t *testing.T, env localstack.Env, ref string) string {
	t.Helper()
	registry := env.Registry
	c, err := client.New(ctx, env.BuildKitAddr)
	require.NoError(t, err)
	defer c.Close()

	st := llb.Image(registry + "/library/debian:bookworm-slim").
		Run(llb.Shlex(`sh -c "echo ready > /ready"`)).Root()
	def, err := st.Marshal(ctx, llb.LinuxAmd64)
	require.NoError(t, err)
	resp, err := c.Solve(ctx, def, client.SolveOpt{
		Exports: []client.ExportEntry{{
			Type: client.ExporterImage,
			Attrs: map[string]string{
				"name":              ref,
				"push":              "true",
				"registry.insecure": "true",
			},
		}},
		Session: []session.Attachable{env.BuildKitAuth()},
	}, nil)
	require.NoError(t, err, "building and pushing %s", ref)
	digest := resp.ExporterResponse["containerimage.digest"]
	require.True(t, strings.HasPrefix(digest, "sha256:"), "exporter response has the image digest: %v", resp.ExporterResponse)
	return digest
}

// TestEnsureIngressClass makes the platform's IngressClass on the local
// stack, twice, and reads it back.
func TestEnsureIngressClass(t *testing.T) {
	env := localstack.Require(t)
	ctx := context.Background()
	d, err := deployer.New(deployer.Config{Kubeconfig: env.Kubeconfig})
	require.NoError(t, err)
	require.NoError(t, d.EnsureIngressClass(ctx))
	require.NoError(t, d.EnsureIngressClass(ctx), "idempotent")

	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	require.NoError(t, err)
	kc, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ic, err := kc.NetworkingV1().IngressClasses().Get(ctx, "platform", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, deployer.IngressController, ic.Spec.Controller)
}

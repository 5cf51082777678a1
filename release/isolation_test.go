package release_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/release/releasetest"
)

// The cloud metadata address, which the test serves itself.
const metadataIP = "169.254.169.254"

// TestTenantIsolation pushes, as a member of one tenant, an app whose build
// step and whose running web process try to reach everything a tenant
// must not: the control plane (etcd, the API server, the kubelet,
// Postgres, platformd's API and SSH ports, the registry) on every address
// of this machine, the service range, another tenant's pod and the cloud
// metadata address (which the test serves itself, so that it answers
// whoever is let through). Every attempt fails; the build still downloads
// a Go module and an npm package, and the app still reaches its own
// tenant's pod.
func TestTenantIsolation(t *testing.T) {
	attacker := releasetest.NewStackTenant(t)
	victim := releasetest.NewStackTenant(t)
	env := attacker.Env
	metadata := localstack.ServeHost(t, metadataIP, 80)
	kube := localstack.Kube(t, env)

	// A pod of another tenant, and one of the attacker's own tenant.
	victimApp := victim.CreateApp(t, "victim")
	pushOK(t, victim, "static", victimApp.Name)
	siblingApp := attacker.CreateApp(t, "sibling")
	pushOK(t, attacker, "static", siblingApp.Name)
	victimPod := podAddr(t, kube, victim.Tenant.Name, victimApp.Name)
	siblingPod := podAddr(t, kube, attacker.Tenant.Name, siblingApp.Name)

	// The other tenant's Service IP too, which kube-proxy translates to
	// its pod, and the cluster DNS's, which builds must not reach (pods
	// may: they resolve Service names with it).
	victimSvc := serviceAddr(t, kube, victim.Tenant.Name, victimApp.Name)
	targets := append(controlPlaneTargets(t, env), localstack.KubernetesSvc, victimPod, victimSvc, metadata.Addr)
	buildTargets := append(targets, net.JoinHostPort(localstack.DNSServiceIP, "53"))
	// The kubelet listens where pods could reach it: the host reaching it
	// shows that the probes below fail because of the isolation, not
	// because nothing listens.
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(localstack.NodeIP, localstack.KubeletPort), 5*time.Second)
	require.NoError(t, err, "the host reaches the kubelet")
	_ = conn.Close()

	app := attacker.CreateApp(t, "intruder")
	attacker.SetConfig(t, app.Name, map[string]string{"PROBE_TARGETS": strings.Join(buildTargets, " ")})
	// -o verbose: the probes' lines are the build steps' own output.
	pushed, err := attacker.GitCmd(attacker.Repo(t, "intruder", app.Name), "push", "-o", "verbose", "platform", "main").CombinedOutput()
	out := string(pushed)
	require.NoError(t, err, "push output:\n%s", out)

	t.Run("build", func(t *testing.T) {
		for _, target := range buildTargets {
			assert.Regexp(t, `probe `+regexp.QuoteMeta(target)+` blocked`, out, "the build reached %s", target)
		}
		assert.NotContains(t, out, " open\n")
		assert.Contains(t, out, "download go-module", "the build reaches the Go module proxy")
		assert.Contains(t, out, "download npm-package", "the build reaches the npm registry")
	})

	t.Run("app", func(t *testing.T) {
		probe := func(target string) string {
			status, body := attacker.Get(t, app.Name, "/probe?target="+url.QueryEscape(target))
			require.Equal(t, 200, status, body)
			return body
		}
		for _, target := range targets {
			assert.True(t, strings.HasPrefix(probe(target), "blocked"), "the app reached %s", target)
		}
		assert.Equal(t, "open", probe(siblingPod), "the app reaches its own tenant's pods")
	})
}

// controlPlaneTargets are the control plane's ports on every IPv4 address
// of this machine. Loopback is left out: in a build step or a pod it is
// the sandbox's own (where the app itself listens).
func controlPlaneTargets(t *testing.T, env localstack.Env) []string {
	etcd, err := url.Parse(localstack.EtcdURL)
	require.NoError(t, err)
	ports := []string{etcd.Port(), localstack.KubeAPIPort, localstack.KubeletPort}
	for _, u := range []string{env.APIURL, env.RouterURL, "http://" + env.Registry, strings.Replace(env.GitURL, "ssh://git@", "ssh://", 1), env.DatabaseURL} {
		parsed, err := url.Parse(u)
		require.NoError(t, err)
		port := parsed.Port()
		if port == "" && parsed.Scheme == "postgres" {
			port = "5432"
		}
		require.NotEmpty(t, port, "a port in %s", u)
		ports = append(ports, port)
	}
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	ips := []string{localstack.NodeIP, localstack.BuildGateway}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !strings.HasPrefix(n.IP.String(), "198.18.") {
			ips = append(ips, n.IP.String())
		}
	}
	var targets []string
	seen := map[string]bool{}
	for _, ip := range ips {
		for _, p := range ports {
			target := net.JoinHostPort(ip, p)
			if !seen[target] {
				seen[target] = true
				targets = append(targets, target)
			}
		}
	}
	return targets
}

// serviceAddr is the address of the Service of an app's web process.
func serviceAddr(t *testing.T, kube kubernetes.Interface, tenant, app string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svcs, err := kube.CoreV1().Services("t-"+tenant).List(ctx, metav1.ListOptions{LabelSelector: "platform.io/app=" + app})
	require.NoError(t, err)
	require.Len(t, svcs.Items, 1, "the Services of %s in tenant %s", app, tenant)
	require.NotEmpty(t, svcs.Items[0].Spec.ClusterIP)
	return net.JoinHostPort(svcs.Items[0].Spec.ClusterIP, "80")
}

func pushOK(t *testing.T, s *releasetest.StackTenant, sample, app string) {
	t.Helper()
	out, err := s.Push(s.Repo(t, sample, app))
	require.NoError(t, err, "push output:\n%s", out)
}

// podAddr is the IP:port of a running web pod of app.
func podAddr(t *testing.T, kube kubernetes.Interface, tenant, app string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := kube.CoreV1().Pods("t-"+tenant).List(ctx, metav1.ListOptions{LabelSelector: "platform.io/app=" + app})
	require.NoError(t, err)
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				return net.JoinHostPort(p.Status.PodIP, fmt.Sprint(port.ContainerPort))
			}
		}
	}
	t.Fatalf("no running pod of %s in tenant %s", app, tenant)
	return ""
}

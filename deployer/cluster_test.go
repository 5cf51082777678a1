package deployer_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/platform-paas/platform/deploy/localstack"
)

// TestLocalStackIsACluster checks that the local stack has what a real
// cluster has and an install of the platform needs: Service IPs that work
// (kube-proxy), Service names that pods resolve (the cluster DNS behind
// the kube-dns Service), and PersistentVolumeClaims that the default
// StorageClass fills.
func TestLocalStackIsACluster(t *testing.T) {
	env := localstack.Require(t)
	kc := localstack.Kube(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	ns := fmt.Sprintf("cluster-%08x", rand.Uint32())
	_, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kc.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	localstack.CreatePullSecret(ctx, t, kc, env, ns)

	// A web server behind a Service named web.
	dep, svc, _ := localstack.StaticApp(env.Registry, "none", "")
	// A NodePort Service: this machine reaches Services at their node
	// ports (its own route to the service range goes nowhere; pods' goes
	// through kube-proxy).
	svc.Spec.Type = corev1.ServiceTypeNodePort
	_, err = kc.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	svc, err = kc.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	clusterIP := svc.Spec.ClusterIP
	require.NotEmpty(t, clusterIP)
	nodePort := svc.Spec.Ports[0].NodePort
	require.NotZero(t, nodePort)
	fqdn := "web." + ns + ".svc.cluster.local"

	t.Run("the cluster DNS answers for a Service", func(t *testing.T) {
		// Asked where it serves, the kube-dns Service's endpoint.
		slices, err := kc.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kube-dns"})
		require.NoError(t, err)
		require.NotEmpty(t, slices.Items, "the kube-dns Service has endpoints")
		require.NotEmpty(t, slices.Items[0].Endpoints)
		dnsAddr := net.JoinHostPort(slices.Items[0].Endpoints[0].Addresses[0], "53")
		kubeDNS, err := kc.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, localstack.DNSServiceIP, kubeDNS.Spec.ClusterIP)
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, dnsAddr)
		}}
		var got []string
		require.Eventually(t, func() bool {
			lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
			defer lcancel()
			got, err = r.LookupHost(lctx, fqdn)
			return err == nil
		}, time.Minute, 200*time.Millisecond, "resolving %s: %v", fqdn, err)
		assert.Equal(t, []string{clusterIP}, got)
	})

	t.Run("a node port reaches the Service's pods", func(t *testing.T) {
		c := &http.Client{Timeout: 3 * time.Second}
		var body string
		require.Eventually(t, func() bool {
			resp, err := c.Get("http://" + net.JoinHostPort(localstack.NodeIP, fmt.Sprint(nodePort)) + "/")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return resp.StatusCode == http.StatusOK
		}, 3*time.Minute, 250*time.Millisecond, "GET http://%s:%d/ from the node\n%s", localstack.NodeIP, nodePort, localstack.PodReport(kc, ns))
		assert.Contains(t, body, "Directory listing for /", "python's http.server answered")
	})

	t.Run("pods resolve Service names and reach Service IPs", func(t *testing.T) {
		// By the short name (the pod's search path) and the full one,
		// through the kube-dns Service's IP, which the pod's resolv.conf
		// names.
		script := `
import socket, urllib.request
for name in ("web", "` + fqdn + `"):
    print("resolved", name, socket.gethostbyname(name))
print("status", urllib.request.urlopen("http://web/", timeout=10).status)
# A Service with no endpoints refuses at once, as in any cluster.
try:
    socket.create_connection(("empty", 80), timeout=20).close()
    print("empty open")
except socket.timeout:
    print("empty timed out")
except OSError as e:
    print("empty refused", e.errno)
print(open("/etc/resolv.conf").read())
`
		_, err := kc.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "empty"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "nothing-has-this-label"},
				Ports:    []corev1.ServicePort{{Port: 80}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		logs := runPod(ctx, t, kc, ns, "client", env.Registry+"/platform/run-python:bookworm", []string{"python3", "-c", script}, nil)
		assert.Contains(t, logs, "resolved web "+clusterIP+"\n")
		assert.Contains(t, logs, "resolved "+fqdn+" "+clusterIP+"\n")
		assert.Contains(t, logs, "status 200\n")
		assert.Contains(t, logs, "empty refused", "a Service without endpoints fails a connection at once")
		assert.Contains(t, logs, "nameserver "+localstack.DNSServiceIP+"\n")
	})

	t.Run("pods reach the API server as their NetworkPolicies allow", func(t *testing.T) {
		script := `
import socket, ssl, urllib.error, urllib.request
try:
    socket.create_connection(("kubernetes.default.svc.cluster.local", 443), timeout=5).close()
    print("api open")
except OSError as e:
    print("api blocked", e)
try:
    urllib.request.urlopen("https://kubernetes.default.svc.cluster.local/version", timeout=5, context=ssl._create_unverified_context())
    print("api anonymous 200")
except urllib.error.HTTPError as e:
    print("api anonymous", e.code)
`
		cmd := []string{"python3", "-c", script}
		img := env.Registry + "/platform/run-python:bookworm"
		logs := runPod(ctx, t, kc, ns, "api-open", img, cmd, nil)
		assert.Contains(t, logs, "api open\n", "no policy in the namespace: the kubernetes Service leads to the API server")
		assert.Contains(t, logs, "api anonymous 401\n", "which answers nothing without credentials")

		// A policy that allows DNS and nothing else, as tenants' allow
		// no private address.
		udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
		dns := intstr.FromInt32(53)
		_, err := kc.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "dns-only"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"policy": "dns-only"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{
					{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns},
				}}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		// The local stack's enforcer learns a pod's address when the
		// kubelet reports it, which may be after the pod's first
		// connections: the pod tries until it is blocked, for 30 s.
		retry := `
import socket, time
for _ in range(60):
    try:
        socket.create_connection(("kubernetes.default.svc.cluster.local", 443), timeout=2).close()
        time.sleep(0.5)
    except OSError as e:
        print("api blocked", e)
        break
else:
    print("api open")
`
		logs = runPodLabelled(ctx, t, kc, ns, "api-blocked", img, []string{"python3", "-c", retry}, nil, map[string]string{"policy": "dns-only"})
		assert.Contains(t, logs, "api blocked", "the policy keeps the pod from the API server")
	})

	t.Run("a claim of the default StorageClass gets a volume", func(t *testing.T) {
		claim, err := kc.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse("16Mi"),
				}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NotNil(t, claim.Spec.StorageClassName, "the default class is filled in")
		assert.Equal(t, "local-path", *claim.Spec.StorageClassName)

		volume := []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
		}}}
		runPod(ctx, t, kc, ns, "writer", env.Registry+"/platform/run-python:bookworm",
			[]string{"python3", "-c", "open('/data/note', 'w').write('written by a pod')"}, volume)

		claim, err = kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, corev1.ClaimBound, claim.Status.Phase)
		pv, err := kc.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
		require.NoError(t, err)
		require.NotNil(t, pv.Spec.HostPath)
		volumes := filepath.Join(filepath.Dir(env.Kubeconfig), "volumes")
		assert.Equal(t, filepath.Join(volumes, pv.Name), pv.Spec.HostPath.Path)
		note, err := os.ReadFile(filepath.Join(pv.Spec.HostPath.Path, "note"))
		require.NoError(t, err, "what the pod wrote is in the volume's directory")
		assert.Equal(t, "written by a pod", string(note))

		// Deleting the claim deletes the volume and its directory.
		require.NoError(t, kc.CoreV1().Pods(ns).Delete(ctx, "writer", metav1.DeleteOptions{}))
		require.NoError(t, kc.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}))
		require.Eventually(t, func() bool {
			_, err := kc.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, 2*time.Minute, 250*time.Millisecond, "the volume %s is deleted with its claim", pv.Name)
		_, err = os.Stat(pv.Spec.HostPath.Path)
		assert.ErrorIs(t, err, os.ErrNotExist, "its directory is removed")
	})
}

// runPod runs command in a pod of image named name in ns, with volumes
// mounted at /name-of-volume, waits until it has succeeded and returns
// its output; a pod that fails fails the test with its output.
func runPod(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name, image string, command []string, volumes []corev1.Volume) string {
	t.Helper()
	return runPodLabelled(ctx, t, kc, ns, name, image, command, volumes, nil)
}

// runPodLabelled is runPod of a pod with labels.
func runPodLabelled(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name, image string, command []string, volumes []corev1.Volume, labels map[string]string) string {
	t.Helper()
	var mounts []corev1.VolumeMount
	for _, v := range volumes {
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: "/" + v.Name})
	}
	_, err := kc.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(1)),
			ImagePullSecrets:              []corev1.LocalObjectReference{{Name: localstack.PullSecretName}},
			Volumes:                       volumes,
			Containers: []corev1.Container{{
				Name: name, Image: image, Command: command, VolumeMounts: mounts,
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var phase corev1.PodPhase
	require.Eventually(t, func() bool {
		p, err := kc.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed
	}, 3*time.Minute, 250*time.Millisecond, "pod %s did not finish\n%s", name, localstack.PodReport(kc, ns))
	raw, err := kc.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	require.NoError(t, err)
	logs := string(raw)
	require.Equal(t, corev1.PodSucceeded, phase, "pod %s: %s", name, strings.TrimSpace(logs))
	return logs
}

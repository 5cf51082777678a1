package deployer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
	"github.com/platform-paas/platform/deployer"
)

// rig is one test's tenant on the local stack: its own namespace, deleted
// when the test ends.
type rig struct {
	t      *testing.T
	env    localstack.Env
	kc     kubernetes.Interface
	d      *deployer.Deployer
	cfg    deployer.Config
	tenant string
	ns     string
	image  string // the run-python image, by digest
	// logs says whether the API server can reach the kubelet, which
	// reading logs needs; see podLogsReachable.
	logs bool
}

const testPrefix = "deploytest-"

// newRig makes a Deployer with short timeouts and a fresh tenant with
// quota. adjust, if not nil, changes the Deployer's config first.
func newRig(t *testing.T, quota deployer.TenantQuota, adjust func(*deployer.Config)) *rig {
	t.Helper()
	env := localstack.Require(t)
	cfg := deployer.Config{
		Kubeconfig:      env.Kubeconfig,
		Logger:          slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		AppsDomain:      cmpOr(env.AppsDomain, "platform.test"),
		NamespacePrefix: testPrefix,
		RouterCIDRs:     []string{"10.217.0.1/32"},
		RolloutTimeout:  60 * time.Second,
		MinReady:        time.Second,
		StopGrace:       time.Second,
		PullCredentials: stackPullCredentials{env},
	}
	if adjust != nil {
		adjust(&cfg)
	}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	rc, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	require.NoError(t, err)
	kc, err := kubernetes.NewForConfig(rc)
	require.NoError(t, err)

	tenant := fmt.Sprintf("x%08x", rand.Uint32())
	r := &rig{t: t, env: env, kc: kc, d: d, cfg: cfg, tenant: tenant, ns: cfg.NamespacePrefix + tenant}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := kc.CoreV1().Namespaces().Delete(ctx, r.ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", r.ns, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, d.EnsureTenant(ctx, tenant, quota))
	r.image = runImage(t, env)
	r.logs = podLogsReachable(ctx, t, kc)
	return r
}

// podLogsReachable reports whether the API server reaches the kubelet, as
// reading pod logs needs. A stack whose kube-apiserver prefers the node's
// host name, which does not resolve, cannot: under make test or in CI
// (localstack.Required) that fails the test; elsewhere the checks of log
// output are skipped, saying why.
func podLogsReachable(ctx context.Context, t *testing.T, kc kubernetes.Interface) bool {
	t.Helper()
	nodes, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, nodes.Items)
	_, err = kc.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodes.Items[0].Name, "proxy", "healthz").DoRaw(ctx)
	if err == nil {
		return true
	}
	msg := fmt.Sprintf("the API server cannot reach the kubelet, so no pod log can be read (%v): "+
		"kube-apiserver needs --kubelet-preferred-address-types=InternalIP,Hostname in deploy/local/up.sh", err)
	if localstack.Required() {
		t.Fatal(msg)
	}
	t.Log("skipping the checks of log output: " + msg)
	return false
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// testWriter sends the deployer's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// stackPullCredentials stands in for platformd's registry: the tests'
// pods pull the stack's run image, which a tenant's own pull credential
// may not, so every tenant gets the stack's credential.
type stackPullCredentials struct{ env localstack.Env }

func (c stackPullCredentials) PullCredential(string) (deployer.RegistryCredential, error) {
	return deployer.RegistryCredential{Registry: c.env.Registry, Username: localstack.RegistryUser, Password: c.env.RegistryCredential}, nil
}

// runImage returns the stack's Python run image by digest, as a release
// names its image.
func runImage(t *testing.T, env localstack.Env) string {
	t.Helper()
	registry := env.Registry
	req, err := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/platform/run-python/manifests/bookworm", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := (&http.Client{Transport: env.RegistryTransport(t, "repository:platform/run-python:pull")}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the stack's registry has platform/run-python:bookworm")
	digest := resp.Header.Get("Docker-Content-Digest")
	require.True(t, strings.HasPrefix(digest, "sha256:"), "digest %q", digest)
	return registry + "/platform/run-python@" + digest
}

// webCommand serves the GREETING config var and DYNO at /greeting and
// /dyno on $PORT.
const webCommand = `mkdir -p /tmp/www && cd /tmp/www && printf %s "$GREETING" > greeting && printf %s "$DYNO" > dyno && echo "web up on $PORT" && exec python3 -u -m http.server --bind 0.0.0.0 "$PORT"`

const workerCommand = `echo "worker started"; exec sleep 3600`

func (r *rig) release(app string, version int, greeting string, procs ...deployer.Process) deployer.Release {
	return deployer.Release{
		Tenant:    r.tenant,
		App:       app,
		Version:   version,
		Image:     r.image,
		Config:    map[string]string{"GREETING": greeting},
		Processes: procs,
		Commit:    "0123456789abcdef0123456789abcdef01234567",
	}
}

func web(n int) deployer.Process {
	return deployer.Process{Type: "web", Command: webCommand, Quantity: n, Size: "small"}
}

func worker(n int) deployer.Process {
	return deployer.Process{Type: "worker", Command: workerCommand, Quantity: n, Size: "small"}
}

// apply runs Apply, logs what it wrote and returns its error and duration.
func (r *rig) apply(ctx context.Context, rel deployer.Release, prev *deployer.Release) (string, time.Duration, error) {
	r.t.Helper()
	var out bytes.Buffer
	start := time.Now()
	err := r.d.Apply(ctx, rel, prev, &out)
	took := time.Since(start)
	r.t.Logf("Apply v%d took %s, err=%v; output:\n%s", rel.Version, took.Round(time.Millisecond), err, out.String())
	return out.String(), took, err
}

// pods returns the app's process pods of one type that are not stopping.
// It may be called from an Eventually condition.
func (r *rig) pods(ctx context.Context, app, ptype string) []corev1.Pod {
	list, err := r.kc.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{LabelSelector: "platform.io/app=" + app + ",platform.io/process-type=" + ptype})
	if err != nil {
		r.t.Errorf("listing pods: %v", err)
		return nil
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// get fetches path from a pod's web process.
func get(t *testing.T, pod corev1.Pod, path string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d%s", pod.Status.PodIP, deployer.Port, path))
	require.NoError(t, err, "GET %s from pod %s", path, pod.Name)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s from pod %s: %s", path, pod.Name, b)
	return string(b)
}

func rolloutError(t *testing.T, err error) *deployer.RolloutError {
	t.Helper()
	var re *deployer.RolloutError
	require.True(t, errors.As(err, &re), "a *RolloutError, got %v", err)
	return re
}

func TestEnsureTenant(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 4, MaxSize: "standard"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ns, err := r.kc.CoreV1().Namespaces().Get(ctx, r.ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, r.tenant, ns.Labels["platform.io/tenant"])
	assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"])

	rq, err := r.kc.CoreV1().ResourceQuotas(r.ns).Get(ctx, "platform", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, r.tenant, rq.Labels["platform.io/tenant"])
	hard := rq.Spec.Hard
	assert.Equal(t, int64(6), hard.Pods().Value(), "4 processes and 2 for deploys")
	assert.Equal(t, int64(6*512<<20), hard.Name(corev1.ResourceLimitsMemory, "").Value())
	assert.Equal(t, int64(6*250), hard.Name(corev1.ResourceRequestsCPU, "").MilliValue())

	lr, err := r.kc.CoreV1().LimitRanges(r.ns).Get(ctx, "platform", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, lr.Spec.Limits, 1)
	assert.Equal(t, int64(512<<20), lr.Spec.Limits[0].Max.Memory().Value())
	assert.Equal(t, int64(1000), lr.Spec.Limits[0].Max.Cpu().MilliValue())

	np, err := r.kc.NetworkingV1().NetworkPolicies(r.ns).Get(ctx, "platform", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, np.Spec.PodSelector.MatchLabels, "applies to every pod")
	require.Len(t, np.Spec.Ingress, 1)
	from := np.Spec.Ingress[0].From
	require.Len(t, from, 3)
	assert.Equal(t, "10.217.0.1/32", from[0].IPBlock.CIDR)
	assert.Equal(t, map[string]string{"platform.io/component": "router"}, from[1].PodSelector.MatchLabels)
	assert.Nil(t, from[2].NamespaceSelector, "the tenant's own pods")
	assert.Empty(t, from[2].PodSelector.MatchLabels, "the tenant's own pods")
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
	require.Len(t, np.Spec.Egress, 3)
	internet := np.Spec.Egress[2].To
	require.Len(t, internet, 2)
	assert.Equal(t, "0.0.0.0/0", internet[0].IPBlock.CIDR)
	assert.Contains(t, internet[0].IPBlock.Except, "169.254.0.0/16", "never the metadata address")
	assert.Contains(t, internet[0].IPBlock.Except, "10.0.0.0/8", "never nodes, pods or services")

	// The kubelet pulls the tenant's images with its credential.
	pull, err := r.kc.CoreV1().Secrets(r.ns).Get(ctx, "platform-registry", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeDockerConfigJson, pull.Type)
	var dockerConfig struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	require.NoError(t, json.Unmarshal(pull.Data[corev1.DockerConfigJsonKey], &dockerConfig))
	entry := dockerConfig.Auths[r.env.Registry]
	assert.Equal(t, localstack.RegistryUser, entry.Username)
	assert.Equal(t, r.env.RegistryCredential, entry.Password)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte(entry.Username+":"+entry.Password)), entry.Auth)

	// Ensuring it again changes nothing.
	versions := []string{ns.ResourceVersion, rq.ResourceVersion, lr.ResourceVersion, np.ResourceVersion}
	require.NoError(t, r.d.EnsureTenant(ctx, r.tenant, deployer.TenantQuota{MaxProcesses: 4, MaxSize: "standard"}))
	ns, _ = r.kc.CoreV1().Namespaces().Get(ctx, r.ns, metav1.GetOptions{})
	rq, _ = r.kc.CoreV1().ResourceQuotas(r.ns).Get(ctx, "platform", metav1.GetOptions{})
	lr, _ = r.kc.CoreV1().LimitRanges(r.ns).Get(ctx, "platform", metav1.GetOptions{})
	np, _ = r.kc.NetworkingV1().NetworkPolicies(r.ns).Get(ctx, "platform", metav1.GetOptions{})
	assert.Equal(t, versions, []string{ns.ResourceVersion, rq.ResourceVersion, lr.ResourceVersion, np.ResourceVersion})

	// A new quota is applied.
	require.NoError(t, r.d.EnsureTenant(ctx, r.tenant, deployer.TenantQuota{MaxProcesses: 1, MaxSize: "small", Headroom: 1}))
	rq, _ = r.kc.CoreV1().ResourceQuotas(r.ns).Get(ctx, "platform", metav1.GetOptions{})
	assert.Equal(t, int64(2), rq.Spec.Hard.Pods().Value())

	err = r.d.EnsureTenant(ctx, "Not_A_Name", deployer.TenantQuota{})
	assert.ErrorIs(t, err, deployer.ErrInvalid)

	// The restricted Pod Security Standard is enforced: a pod that may run
	// as root is refused.
	_, err = r.kc.CoreV1().Pods(r.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rooted"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: r.image}}},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "violates PodSecurity")
}

// TestReleaseLifecycle deploys an app through its life: a first release
// with a release command, an idempotent re-apply, a config change rolled
// out with no unavailable web process, a crashing release undone, scaling,
// status, restart, logs and deletion.
func TestReleaseLifecycle(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 6, MaxSize: "small"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const app = "shop"

	// v1: two web processes, one worker, a release command.
	v1 := r.release(app, 1, "hello", web(2), worker(1))
	v1.ReleaseCommand = `echo "migrating for $GREETING"`
	v1.Domains = []string{"www.shop.example"}
	out, took, err := r.apply(ctx, v1, nil)
	require.NoError(t, err)
	t.Logf("first release ready in %s", took)
	if r.logs {
		assert.Contains(t, out, "migrating for hello", "release command output reaches out")
	}
	assert.Contains(t, out, "web: 2/2 new pods ready")

	dep, err := r.kc.AppsV1().Deployments(r.ns).Get(ctx, app+"-web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), *dep.Spec.Replicas)
	assert.Equal(t, "1", dep.Annotations["platform.io/release"])
	assert.Equal(t, "1", dep.Spec.Template.Labels["platform.io/release"])
	assert.Equal(t, int32(0), dep.Spec.Strategy.RollingUpdate.MaxUnavailable.IntVal)
	c := dep.Spec.Template.Spec.Containers[0]
	assert.Equal(t, []string{"/bin/sh", "-c", webCommand}, c.Command)
	assert.Equal(t, "256Mi", c.Resources.Limits.Memory().String())
	assert.Equal(t, "100m", c.Resources.Requests.Cpu().String())
	require.NotNil(t, c.ReadinessProbe)
	assert.NotNil(t, c.ReadinessProbe.TCPSocket)
	assert.Equal(t, app+"-v1-config", c.EnvFrom[0].SecretRef.Name)
	assert.True(t, *dep.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
	assert.Equal(t, []corev1.LocalObjectReference{{Name: "platform-registry"}}, dep.Spec.Template.Spec.ImagePullSecrets)

	sec, err := r.kc.CoreV1().Secrets(r.ns).Get(ctx, app+"-v1-config", metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, *sec.Immutable)
	assert.Equal(t, "hello", string(sec.Data["GREETING"]))

	svc, err := r.kc.CoreV1().Services(r.ns).Get(ctx, app+"-web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "http", svc.Spec.Ports[0].Name)
	assert.Equal(t, int32(80), svc.Spec.Ports[0].Port)
	assert.Equal(t, map[string]string{"platform.io/app": app, "platform.io/process-type": "web"}, svc.Spec.Selector)

	ing, err := r.kc.NetworkingV1().Ingresses(r.ns).Get(ctx, app, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "platform", *ing.Spec.IngressClassName)
	var hosts []string
	for _, rule := range ing.Spec.Rules {
		hosts = append(hosts, rule.Host)
		assert.Equal(t, "/", rule.HTTP.Paths[0].Path)
		assert.Equal(t, app+"-web", rule.HTTP.Paths[0].Backend.Service.Name)
	}
	assert.Equal(t, []string{app + "." + r.cfg.AppsDomain, "www.shop.example"}, hosts)

	_, err = r.kc.BatchV1().Jobs(r.ns).Get(ctx, app+"-release-v1", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the release command's job is deleted: %v", err)

	webPods := r.pods(ctx, app, "web")
	require.Len(t, webPods, 2)
	for _, p := range webPods {
		assert.Equal(t, "hello", get(t, p, "/greeting"))
		assert.Equal(t, "web."+p.Name, get(t, p, "/dyno"))
	}
	require.Len(t, r.pods(ctx, app, "worker"), 1)

	t.Run("re-apply changes nothing", func(t *testing.T) {
		before := r.versions(ctx, app)
		out, took, err := r.apply(ctx, v1, nil)
		require.NoError(t, err)
		assert.NotContains(t, out, "release command", "the release command ran for v1 already")
		assert.Less(t, took, 5*time.Second)
		assert.Equal(t, before, r.versions(ctx, app))
	})

	// v2: a config change, rolled out with the web process always fully
	// available, as the router sees it.
	v2 := r.release(app, 2, "bonjour", web(2), worker(1))
	v2.Domains = v1.Domains
	t.Run("config change rolls out with zero unavailable", func(t *testing.T) {
		minReady, stop := r.watchReadyEndpoints(ctx, app+"-web")
		_, took, err := r.apply(ctx, v2, &v1)
		min := stop()
		require.NoError(t, err)
		t.Logf("rolling release ready in %s; fewest ready web endpoints during it: %d", took, min)
		assert.GreaterOrEqual(t, min, 2, "never fewer ready web endpoints than desired")
		assert.Equal(t, 2, minReady)

		webPods := r.pods(ctx, app, "web")
		require.Len(t, webPods, 2)
		for _, p := range webPods {
			assert.Equal(t, "2", p.Labels["platform.io/release"])
			assert.Equal(t, "bonjour", get(t, p, "/greeting"))
		}
		workers := r.pods(ctx, app, "worker")
		require.Len(t, workers, 1)
		assert.Equal(t, "2", workers[0].Labels["platform.io/release"])
	})

	t.Run("crashing release is undone quickly", func(t *testing.T) {
		v3 := r.release(app, 3, "hola", deployer.Process{Type: "web", Command: `echo boom >&2; exit 3`, Quantity: 2, Size: "small"}, worker(1))
		v3.Domains = v1.Domains
		out, took, err := r.apply(ctx, v3, &v2)
		require.Error(t, err)
		re := rolloutError(t, err)
		t.Logf("crashing release failed and was undone in %s: %v; logs %q", took, err, re.Logs)
		assert.Equal(t, deployer.ReasonCrashLoop, re.Reason)
		assert.Equal(t, "web", re.Process)
		assert.Equal(t, 3, re.ExitCode)
		assert.Contains(t, re.Detail, "exited with code 3")
		if r.logs {
			assert.Contains(t, re.Logs, "boom")
		}
		assert.Equal(t, 2, re.RolledBackTo)
		assert.Contains(t, out, "Rolled back to v2")
		assert.Less(t, took, r.cfg.RolloutTimeout/2, "a crash loop fails before the deadline")

		dep, err := r.kc.AppsV1().Deployments(r.ns).Get(ctx, app+"-web", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "2", dep.Spec.Template.Labels["platform.io/release"], "the template is v2's again")
		assert.Equal(t, int32(2), dep.Status.AvailableReplicas)
		webPods := r.pods(ctx, app, "web")
		require.Len(t, webPods, 2)
		for _, p := range webPods {
			assert.Equal(t, "2", p.Labels["platform.io/release"])
			assert.Equal(t, "bonjour", get(t, p, "/greeting"))
		}
	})

	t.Run("scale and status", func(t *testing.T) {
		require.NoError(t, r.d.Scale(ctx, r.tenant, app, "web", 3, ""))
		err := r.d.Scale(ctx, r.tenant, app, "web", -1, "large")
		assert.ErrorIs(t, err, deployer.ErrQuota, "large is above the tenant's largest size")
		err = r.d.Scale(ctx, r.tenant, app, "web", 10, "")
		assert.ErrorIs(t, err, deployer.ErrQuota, "10 processes are above the quota")
		err = r.d.Scale(ctx, r.tenant, app, "clock", 1, "")
		assert.ErrorIs(t, err, deployer.ErrNotFound)

		var st []deployer.ProcessStatus
		require.Eventually(t, func() bool {
			st, err = r.d.Status(ctx, r.tenant, app)
			if err != nil || len(st) != 2 || st[0].Ready != 3 || len(st[0].Dynos) != 3 {
				return false
			}
			for _, dy := range st[0].Dynos {
				if dy.State != "up" {
					return false
				}
			}
			return true
		}, time.Minute, 250*time.Millisecond, "three web processes up, none stopping: %+v", st)
		assert.Equal(t, "web", st[0].Type)
		assert.Equal(t, 3, st[0].Desired)
		assert.Equal(t, 2, st[0].Release)
		assert.Equal(t, "small", st[0].Size)
		assert.Equal(t, webCommand, st[0].Command)
		var names []string
		for _, dy := range st[0].Dynos {
			names = append(names, dy.Name)
			assert.Equal(t, "up", dy.State)
			assert.Equal(t, 2, dy.Release)
		}
		assert.Equal(t, []string{"web.1", "web.2", "web.3"}, names)

		// A dyno keeps its name while another goes: scaled from 3 to 2,
		// the replica set removing web.1 (the oldest, which it would
		// keep if left to choose), web.2 and web.3 stay web.2 and web.3.
		before := map[string]string{}
		for _, dy := range st[0].Dynos {
			before[dy.Pod] = dy.Name
		}
		gone := st[0].Dynos[0].Pod
		_, err = r.kc.CoreV1().Pods(r.ns).Patch(ctx, gone, types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"controller.kubernetes.io/pod-deletion-cost":"-1000"}}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		require.NoError(t, r.d.Scale(ctx, r.tenant, app, "web", 2, ""))
		require.Eventually(t, func() bool {
			for _, p := range r.pods(ctx, app, "web") {
				if p.Name == gone {
					return false
				}
			}
			return true
		}, time.Minute, 250*time.Millisecond, "web.1 is stopping or gone")
		st, err = r.d.Status(ctx, r.tenant, app)
		require.NoError(t, err)
		after := map[string]string{}
		for _, dy := range st[0].Dynos {
			if dy.State != "stopping" {
				after[dy.Pod] = dy.Name
			}
		}
		delete(before, gone)
		assert.Equal(t, before, after, "the remaining processes keep their names")
		assert.ElementsMatch(t, []string{"web.2", "web.3"}, slices.Collect(maps.Values(after)))
		assert.Equal(t, "worker", st[1].Type)
		assert.Equal(t, 1, st[1].Desired)

		// Size changes replace the processes.
		require.NoError(t, r.d.Scale(ctx, r.tenant, app, "worker", 1, "small"))
		old := r.pods(ctx, app, "worker")[0].Name
		require.NoError(t, r.d.Restart(ctx, r.tenant, app, "worker", true))
		// Once it returns, the one worker not stopping is a new one, and
		// runs (the old may still be finishing its grace period).
		var live []string
		for _, p := range r.pods(ctx, app, "worker") {
			if p.DeletionTimestamp == nil {
				assert.Equal(t, corev1.PodRunning, p.Status.Phase, p.Name)
				live = append(live, p.Name)
			}
		}
		require.Len(t, live, 1)
		assert.NotEqual(t, old, live[0], "the restart replaced the worker")
	})

	t.Run("logs", func(t *testing.T) {
		if !r.logs {
			localstack.Need(t, "pod logs, which the API server cannot read on this stack", "kube-apiserver needs --kubelet-preferred-address-types=InternalIP,Hostname (deploy/local/up.sh); run `make up`")
		}
		webPods := r.pods(ctx, app, "web")
		require.NotEmpty(t, webPods)
		get(t, webPods[0], "/greeting?marker=backlog")

		var buf bytes.Buffer
		require.NoError(t, r.d.Logs(ctx, r.tenant, app, deployer.LogOptions{Tail: 100}, &buf))
		t.Logf("logs:\n%s", buf.String())
		assert.Regexp(t, `(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 app\[web\.[123]\]: web up on 5000$`, buf.String())
		assert.Contains(t, buf.String(), "marker=backlog")
		assert.Contains(t, buf.String(), "app[worker.1]: worker started")

		buf.Reset()
		require.NoError(t, r.d.Logs(ctx, r.tenant, app, deployer.LogOptions{Type: "worker", Tail: 1}, &buf))
		assert.Equal(t, 1, strings.Count(buf.String(), "\n"))
		assert.Contains(t, buf.String(), "app[worker.1]: worker started")

		// Following: new lines arrive as they are logged.
		fctx, fcancel := context.WithCancel(ctx)
		var fbuf syncbuf.Buffer
		done := make(chan error, 1)
		go func() {
			done <- r.d.Logs(fctx, r.tenant, app, deployer.LogOptions{Type: "web", Tail: 5, Follow: true}, &fbuf)
		}()
		require.Eventually(t, func() bool {
			for _, p := range webPods {
				if resp, err := http.Get(fmt.Sprintf("http://%s:%d/greeting?marker=followed", p.Status.PodIP, deployer.Port)); err == nil {
					resp.Body.Close()
				}
			}
			return strings.Contains(fbuf.String(), "marker=followed")
		}, 30*time.Second, 500*time.Millisecond)
		fcancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("Logs did not return after its context ended")
		}
		assert.NotContains(t, fbuf.String(), "worker")
		t.Logf("followed logs:\n%s", fbuf.String())
	})

	t.Run("delete app", func(t *testing.T) {
		require.NoError(t, r.d.DeleteApp(ctx, r.tenant, app))
		sel := metav1.ListOptions{LabelSelector: "platform.io/app=" + app}
		deps, err := r.kc.AppsV1().Deployments(r.ns).List(ctx, sel)
		require.NoError(t, err)
		assert.Empty(t, deps.Items)
		svcs, err := r.kc.CoreV1().Services(r.ns).List(ctx, sel)
		require.NoError(t, err)
		assert.Empty(t, svcs.Items)
		ings, err := r.kc.NetworkingV1().Ingresses(r.ns).List(ctx, sel)
		require.NoError(t, err)
		assert.Empty(t, ings.Items)
		secs, err := r.kc.CoreV1().Secrets(r.ns).List(ctx, sel)
		require.NoError(t, err)
		assert.Empty(t, secs.Items)
		require.Eventually(t, func() bool {
			pods, err := r.kc.CoreV1().Pods(r.ns).List(ctx, sel)
			return err == nil && len(pods.Items) == 0
		}, time.Minute, 500*time.Millisecond, "the app's pods go away")
		st, err := r.d.Status(ctx, r.tenant, app)
		require.NoError(t, err)
		assert.Empty(t, st)
		require.NoError(t, r.d.DeleteApp(ctx, r.tenant, app), "deleting a deleted app")
	})
}

// versions returns the resource versions of the app's objects.
func (r *rig) versions(ctx context.Context, app string) map[string]string {
	r.t.Helper()
	sel := metav1.ListOptions{LabelSelector: "platform.io/app=" + app}
	out := map[string]string{}
	deps, err := r.kc.AppsV1().Deployments(r.ns).List(ctx, sel)
	require.NoError(r.t, err)
	for _, x := range deps.Items {
		out["deployment/"+x.Name] = x.ResourceVersion
	}
	svcs, err := r.kc.CoreV1().Services(r.ns).List(ctx, sel)
	require.NoError(r.t, err)
	for _, x := range svcs.Items {
		out["service/"+x.Name] = x.ResourceVersion
	}
	ings, err := r.kc.NetworkingV1().Ingresses(r.ns).List(ctx, sel)
	require.NoError(r.t, err)
	for _, x := range ings.Items {
		out["ingress/"+x.Name] = x.ResourceVersion
	}
	secs, err := r.kc.CoreV1().Secrets(r.ns).List(ctx, sel)
	require.NoError(r.t, err)
	for _, x := range secs.Items {
		out["secret/"+x.Name] = x.ResourceVersion
	}
	rss, err := r.kc.AppsV1().ReplicaSets(r.ns).List(ctx, sel)
	require.NoError(r.t, err)
	for _, x := range rss.Items {
		out["replicaset/"+x.Name] = x.ResourceVersion
	}
	require.NotEmpty(r.t, out)
	return out
}

// watchReadyEndpoints watches the ready endpoints of a Service, as the
// router sees them. It returns the count at the start, and a function that
// stops the watch and returns the fewest seen.
func (r *rig) watchReadyEndpoints(ctx context.Context, service string) (int, func() int) {
	r.t.Helper()
	list, err := r.kc.DiscoveryV1().EndpointSlices(r.ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	require.NoError(r.t, err)
	ready := map[string]int{}
	count := func(s *discoveryv1.EndpointSlice) int {
		n := 0
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				n++
			}
		}
		return n
	}
	total := func() int {
		n := 0
		for _, v := range ready {
			n += v
		}
		return n
	}
	for i := range list.Items {
		ready[list.Items[i].Name] = count(&list.Items[i])
	}
	start := total()
	w, err := r.kc.DiscoveryV1().EndpointSlices(r.ns).Watch(ctx, metav1.ListOptions{
		LabelSelector:   discoveryv1.LabelServiceName + "=" + service,
		ResourceVersion: list.ResourceVersion,
	})
	require.NoError(r.t, err)
	minSeen := start
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			switch ev.Type {
			case watch.Deleted:
				delete(ready, s.Name)
			case watch.Added, watch.Modified:
				ready[s.Name] = count(s)
			}
			minSeen = min(minSeen, total())
		}
	}()
	return start, func() int {
		w.Stop()
		<-done
		return minSeen
	}
}

// TestImagePullFailure deploys an image the registry does not have.
func TestImagePullFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 4, MaxSize: "small"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rel := r.release("ghost", 1, "x", web(1))
	rel.Image = r.env.Registry + "/deploytest/ghost@sha256:" + strings.Repeat("0", 64)
	out, took, err := r.apply(ctx, rel, nil)
	require.Error(t, err)
	re := rolloutError(t, err)
	t.Logf("image pull failure reported in %s: %v", took, err)
	assert.Equal(t, deployer.ReasonImagePull, re.Reason)
	assert.Equal(t, "web", re.Process)
	assert.NotEmpty(t, re.Detail)
	assert.Zero(t, re.RolledBackTo)
	assert.Less(t, took, r.cfg.RolloutTimeout/2, "a pull back-off fails before the deadline")
	assert.Contains(t, out, "Stopped the processes of v1")

	_, err = r.kc.AppsV1().Deployments(r.ns).Get(ctx, "ghost-web", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "a failed first release leaves no deployment: %v", err)
	_, err = r.kc.CoreV1().Services(r.ns).Get(ctx, "ghost-web", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nor a service: %v", err)
}

// TestReleaseCommandFailure checks that a failing release command stops the
// release before any process changes, with its output on out.
func TestReleaseCommandFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 4, MaxSize: "small"}, func(c *deployer.Config) { c.KeepConfigs = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	v1 := r.release("mig", 1, "one", worker(1))
	_, _, err := r.apply(ctx, v1, nil)
	require.NoError(t, err)
	before, err := r.kc.AppsV1().Deployments(r.ns).Get(ctx, "mig-worker", metav1.GetOptions{})
	require.NoError(t, err)

	v2 := r.release("mig", 2, "two", worker(1))
	v2.ReleaseCommand = `echo "migrating to $GREETING"; echo "relation users does not exist" >&2; exit 4`
	out, _, err := r.apply(ctx, v2, &v1)
	require.Error(t, err)
	re := rolloutError(t, err)
	assert.Equal(t, deployer.ReasonReleaseCommand, re.Reason)
	assert.Equal(t, 4, re.ExitCode)
	if r.logs {
		assert.Contains(t, re.Logs, "migrating to two")
		assert.Contains(t, re.Logs, "relation users does not exist")
		assert.Contains(t, out, "migrating to two", "the command's output reaches out as it runs")
	}
	assert.Contains(t, err.Error(), "release v2 failed: release command failed: exited with code 4")
	assert.Contains(t, err.Error(), "exited with code 4")

	after, err := r.kc.AppsV1().Deployments(r.ns).Get(ctx, "mig-worker", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, before.Generation, after.Generation, "the deployment was not touched")
	assert.Equal(t, "1", after.Spec.Template.Labels["platform.io/release"])
	_, err = r.kc.BatchV1().Jobs(r.ns).Get(ctx, "mig-release-v2", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the job is deleted: %v", err)

	// Fixed, the same version goes through.
	v2.ReleaseCommand = `echo "migrated to $GREETING"`
	out, _, err = r.apply(ctx, v2, &v1)
	require.NoError(t, err)
	if r.logs {
		assert.Contains(t, out, "migrated to two")
	}

	// Config Secrets beyond the newest (KeepConfigs is 1) are deleted,
	// but never the previous release's.
	v3 := r.release("mig", 3, "three", worker(1))
	_, _, err = r.apply(ctx, v3, &v2)
	require.NoError(t, err)
	secs, err := r.kc.CoreV1().Secrets(r.ns).List(ctx, metav1.ListOptions{LabelSelector: "platform.io/app=mig"})
	require.NoError(t, err)
	var names []string
	for _, s := range secs.Items {
		names = append(names, s.Name)
	}
	assert.ElementsMatch(t, []string{"mig-v2-config", "mig-v3-config"}, names)
}

// TestQuota checks both the deployer's own check of a formation against the
// tenant's quota and Kubernetes' refusal of pods past the ResourceQuota.
func TestQuota(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 1, MaxSize: "small"}, func(c *deployer.Config) {
		c.RolloutTimeout = 15 * time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("formation above the quota", func(t *testing.T) {
		_, took, err := r.apply(ctx, r.release("big", 1, "x", worker(3)), nil)
		require.Error(t, err)
		re := rolloutError(t, err)
		assert.Equal(t, deployer.ReasonQuota, re.Reason)
		assert.Contains(t, re.Detail, "needs 3 processes")
		assert.Less(t, took, 5*time.Second)
		_, err = r.kc.AppsV1().Deployments(r.ns).Get(ctx, "big-worker", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "nothing was applied: %v", err)

		_, _, err = r.apply(ctx, r.release("big", 1, "x", deployer.Process{Type: "worker", Command: workerCommand, Quantity: 1, Size: "large"}), nil)
		re = rolloutError(t, err)
		assert.Equal(t, deployer.ReasonQuota, re.Reason)
		assert.Contains(t, re.Detail, "larger than the tenant's largest size")
	})

	t.Run("pods refused by the resource quota", func(t *testing.T) {
		// A quota the deployer did not write: Kubernetes alone enforces
		// it, and the ReplicaSet fails to create the third pod.
		patch := `{"metadata":{"annotations":{"platform.io/max-processes":null}},"spec":{"hard":{"pods":"2"}}}`
		_, err := r.kc.CoreV1().ResourceQuotas(r.ns).Patch(ctx, "platform", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		require.NoError(t, err)
		_, took, err := r.apply(ctx, r.release("big", 2, "x", worker(3)), nil)
		require.Error(t, err)
		re := rolloutError(t, err)
		t.Logf("quota failure reported after %s: %v", took, err)
		assert.Equal(t, deployer.ReasonQuota, re.Reason)
		assert.Equal(t, "worker", re.Process)
		assert.Contains(t, re.Detail, "exceeded quota")
	})
}

// TestReadinessFailure deploys a web process whose health check never
// passes: the rollout runs to its deadline and names the probe's failure.
func TestReadinessFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 2, MaxSize: "small"}, func(c *deployer.Config) {
		c.RolloutTimeout = 10 * time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rel := r.release("sick", 1, "x", web(1))
	rel.HealthPath = "/healthz" // the static server has no such file: 404
	_, took, err := r.apply(ctx, rel, nil)
	require.Error(t, err)
	re := rolloutError(t, err)
	t.Logf("readiness failure reported after %s: %v", took, err)
	assert.Equal(t, deployer.ReasonReadiness, re.Reason)
	assert.Equal(t, "web", re.Process)
	assert.Contains(t, re.Detail, "not ready after 10s")
	assert.Contains(t, re.Detail, "404")
	if r.logs {
		// The process's last lines: the health checks it answered.
		assert.Contains(t, strings.Join(re.Logs, "\n"), `"GET /healthz HTTP/1.1" 404`)
	}
	assert.GreaterOrEqual(t, took, r.cfg.RolloutTimeout)
}

// TestAppWithoutWebKeepsItsRoute checks that an app with no web process
// still has its Service and Ingress, with no endpoints behind them, so
// that the router answers its host "no running web processes" rather than
// as a host no app has.
func TestAppWithoutWebKeepsItsRoute(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 4, MaxSize: "small"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	_, _, err := r.apply(ctx, r.release("quiet", 1, "one", worker(1)), nil)
	require.NoError(t, err)
	ing, err := r.kc.NetworkingV1().Ingresses(r.ns).Get(ctx, "quiet", metav1.GetOptions{})
	require.NoError(t, err, "the app's host is routed")
	require.Len(t, ing.Spec.Rules, 1)
	assert.Equal(t, "quiet."+r.cfg.AppsDomain, ing.Spec.Rules[0].Host)
	svc, err := r.kc.CoreV1().Services(r.ns).Get(ctx, "quiet-web", metav1.GetOptions{})
	require.NoError(t, err, "to its web Service")
	assert.Equal(t, "web", svc.Spec.Selector["platform.io/process-type"])
	_, err = r.kc.AppsV1().Deployments(r.ns).Get(ctx, "quiet-web", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "which has no processes: %v", err)
}

// TestCPURequestPercent checks that with Config.CPURequestPercent the
// processes ask for that share of their size's CPU, the tenant's quota
// counts the same, and the limits stay whole.
func TestCPURequestPercent(t *testing.T) {
	t.Parallel()
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 4, MaxSize: "small"}, func(c *deployer.Config) { c.CPURequestPercent = 25 })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	_, _, err := r.apply(ctx, r.release("share", 1, "one", worker(1)), nil)
	require.NoError(t, err)
	dep, err := r.kc.AppsV1().Deployments(r.ns).Get(ctx, "share-worker", metav1.GetOptions{})
	require.NoError(t, err)
	res := dep.Spec.Template.Spec.Containers[0].Resources
	assert.Equal(t, int64(25), res.Requests.Cpu().MilliValue(), "a quarter of small's 100m")
	assert.Equal(t, int64(500), res.Limits.Cpu().MilliValue(), "the limit whole")
	quotas, err := r.kc.CoreV1().ResourceQuotas(r.ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, quotas.Items, 1)
	pods := quotas.Items[0].Spec.Hard.Pods().Value()
	assert.Equal(t, pods*25, quotas.Items[0].Spec.Hard.Name(corev1.ResourceRequestsCPU, resource.DecimalSI).MilliValue(), "the quota counts the same share")

	_, err = deployer.New(func() deployer.Config { c := r.cfg; c.CPURequestPercent = 101; return c }())
	assert.ErrorContains(t, err, "CPU request percent 101 is out of range")
}

package deployer

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The rollout judgement is a pure function of the objects the informers
// hold; these cases are the states the kubelet and controllers report.

func testRelease() Release {
	return Release{Tenant: "acme", App: "shop", Version: 3, Image: "r/acme/shop@sha256:1",
		Processes: []Process{{Type: "web", Quantity: 2}}}
}

func deploymentWith(gen, observed int64, replicas, updated, available, total int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-web", Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: new(replicas)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated,
			AvailableReplicas: available, Replicas: total, Conditions: conds},
	}
}

func podWith(release string, ready bool, cs ...corev1.ContainerStatus) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-web-abc-" + release, Labels: map[string]string{
			labelApp: "shop", labelProcess: "web", labelRelease: release}},
		Status: corev1.PodStatus{
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
			ContainerStatuses: cs,
		},
	}
}

// endpointsOf is the web Service's slice listing pods, ready or not as
// they are, terminating if terminating.
func endpointsOf(terminating bool, pods ...*corev1.Pod) []*discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "shop-web-x1"}}
	for _, p := range pods {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{"10.0.0.1"},
			Conditions: discoveryv1.EndpointConditions{Ready: new(podReady(p) && !terminating), Terminating: new(terminating)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: p.Name},
		})
	}
	return []*discoveryv1.EndpointSlice{sl}
}

func TestAssess(t *testing.T) {
	exited := func(code int32) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error"}
	}
	cases := []struct {
		name       string
		dep        *appsv1.Deployment
		pods       []*corev1.Pod
		done       bool
		fatal      Reason
		stuck      Reason
		detail     string
		previous   bool
		exitCode   int
		progressed string
		// slices are the web Service's; nil means the pods' own.
		slices []*discoveryv1.EndpointSlice
	}{
		{
			name:       "done",
			dep:        deploymentWith(5, 5, 2, 2, 2, 2),
			pods:       []*corev1.Pod{podWith("3", true), podWith("3", true)},
			done:       true,
			progressed: "web: 2/2 new pods ready",
		},
		{
			name:       "ready, not yet endpoints",
			dep:        deploymentWith(5, 5, 2, 2, 2, 2),
			pods:       []*corev1.Pod{podWith("3", true), podWith("3", true)},
			slices:     []*discoveryv1.EndpointSlice{},
			stuck:      ReasonTimeout,
			detail:     "0 of 2 ready web pods are endpoints of the Service",
			progressed: "web: 2/2 new pods ready",
		},
		{
			name:   "endpoints terminating",
			dep:    deploymentWith(5, 5, 2, 2, 2, 2),
			pods:   []*corev1.Pod{podWith("3", true), podWith("3", true)},
			slices: endpointsOf(true, podWith("3", true)),
			stuck:  ReasonTimeout,
			detail: "0 of 2 ready",
		},
		{
			name:  "controller has not seen the new generation",
			dep:   deploymentWith(5, 4, 2, 2, 2, 2),
			stuck: ReasonTimeout,
		},
		{
			name:  "old pods left",
			dep:   deploymentWith(5, 5, 2, 2, 2, 3),
			pods:  []*corev1.Pod{podWith("3", true), podWith("3", true)},
			stuck: ReasonTimeout,
		},
		{
			name: "crash loop at the limit",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web", RestartCount: 1,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: exited(3)}})},
			fatal:    ReasonCrashLoop,
			detail:   "exited with code 3, 2 times",
			exitCode: 3,
		},
		{
			name: "crashed once, restarted and running",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web", RestartCount: 1,
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: exited(137)}})},
			stuck:    ReasonCrashLoop,
			detail:   "exited with code 137",
			previous: true,
			exitCode: 137,
		},
		{
			name: "out of memory",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web", RestartCount: 2,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}})},
			fatal:    ReasonCrashLoop,
			detail:   "killed for using more memory",
			exitCode: 137,
		},
		{
			name: "command not found",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web", RestartCount: 1,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: `exec: "gunicorn": executable file not found in $PATH`}}})},
			fatal:    ReasonContainerConfig,
			detail:   "executable file not found",
			exitCode: 128,
		},
		{
			name: "pull back-off",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}})},
			fatal:    ReasonImagePull,
			detail:   "Back-off",
			exitCode: -1,
		},
		{
			name: "image not found",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "rpc error: code = NotFound desc = r/x: not found"}}})},
			fatal:    ReasonImagePull,
			exitCode: -1,
		},
		{
			name: "registry unreachable, retried",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "dial tcp 10.0.0.1:5000: connect: connection refused"}}})},
			stuck:    ReasonImagePull,
			exitCode: -1,
		},
		{
			name: "unschedulable",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{{
				ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{labelProcess: "web", labelRelease: "3"}},
				Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu."}}},
			}},
			stuck:    ReasonUnschedulable,
			detail:   "Insufficient cpu",
			exitCode: -1,
		},
		{
			name: "quota refuses a pod",
			dep: deploymentWith(5, 5, 2, 1, 2, 2, appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue,
				Reason: "FailedCreate", Message: `pods "x" is forbidden: exceeded quota: platform`}),
			stuck:    ReasonQuota,
			detail:   "exceeded quota",
			exitCode: -1,
		},
		{
			name: "running, never ready",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("3", false, corev1.ContainerStatus{Name: "web",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})},
			stuck:      ReasonReadiness,
			exitCode:   -1,
			progressed: "web: 0/2 new pods ready",
		},
		{
			name: "the old release's crashes are not the new one's",
			dep:  deploymentWith(5, 5, 2, 1, 2, 3),
			pods: []*corev1.Pod{podWith("2", false, corev1.ContainerStatus{Name: "web", RestartCount: 5,
				State: corev1.ContainerState{Terminated: exited(1)}})},
			stuck: ReasonTimeout,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			slices := tc.slices
			if slices == nil {
				slices = endpointsOf(false, tc.pods...)
			}
			a := assess(testRelease(), map[string]int64{"web": 5}, []*appsv1.Deployment{tc.dep}, tc.pods, slices, 2)
			assert.Equal(t, tc.done, a.done)
			if tc.progressed != "" {
				assert.Equal(t, []string{tc.progressed}, a.progress)
			}
			var f *finding
			switch {
			case tc.fatal != "":
				require.NotNil(t, a.fatal)
				assert.Equal(t, tc.fatal, a.fatal.reason)
				f = a.fatal
			case tc.stuck != "":
				assert.Nil(t, a.fatal)
				require.NotNil(t, a.stuck)
				assert.Equal(t, tc.stuck, a.stuck.reason)
				f = a.stuck
			default:
				assert.Nil(t, a.fatal)
				assert.Nil(t, a.stuck)
				return
			}
			assert.Contains(t, f.detail, tc.detail)
			assert.Equal(t, tc.previous, f.previous)
			if tc.exitCode != 0 {
				assert.Equal(t, tc.exitCode, f.exitCode)
			}
		})
	}
}

// TestAssessSaysNothingOfUnscaledTypes: a process type scaled to 0 gets no
// "0/0 new pods ready" line.
func TestAssessSaysNothingOfUnscaledTypes(t *testing.T) {
	rel := testRelease()
	rel.Processes = append(rel.Processes, Process{Type: "worker", Quantity: 0})
	pods := []*corev1.Pod{podWith("3", true), podWith("3", true)}
	pods[1].Name += "-2"
	worker := deploymentWith(5, 5, 0, 0, 0, 0)
	worker.Name = "shop-worker"
	a := assess(rel, map[string]int64{"web": 5, "worker": 5}, []*appsv1.Deployment{deploymentWith(5, 5, 2, 2, 2, 2), worker}, pods, endpointsOf(false, pods...), 2)
	assert.True(t, a.done)
	assert.Equal(t, []string{"web: 2/2 new pods ready"}, a.progress)
}

func TestRolloutErrorMessage(t *testing.T) {
	e := &RolloutError{Release: 4, Reason: ReasonCrashLoop, Process: "web", Detail: "exited with code 3", RolledBackTo: 3}
	assert.Equal(t, "release v4 failed: web: crash loop: exited with code 3 (rolled back to v3)", e.Error())
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "platform", c.IngressClass)
	assert.Equal(t, "t-", c.NamespacePrefix)
	assert.Equal(t, 2*time.Minute, c.RolloutTimeout)
	assert.Equal(t, 2, c.CrashLimit)
	assert.NotNil(t, c.Logger)

	bad := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative timeout", Config{RolloutTimeout: -time.Second}, "negative"},
		{"fractional min ready", Config{MinReady: 1500 * time.Millisecond}, "whole number of seconds"},
		{"apps domain", Config{AppsDomain: "Not A Domain"}, "apps domain"},
		{"router cidr", Config{RouterCIDRs: []string{"10.0.0.1"}}, "router cidr"},
		{"long prefix", Config{NamespacePrefix: strings.Repeat("a", 30)}, "namespace prefix"},
		{"prefix characters", Config{NamespacePrefix: "T_"}, "namespace prefix"},
		{"router labels", Config{RouterPodLabels: map[string]string{"a b": "c"}}, "router pod label"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Kubeconfig: "unused", RolloutTimeout: tc.cfg.RolloutTimeout, MinReady: tc.cfg.MinReady,
				AppsDomain: tc.cfg.AppsDomain, RouterCIDRs: tc.cfg.RouterCIDRs, NamespacePrefix: tc.cfg.NamespacePrefix,
				RouterPodLabels: tc.cfg.RouterPodLabels})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestReleaseValidate(t *testing.T) {
	ok := testRelease()
	require.NoError(t, ok.Validate())
	cases := []struct {
		name   string
		change func(*Release)
	}{
		{"tenant", func(r *Release) { r.Tenant = "Acme" }},
		{"app", func(r *Release) { r.App = "shop_1" }},
		{"version", func(r *Release) { r.Version = 0 }},
		{"image", func(r *Release) { r.Image = "" }},
		{"config key", func(r *Release) { r.Config = map[string]string{"1X": "y"} }},
		{"process type", func(r *Release) { r.Processes = []Process{{Type: "Web"}} }},
		{"duplicate type", func(r *Release) { r.Processes = []Process{{Type: "web"}, {Type: "web"}} }},
		{"quantity", func(r *Release) { r.Processes = []Process{{Type: "web", Quantity: -1}} }},
		{"size", func(r *Release) { r.Processes = []Process{{Type: "web", Size: "huge"}} }},
		{"domain", func(r *Release) { r.Domains = []string{"not a host"} }},
		{"health path", func(r *Release) { r.HealthPath = "healthz" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testRelease()
			tc.change(&r)
			assert.ErrorIs(t, r.Validate(), ErrInvalid)
		})
	}
}

func TestHosts(t *testing.T) {
	d := &Deployer{cfg: Config{AppsDomain: "apps.example.com"}}
	r := testRelease()
	r.Domains = []string{"WWW.Shop.example.", "shop.apps.example.com", "*.shop.example"}
	assert.Equal(t, []string{"shop.apps.example.com", "www.shop.example", "*.shop.example"}, d.hosts(r))
	d.cfg.AppsDomain = ""
	assert.Empty(t, d.hosts(testRelease()))
}

func TestDynoNames(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(int64(s), 0)) }
	pod := func(name, ptype string, created int, stopping bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created), Labels: map[string]string{labelProcess: ptype}}}
		if stopping {
			p.DeletionTimestamp = new(at(99))
		}
		return p
	}
	numbered := func(p *corev1.Pod, n string) *corev1.Pod {
		p.Annotations = map[string]string{annDyno: n}
		return p
	}
	// First seen: numbered by age, pods being stopped too.
	names, fresh := dynoNames([]*corev1.Pod{
		pod("c", "web", 3, false), pod("a", "web", 1, true), pod("b", "web", 2, false), pod("w", "worker", 9, false),
	})
	assert.Equal(t, map[string]string{"a": "web.1", "b": "web.2", "c": "web.3", "w": "worker.1"}, names)
	assert.Equal(t, map[string]int{"a": 1, "b": 2, "c": 3, "w": 1}, fresh)

	// Once numbered, a pod keeps its number when an older one goes; a new
	// pod gets the lowest free one; of two claiming one number, the older
	// keeps it; a number that is not one is given again.
	names, fresh = dynoNames([]*corev1.Pod{
		numbered(pod("c", "web", 3, false), "3"), numbered(pod("b", "web", 2, false), "2"), pod("d", "web", 4, false),
		numbered(pod("w", "worker", 9, false), "1"), numbered(pod("x", "worker", 10, false), "1"),
		numbered(pod("y", "clock", 1, false), "zero"),
	})
	assert.Equal(t, map[string]string{"b": "web.2", "c": "web.3", "d": "web.1", "w": "worker.1", "x": "worker.2", "y": "clock.1"}, names)
	assert.Equal(t, map[string]int{"d": 1, "x": 2, "y": 1}, fresh)

	// The pods of a new template (a rollout, a restart) are numbered
	// from 1 beside the old ones.
	template := func(p *corev1.Pod, hash string) *corev1.Pod {
		p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		return p
	}
	names, _ = dynoNames([]*corev1.Pod{
		numbered(template(pod("old1", "web", 1, false), "aaa"), "1"), numbered(template(pod("old2", "web", 2, false), "aaa"), "2"),
		template(pod("new1", "web", 5, false), "bbb"),
	})
	assert.Equal(t, map[string]string{"old1": "web.1", "old2": "web.2", "new1": "web.1"}, names)
	assert.True(t, dynoLess("web.2", "web.10"))
	assert.True(t, dynoLess("web.10", "worker.1"))
}

func TestParseLogLine(t *testing.T) {
	l := parseLogLine("2026-11-25T18:22:30.183520123Z hello world", "web.1")
	assert.Equal(t, "2026-11-25T18:22:30.183520+00:00 app[web.1]: hello world\n", l.String())
	l = parseLogLine("no stamp", "web.2")
	assert.True(t, l.at.IsZero())
	assert.Equal(t, "no stamp", l.text)
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 2}
	_, _ = tb.Write([]byte("one\ntw"))
	_, _ = tb.Write([]byte("o\nthree\nfour"))
	assert.Equal(t, []string{"two", "three"}, tb.lines())
}

func TestPermanentPullError(t *testing.T) {
	assert.True(t, permanentPullError("failed to resolve reference: r/x@sha256:0: not found"))
	assert.True(t, permanentPullError("pull access denied"))
	assert.False(t, permanentPullError("dial tcp 127.0.0.1:5000: connect: connection refused"))
}

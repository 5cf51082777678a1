package deployer

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Reason says why a release failed.
type Reason string

// The reasons a release fails.
const (
	// ReasonCrashLoop: a process of the new release exited, CrashLimit
	// times or before the deadline.
	ReasonCrashLoop Reason = "crash loop"
	// ReasonImagePull: the node could not pull the release's image.
	ReasonImagePull Reason = "image pull error"
	// ReasonContainerConfig: the container could not be made or started
	// as specified (a missing Secret, a command that is not there).
	ReasonContainerConfig Reason = "container config error"
	// ReasonReadiness: web processes ran but never passed the readiness
	// check on $PORT (or HealthPath).
	ReasonReadiness Reason = "failed readiness probe"
	// ReasonUnschedulable: no node had room for a new process.
	ReasonUnschedulable Reason = "unschedulable"
	// ReasonQuota: the tenant's quota does not admit the formation or a
	// pod of it.
	ReasonQuota Reason = "quota exceeded"
	// ReasonReleaseCommand: the release command failed; no process was
	// changed.
	ReasonReleaseCommand Reason = "release command failed"
	// ReasonTimeout: the rollout did not finish in time for no reason
	// the deployer could name.
	ReasonTimeout Reason = "timed out"
)

// RolloutError is a release that could not be run. Use errors.As to get it
// from Apply's error.
type RolloutError struct {
	Release int    // the version that failed
	Reason  Reason // why
	Process string // the process type that failed, if one did
	Pod     string // the pod that showed the failure, if one did
	// Detail says what happened, for the person deploying: "exited with
	// code 3", the scheduler's or the quota's message.
	Detail string
	// ExitCode is the failing container's exit code, -1 if none exited.
	ExitCode int
	// Logs are the last lines the failing container wrote (its previous
	// instance's, if it restarted), oldest first.
	Logs []string
	// RolledBackTo is the version running again after the failure, 0 if
	// none (the release's own processes were stopped instead).
	RolledBackTo int
}

func (e *RolloutError) Error() string {
	s := fmt.Sprintf("release v%d failed: %s", e.Release, e.summary())
	if e.RolledBackTo > 0 {
		s += fmt.Sprintf(" (rolled back to v%d)", e.RolledBackTo)
	}
	return s
}

func (e *RolloutError) summary() string {
	var b strings.Builder
	if e.Process != "" {
		b.WriteString(e.Process + ": ")
	}
	b.WriteString(string(e.Reason))
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// finding is one explanation of a rollout that is not finishing.
type finding struct {
	reason    Reason
	process   string
	pod       string
	container string
	detail    string
	exitCode  int
	// logs says whether the container's logs explain the finding, and
	// previous whether they are its previous instance's.
	logs, previous bool
	// events names an event reason on the pod whose message says more.
	events string
}

// assessment is the state of a rollout at one moment.
type assessment struct {
	done     bool
	progress []string // "web: 1/2 new pods ready", by process type
	// fatal is a failure that waiting will not mend; stuck is the best
	// explanation should the deadline pass now.
	fatal, stuck *finding
}

// Ranks of stuck findings: the lowest wins.
var stuckRank = map[Reason]int{
	ReasonImagePull:       0,
	ReasonCrashLoop:       1,
	ReasonContainerConfig: 2,
	ReasonQuota:           3,
	ReasonUnschedulable:   4,
	ReasonReadiness:       5,
	ReasonTimeout:         6,
}

func (a *assessment) consider(f *finding) {
	if a.stuck == nil || stuckRank[f.reason] < stuckRank[a.stuck.reason] {
		a.stuck = f
	}
}

// assess judges the rollout of rel from the app's Deployments, pods and
// the EndpointSlices of its web Service. gens are the generations the
// Deployments reached when rel was applied. A rollout is done when every
// Deployment's controller has seen rel and runs exactly its quantity of
// pods, all of rel's template and available, and every ready web pod of
// rel is a ready endpoint of the Service: routers take their endpoints from
// the slices, so only then does the new release answer requests.
func assess(rel Release, gens map[string]int64, deps []*appsv1.Deployment, pods []*corev1.Pod, slices []*discoveryv1.EndpointSlice, crashLimit int) assessment {
	a := assessment{done: true}
	version := strconv.Itoa(rel.Version)
	for _, ptype := range processTypes(rel) {
		p, _ := rel.process(ptype)
		var dep *appsv1.Deployment
		for _, x := range deps {
			if x.Name == deploymentName(rel.App, ptype) {
				dep = x
			}
		}
		want := int32(p.Quantity)
		ready, routed := 0, 0
		for _, pod := range pods {
			if pod.Labels[labelProcess] != ptype || pod.Labels[labelRelease] != version || pod.DeletionTimestamp != nil {
				continue
			}
			if podReady(pod) {
				ready++
				if ptype == WebProcess && routable(slices, pod.Name) {
					routed++
				}
			}
			assessPod(&a, ptype, pod, crashLimit)
		}
		if p.Quantity > 0 {
			// A type scaled to 0 has nothing to wait for, nor to say.
			a.progress = append(a.progress, fmt.Sprintf("%s: %d/%d new pods ready", ptype, min(ready, p.Quantity), p.Quantity))
		}
		if ptype == WebProcess && routed < p.Quantity {
			a.done = false
			if ready >= p.Quantity {
				a.consider(&finding{reason: ReasonTimeout, process: ptype, exitCode: -1,
					detail: fmt.Sprintf("%d of %d ready web pods are endpoints of the Service", routed, ready)})
			}
		}

		if dep == nil {
			a.done = false
			continue
		}
		st := dep.Status
		if st.ObservedGeneration < gens[ptype] || dep.Spec.Replicas == nil || *dep.Spec.Replicas != want ||
			st.UpdatedReplicas != want || st.AvailableReplicas != want || st.Replicas != want {
			a.done = false
		}
		for _, c := range dep.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				r := ReasonQuota
				if !strings.Contains(c.Message, "quota") && !strings.Contains(c.Message, "maximum") {
					r = ReasonContainerConfig
				}
				a.consider(&finding{reason: r, process: ptype, detail: c.Message, exitCode: -1})
			}
		}
	}
	if a.done {
		a.fatal, a.stuck = nil, nil
		return a
	}
	if a.stuck == nil {
		a.stuck = &finding{reason: ReasonTimeout, exitCode: -1, detail: strings.Join(a.progress, ", ")}
	}
	return a
}

// routable reports whether pod is a ready endpoint, not terminating, in one
// of slices: what a router needs to send it requests.
func routable(slices []*discoveryv1.EndpointSlice, pod string) bool {
	for _, sl := range slices {
		for _, e := range sl.Endpoints {
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.TargetRef.Name != pod {
				continue
			}
			c := e.Conditions
			if (c.Ready == nil || *c.Ready) && (c.Terminating == nil || !*c.Terminating) {
				return true
			}
		}
	}
	return false
}

// assessPod adds what one pod of the new release shows to a.
func assessPod(a *assessment, ptype string, pod *corev1.Pod, crashLimit int) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			a.consider(&finding{reason: ReasonUnschedulable, process: ptype, pod: pod.Name, detail: c.Message, exitCode: -1})
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		f := &finding{process: ptype, pod: pod.Name, container: cs.Name, exitCode: -1}
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
				f.reason, f.detail = ReasonImagePull, w.Message
				a.fatal = f
				continue
			case "ErrImagePull":
				// The registry said no: retrying will not change its mind.
				f.reason, f.detail = ReasonImagePull, w.Message
				if permanentPullError(w.Message) {
					a.fatal = f
				} else {
					a.consider(f)
				}
				continue
			case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				f.reason, f.detail = ReasonContainerConfig, w.Message
				a.consider(f)
				continue
			}
		}

		// Crashes: every restart is one, and so is a container that has
		// exited and waits to be restarted.
		// The newest instance's log is the current one's unless a new
		// instance already runs.
		crashes := int(cs.RestartCount)
		term := cs.LastTerminationState.Terminated
		f.previous = cs.State.Running != nil
		if t := cs.State.Terminated; t != nil {
			crashes++
			term = t
		} else if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			crashes++
		}
		if crashes == 0 || term == nil {
			if cs.State.Running != nil && !cs.Ready && pod.DeletionTimestamp == nil {
				a.consider(&finding{reason: ReasonReadiness, process: ptype, pod: pod.Name, container: cs.Name,
					detail: "the process runs but is not ready", exitCode: -1, logs: true, events: "Unhealthy"})
			}
			continue
		}
		f.reason, f.exitCode, f.logs = ReasonCrashLoop, int(term.ExitCode), true
		switch {
		case term.Reason == "OOMKilled":
			f.detail = fmt.Sprintf("killed for using more memory than its size allows (exit code %d)", term.ExitCode)
		case term.Reason == "StartError" || term.Reason == "ContainerCannotRun":
			f.reason, f.detail = ReasonContainerConfig, "could not start: "+term.Message
		default:
			f.detail = fmt.Sprintf("exited with code %d", term.ExitCode)
		}
		if crashes > 1 {
			f.detail += fmt.Sprintf(", %d times", crashes)
		}
		if crashes >= crashLimit {
			a.fatal = f
		} else {
			a.consider(f)
		}
	}
}

// permanentPullError reports whether a pull error is the registry's
// answer (no such image, no access) rather than a failure to reach it.
func permanentPullError(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"not found", "manifest unknown", "unauthorized", "denied", "invalid reference"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitRollout watches the app's Deployments and pods until rel's rollout
// is done, fails, or RolloutTimeout passes, writing progress to out.
func (d *Deployer) waitRollout(ctx context.Context, ns string, rel Release, gens map[string]int64, out io.Writer) error {
	w, err := d.watchRollout(ns, rel)
	if err != nil {
		return err
	}
	defer w.stop()
	return w.wait(ctx, gens, out)
}

// rolloutWatch follows the objects that tell how a release's rollout
// goes: the app's Deployments and pods, and its web Service's
// EndpointSlices. It is started before the release is applied, so that
// listing them overlaps with applying it.
type rolloutWatch struct {
	d       *Deployer
	ns      string
	rel     Release
	factory informers.SharedInformerFactory
	slices  informers.SharedInformerFactory
	deps    cache.SharedIndexInformer
	pods    cache.SharedIndexInformer
	eps     cache.SharedIndexInformer
	changed chan struct{}
	done    chan struct{}
}

// watchRollout starts watching rel's rollout in ns. The caller calls stop
// once it is done with it.
func (d *Deployer) watchRollout(ns string, rel Release) (*rolloutWatch, error) {
	w := &rolloutWatch{d: d, ns: ns, rel: rel, changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.factory = informers.NewSharedInformerFactoryWithOptions(d.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = appSelector(rel.App) }))
	// The web Service's slices carry the Service's name, not the app's
	// labels.
	w.slices = informers.NewSharedInformerFactoryWithOptions(d.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + serviceName(rel.App)
		}))
	w.deps = w.factory.Apps().V1().Deployments().Informer()
	w.pods = w.factory.Core().V1().Pods().Informer()
	w.eps = w.slices.Discovery().V1().EndpointSlices().Informer()

	notify := func() {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for name, inf := range map[string]cache.SharedIndexInformer{"deployments": w.deps, "pods": w.pods, "endpoint slices": w.eps} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("watching %s: %w", name, err)
		}
	}
	w.factory.Start(w.done)
	w.slices.Start(w.done)
	return w, nil
}

// stop ends the watch and waits for its informers to return.
func (w *rolloutWatch) stop() {
	close(w.done)
	w.factory.Shutdown()
	w.slices.Shutdown()
}

// wait follows the rollout until it is done, fails, or RolloutTimeout
// passes, writing progress to out. gens are the generations the
// Deployments reached when the release was applied.
func (w *rolloutWatch) wait(ctx context.Context, gens map[string]int64, out io.Writer) error {
	d, ns, rel := w.d, w.ns, w.rel
	if !cache.WaitForCacheSync(ctx.Done(), w.deps.HasSynced, w.pods.HasSynced, w.eps.HasSynced) {
		return fmt.Errorf("watching the rollout of %s v%d: %w", rel.App, rel.Version, ctx.Err())
	}
	depLister := appslisters.NewDeploymentLister(w.deps.GetIndexer())
	podLister := corelisters.NewPodLister(w.pods.GetIndexer())
	sliceLister := discoverylisters.NewEndpointSliceLister(w.eps.GetIndexer())

	deadline := time.NewTimer(d.cfg.RolloutTimeout)
	defer deadline.Stop()
	printed := map[string]bool{}
	for {
		deps, err := depLister.Deployments(ns).List(labels.Everything())
		if err != nil {
			return fmt.Errorf("listing deployments: %w", err)
		}
		pods, err := podLister.Pods(ns).List(labels.Everything())
		if err != nil {
			return fmt.Errorf("listing pods: %w", err)
		}
		slices, err := sliceLister.EndpointSlices(ns).List(labels.Everything())
		if err != nil {
			return fmt.Errorf("listing endpoint slices: %w", err)
		}
		a := assess(rel, gens, deps, pods, slices, d.cfg.CrashLimit)
		for _, line := range a.progress {
			if !printed[line] {
				printed[line] = true
				fmt.Fprintln(out, line)
			}
		}
		if a.done {
			return nil
		}
		if a.fatal != nil {
			return d.explain(ctx, ns, rel, a.fatal)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the rollout of %s v%d: %w", rel.App, rel.Version, ctx.Err())
		case <-deadline.C:
			f := a.stuck
			if f.reason == ReasonTimeout || f.reason == ReasonReadiness {
				f.detail = fmt.Sprintf("not ready after %s: %s", d.cfg.RolloutTimeout, f.detail)
			}
			return d.explain(ctx, ns, rel, f)
		case <-w.changed:
		}
	}
}

// explain turns a finding into a RolloutError, with the failing
// container's last log lines and the event that says more.
func (d *Deployer) explain(ctx context.Context, ns string, rel Release, f *finding) *RolloutError {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	e := &RolloutError{Release: rel.Version, Reason: f.reason, Process: f.process, Pod: f.pod, Detail: f.detail, ExitCode: f.exitCode}
	if f.events != "" && f.pod != "" {
		if msg := d.lastEvent(ctx, ns, f.pod, f.events); msg != "" {
			e.Detail += ": " + msg
		}
	}
	if f.logs && f.pod != "" {
		e.Logs = d.tailLogs(ctx, ns, f.pod, f.container, f.previous, failureLogLines)
	}
	return e
}

const failureLogLines = 20

// tailLogs returns the last n lines of a container's log, nil if it has
// none or they cannot be read.
func (d *Deployer) tailLogs(ctx context.Context, ns, pod, container string, previous bool, n int) []string {
	raw, err := d.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{
		Container: container,
		Previous:  previous,
		TailLines: new(int64(n)),
	}).DoRaw(ctx)
	if err != nil && previous {
		return d.tailLogs(ctx, ns, pod, container, false, n)
	}
	if err != nil {
		d.log.Warn("reading logs of a failed pod", "pod", pod, "err", err)
		return nil
	}
	s := strings.TrimRight(string(raw), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// lastEvent returns the message of the newest event of reason on a pod.
func (d *Deployer) lastEvent(ctx context.Context, ns, pod, reason string) string {
	sel := fields.Set{"involvedObject.kind": "Pod", "involvedObject.name": pod, "reason": reason}.AsSelector().String()
	list, err := d.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil || len(list.Items) == 0 {
		return ""
	}
	last := list.Items[0]
	for _, ev := range list.Items[1:] {
		if eventTime(ev).After(eventTime(last)) {
			last = ev
		}
	}
	return strings.TrimSpace(last.Message)
}

func eventTime(ev corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

package deployer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Scale sets the quantity and size of one process type of a running app
// at once, without a release: quantity < 0 leaves the quantity as it is,
// size "" the size. It returns an ErrQuota error if the tenant's quota
// does not admit the result, and ErrNotFound if the app has no such
// process type. It does not wait for the new pods.
//
// The next Apply sets the formation its release carries, so the caller
// records the new formation for the next release.
func (d *Deployer) Scale(ctx context.Context, tenant, app, ptype string, quantity int, size string) error {
	if err := validApp(tenant, app); err != nil {
		return err
	}
	if err := validProcessType(ptype); err != nil {
		return err
	}
	var sz Size
	if size != "" {
		s, _, err := sizeOf(size)
		if err != nil {
			return err
		}
		sz = s
	}
	ns := d.namespace(tenant)
	name := deploymentName(app, ptype)
	deps, err := d.deployments(ctx, ns, app)
	if err != nil {
		return err
	}
	_, ok := deps[ptype]
	if !ok {
		return fmt.Errorf("%w: app %s has no %s processes", ErrNotFound, app, ptype)
	}

	// The formation after scaling, checked against the quota.
	var formation []Process
	for t, x := range deps {
		p := Process{Type: t, Size: x.Annotations[annSize]}
		if x.Spec.Replicas != nil {
			p.Quantity = int(*x.Spec.Replicas)
		}
		if t == ptype {
			if quantity >= 0 {
				p.Quantity = quantity
			}
			if size != "" {
				p.Size = sz.Name
			}
		}
		formation = append(formation, p)
	}
	if _, err := d.checkQuota(ctx, ns, app, formation); err != nil {
		return fmt.Errorf("scaling %s %s: %w", app, ptype, err)
	}

	patch := map[string]any{}
	spec := map[string]any{}
	if quantity >= 0 {
		spec["replicas"] = quantity
	}
	if size != "" {
		patch["metadata"] = map[string]any{"annotations": map[string]string{annSize: sz.Name}}
		spec["template"] = map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
			"name":      ptype,
			"resources": map[string]any{"requests": d.requests(sz), "limits": limits(sz)},
		}}}}
	}
	if len(spec) == 0 {
		return nil
	}
	patch["spec"] = spec
	body, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encoding scale patch: %w", err)
	}
	if _, err := d.client.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, body,
		metav1.PatchOptions{FieldManager: fieldManagerScale}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: deployment %s", ErrNotFound, name)
		}
		return fmt.Errorf("scaling %s: %w", name, err)
	}
	d.log.Info("scaled", "app", app, "process_type", ptype, "quantity", quantity, "size", sz.Name)
	return nil
}

// Restart replaces the processes of one type of an app, or of every type
// if ptype is "", one by one as a deploy does. With wait, it returns once
// every new process is ready and no old one is left, or fails after the
// rollout timeout; without, at once.
func (d *Deployer) Restart(ctx context.Context, tenant, app, ptype string, wait bool) error {
	if err := validApp(tenant, app); err != nil {
		return err
	}
	ns := d.namespace(tenant)
	deps, err := d.deployments(ctx, ns, app)
	if err != nil {
		return err
	}
	var names []string
	for t, dep := range deps {
		if ptype == "" || t == ptype {
			names = append(names, dep.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: app %s has no %q processes", ErrNotFound, app, ptype)
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{annRestartedAt: d.now().UTC().Format(time.RFC3339Nano)},
	}}}})
	if err != nil {
		return fmt.Errorf("encoding restart patch: %w", err)
	}
	gens := make(map[string]int64, len(names))
	for _, name := range names {
		dep, err := d.client.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, body,
			metav1.PatchOptions{FieldManager: fieldManagerRestart})
		if err != nil {
			return fmt.Errorf("restarting %s: %w", name, err)
		}
		gens[name] = dep.Generation
	}
	d.log.Info("restarted", "app", app, "process_type", ptype)
	if !wait {
		return nil
	}
	return d.waitReplaced(ctx, ns, gens)
}

// waitReplaced waits until each Deployment (by name) has rolled out its
// generation: every wanted process of it new and available, none of the
// old left.
func (d *Deployer) waitReplaced(ctx context.Context, ns string, gens map[string]int64) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RolloutTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting []string
		for name, gen := range gens {
			dep, err := d.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("following the restart of %s: %w", name, err)
			}
			want := int32(1)
			if dep.Spec.Replicas != nil {
				want = *dep.Spec.Replicas
			}
			st := dep.Status
			if st.ObservedGeneration < gen || st.UpdatedReplicas < want || st.AvailableReplicas < want || st.Replicas > want {
				waiting = append(waiting, fmt.Sprintf("%s (%d of %d new and ready)", name, min(st.UpdatedReplicas, st.AvailableReplicas), want))
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			slices.Sort(waiting)
			return fmt.Errorf("the restarted processes were not all ready after %s: %s; platform ps shows them", d.cfg.RolloutTimeout, strings.Join(waiting, ", "))
		case <-tick.C:
		}
	}
}

// ProcessStatus is the state of one process type of an app.
type ProcessStatus struct {
	Type    string
	Release int    // the release the process type is set to run
	Size    string // its size
	Command string // its command, "" for the image's
	Desired int    // processes wanted
	Ready   int    // processes ready (of any release, during a rollout)
	Updated int    // processes of Release
	Dynos   []Dyno // the processes, by name
}

// Dyno is one process of an app: one pod.
type Dyno struct {
	Name     string // "web.1": the process type and an ordinal by age
	Pod      string
	Release  int
	State    string // "pending", "starting", "up", "crashed", "stopping"
	Reason   string // why it is not up, if known ("CrashLoopBackOff")
	Restarts int
	Started  time.Time // when its pod was created
}

// Status returns the app's process types, sorted by type, with their
// processes. An app that runs nothing has no status and no error.
func (d *Deployer) Status(ctx context.Context, tenant, app string) ([]ProcessStatus, error) {
	if err := validApp(tenant, app); err != nil {
		return nil, err
	}
	ns := d.namespace(tenant)
	deps, err := d.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(app)})
	if err != nil {
		return nil, fmt.Errorf("listing deployments of %s: %w", app, err)
	}
	podList, err := d.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(app) + "," + labelRole + "=" + roleProcess})
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", app, err)
	}
	pods := make([]*corev1.Pod, 0, len(podList.Items))
	for i := range podList.Items {
		pods = append(pods, &podList.Items[i])
	}
	names := d.nameDynos(ctx, ns, pods)

	var out []ProcessStatus
	for _, dep := range deps.Items {
		ptype := dep.Labels[labelProcess]
		if ptype == "" {
			continue
		}
		ps := ProcessStatus{
			Type:    ptype,
			Size:    dep.Annotations[annSize],
			Ready:   int(dep.Status.ReadyReplicas),
			Updated: int(dep.Status.UpdatedReplicas),
		}
		ps.Release, _ = strconv.Atoi(dep.Annotations[annRelease])
		if dep.Spec.Replicas != nil {
			ps.Desired = int(*dep.Spec.Replicas)
		}
		if cs := dep.Spec.Template.Spec.Containers; len(cs) > 0 && len(cs[0].Command) == 3 {
			ps.Command = cs[0].Command[2]
		}
		for _, pod := range pods {
			if pod.Labels[labelProcess] == ptype {
				ps.Dynos = append(ps.Dynos, dyno(pod, names[pod.Name]))
			}
		}
		sort.Slice(ps.Dynos, func(i, j int) bool {
			a, b := ps.Dynos[i], ps.Dynos[j]
			if a.Name != b.Name {
				return dynoLess(a.Name, b.Name)
			}
			// The new web.1 of a rollout before the old one.
			return a.Release > b.Release || a.Release == b.Release && a.Started.After(b.Started)
		})
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out, nil
}

func dyno(pod *corev1.Pod, name string) Dyno {
	dy := Dyno{Name: name, Pod: pod.Name, Started: pod.CreationTimestamp.Time, State: "pending"}
	dy.Release, _ = strconv.Atoi(pod.Labels[labelRelease])
	for _, cs := range pod.Status.ContainerStatuses {
		dy.Restarts += int(cs.RestartCount)
		switch {
		case cs.State.Waiting != nil:
			dy.Reason = cs.State.Waiting.Reason
			if dy.Reason == "CrashLoopBackOff" {
				dy.State = "crashed"
			}
		case cs.State.Terminated != nil:
			dy.State, dy.Reason = "crashed", cs.State.Terminated.Reason
		case cs.Ready:
			dy.State = "up"
		default:
			dy.State = "starting"
		}
	}
	if dy.State == "pending" && dy.Reason == "" {
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				dy.Reason = c.Reason
			}
		}
	}
	if pod.DeletionTimestamp != nil {
		dy.State = "stopping"
	}
	return dy
}

// dynoNames names an app's pods "<type>.<n>" and says which numbers are
// new. The pods of one process type and one template (a release, or a
// restart of one) are numbered from 1, as Heroku numbers a formation's
// dynos: during a rollout the new web.1 runs beside the old one. A pod
// whose annotation holds a number keeps it; the others, oldest first, get
// the lowest number free among their template's pods, counting those being
// stopped, which keep theirs until they are gone. Should two pods claim one
// number, the older keeps it.
func dynoNames(pods []*corev1.Pod) (names map[string]string, fresh map[string]int) {
	type group struct{ ptype, template string }
	byGroup := map[group][]*corev1.Pod{}
	for _, p := range pods {
		g := group{p.Labels[labelProcess], p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]}
		byGroup[g] = append(byGroup[g], p)
	}
	names = make(map[string]string, len(pods))
	fresh = map[string]int{}
	for g, ps := range byGroup {
		t := g.ptype
		slices.SortFunc(ps, func(a, b *corev1.Pod) int {
			if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		used := map[int]bool{}
		var unnamed []*corev1.Pod
		for _, p := range ps {
			n, err := strconv.Atoi(p.Annotations[annDyno])
			if err != nil || n < 1 || used[n] {
				unnamed = append(unnamed, p)
				continue
			}
			used[n] = true
			names[p.Name] = t + "." + strconv.Itoa(n)
		}
		next := 1
		for _, p := range unnamed {
			for used[next] {
				next++
			}
			used[next] = true
			names[p.Name] = t + "." + strconv.Itoa(next)
			fresh[p.Name] = next
		}
	}
	return names, fresh
}

// nameDynos returns the dyno names of an app's pods, by pod name (see
// dynoNames), recording each new number as its pod's annotation so that
// the pod keeps its name while other pods come and go. A number that
// cannot be recorded (the pod went meanwhile) is still returned.
func (d *Deployer) nameDynos(ctx context.Context, ns string, pods []*corev1.Pod) map[string]string {
	names, fresh := dynoNames(pods)
	for _, p := range pods {
		if n, ok := fresh[p.Name]; ok {
			if err := d.recordDyno(ctx, ns, p, n); err != nil {
				d.log.Warn("recording a dyno name", "pod", p.Name, "dyno", names[p.Name], "err", err)
			}
		}
	}
	return names
}

// recordDyno writes n as pod's dyno number unless the pod has one by then
// (another platformd named it first: that name shows next time). The
// kubelet updates a starting pod's status often, so a write that finds
// the pod changed since it was read tries again with the pod as it is.
func (d *Deployer) recordDyno(ctx context.Context, ns string, pod *corev1.Pod, n int) error {
	pods := d.client.CoreV1().Pods(ns)
	for range 5 {
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": pod.ResourceVersion,
			"annotations":     map[string]string{annDyno: strconv.Itoa(n)},
		}})
		if err != nil {
			return err
		}
		_, err = pods.Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			return err
		}
		if pod, err = pods.Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		if pod.Annotations[annDyno] != "" || pod.DeletionTimestamp != nil {
			return nil
		}
	}
	return fmt.Errorf("pod %s kept changing", pod.Name)
}

// dynoLess orders "web.2" before "web.10".
func dynoLess(a, b string) bool {
	ta, na, _ := strings.Cut(a, ".")
	tb, nb, _ := strings.Cut(b, ".")
	if ta != tb {
		return ta < tb
	}
	ia, _ := strconv.Atoi(na)
	ib, _ := strconv.Atoi(nb)
	return ia < ib
}

// DeleteApp deletes every object of the app: its Deployments (and so its
// processes), Service, Ingress, config Secrets and release Jobs. It
// returns once they are deleted, without waiting for the processes to
// stop. An app with nothing left is not an error.
func (d *Deployer) DeleteApp(ctx context.Context, tenant, app string) error {
	if err := validApp(tenant, app); err != nil {
		return err
	}
	ns := d.namespace(tenant)
	opts := metav1.ListOptions{LabelSelector: appSelector(app)}
	type kind struct {
		name string
		list func() ([]string, error)
		del  func(context.Context, string, metav1.DeleteOptions) error
	}
	names := func(n int, name func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = name(i)
		}
		return out
	}
	kinds := []kind{
		{"deployment", func() ([]string, error) {
			l, err := d.client.AppsV1().Deployments(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			return names(len(l.Items), func(i int) string { return l.Items[i].Name }), nil
		}, d.client.AppsV1().Deployments(ns).Delete},
		{"job", func() ([]string, error) {
			l, err := d.client.BatchV1().Jobs(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			return names(len(l.Items), func(i int) string { return l.Items[i].Name }), nil
		}, d.client.BatchV1().Jobs(ns).Delete},
		{"ingress", func() ([]string, error) {
			l, err := d.client.NetworkingV1().Ingresses(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			return names(len(l.Items), func(i int) string { return l.Items[i].Name }), nil
		}, d.client.NetworkingV1().Ingresses(ns).Delete},
		{"service", func() ([]string, error) {
			l, err := d.client.CoreV1().Services(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			return names(len(l.Items), func(i int) string { return l.Items[i].Name }), nil
		}, d.client.CoreV1().Services(ns).Delete},
		{"secret", func() ([]string, error) {
			l, err := d.client.CoreV1().Secrets(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			return names(len(l.Items), func(i int) string { return l.Items[i].Name }), nil
		}, d.client.CoreV1().Secrets(ns).Delete},
	}
	for _, k := range kinds {
		list, err := k.list()
		if err != nil {
			return fmt.Errorf("listing %ss of %s: %w", k.name, app, err)
		}
		for _, name := range list {
			if err := d.deleteObject(ctx, k.name, name, k.del); err != nil {
				return err
			}
		}
	}
	d.log.Info("app deleted", "app", app)
	return nil
}

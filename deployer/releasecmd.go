package deployer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// runReleaseCommand runs rel's release command as a Job on rel's image
// with rel's config, copies its output to out as it is written, and
// returns a *RolloutError if it does not succeed. The Job is deleted
// afterwards, whatever happened. maxSize is the tenant's largest size, ""
// if unknown.
func (d *Deployer) runReleaseCommand(ctx context.Context, ns string, rel Release, maxSize string, out io.Writer) error {
	name := jobName(rel.App, rel.Version)
	fmt.Fprintf(out, "Running release command: %s\n", rel.ReleaseCommand)
	start := d.now()

	// A Job of the same name is left from an attempt that was cut short.
	if err := d.deleteJob(ctx, ns, name, true); err != nil {
		return err
	}
	if _, err := d.client.BatchV1().Jobs(ns).Apply(ctx, d.releaseJob(ns, rel, maxSize), applyOpts); err != nil {
		return fmt.Errorf("creating release command job %s: %w", name, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := d.deleteJob(ctx, ns, name, false); err != nil {
			d.log.Warn("deleting release command job", "app", rel.App, "release", rel.Version, "err", err)
		}
	}()

	code, tail, err := d.followJob(ctx, ns, rel, name, out)
	if err != nil {
		return err
	}
	if code != 0 {
		return &RolloutError{
			Release:  rel.Version,
			Reason:   ReasonReleaseCommand,
			Detail:   fmt.Sprintf("exited with code %d", code),
			ExitCode: code,
			Logs:     tail,
		}
	}
	fmt.Fprintf(out, "Release command succeeded in %s\n", d.now().Sub(start).Round(100*time.Millisecond))
	return nil
}

func (d *Deployer) releaseJob(ns string, rel Release, maxSize string) *batchv1ac.JobApplyConfiguration {
	// The release command runs at the web process's size, else the first
	// process's, else the default, but never above the tenant's largest.
	p := Process{Type: "release", Command: rel.ReleaseCommand}
	if web, ok := rel.process(WebProcess); ok {
		p.Size = web.Size
	} else if len(rel.Processes) > 0 {
		p.Size = rel.Processes[0].Size
	}
	size, rank, _ := sizeOf(p.Size)
	if largest, maxRank, err := sizeOf(maxSize); maxSize != "" && err == nil && rank > maxRank {
		size = largest
	}
	labels := appLabels(rel.Tenant, rel.App, roleRelease)
	labels[labelRelease] = strconv.Itoa(rel.Version)
	return batchv1ac.Job(jobName(rel.App, rel.Version), ns).
		WithLabels(labels).
		WithAnnotations(map[string]string{annRelease: strconv.Itoa(rel.Version)}).
		WithSpec(batchv1ac.JobSpec().
			WithBackoffLimit(0).
			WithActiveDeadlineSeconds(int64(d.cfg.ReleaseTimeout / time.Second)).
			// Deleted by runReleaseCommand; the TTL covers a platformd
			// that stopped half-way.
			WithTTLSecondsAfterFinished(3600).
			WithTemplate(d.podTemplate(rel, p, size, roleRelease)))
}

// followJob waits for the release Job's pod to start, streams its log to
// out, and waits for the Job to finish. It returns the command's exit code
// and its last lines, or a *RolloutError if the pod could not run at all.
func (d *Deployer) followJob(ctx context.Context, ns string, rel Release, name string, out io.Writer) (int, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ReleaseTimeout+30*time.Second)
	defer cancel()

	sel := labels.Set{labelApp: rel.App, labelRole: roleRelease, labelRelease: strconv.Itoa(rel.Version)}.String()
	factory := informers.NewSharedInformerFactoryWithOptions(d.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	jobs := factory.Batch().V1().Jobs()
	pods := factory.Core().V1().Pods()
	// The Job controller reports a pod it could not create (quota, limit
	// range) only in an event.
	evFactory := informers.NewSharedInformerFactoryWithOptions(d.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.Set{"involvedObject.kind": "Job", "involvedObject.name": name, "reason": "FailedCreate"}.String()
		}))
	events := evFactory.Core().V1().Events()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	if _, err := jobs.Informer().AddEventHandler(handler); err != nil {
		return 0, nil, fmt.Errorf("watching job %s: %w", name, err)
	}
	if _, err := pods.Informer().AddEventHandler(handler); err != nil {
		return 0, nil, fmt.Errorf("watching pods of job %s: %w", name, err)
	}
	if _, err := events.Informer().AddEventHandler(handler); err != nil {
		return 0, nil, fmt.Errorf("watching events of job %s: %w", name, err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	evFactory.Start(stop)
	defer func() {
		close(stop)
		factory.Shutdown()
		evFactory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), jobs.Informer().HasSynced, pods.Informer().HasSynced, events.Informer().HasSynced) {
		return 0, nil, fmt.Errorf("watching job %s: %w", name, ctx.Err())
	}

	tail := &tailBuffer{max: failureLogLines}
	var streamed chan struct{} // closed when the log stream ends
	defer func() {
		// Nothing may write to out once this returns.
		cancel()
		if streamed != nil {
			<-streamed
		}
	}()
	for {
		job, err := jobs.Lister().Jobs(ns).Get(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, nil, fmt.Errorf("reading job %s: %w", name, err)
		}
		var pod *corev1.Pod
		if job != nil {
			list, _ := pods.Lister().Pods(ns).List(labels.Everything())
			for _, p := range list {
				if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID {
					pod = p
				}
			}
		}
		if job != nil && pod == nil {
			evs, _ := events.Lister().Events(ns).List(labels.Everything())
			for _, ev := range evs {
				if ev.InvolvedObject.UID != job.UID {
					continue
				}
				reason := ReasonReleaseCommand
				if strings.Contains(ev.Message, "quota") || strings.Contains(ev.Message, "maximum") {
					reason = ReasonQuota
				}
				return 0, nil, &RolloutError{Release: rel.Version, Reason: reason, ExitCode: -1,
					Detail: "the release command's pod could not be created: " + ev.Message}
			}
		}
		if pod != nil && streamed == nil {
			var a assessment
			assessPod(&a, "release", pod, 1)
			if f := a.fatal; f != nil && f.reason != ReasonCrashLoop {
				return 0, nil, &RolloutError{Release: rel.Version, Reason: ReasonReleaseCommand, Pod: pod.Name,
					Detail: fmt.Sprintf("%s: %s", f.reason, f.detail), ExitCode: -1}
			}
			if started(pod) {
				streamed = make(chan struct{})
				go func(pod string, done chan<- struct{}) {
					defer close(done)
					d.streamLog(ctx, ns, pod, io.MultiWriter(out, tail))
				}(pod.Name, streamed)
			}
		}

		if job != nil && jobFinished(job) {
			if streamed != nil {
				select {
				case <-streamed:
				case <-ctx.Done():
					return 0, nil, fmt.Errorf("reading the release command's output: %w", ctx.Err())
				}
			}
			return jobExit(job, pod), tail.lines(), nil
		}

		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("waiting for release command job %s: %w", name, ctx.Err())
		case <-changed:
		}
	}
}

// started reports whether the pod's container runs or ran, so that it has
// a log to follow.
func started(pod *corev1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return true
		}
	}
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func jobFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// jobExit returns the exit code of a finished release Job: 0 if it
// completed, the container's code if it failed, 1 if the pod never ran
// (the deadline passed).
func jobExit(job *batchv1.Job, pod *corev1.Pod) int {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return 0
		}
	}
	if pod != nil {
		for _, cs := range pod.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				return int(t.ExitCode)
			}
		}
	}
	return 1
}

// streamLog copies a pod's log to w line by line until the container ends
// or ctx does.
func (d *Deployer) streamLog(ctx context.Context, ns, pod string, w io.Writer) {
	rc, err := d.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		d.log.Warn("following release command log", "pod", pod, "err", err)
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Fprintf(w, "%s\n", sc.Bytes())
	}
}

// deleteJob deletes a Job and its pods; with wait it returns once the Job
// is gone, so that one of the same name can be made.
func (d *Deployer) deleteJob(ctx context.Context, ns, name string, wait bool) error {
	err := d.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground)})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting job %s: %w", name, err)
	}
	if !wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return d.client.BatchV1().Jobs(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return d.client.BatchV1().Jobs(ns).Watch(ctx, o)
		},
	}
	_, err = watchtools.UntilWithSync(ctx, lw, &batchv1.Job{},
		func(store cache.Store) (bool, error) { return len(store.List()) == 0, nil },
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	if err != nil {
		return fmt.Errorf("waiting for job %s to be deleted: %w", name, err)
	}
	return nil
}

// tailBuffer keeps the last lines written to it. It is safe for concurrent
// use.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	partial []byte
	buf     []string
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range p {
		if b != '\n' {
			t.partial = append(t.partial, b)
			continue
		}
		t.buf = append(t.buf, string(t.partial))
		t.partial = t.partial[:0]
		if len(t.buf) > t.max {
			t.buf = t.buf[len(t.buf)-t.max:]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}

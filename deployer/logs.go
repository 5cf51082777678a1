package deployer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// LogOptions selects the log lines Logs writes.
type LogOptions struct {
	// Type selects one process type; "" means all.
	Type string
	// Tail, when above 0, writes only the last Tail lines of what was
	// logged before the call; 0 writes all the nodes still have.
	Tail int
	// Follow keeps writing lines as processes log them, including those
	// of processes started later, until ctx ends.
	Follow bool
}

// logTime is how a log line's time is written, as Heroku does.
const logTime = "2006-01-02T15:04:05.000000-07:00"

// Logs writes the app's log lines to out, oldest first, each as
// "<time> app[<type>.<n>]: <line>", the dyno names being Status's. Lines
// logged before the call are merged by time; with Follow, later lines are
// written as they arrive and Logs returns nil when ctx ends.
func (d *Deployer) Logs(ctx context.Context, tenant, app string, opts LogOptions, out io.Writer) error {
	if err := validApp(tenant, app); err != nil {
		return err
	}
	if opts.Type != "" {
		if err := validProcessType(opts.Type); err != nil {
			return err
		}
	}
	ns := d.namespace(tenant)
	sel := appSelector(app) + "," + labelRole + "=" + roleProcess
	if opts.Type != "" {
		sel += "," + labelProcess + "=" + opts.Type
	}
	list, err := d.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing pods of %s: %w", app, err)
	}
	pods := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}

	f := &follower{
		d:         d,
		ns:        ns,
		out:       out,
		names:     d.nameDynos(ctx, ns, pods),
		last:      map[string]time.Time{},
		streaming: map[string]string{},
	}

	// What was logged so far, merged.
	var backlog []logLine
	for _, pod := range pods {
		if !started(pod) {
			continue
		}
		o := &corev1.PodLogOptions{Container: pod.Labels[labelProcess], Timestamps: true}
		if opts.Tail > 0 {
			o.TailLines = new(int64(opts.Tail))
		}
		raw, err := d.client.CoreV1().Pods(ns).GetLogs(pod.Name, o).DoRaw(ctx)
		if err != nil {
			d.log.Debug("reading pod log", "pod", pod.Name, "err", err)
			continue
		}
		for _, l := range bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			line := parseLogLine(string(l), f.names[pod.Name])
			backlog = append(backlog, line)
			if line.at.After(f.last[pod.Name]) {
				f.last[pod.Name] = line.at
			}
		}
	}
	sort.SliceStable(backlog, func(i, j int) bool { return backlog[i].at.Before(backlog[j].at) })
	if opts.Tail > 0 && len(backlog) > opts.Tail {
		backlog = backlog[len(backlog)-opts.Tail:]
	}
	for _, l := range backlog {
		if _, err := io.WriteString(out, l.String()); err != nil {
			return fmt.Errorf("writing logs: %w", err)
		}
	}
	if !opts.Follow {
		return nil
	}
	return f.follow(ctx, sel)
}

// logLine is one line of a process's log.
type logLine struct {
	at   time.Time
	dyno string
	text string
}

func (l logLine) String() string {
	return fmt.Sprintf("%s app[%s]: %s\n", l.at.UTC().Format(logTime), l.dyno, l.text)
}

// parseLogLine splits a line the kubelet stamped with its time.
func parseLogLine(s, dyno string) logLine {
	ts, text, ok := strings.Cut(s, " ")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil {
		return logLine{dyno: dyno, text: s}
	}
	return logLine{at: at, dyno: dyno, text: text}
}

// follower streams the logs of an app's pods as they come and go.
type follower struct {
	d   *Deployer
	ns  string
	out io.Writer
	wg  sync.WaitGroup

	mu    sync.Mutex // guards what follows, and writes to out
	names map[string]string
	last  map[string]time.Time
	// streaming holds, by pod, the container whose log was or is being
	// read from f.last on; a new container (a restart) is read anew.
	streaming map[string]string
	active    map[string]bool
}

func containerID(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		return cs.ContainerID
	}
	return ""
}

// follow streams the logs of the pods sel selects until ctx ends.
func (f *follower) follow(ctx context.Context, sel string) error {
	f.active = map[string]bool{}
	factory := informers.NewSharedInformerFactoryWithOptions(f.d.client, 0,
		informers.WithNamespace(f.ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	pods := factory.Core().V1().Pods()
	lister := pods.Lister().Pods(f.ns)
	var check func(pod *corev1.Pod)
	check = func(pod *corev1.Pod) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if pod.DeletionTimestamp != nil && !started(pod) || f.active[pod.Name] || ctx.Err() != nil {
			return
		}
		id := containerID(pod)
		prev := f.streaming[pod.Name]
		if !started(pod) || id == "" || prev == id {
			return
		}
		if _, ok := f.names[pod.Name]; !ok {
			// A pod new since the backlog: named with the others of
			// its type, as ps names it.
			all, err := lister.List(labels.Everything())
			if err != nil {
				all = []*corev1.Pod{pod}
			}
			f.names[pod.Name] = f.d.nameDynos(ctx, f.ns, all)[pod.Name]
		}
		f.streaming[pod.Name] = id
		f.active[pod.Name] = true
		f.wg.Add(1)
		go func(name, container string, since time.Time) {
			defer f.wg.Done()
			f.stream(ctx, name, container, since)
			f.mu.Lock()
			f.active[name] = false
			f.mu.Unlock()
			// The container may have been replaced while it was read.
			if p, err := lister.Get(name); err == nil {
				check(p)
			}
		}(pod.Name, pod.Labels[labelProcess], f.last[pod.Name])
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { check(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { check(o.(*corev1.Pod)) },
	}); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	<-ctx.Done()
	close(stop)
	factory.Shutdown()
	f.wg.Wait()
	return nil
}

// stream copies one container's log lines after since to f.out until the
// container ends or ctx does.
func (f *follower) stream(ctx context.Context, pod, container string, since time.Time) {
	o := &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}
	if !since.IsZero() {
		// SinceTime is whole seconds: lines up to since are skipped below.
		o.SinceTime = &metav1.Time{Time: since}
	}
	rc, err := f.d.client.CoreV1().Pods(f.ns).GetLogs(pod, o).Stream(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.d.log.Debug("following pod log", "pod", pod, "err", err)
		}
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f.mu.Lock()
		line := parseLogLine(sc.Text(), f.names[pod])
		if !line.at.IsZero() && !line.at.After(f.last[pod]) {
			f.mu.Unlock()
			continue
		}
		if line.at.After(f.last[pod]) {
			f.last[pod] = line.at
		}
		_, _ = io.WriteString(f.out, line.String())
		f.mu.Unlock()
	}
}

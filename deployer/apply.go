package deployer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
)

// Apply runs rel and returns once every process of it is ready, or
// undoes it and returns why it could not.
//
// prev is the release running now, nil if none is: when rel's rollout
// fails, Apply applies prev again and waits for it, so that prev keeps
// serving throughout (no web pod of prev stops before a pod of rel is
// ready). With prev nil a failed rollout removes the processes rel
// started. A failure of the release, quota, release command or rollout is
// a *RolloutError; other errors are the API server's.
//
// Progress for the person deploying is written to out, line by line.
// Applying a release that already runs changes nothing and returns at once.
// If ctx ends during the rollout, Apply rolls back as on a failure and
// returns ctx's error.
func (d *Deployer) Apply(ctx context.Context, rel Release, prev *Release, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	if err := rel.Validate(); err != nil {
		return fmt.Errorf("applying release: %w", err)
	}
	if prev != nil {
		if err := prev.Validate(); err != nil {
			return fmt.Errorf("applying release: previous release: %w", err)
		}
		if prev.Tenant != rel.Tenant || prev.App != rel.App {
			return fmt.Errorf("%w: previous release is of %s/%s, not %s/%s", ErrInvalid, prev.Tenant, prev.App, rel.Tenant, rel.App)
		}
	}
	ns := d.namespace(rel.Tenant)
	start := d.now()

	// The rollout's watch lists what it follows while the release is
	// checked and applied.
	w, err := d.watchRollout(ns, rel)
	if err != nil {
		return err
	}
	defer w.stop()

	existing, err := d.deployments(ctx, ns, rel.App)
	if err != nil {
		return err
	}
	// The two checks read different objects: they run together.
	var (
		maxSize            string
		namesErr, quotaErr error
		checks             sync.WaitGroup
	)
	checks.Go(func() { namesErr = d.checkNames(ctx, ns, rel) })
	checks.Go(func() { maxSize, quotaErr = d.checkQuota(ctx, ns, rel.App, rel.Processes) })
	checks.Wait()
	if namesErr != nil {
		return namesErr
	}
	if errors.Is(quotaErr, ErrQuota) {
		return &RolloutError{Release: rel.Version, Reason: ReasonQuota, Detail: quotaErr.Error(), ExitCode: -1}
	}
	if quotaErr != nil {
		return quotaErr
	}

	if err := d.applySecret(ctx, ns, rel); err != nil {
		return err
	}
	if rel.ReleaseCommand != "" && !atRelease(existing, rel) {
		if err := d.runReleaseCommand(ctx, ns, rel, maxSize, out); err != nil {
			return err
		}
	}

	gens, err := d.applyWorkloads(ctx, ns, rel)
	if err == nil {
		err = w.wait(ctx, gens, out)
	}
	if err != nil {
		var re *RolloutError
		errors.As(err, &re)
		undoErr := d.undo(ctx, ns, rel, prev, existing, out)
		if undoErr != nil {
			if prev != nil {
				return fmt.Errorf("%w; rolling back to v%d: %w", err, prev.Version, undoErr)
			}
			return fmt.Errorf("%w; removing its processes: %w", err, undoErr)
		}
		if re != nil && prev != nil {
			re.RolledBackTo = prev.Version
		}
		return err
	}

	// What rel no longer has, and old configs, go together: the push
	// waits for both.
	var (
		staleErr error
		cleanup  sync.WaitGroup
	)
	cleanup.Go(func() { staleErr = d.removeStale(ctx, ns, rel) })
	cleanup.Go(func() { d.collectConfigs(ctx, ns, rel, prev) })
	cleanup.Wait()
	if staleErr != nil {
		return staleErr
	}
	took := d.now().Sub(start).Round(100 * time.Millisecond)
	d.log.Info("release applied", "app", rel.App, "release", rel.Version, "duration", took)
	return nil
}

// deployments returns the app's Deployments by process type. It fails if
// the tenant has no namespace.
func (d *Deployer) deployments(ctx context.Context, ns, app string) (map[string]*appsv1.Deployment, error) {
	if _, err := d.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: namespace %s (make the tenant first)", ErrNotFound, ns)
		}
		return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	list, err := d.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(app)})
	if err != nil {
		return nil, fmt.Errorf("listing deployments of %s: %w", app, err)
	}
	m := make(map[string]*appsv1.Deployment, len(list.Items))
	for i := range list.Items {
		dep := &list.Items[i]
		if t := dep.Labels[labelProcess]; t != "" {
			m[t] = dep
		}
	}
	return m, nil
}

// checkNames refuses a release whose object names are taken by another
// app of the tenant ("a" with type "b-c" and "a-b" with type "c").
func (d *Deployer) checkNames(ctx context.Context, ns string, rel Release) error {
	for _, p := range rel.Processes {
		dep, err := d.client.AppsV1().Deployments(ns).Get(ctx, deploymentName(rel.App, p.Type), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading deployment %s: %w", deploymentName(rel.App, p.Type), err)
		}
		if dep.Labels[labelApp] != rel.App {
			return fmt.Errorf("%w: deployment %s belongs to app %q", ErrConflict, dep.Name, dep.Labels[labelApp])
		}
	}
	return nil
}

// checkQuota returns an ErrQuota error if processes, with what the
// tenant's other apps run, do not fit the tenant's quota, and otherwise the
// tenant's largest size ("" if unknown). The Kubernetes quota would refuse
// the pods too, but only one by one in the middle of a rollout; this
// refuses the release before it starts.
func (d *Deployer) checkQuota(ctx context.Context, ns, app string, processes []Process) (maxSize string, err error) {
	rq, err := d.client.CoreV1().ResourceQuotas(ns).Get(ctx, quotaName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading resource quota: %w", err)
	}
	maxSize = rq.Annotations[annMaxSize]
	_, maxRank, err := sizeOf(maxSize)
	if err != nil {
		return "", nil // not a quota EnsureTenant wrote: Kubernetes enforces it alone
	}
	maxProcs, err := strconv.Atoi(rq.Annotations[annMaxProcs])
	if err != nil {
		return maxSize, nil
	}
	need := 0
	for _, p := range processes {
		if p.Quantity == 0 {
			continue
		}
		need += p.Quantity
		s, rank, _ := sizeOf(p.Size)
		if rank > maxRank {
			return "", fmt.Errorf("%w: %s processes are %s, larger than the tenant's largest size, %s", ErrQuota, p.Type, s.Name, rq.Annotations[annMaxSize])
		}
	}
	list, err := d.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: labelRole + "=" + roleProcess})
	if err != nil {
		return "", fmt.Errorf("listing deployments: %w", err)
	}
	others := 0
	for _, dep := range list.Items {
		if dep.Labels[labelApp] != app && dep.Spec.Replicas != nil {
			others += int(*dep.Spec.Replicas)
		}
	}
	if others+need > maxProcs {
		if others > 0 {
			return "", fmt.Errorf("%w: the formation needs %d processes and the tenant's other apps run %d, but its quota is %d", ErrQuota, need, others, maxProcs)
		}
		return "", fmt.Errorf("%w: the formation needs %d processes, but the tenant's quota is %d", ErrQuota, need, maxProcs)
	}
	return maxSize, nil
}

// atRelease reports whether every process of rel already runs rel.
func atRelease(existing map[string]*appsv1.Deployment, rel Release) bool {
	if len(rel.Processes) == 0 {
		return false
	}
	v := strconv.Itoa(rel.Version)
	for _, p := range rel.Processes {
		dep, ok := existing[p.Type]
		if !ok || dep.Annotations[annRelease] != v {
			return false
		}
	}
	return true
}

func (d *Deployer) applySecret(ctx context.Context, ns string, rel Release) error {
	data := make(map[string][]byte, len(rel.Config))
	for k, v := range rel.Config {
		data[k] = []byte(v)
	}
	labels := appLabels(rel.Tenant, rel.App, roleConfig)
	labels[labelRelease] = strconv.Itoa(rel.Version)
	s := corev1ac.Secret(secretName(rel.App, rel.Version), ns).
		WithLabels(labels).
		WithAnnotations(map[string]string{annRelease: strconv.Itoa(rel.Version)}).
		WithType(corev1.SecretTypeOpaque).
		WithImmutable(true).
		WithData(data)
	if _, err := d.client.CoreV1().Secrets(ns).Apply(ctx, s, applyOpts); err != nil {
		return fmt.Errorf("applying config of %s v%d: %w", rel.App, rel.Version, err)
	}
	return nil
}

// applyWorkloads applies rel's Deployments, Service and Ingress and returns
// the generation each Deployment reached, by process type. It does not
// remove what rel no longer has: removeStale does, once rel runs.
func (d *Deployer) applyWorkloads(ctx context.Context, ns string, rel Release) (map[string]int64, error) {
	// The objects do not depend on one another: they are applied
	// together, each Deployment and the route.
	var (
		mu   sync.Mutex
		gens = make(map[string]int64, len(rel.Processes))
	)
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range rel.Processes {
		g.Go(func() error {
			dep, err := d.client.AppsV1().Deployments(ns).Apply(gctx, d.deployment(ns, rel, p), applyOpts)
			if err != nil {
				return fmt.Errorf("applying deployment %s: %w", deploymentName(rel.App, p.Type), err)
			}
			mu.Lock()
			gens[p.Type] = dep.Generation
			mu.Unlock()
			return nil
		})
	}
	g.Go(func() error { return d.applyRoute(gctx, ns, rel) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return gens, nil
}

// applyRoute applies rel's Service, and its Ingress with the
// certificates it names.
func (d *Deployer) applyRoute(ctx context.Context, ns string, rel Release) error {
	// The Service and Ingress exist whether or not the app has a web
	// process: without one, the router answers its hosts with a 503 that
	// says the app runs no web processes, not as an unknown host.
	if _, err := d.client.CoreV1().Services(ns).Apply(ctx, service(ns, rel), applyOpts); err != nil {
		return fmt.Errorf("applying service %s: %w", serviceName(rel.App), err)
	}
	if hosts := d.hosts(rel); len(hosts) > 0 {
		entries := d.tlsEntries(rel, hosts)
		if err := d.applyCertificates(ctx, ns, rel, entries); err != nil {
			return err
		}
		ing := d.ingress(ns, rel, hosts)
		d.ingressTLS(ing, rel, entries)
		if _, err := d.client.NetworkingV1().Ingresses(ns).Apply(ctx, ing, applyOpts); err != nil {
			return fmt.Errorf("applying ingress %s: %w", ingressName(rel.App), err)
		}
	}
	return nil
}

// removeStale deletes the Deployments of process types rel does not have,
// and the Ingress if rel has no host.
func (d *Deployer) removeStale(ctx context.Context, ns string, rel Release) error {
	deps, err := d.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(rel.App)})
	if err != nil {
		return fmt.Errorf("listing deployments of %s: %w", rel.App, err)
	}
	for _, dep := range deps.Items {
		if _, ok := rel.process(dep.Labels[labelProcess]); ok {
			continue
		}
		if err := d.deleteObject(ctx, "deployment", dep.Name, d.client.AppsV1().Deployments(ns).Delete); err != nil {
			return err
		}
	}
	var keep []tlsEntry
	if hosts := d.hosts(rel); len(hosts) == 0 {
		if err := d.deleteObject(ctx, "ingress", ingressName(rel.App), d.client.NetworkingV1().Ingresses(ns).Delete); err != nil {
			return err
		}
	} else {
		keep = d.tlsEntries(rel, hosts)
	}
	return d.removeStaleCertificates(ctx, ns, rel, keep)
}

// deleteObject deletes one object, its dependents in the background; an
// object already gone is not an error.
func (d *Deployer) deleteObject(ctx context.Context, kind, name string, del func(context.Context, string, metav1.DeleteOptions) error) error {
	err := del(ctx, name, metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", kind, name, err)
	}
	return nil
}

// undo puts back what ran before rel: prev, or nothing.
func (d *Deployer) undo(ctx context.Context, ns string, rel Release, prev *Release, existing map[string]*appsv1.Deployment, out io.Writer) error {
	// The undo must happen even when the deploy's context ended.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.RolloutTimeout+30*time.Second)
	defer cancel()
	if prev == nil {
		for _, p := range rel.Processes {
			if _, ok := existing[p.Type]; ok {
				continue // not this release's to remove
			}
			if err := d.deleteObject(ctx, "deployment", deploymentName(rel.App, p.Type), d.client.AppsV1().Deployments(ns).Delete); err != nil {
				return err
			}
		}
		if _, ok := existing[WebProcess]; !ok {
			if err := d.deleteObject(ctx, "service", serviceName(rel.App), d.client.CoreV1().Services(ns).Delete); err != nil {
				return err
			}
			if err := d.deleteObject(ctx, "ingress", ingressName(rel.App), d.client.NetworkingV1().Ingresses(ns).Delete); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "Stopped the processes of v%d\n", rel.Version)
		return nil
	}
	fmt.Fprintf(out, "Rolling back to v%d\n", prev.Version)
	if err := d.applySecret(ctx, ns, *prev); err != nil {
		return err
	}
	gens, err := d.applyWorkloads(ctx, ns, *prev)
	if err != nil {
		return err
	}
	if err := d.removeStale(ctx, ns, *prev); err != nil {
		return err
	}
	if err := d.waitRollout(ctx, ns, *prev, gens, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "Rolled back to v%d\n", prev.Version)
	return nil
}

// collectConfigs deletes the app's config Secrets beyond the newest
// KeepConfigs, never rel's or prev's. A failure is logged: it costs only
// space.
func (d *Deployer) collectConfigs(ctx context.Context, ns string, rel Release, prev *Release) {
	list, err := d.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(rel.App) + "," + labelRole + "=" + roleConfig})
	if err != nil {
		d.log.Warn("listing config secrets", "app", rel.App, "err", err)
		return
	}
	type cfg struct {
		name    string
		version int
	}
	var all []cfg
	for _, s := range list.Items {
		v, err := strconv.Atoi(s.Labels[labelRelease])
		if err != nil {
			continue
		}
		all = append(all, cfg{s.Name, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version > all[j].version })
	for i, c := range all {
		if i < d.cfg.KeepConfigs || c.version == rel.Version || (prev != nil && c.version == prev.Version) {
			continue
		}
		if err := d.client.CoreV1().Secrets(ns).Delete(ctx, c.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			d.log.Warn("deleting config secret", "app", rel.App, "secret", c.name, "err", err)
		}
	}
}

// deployment is the Deployment of one process type of rel.
func (d *Deployer) deployment(ns string, rel Release, p Process) *appsv1ac.DeploymentApplyConfiguration {
	size, _, _ := sizeOf(p.Size)
	labels := appLabels(rel.Tenant, rel.App, roleProcess)
	labels[labelProcess] = p.Type
	annotations := map[string]string{
		annRelease: strconv.Itoa(rel.Version),
		annSize:    size.Name,
	}
	if rel.Commit != "" {
		annotations[annCommit] = rel.Commit
	}
	// Each new pod must stay ready for MinReady before the next old one
	// stops; a rollout that makes no progress for the rollout timeout is
	// also marked by the Deployment controller.
	return appsv1ac.Deployment(deploymentName(rel.App, p.Type), ns).
		WithLabels(labels).
		WithAnnotations(annotations).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(int32(p.Quantity)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{
				labelApp:     rel.App,
				labelProcess: p.Type,
			})).
			WithStrategy(appsv1ac.DeploymentStrategy().
				WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
					WithMaxUnavailable(intstr.FromInt32(0)).
					WithMaxSurge(intstr.FromInt32(1)))).
			WithMinReadySeconds(int32(d.cfg.MinReady / time.Second)).
			WithRevisionHistoryLimit(3).
			WithProgressDeadlineSeconds(int32(max(d.cfg.RolloutTimeout/time.Second, 10))).
			WithTemplate(d.podTemplate(rel, p, size, roleProcess)))
}

// podTemplate is the pod of one process of rel: the release's image and
// config, the size's resources, and a security context that passes the
// restricted Pod Security Standard. role is roleProcess or roleRelease.
func (d *Deployer) podTemplate(rel Release, p Process, size Size, role string) *corev1ac.PodTemplateSpecApplyConfiguration {
	labels := appLabels(rel.Tenant, rel.App, role)
	if role == roleProcess {
		labels[labelProcess] = p.Type
	}
	labels[labelRelease] = strconv.Itoa(rel.Version)

	env := []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName("PLATFORM_POD_NAME").WithValueFrom(corev1ac.EnvVarSource().
			WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("metadata.name"))),
		// Deployments number no pods, so a dyno is named by its pod.
		corev1ac.EnvVar().WithName("DYNO").WithValue(p.Type + ".$(PLATFORM_POD_NAME)"),
		corev1ac.EnvVar().WithName("PLATFORM_APP").WithValue(rel.App),
		corev1ac.EnvVar().WithName("PLATFORM_RELEASE").WithValue("v" + strconv.Itoa(rel.Version)),
	}
	c := corev1ac.Container().
		WithName(p.Type).
		WithImage(rel.Image).
		WithImagePullPolicy(corev1.PullIfNotPresent).
		WithEnvFrom(corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(secretName(rel.App, rel.Version)))).
		WithResources(corev1ac.ResourceRequirements().WithRequests(d.requests(size)).WithLimits(limits(size))).
		WithSecurityContext(corev1ac.SecurityContext().
			WithAllowPrivilegeEscalation(false).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")))
	if p.Command != "" {
		c.WithCommand("/bin/sh", "-c", shellCommand(p.Command))
	}
	if p.Type == WebProcess && role == roleProcess {
		env = append(env, corev1ac.EnvVar().WithName("PORT").WithValue(strconv.Itoa(Port)))
		c.WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(Port).WithProtocol(corev1.ProtocolTCP))
		// Probed every second, so that a process that is not listening
		// yet when it starts is found ready a second later at most, not
		// two; six failures in a row (six seconds, as before) take it
		// out of the router.
		probe := corev1ac.Probe().WithPeriodSeconds(1).WithTimeoutSeconds(2).WithFailureThreshold(6).WithSuccessThreshold(1)
		if rel.HealthPath != "" {
			probe.WithHTTPGet(corev1ac.HTTPGetAction().WithPath(rel.HealthPath).WithPort(intstr.FromString("http")))
		} else {
			probe.WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString("http")))
		}
		c.WithReadinessProbe(probe)
		// The router stops sending a stopping pod requests when its
		// endpoint turns terminating; the pause lets that reach every
		// router before the process gets SIGTERM. It must end within the
		// stop grace.
		if drain := min(stopDrain, d.cfg.StopGrace/2); drain >= time.Second {
			c.WithLifecycle(corev1ac.Lifecycle().WithPreStop(corev1ac.LifecycleHandler().
				WithSleep(corev1ac.SleepAction().WithSeconds(int64(drain / time.Second)))))
		}
	}
	c.WithEnv(env...)

	spec := corev1ac.PodSpec().
		WithContainers(c).
		WithAutomountServiceAccountToken(false).
		WithEnableServiceLinks(false).
		WithTerminationGracePeriodSeconds(int64(d.cfg.StopGrace / time.Second)).
		WithSecurityContext(corev1ac.PodSecurityContext().
			WithRunAsNonRoot(true).
			WithRunAsUser(1000).
			WithRunAsGroup(1000).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)))
	if role == roleRelease {
		spec.WithRestartPolicy(corev1.RestartPolicyNever)
	}
	if d.cfg.PullCredentials != nil {
		spec.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(pullSecretName))
	}
	return corev1ac.PodTemplateSpec().
		WithLabels(labels).
		WithAnnotations(map[string]string{annRelease: strconv.Itoa(rel.Version)}).
		WithSpec(spec)
}

func service(ns string, rel Release) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(serviceName(rel.App), ns).
		WithLabels(appLabels(rel.Tenant, rel.App, roleWeb)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(map[string]string{labelApp: rel.App, labelProcess: WebProcess}).
			WithPorts(corev1ac.ServicePort().
				WithName("http").
				WithProtocol(corev1.ProtocolTCP).
				WithAppProtocol("http").
				WithPort(80).
				WithTargetPort(intstr.FromString("http"))))
}

func (d *Deployer) ingress(ns string, rel Release, hosts []string) *networkingv1ac.IngressApplyConfiguration {
	backend := networkingv1ac.IngressBackend().WithService(networkingv1ac.IngressServiceBackend().
		WithName(serviceName(rel.App)).
		WithPort(networkingv1ac.ServiceBackendPort().WithName("http")))
	rules := make([]*networkingv1ac.IngressRuleApplyConfiguration, 0, len(hosts))
	for _, h := range hosts {
		rules = append(rules, networkingv1ac.IngressRule().
			WithHost(h).
			WithHTTP(networkingv1ac.HTTPIngressRuleValue().WithPaths(networkingv1ac.HTTPIngressPath().
				WithPath("/").
				WithPathType(networkingv1.PathTypePrefix).
				WithBackend(backend))))
	}
	return networkingv1ac.Ingress(ingressName(rel.App), ns).
		WithLabels(appLabels(rel.Tenant, rel.App, roleWeb)).
		WithSpec(networkingv1ac.IngressSpec().
			WithIngressClassName(d.cfg.IngressClass).
			WithRules(rules...))
}

// processTypes returns the process types of rel, sorted.
func processTypes(rel Release) []string {
	types := make([]string, 0, len(rel.Processes))
	for _, p := range rel.Processes {
		types = append(types, p.Type)
	}
	slices.Sort(types)
	return types
}

// stopDrain is how long a stopping web process keeps running before it is
// sent SIGTERM, for routers to stop sending it requests.
const stopDrain = 2 * time.Second

// shellCommand is what /bin/sh -c runs for a process's command. A simple
// command ("bin/web --port $PORT") is exec'd, so that the app, not the
// shell, is the container's first process and gets SIGTERM when it is
// stopped (a shell does not pass it on, and the process would be killed
// only when the stop grace runs out). A command that needs the shell to
// stay (lists, pipes, substitutions, assignments, compound commands) runs
// as written.
func shellCommand(cmd string) string {
	c := strings.TrimSpace(cmd)
	if c == "" || strings.ContainsAny(c, ";&|\n`") || strings.Contains(c, "$(") {
		return cmd
	}
	first, _, _ := strings.Cut(c, " ")
	if strings.Contains(first, "=") {
		return cmd
	}
	switch first {
	case "exec", "if", "for", "while", "until", "case", "{", "(", "!", "cd", "export", "set", ".", "source", "eval", "trap":
		return cmd
	}
	return "exec " + c
}

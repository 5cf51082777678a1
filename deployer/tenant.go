package deployer

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

var applyOpts = metav1.ApplyOptions{FieldManager: fieldManager, Force: true}

// EnsureTenant makes the tenant's namespace and its ResourceQuota,
// LimitRange and NetworkPolicy match quota, creating what is missing, and
// writes a fresh registry pull credential (see Config.PullCredentials). It
// returns once pods can be created in the namespace. Calling it again with
// the same quota changes nothing.
func (d *Deployer) EnsureTenant(ctx context.Context, tenant string, quota TenantQuota) error {
	if err := validTenant(tenant); err != nil {
		return err
	}
	maxSize, err := quotaSize(quota)
	if err != nil {
		return err
	}
	ns := d.namespace(tenant)
	labels := tenantLabels(tenant)

	cur, err := d.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	case cur.Labels[labelTenant] != tenant:
		return fmt.Errorf("%w: namespace %s exists and is not tenant %s's", ErrConflict, ns, tenant)
	case cur.Status.Phase == corev1.NamespaceTerminating:
		return fmt.Errorf("%w: namespace %s of tenant %s is being deleted", ErrConflict, ns, tenant)
	}

	nsLabels := map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}
	for k, v := range labels {
		nsLabels[k] = v
	}
	if _, err := d.client.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(ns).WithLabels(nsLabels), applyOpts); err != nil {
		return fmt.Errorf("applying namespace %s: %w", ns, err)
	}

	// What the namespace holds is applied together: every deploy
	// ensures its tenant first, so this is on the way of each one.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if _, err := d.client.CoreV1().ResourceQuotas(ns).Apply(gctx, resourceQuota(ns, labels, quota, maxSize, d.cpuRequest(maxSize)), applyOpts); err != nil {
			return fmt.Errorf("applying resource quota of tenant %s: %w", tenant, err)
		}
		return nil
	})
	g.Go(func() error {
		if _, err := d.client.CoreV1().LimitRanges(ns).Apply(gctx, d.limitRange(ns, labels, maxSize), applyOpts); err != nil {
			return fmt.Errorf("applying limit range of tenant %s: %w", tenant, err)
		}
		return nil
	})
	g.Go(func() error {
		if _, err := d.client.NetworkingV1().NetworkPolicies(ns).Apply(gctx, d.networkPolicy(ns, labels), applyOpts); err != nil {
			return fmt.Errorf("applying network policy of tenant %s: %w", tenant, err)
		}
		return nil
	})
	if d.cfg.PullCredentials != nil {
		g.Go(func() error { return d.applyPullSecret(gctx, tenant, ns, labels) })
	}
	g.Go(func() error {
		if err := d.waitServiceAccount(gctx, ns); err != nil {
			return fmt.Errorf("waiting for the default service account of tenant %s: %w", tenant, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	d.log.Info("tenant ensured", "tenant", tenant, "namespace", ns, "max_processes", quota.MaxProcesses, "max_size", maxSize.Name)
	return nil
}

// tenantLabels are the labels of a tenant's namespace and of the objects
// that EnsureTenant keeps in it.
func tenantLabels(tenant string) map[string]string {
	return map[string]string{labelTenant: tenant, labelManagedBy: managedBy}
}

// DeleteTenant deletes the tenant's namespace and with it everything its
// apps run. It does not wait for the namespace to be gone; a tenant that
// has no namespace is not an error.
func (d *Deployer) DeleteTenant(ctx context.Context, tenant string) error {
	if err := validTenant(tenant); err != nil {
		return err
	}
	ns := d.namespace(tenant)
	err := d.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", ns, err)
	}
	return nil
}

func quotaSize(q TenantQuota) (Size, error) {
	if q.MaxProcesses < 0 {
		return Size{}, fmt.Errorf("%w: max processes %d", ErrInvalid, q.MaxProcesses)
	}
	if q.MaxSize == "" {
		all := Sizes()
		return all[len(all)-1], nil
	}
	s, _, err := sizeOf(q.MaxSize)
	return s, err
}

// resourceQuota bounds the namespace to quota.MaxProcesses pods of at most
// maxSize, plus the headroom a deploy needs. The annotations carry the
// quota itself, which Apply checks a formation against before it starts.
func resourceQuota(ns string, labels map[string]string, q TenantQuota, maxSize Size, cpuRequest int64) *corev1ac.ResourceQuotaApplyConfiguration {
	headroom := q.Headroom
	if headroom < 1 {
		headroom = defaultHeadroom
	}
	pods := int64(q.MaxProcesses + headroom)
	if q.MaxProcesses == 0 {
		pods = 0
	}
	hard := corev1.ResourceList{
		corev1.ResourcePods:                   *resource.NewQuantity(pods, resource.DecimalSI),
		corev1.ResourceRequestsCPU:            *resource.NewMilliQuantity(pods*cpuRequest, resource.DecimalSI),
		corev1.ResourceLimitsCPU:              *resource.NewMilliQuantity(pods*maxSize.CPULimitMillis, resource.DecimalSI),
		corev1.ResourceRequestsMemory:         *resource.NewQuantity(pods*maxSize.MemoryRequestBytes, resource.BinarySI),
		corev1.ResourceLimitsMemory:           *resource.NewQuantity(pods*maxSize.MemoryLimitBytes, resource.BinarySI),
		corev1.ResourceServicesLoadBalancers:  *resource.NewQuantity(0, resource.DecimalSI),
		corev1.ResourceServicesNodePorts:      *resource.NewQuantity(0, resource.DecimalSI),
		corev1.ResourcePersistentVolumeClaims: *resource.NewQuantity(0, resource.DecimalSI),
	}
	return corev1ac.ResourceQuota(quotaName, ns).
		WithLabels(labels).
		WithAnnotations(map[string]string{
			annMaxProcs: strconv.Itoa(q.MaxProcesses),
			annMaxSize:  maxSize.Name,
		}).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(hard))
}

// limitRange caps each container at maxSize and sizes containers that name
// no resources (none of ours) at the default size, or maxSize if smaller.
func (d *Deployer) limitRange(ns string, labels map[string]string, maxSize Size) *corev1ac.LimitRangeApplyConfiguration {
	def, defRank, _ := sizeOf(DefaultSize)
	_, maxRank, _ := sizeOf(maxSize.Name)
	if defRank > maxRank {
		def = maxSize
	}
	return corev1ac.LimitRange(quotaName, ns).
		WithLabels(labels).
		WithSpec(corev1ac.LimitRangeSpec().WithLimits(
			corev1ac.LimitRangeItem().
				WithType(corev1.LimitTypeContainer).
				WithMax(limits(maxSize)).
				WithDefault(limits(def)).
				WithDefaultRequest(d.requests(def)),
		))
}

// networkPolicy admits traffic to the tenant's pods from the router only:
// its addresses outside the cluster and its pods inside.
// DefaultAppEgressExcept are the destinations no app reaches: private
// networks (nodes, the API server, the pod and service ranges), loopback,
// link-local (the cloud metadata address 169.254.169.254) and shared
// address space, in IPv4 and IPv6.
var DefaultAppEgressExcept = []string{
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8",
	"fc00::/7", "fe80::/10", "::1/128",
}

// networkPolicy is the tenant's one policy, for every pod of its namespace.
// Ingress: the router, and the tenant's own pods. Egress: the tenant's own
// pods, the cluster DNS, and the internet less AppEgressExcept; never the
// API server, the kubelet, nodes, metadata addresses or other tenants.
func (d *Deployer) networkPolicy(ns string, labels map[string]string) *networkingv1ac.NetworkPolicyApplyConfiguration {
	var peers []*networkingv1ac.NetworkPolicyPeerApplyConfiguration
	for _, cidr := range d.cfg.RouterCIDRs {
		peers = append(peers, networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR(cidr)))
	}
	peers = append(peers, networkingv1ac.NetworkPolicyPeer().
		WithNamespaceSelector(metav1ac.LabelSelector()).
		WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(d.cfg.RouterPodLabels)))
	ownPods := networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector())
	peers = append(peers, ownPods)

	var v4Except, v6Except []string
	for _, c := range d.cfg.AppEgressExcept {
		if netip.MustParsePrefix(c).Addr().Is4() {
			v4Except = append(v4Except, c)
		} else {
			v6Except = append(v6Except, c)
		}
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dnsPort := intstr.FromInt32(53)
	egress := []*networkingv1ac.NetworkPolicyEgressRuleApplyConfiguration{
		networkingv1ac.NetworkPolicyEgressRule().WithTo(ownPods),
		networkingv1ac.NetworkPolicyEgressRule().
			WithTo(networkingv1ac.NetworkPolicyPeer().
				WithNamespaceSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"kubernetes.io/metadata.name": "kube-system"})).
				WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"k8s-app": "kube-dns"}))).
			WithPorts(networkingv1ac.NetworkPolicyPort().WithProtocol(udp).WithPort(dnsPort),
				networkingv1ac.NetworkPolicyPort().WithProtocol(tcp).WithPort(dnsPort)),
		networkingv1ac.NetworkPolicyEgressRule().WithTo(
			networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("0.0.0.0/0").WithExcept(v4Except...)),
			networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("::/0").WithExcept(v6Except...))),
	}
	return networkingv1ac.NetworkPolicy(quotaName, ns).
		WithLabels(labels).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector()).
			WithPolicyTypes(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(peers...)).
			WithEgress(egress...))
}

func limits(s Size) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(s.CPULimitMillis, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(s.MemoryLimitBytes, resource.BinarySI),
	}
}

// requests are what a process of size s asks the scheduler for.
func (d *Deployer) requests(s Size) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(d.cpuRequest(s), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(s.MemoryRequestBytes, resource.BinarySI),
	}
}

// cpuRequest is the CPU, in thousandths of a core, that a process of size
// s asks for: Config.CPURequestPercent of the size's, and at least 10.
func (d *Deployer) cpuRequest(s Size) int64 {
	return max(10, s.CPURequestMillis*int64(d.cfg.CPURequestPercent)/100)
}

// waitServiceAccount waits for the namespace's default service account,
// without which no pod can be created in it.
func (d *Deployer) waitServiceAccount(ctx context.Context, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sel := fields.OneTermEqualSelector("metadata.name", "default").String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return d.client.CoreV1().ServiceAccounts(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return d.client.CoreV1().ServiceAccounts(ns).Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.ServiceAccount{},
		func(store cache.Store) (bool, error) { return len(store.List()) > 0, nil },
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Added || ev.Type == watch.Modified, nil })
	return err
}

// DeleteAllTenants deletes the namespace of every tenant of this platform
// (those named NamespacePrefix+tenant that platformd labelled as its
// own) and waits until they are gone, or ctx is done. It is what
// uninstalling the platform does to what it ran: it returns the
// namespaces it deleted.
func (d *Deployer) DeleteAllTenants(ctx context.Context) ([]string, error) {
	mine := func() ([]string, error) {
		list, err := d.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: labelManagedBy + "=" + managedBy + "," + labelTenant})
		if err != nil {
			return nil, fmt.Errorf("listing tenant namespaces: %w", err)
		}
		var names []string
		for _, ns := range list.Items {
			if ns.Name == d.namespace(ns.Labels[labelTenant]) {
				names = append(names, ns.Name)
			}
		}
		return names, nil
	}
	deleted, err := mine()
	if err != nil {
		return nil, err
	}
	for _, ns := range deleted {
		if err := d.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting namespace %s: %w", ns, err)
		}
	}
	// A namespace goes once what is in it has: the pods' grace periods.
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(context.Context) (bool, error) {
		left, err := mine()
		return len(left) == 0, err
	})
	if err != nil {
		left, _ := mine()
		return deleted, fmt.Errorf("waiting for tenant namespaces to go (%s left): %w", strings.Join(left, ", "), err)
	}
	return deleted, nil
}

package deployer

import (
	"context"
	"fmt"

	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
)

// IngressController is the controller name of the platform's router in
// its IngressClass.
const IngressController = "platform.io/router"

// EnsureIngressClass makes the IngressClass of the apps' Ingresses exist,
// naming the platform's router as its controller, so the cluster (and
// kubectl get ingressclass) knows who serves them. It is idempotent.
func (d *Deployer) EnsureIngressClass(ctx context.Context) error {
	ic := networkingv1ac.IngressClass(d.cfg.IngressClass).
		WithLabels(map[string]string{labelManagedBy: managedBy}).
		WithSpec(networkingv1ac.IngressClassSpec().WithController(IngressController))
	if _, err := d.client.NetworkingV1().IngressClasses().Apply(ctx, ic, applyOpts); err != nil {
		return fmt.Errorf("applying ingress class %s: %w", d.cfg.IngressClass, err)
	}
	return nil
}

package deployer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// PullCredentials gives the kubelet what it pulls a tenant's images with.
type PullCredentials interface {
	// PullCredential returns a credential of the registry that may pull
	// tenant's images and nothing else. It is called on every
	// EnsureTenant, so it may be short-lived next to a tenant's releases
	// (days, not minutes).
	PullCredential(tenant string) (RegistryCredential, error)
}

// RegistryCredential is a user name and password for one registry.
type RegistryCredential struct {
	// Registry is the host[:port] that images are named by.
	Registry string
	Username string
	Password string
}

// pullSecretName is the kubernetes.io/dockerconfigjson Secret of a
// tenant's namespace that its pods pull with.
const pullSecretName = "platform-registry"

// applyPullSecret writes the tenant's pull credential into its namespace,
// fresh on every call.
func (d *Deployer) applyPullSecret(ctx context.Context, tenant, ns string, labels map[string]string) error {
	cred, err := d.cfg.PullCredentials.PullCredential(tenant)
	if err != nil {
		return fmt.Errorf("minting the registry pull credential of tenant %s: %w", tenant, err)
	}
	cfg, err := dockerConfigJSON(cred)
	if err != nil {
		return err
	}
	secret := corev1ac.Secret(pullSecretName, ns).
		WithLabels(labels).
		WithType(corev1.SecretTypeDockerConfigJson).
		WithData(map[string][]byte{corev1.DockerConfigJsonKey: cfg})
	if _, err := d.client.CoreV1().Secrets(ns).Apply(ctx, secret, applyOpts); err != nil {
		return fmt.Errorf("applying the registry pull secret of tenant %s: %w", tenant, err)
	}
	return nil
}

// dockerConfigJSON is a docker config file holding cred, as the kubelet
// reads a kubernetes.io/dockerconfigjson Secret.
func dockerConfigJSON(cred RegistryCredential) ([]byte, error) {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	b, err := json.Marshal(map[string]map[string]entry{"auths": {cred.Registry: {
		Username: cred.Username,
		Password: cred.Password,
		Auth:     base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + cred.Password)),
	}}})
	if err != nil {
		return nil, fmt.Errorf("encoding the registry pull secret: %w", err)
	}
	return b, nil
}

// RefreshPullSecrets writes a fresh registry pull credential into the
// namespace of every tenant, so that one whose last release is older than
// its credential's lifetime still pulls its images when its pods move.
// Every namespace is tried; the error joins those that failed. Without
// Config.PullCredentials it does nothing.
func (d *Deployer) RefreshPullSecrets(ctx context.Context) error {
	if d.cfg.PullCredentials == nil {
		return nil
	}
	sel := labelManagedBy + "=" + managedBy + "," + labelTenant
	list, err := d.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing tenant namespaces: %w", err)
	}
	var errs []error
	for _, ns := range list.Items {
		tenant := ns.Labels[labelTenant]
		if ns.Name != d.namespace(tenant) || ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		if err := d.applyPullSecret(ctx, tenant, ns.Name, tenantLabels(tenant)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

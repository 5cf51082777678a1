// Package deployer applies releases to Kubernetes.
//
// It owns the Kubernetes objects of a release (namespaces, Deployments,
// Services, Ingresses, config Secrets, release-phase Jobs), watching
// rollouts, reading logs and scaling; those arrive in the next issues. For
// now it only connects to the API server and reports whether it is
// reachable and ready.
//
// The package imports nothing of ours and no client-go type crosses its
// boundary: callers hand in plain values and get plain values back.
package deployer

import (
	"context"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Config configures a Deployer.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file, or several joined by
	// the OS's list separator as in $KUBECONFIG. Empty means the in-cluster
	// configuration of the pod platformd runs in.
	Kubeconfig string
	// UserAgent identifies platformd to the API server; empty means
	// client-go's default.
	UserAgent string
}

// Deployer talks to one Kubernetes cluster. It is safe for concurrent use.
type Deployer struct {
	client kubernetes.Interface
}

// New returns a Deployer for the cluster that cfg names. It reads the
// kubeconfig but does not contact the API server: Ping does.
func New(cfg Config) (*Deployer, error) {
	rc, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if cfg.UserAgent != "" {
		rc.UserAgent = cfg.UserAgent
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating kubernetes client: %w", err)
	}
	return &Deployer{client: cs}, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("loading in-cluster kubernetes config (outside a cluster, give a kubeconfig): %w", err)
		}
		return rc, nil
	}
	rules := &clientcmd.ClientConfigLoadingRules{}
	if paths := filepath.SplitList(kubeconfig); len(paths) > 1 {
		rules.Precedence = paths
	} else {
		// An explicit path must exist; a list, like $KUBECONFIG, may
		// name files that do not.
		rules.ExplicitPath = kubeconfig
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	return rc, nil
}

// Ping reports whether the API server answers its /readyz endpoint.
func (d *Deployer) Ping(ctx context.Context) error {
	err := d.client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("checking kubernetes api server readiness: %w", err)
	}
	return nil
}

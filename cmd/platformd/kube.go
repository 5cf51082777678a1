package main

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeClient connects the in-process router to the Kubernetes API with the
// kubeconfig file(s) in path ($KUBECONFIG syntax), or with the pod's
// in-cluster configuration when path is empty.
func kubeClient(path, userAgent string) (kubernetes.Interface, error) {
	var (
		rc  *rest.Config
		err error
	)
	if path == "" {
		rc, err = rest.InClusterConfig()
	} else {
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(path)}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("loading the Kubernetes client configuration: %w", err)
	}
	rc.UserAgent = userAgent
	// Above client-go's default of 5 requests a second: the router writes
	// each Ingress's status when it starts and when its address changes,
	// one request per Ingress, and should not take minutes with many apps.
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	return kubernetes.NewForConfig(rc)
}

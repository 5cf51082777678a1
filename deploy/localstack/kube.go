package localstack

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Deployment is a Deployment named name of replicas pods, each one
// container, also named name, running command in image. Its pods are
// labelled app=name, have no service account token, pull with the Secret
// PullSecretName (see CreatePullSecret), are Ready when probe passes
// (checked every second) and stop at once (a grace of 1 s).
func Deployment(name, image string, replicas int32, command []string, probe corev1.ProbeHandler, ports ...corev1.ContainerPort) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  new(false),
					TerminationGracePeriodSeconds: new(int64(1)),
					ImagePullSecrets:              []corev1.LocalObjectReference{{Name: PullSecretName}},
					Containers: []corev1.Container{{
						Name:           name,
						Image:          image,
						Command:        command,
						Ports:          ports,
						ReadinessProbe: &corev1.Probe{ProbeHandler: probe, PeriodSeconds: 1},
					}},
				},
			},
		},
	}
}

// StaticApp is the smallest app a router can serve, all of it named web:
// a Deployment of one pod running Python's http.server on port 8080 from
// the stack's run image in registry, a Service in front of it, and an
// Ingress of class for host.
func StaticApp(registry, class, host string) (*appsv1.Deployment, *corev1.Service, *networkingv1.Ingress) {
	dep := Deployment("web", registry+"/platform/run-python:bookworm", 1,
		[]string{"python3", "-m", "http.server", "8080"},
		corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: dep.Spec.Selector.MatchLabels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	return dep, svc, ing
}

// CreateStaticApp creates StaticApp of env's registry, class and host in
// the namespace ns, which the caller made (and deletes), with the pull
// secret its pod needs.
func CreateStaticApp(ctx context.Context, t testing.TB, kube kubernetes.Interface, env Env, class, ns, host string) {
	t.Helper()
	CreatePullSecret(ctx, t, kube, env, ns)
	dep, svc, ing := StaticApp(env.Registry, class, host)
	_, err := kube.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = kube.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{})
	require.NoError(t, err)
}

// PodReport describes the pods of the namespace ns (phase, address,
// image, the state of each container) and its events, for a failure
// message. It reads with a context of its own, so that it works after the
// test's context has expired; what it cannot read it reports instead.
func PodReport(kube kubernetes.Interface, ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "\n%s %s ip=%s deleting=%v", p.Name, p.Status.Phase, p.Status.PodIP, p.DeletionTimestamp != nil)
		if len(p.Spec.Containers) > 0 {
			fmt.Fprintf(&b, " image=%s", p.Spec.Containers[0].Image)
		}
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, " %s ready=%v state=%+v", cs.Name, cs.Ready, cs.State)
		}
	}
	if events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range events.Items {
			fmt.Fprintf(&b, "\nevent %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	return b.String()
}

// The local stack's fixed addresses, as deploy/local/lib.sh sets them:
// what tests of its isolation aim at.
const (
	NodeIP        = "10.217.0.1"              // the pod bridge's gateway, where the kubelet listens
	BuildGateway  = "10.219.0.1"              // the build bridge's gateway
	KubernetesSvc = "10.218.0.1:443"          // the kubernetes Service
	DNSServiceIP  = "10.218.0.10"             // the kube-dns Service: the cluster DNS
	EtcdURL       = "https://127.0.0.1:23790" // etcd's clients' URL
	KubeletPort   = "10250"
	KubeAPIPort   = "6443"
)

// Kube is a client of the local stack's Kubernetes API, as its admin.
func Kube(t testing.TB, env Env) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return kube
}

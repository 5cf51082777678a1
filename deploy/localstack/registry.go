package localstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RegistryUser is the user name that goes with Env.RegistryCredential
// (the registry reads only the credential).
const RegistryUser = "platform"

// PullSecretName is the kubernetes.io/dockerconfigjson Secret that
// CreatePullSecret makes and the pods of Deployment pull with.
const PullSecretName = "registry"

// RegistryTransport returns a transport that answers the registry's token
// challenges with the stack's credential, asking for scopes (such as
// "repository:acme/shop:pull"), as a stock client does: for tests that
// read the registry's API with plain HTTP requests.
func (e Env) RegistryTransport(t testing.TB, scopes ...string) http.RoundTripper {
	t.Helper()
	reg, err := name.NewRegistry(e.Registry, name.Insecure)
	require.NoError(t, err)
	rt, err := transport.NewWithContext(context.Background(), reg,
		&authn.Basic{Username: RegistryUser, Password: e.RegistryCredential}, http.DefaultTransport, scopes)
	require.NoError(t, err, "authenticating to the stack's registry")
	return rt
}

// BuildKitAuth is a BuildKit session attachable that answers BuildKit's
// requests for credentials of the stack's registry with the stack's
// credential, for tests that solve on BuildKit themselves.
func (e Env) BuildKitAuth() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			if host != e.Registry {
				return types.AuthConfig{}, nil
			}
			return types.AuthConfig{Username: RegistryUser, Password: e.RegistryCredential}, nil
		},
	})
}

// CreatePullSecret makes the Secret PullSecretName in the namespace ns,
// which the caller made (and deletes): the stack's registry credential,
// for the kubelet to pull the stack's images with.
func CreatePullSecret(ctx context.Context, t testing.TB, kube kubernetes.Interface, env Env, ns string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(RegistryUser + ":" + env.RegistryCredential))
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{env.Registry: map[string]string{"auth": auth}}})
	require.NoError(t, err)
	_, err = kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: PullSecretName},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

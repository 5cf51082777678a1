package deployer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/registry/registrytest"
)

// tenantPullCredentials mints each tenant's own pull credential, as
// platformd does.
type tenantPullCredentials struct {
	auth *registry.Auth
	host string
}

func (c tenantPullCredentials) PullCredential(tenant string) (deployer.RegistryCredential, error) {
	cred, err := c.auth.PullCredential(tenant, time.Hour)
	return deployer.RegistryCredential{Registry: c.host, Username: registry.Username, Password: cred}, err
}

// TestTenantPullCredential runs releases whose images are in a registry
// with token auth: the kubelet pulls the tenant's own image with the
// tenant's pull credential, and cannot pull another tenant's.
func TestTenantPullCredential(t *testing.T) {
	t.Parallel()
	auth := registrytest.NewAuth(t)
	_, host := registrytest.Start(t, auth)
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 4, MaxSize: "small"}, func(c *deployer.Config) {
		c.PullCredentials = tenantPullCredentials{auth: auth, host: host}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The stack's run image, copied into the tenant's repository and into
	// another tenant's.
	src, err := name.ParseReference(r.image, name.Insecure)
	require.NoError(t, err)
	// http.DefaultTransport, whose idle connections TestMain closes.
	img, err := remote.Image(src, remote.WithContext(ctx), remote.WithTransport(http.DefaultTransport),
		remote.WithAuth(&authn.Basic{Username: localstack.RegistryUser, Password: r.env.RegistryCredential}))
	require.NoError(t, err)
	platform, err := auth.PlatformCredential(time.Hour)
	require.NoError(t, err)
	digest, err := img.Digest()
	require.NoError(t, err)
	copyTo := func(repo string) string {
		dst, err := name.ParseReference(host+"/"+repo+":v1", name.Insecure)
		require.NoError(t, err)
		require.NoError(t, remote.Write(dst, img, remote.WithContext(ctx), remote.WithTransport(http.DefaultTransport),
			remote.WithAuth(&authn.Basic{Username: registry.Username, Password: platform})))
		return fmt.Sprintf("%s/%s@%s", host, repo, digest)
	}
	own := copyTo(r.tenant + "/own")
	other := copyTo("x" + r.tenant + "/own")

	rel := r.release("own", 1, "hello", worker(1))
	rel.Image = own
	_, _, err = r.apply(ctx, rel, nil)
	require.NoError(t, err, "the tenant's own image is pulled with its credential")

	rel = r.release("stolen", 1, "hello", worker(1))
	rel.Image = other
	_, _, err = r.apply(ctx, rel, nil)
	require.Error(t, err)
	assert.Equal(t, deployer.ReasonImagePull, rolloutError(t, err).Reason, "another tenant's image is not pulled: %v", err)
}

// TestRefreshPullSecrets writes the pull credential again into every
// tenant's namespace. Its tenants have a namespace prefix of their own, so
// that the refresh leaves the other tests' namespaces alone.
func TestRefreshPullSecrets(t *testing.T) {
	t.Parallel()
	prefix := fmt.Sprintf("dr%06x-", rand.Uint32()&0xffffff)
	r := newRig(t, deployer.TenantQuota{MaxProcesses: 1, MaxSize: "small"}, func(c *deployer.Config) { c.NamespacePrefix = prefix })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	require.NoError(t, r.kc.CoreV1().Secrets(r.ns).Delete(ctx, "platform-registry", metav1.DeleteOptions{}))
	require.NoError(t, r.d.RefreshPullSecrets(ctx))
	pull, err := r.kc.CoreV1().Secrets(r.ns).Get(ctx, "platform-registry", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeDockerConfigJson, pull.Type)
	assert.Equal(t, r.tenant, pull.Labels["platform.io/tenant"])
}

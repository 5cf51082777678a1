package localstack

import (
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/registry"
)

// CopyImages copies images (repository:tag) from the stack's registry to
// another platform's registry at addr (host:port), with a credential
// minted from that platform's secret key, as its operator copies the
// stacks' images in before the first build. An index is copied whole, by
// digest, so the copy names the same images.
func (e Env) CopyImages(t testing.TB, addr string, secretKey []byte, images ...string) {
	t.Helper()
	auth, err := registry.NewAuth(secretKey)
	require.NoError(t, err)
	cred, err := auth.Mint("copy-images", time.Hour, registry.PlatformScopes...)
	require.NoError(t, err)
	from := remote.WithAuth(&authn.Basic{Username: RegistryUser, Password: e.RegistryCredential})
	to := remote.WithAuth(&authn.Basic{Username: registry.Username, Password: cred})
	for _, img := range images {
		src, err := name.ParseReference(e.Registry+"/"+img, name.Insecure)
		require.NoError(t, err)
		dst, err := name.ParseReference(addr+"/"+img, name.Insecure)
		require.NoError(t, err)
		desc, err := remote.Get(src, from)
		require.NoError(t, err, "reading %s", src)
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			require.NoError(t, err)
			require.NoError(t, remote.WriteIndex(dst, idx, to), "copying %s to %s", img, addr)
			continue
		}
		im, err := desc.Image()
		require.NoError(t, err)
		require.NoError(t, remote.Write(dst, im, to), "copying %s to %s", img, addr)
	}
}

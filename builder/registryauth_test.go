package builder

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/registry/registrytest"
)

// authRegistry is platformd's registry, served for one test on a loopback
// port of its own (BuildKit speaks plain HTTP to loopback registries).
type authRegistry struct {
	host string
	auth *registry.Auth
}

func startAuthRegistry(t *testing.T) authRegistry {
	t.Helper()
	auth := registrytest.NewAuth(t)
	_, host := registrytest.Start(t, auth)
	return authRegistry{host: host, auth: auth}
}

func (r authRegistry) platform(t *testing.T) Credentials {
	t.Helper()
	cred, err := r.auth.PlatformCredential(time.Hour)
	require.NoError(t, err)
	return Credentials{Username: registry.Username, Password: cred}
}

func (r authRegistry) build(t *testing.T, tenant, app string) Credentials {
	t.Helper()
	cred, err := r.auth.BuildCredential(tenant, app, time.Hour)
	require.NoError(t, err)
	return Credentials{Username: registry.Username, Password: cred}
}

// TestBuildRegistryCredential builds Dockerfiles on the stack's BuildKit
// against a registry with token auth: a build presents its own credential,
// so it pushes its app and pulls the base images, and it cannot start from
// or copy out of another tenant's image.
func TestBuildRegistryCredential(t *testing.T) {
	env := localstack.Require(t)
	reg := startAuthRegistry(t)
	b, err := New(Config{Addr: env.BuildKitAddr, Registry: reg.host, InsecureRegistry: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })

	build := func(tenant, app, dockerfile string, creds Credentials) (Result, string, error) {
		t.Helper()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "file.txt"), []byte(tenant+"/"+app+" "+rand.Text()), 0o644))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var out syncbuf.Buffer
		res, err := b.Build(ctx, Request{Tenant: tenant, App: app, SourceDir: dir, Out: &out, RegistryAuth: creds})
		return res, out.String(), err
	}

	// The base image, pushed by platformd; another tenant's app, by its
	// own build.
	base, out, err := build("library", "base", "FROM scratch\nCOPY file.txt /base.txt\n", reg.platform(t))
	require.NoError(t, err, out)
	rival, out, err := build("globex", "web", "FROM scratch\nCOPY file.txt /secret.txt\n", reg.build(t, "globex", "web"))
	require.NoError(t, err, out)

	// acme/shop's build starts from the base image and pushes its app.
	shop := reg.build(t, "acme", "shop")
	res, out, err := build("acme", "shop", "FROM "+base.ImageRef+"\nCOPY file.txt /app.txt\n", shop)
	require.NoError(t, err, out)
	assert.Equal(t, reg.host+"/acme/shop@"+res.Digest, res.ImageRef)
	ref, err := name.ParseReference(res.ImageRef, name.Insecure)
	require.NoError(t, err)
	desc, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: registry.Username, Password: reg.platform(t).Password}))
	require.NoError(t, err)
	assert.Equal(t, res.Digest, desc.Digest.String(), "the pushed image is in the registry")

	// Not from another tenant's image, by tag or by digest, nor a copy out
	// of it.
	rivalTag := reg.host + "/globex/web:latest"
	for what, dockerfile := range map[string]string{
		"FROM by tag":    "FROM " + rivalTag + "\n",
		"FROM by digest": "FROM " + rival.ImageRef + "\n",
		"COPY --from":    "FROM " + base.ImageRef + "\nCOPY --from=" + rivalTag + " /secret.txt /stolen.txt\n",
	} {
		_, out, err := build("acme", "shop", dockerfile, shop)
		require.Error(t, err, "%s:\n%s", what, out)
		msg := strings.ToLower(err.Error())
		assert.True(t, strings.Contains(msg, "401") || strings.Contains(msg, "unauthorized") || strings.Contains(msg, "insufficient_scope"),
			"%s fails for want of access: %v", what, err)
	}

	// Without a credential nothing is pushed.
	_, out, err = build("acme", "shop", "FROM scratch\nCOPY file.txt /app.txt\n", Credentials{})
	require.Error(t, err, out)
}

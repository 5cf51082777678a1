package registry_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/registry/registrytest"
)

// TestS3Storage checks the registry on an S3-compatible bucket: two
// replicas with no directory in common serve each other's images from
// it, everything is under the prefix, and a destroyed app's repository
// goes from the bucket.
func TestS3Storage(t *testing.T) {
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("images"))
	store := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(store.Close)
	bucket := &registry.S3{Bucket: "images", Region: "us-east-1", Endpoint: store.URL, PathStyle: true,
		Prefix: "platform", AccessKey: "platform", SecretKey: "secret-key-of-the-store"}

	key := []byte(rand.Text() + rand.Text())
	auth, err := registry.NewAuth(key)
	require.NoError(t, err)
	replica := func() *testRegistry {
		r, host := registrytest.StartConfig(t, registry.Config{RootDir: filepath.Join(t.TempDir(), "registry"), S3: bucket, Auth: auth})
		return &testRegistry{Registry: r, key: key, auth: auth, host: host}
	}
	a, b := replica(), replica()

	seeded := a.seed(t, "acme/shop:v1", "acme/cart:v1")
	got, err := b.pull(t, "acme/shop:v1", b.platform(t))
	require.NoError(t, err, "the other replica serves the image from the bucket")
	assert.Equal(t, seeded["acme/shop:v1"], got)

	objects, err := backend.ListBucket("images", nil, gofakes3.ListBucketPage{})
	require.NoError(t, err)
	require.NotEmpty(t, objects.Contents)
	for _, o := range objects.Contents {
		assert.True(t, strings.HasPrefix(o.Key, "platform/docker/registry/v2/"), "object %s is under the prefix", o.Key)
	}

	require.NoError(t, a.DeleteRepository("acme/shop"))
	_, err = remote.Head(b.ref(t, "acme/shop:v1"), remote.WithAuth(b.platform(t)))
	var terr *transport.Error
	require.ErrorAs(t, err, &terr)
	assert.Equal(t, http.StatusNotFound, terr.StatusCode, "the repository is gone from the bucket")
	_, err = b.pull(t, "acme/cart:v1", b.platform(t))
	assert.NoError(t, err, "another repository is left alone")
	assert.NoError(t, a.DeleteRepository("acme/never"), "a repository that never was")
}

func TestS3StorageNeedsItsSettings(t *testing.T) {
	auth := registrytest.NewAuth(t)
	for _, c := range []struct {
		s3   registry.S3
		says string
	}{
		{registry.S3{Region: "us-east-1"}, "the bucket is required"},
		{registry.S3{Bucket: "images"}, "the region is required"},
		{registry.S3{Bucket: "images", Region: "us-east-1", Endpoint: "minio:9000"}, `endpoint "minio:9000" is not an http(s) URL`},
		{registry.S3{Bucket: "images", Region: "us-east-1", AccessKey: "k"}, "give both the access key and the secret key, or neither"},
	} {
		_, err := registry.New(registry.Config{RootDir: t.TempDir(), S3: &c.s3, Auth: auth, Realm: "http://127.0.0.1:5000/token", Logger: nil})
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.says)
	}
}

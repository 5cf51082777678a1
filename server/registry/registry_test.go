package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// start serves a fresh registry on a random loopback port and returns its
// base URL; it stops when the test ends.
func start(t *testing.T) (*Registry, string) {
	t.Helper()
	r, err := New(Config{
		RootDir: filepath.Join(t.TempDir(), "registry"),
		Logger:  slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("registry did not stop")
		}
	})
	return r, "http://" + ln.Addr().String()
}

// pushBlob uploads content monolithically and returns its descriptor.
func pushBlob(t *testing.T, base, repo, mediaType string, content []byte) ocispec.Descriptor {
	t.Helper()
	dgst := digest.FromBytes(content)

	resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	loc, err := resp.Location()
	require.NoError(t, err)

	q := loc.Query()
	q.Set("digest", dgst.String())
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(content))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, dgst.String(), resp.Header.Get("Docker-Content-Digest"))

	return ocispec.Descriptor{MediaType: mediaType, Digest: dgst, Size: int64(len(content))}
}

func getManifest(t *testing.T, base, repo, ref string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v2/"+repo+"/manifests/"+url.PathEscape(ref), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func TestPushAndPullImage(t *testing.T) {
	r, base := start(t)
	const repo = "apps/hello"

	resp, err := http.Get(base + "/v2/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.NoError(t, r.Ping(ctx))

	config := pushBlob(t, base, repo, ocispec.MediaTypeImageConfig,
		[]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := pushBlob(t, base, repo, ocispec.MediaTypeImageLayer, []byte("not really a tarball"))

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    []ocispec.Descriptor{layer},
	})
	require.NoError(t, err)
	mdgst := digest.FromBytes(manifest)

	req, err := http.NewRequest(http.MethodPut, base+"/v2/"+repo+"/manifests/v1", bytes.NewReader(manifest))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, mdgst.String(), resp.Header.Get("Docker-Content-Digest"))

	for _, ref := range []string{"v1", mdgst.String()} {
		resp, body := getManifest(t, base, repo, ref)
		require.Equal(t, http.StatusOK, resp.StatusCode, ref)
		assert.Equal(t, manifest, body, ref)
		assert.Equal(t, mdgst.String(), resp.Header.Get("Docker-Content-Digest"), ref)
		assert.Equal(t, ocispec.MediaTypeImageManifest, resp.Header.Get("Content-Type"), ref)
	}

	// Deletes are enabled: a later issue removes an app's images.
	req, err = http.NewRequest(http.MethodDelete, base+"/v2/"+repo+"/manifests/"+mdgst.String(), nil)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp, _ = getManifest(t, base, repo, mdgst.String())
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestServeRefusesNonLoopback(t *testing.T) {
	r, err := New(Config{RootDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	err = r.Serve(context.Background(), fakeListener{addr: &net.TCPAddr{IP: net.IPv4zero, Port: 5000}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "loopback")
}

func TestPingNotServing(t *testing.T) {
	r, err := New(Config{RootDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(r.Close)
	assert.Error(t, r.Ping(context.Background()))
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "root directory")
	assert.Contains(t, err.Error(), "logger")
}

func TestIsLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:5000": true,
		"[::1]:5000":     true,
		"localhost:5000": true,
		"0.0.0.0:5000":   false,
		":5000":          false,
		"10.0.0.1:5000":  false,
		"garbage":        false,
	}
	for addr, want := range tests {
		assert.Equal(t, want, IsLoopback(addr), addr)
	}
}

// fakeListener claims an address without binding it.
type fakeListener struct{ addr net.Addr }

func (l fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr            { return l.addr }

func TestDeleteRepository(t *testing.T) {
	r, base := start(t)
	push := func(repo string) digest.Digest {
		config := pushBlob(t, base, repo, ocispec.MediaTypeImageConfig,
			[]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
		manifest, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    config,
			Layers:    []ocispec.Descriptor{},
		})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPut, base+"/v2/"+repo+"/manifests/v1", bytes.NewReader(manifest))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		return digest.FromBytes(manifest)
	}
	shop := push("acme/shop")
	shopping := push("acme/shopping")

	require.NoError(t, r.DeleteRepository("acme/shop"))
	for _, ref := range []string{"v1", shop.String()} {
		resp, _ := getManifest(t, base, "acme/shop", ref)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, ref)
	}
	resp, _ := getManifest(t, base, "acme/shopping", shopping.String())
	assert.Equal(t, http.StatusOK, resp.StatusCode, "another repository is left alone")

	assert.NoError(t, r.DeleteRepository("acme/shop"), "deleting again")
	assert.NoError(t, r.DeleteRepository("acme/never"), "a repository that never was")

	for _, bad := range []string{"", "..", "acme/..", "../acme", "acme/../rival", "/acme", "acme/", "Acme/shop", "acme//shop", "acme/shop/", "./acme", "acme\\shop"} {
		assert.Error(t, r.DeleteRepository(bad), "%q", bad)
	}
	resp, _ = getManifest(t, base, "acme/shopping", "v1")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

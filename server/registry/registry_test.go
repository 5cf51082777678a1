package registry_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/registry/registrytest"
)

// testRegistry is a registry served on a random loopback port for one
// test, with the Auth its credentials come from.
type testRegistry struct {
	*registry.Registry
	key  []byte // the secret key of auth
	auth *registry.Auth
	host string // host:port
}

// start serves a fresh registry on a random loopback port; it stops when
// the test ends.
func start(t *testing.T) *testRegistry {
	t.Helper()
	key := []byte(rand.Text() + rand.Text())
	auth, err := registry.NewAuth(key)
	require.NoError(t, err)
	r, host := registrytest.Start(t, auth)
	return &testRegistry{Registry: r, key: key, auth: auth, host: host}
}

func (r *testRegistry) ref(t *testing.T, repoTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.host+"/"+repoTag, name.Insecure)
	require.NoError(t, err)
	return ref
}

func (r *testRegistry) platform(t *testing.T) authn.Authenticator {
	t.Helper()
	cred, err := r.auth.PlatformCredential(time.Hour)
	require.NoError(t, err)
	return basic(cred)
}

func basic(cred string) authn.Authenticator {
	return &authn.Basic{Username: registry.Username, Password: cred}
}

// push writes a new random image to repoTag with the credential a and
// returns the error, with the image.
func (r *testRegistry) push(t *testing.T, repoTag string, a authn.Authenticator) (v1.Image, error) {
	t.Helper()
	img, err := random.Image(512, 1)
	require.NoError(t, err)
	return img, remote.Write(r.ref(t, repoTag), img, remote.WithAuth(a))
}

// seed pushes an image to each repoTag with platformd's credential and
// returns their digests.
func (r *testRegistry) seed(t *testing.T, repoTags ...string) map[string]v1.Hash {
	t.Helper()
	digests := map[string]v1.Hash{}
	for _, rt := range repoTags {
		img, err := r.push(t, rt, r.platform(t))
		require.NoError(t, err, rt)
		d, err := img.Digest()
		require.NoError(t, err)
		digests[rt] = d
	}
	return digests
}

// pull reads the manifest and every blob of repoTag with the credential a.
func (r *testRegistry) pull(t *testing.T, repoTag string, a authn.Authenticator) (v1.Hash, error) {
	t.Helper()
	img, err := remote.Image(r.ref(t, repoTag), remote.WithAuth(a))
	if err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
	}
	return img.Digest()
}

// assertRefused checks that err is the registry refusing a client, as
// stock clients see it: 401 or 403.
func assertRefused(t *testing.T, err error, what string) {
	t.Helper()
	require.Error(t, err, what)
	var terr *transport.Error
	require.True(t, errors.As(err, &terr), "%s: %v", what, err)
	assert.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, terr.StatusCode, "%s: %v", what, err)
}

func TestAnonymousRequestsAreChallenged(t *testing.T) {
	r := start(t)
	r.seed(t, "acme/shop:v1")

	for _, tc := range []struct{ path, scope string }{
		{"/v2/", ""},
		{"/v2/acme/shop/manifests/v1", `,scope="repository:acme/shop:pull"`},
		{"/v2/acme/shop/tags/list", `,scope="repository:acme/shop:pull"`},
	} {
		resp, err := http.Get("http://" + r.host + tc.path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, tc.path)
		assert.Equal(t, `Bearer realm="http://`+r.host+`/token",service="platform-registry"`+tc.scope,
			resp.Header.Get("WWW-Authenticate"), tc.path)
	}

	// The token endpoint gives nothing without a credential.
	resp, err := http.Get("http://" + r.host + "/token?service=platform-registry&scope=repository:acme/shop:pull")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	_, err = r.pull(t, "acme/shop:v1", authn.Anonymous)
	assertRefused(t, err, "anonymous pull")
}

func TestBuildCredential(t *testing.T) {
	r := start(t)
	seeded := r.seed(t, "acme/shop:v1", "globex/web:v1", "library/debian:bookworm", "platform/stack-go:bookworm")
	cred, err := r.auth.BuildCredential("acme", "shop", time.Hour)
	require.NoError(t, err)
	build := basic(cred)

	// Its own app: push and pull.
	img, err := r.push(t, "acme/shop:v2", build)
	require.NoError(t, err)
	want, err := img.Digest()
	require.NoError(t, err)
	got, err := r.pull(t, "acme/shop:v2", build)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	got, err = r.pull(t, "acme/shop:v1", build)
	require.NoError(t, err)
	assert.Equal(t, seeded["acme/shop:v1"], got)

	// The base images: pull only.
	for _, base := range []string{"library/debian:bookworm", "platform/stack-go:bookworm"} {
		got, err := r.pull(t, base, build)
		require.NoError(t, err, base)
		assert.Equal(t, seeded[base], got, base)

		_, err = r.push(t, base, build)
		assertRefused(t, err, "push to "+base)
		got, err = r.pull(t, base, r.platform(t))
		require.NoError(t, err)
		assert.Equal(t, seeded[base], got, "%s is unchanged", base)
	}

	// Another tenant's app: nothing.
	_, err = r.pull(t, "globex/web:v1", build)
	assertRefused(t, err, "pull of another tenant's app")
	_, err = r.push(t, "globex/web:v1", build)
	assertRefused(t, err, "push to another tenant's app")
	_, err = r.push(t, "acme/other:v1", build)
	assertRefused(t, err, "push to another app of its tenant")

	// No delete, not even of its own app's images.
	err = remote.Delete(r.ref(t, "acme/shop@"+seeded["acme/shop:v1"].String()), remote.WithAuth(build))
	assertRefused(t, err, "delete")
	got, err = r.pull(t, "acme/shop:v1", r.platform(t))
	require.NoError(t, err)
	assert.Equal(t, seeded["acme/shop:v1"], got, "the manifest is still there")
}

// TestCrossRepositoryMount: a build cannot take another tenant's layer by
// mounting it into its own repository.
func TestCrossRepositoryMount(t *testing.T) {
	r := start(t)
	seeded := r.seed(t, "globex/web:v1")
	img, err := remote.Image(r.ref(t, "globex/web:v1"), remote.WithAuth(r.platform(t)))
	require.NoError(t, err)
	layers, err := img.Layers()
	require.NoError(t, err)
	layer, err := layers[0].Digest()
	require.NoError(t, err)
	require.NotEmpty(t, seeded)

	cred, err := r.auth.BuildCredential("acme", "shop", time.Hour)
	require.NoError(t, err)
	tok := r.token(t, cred, "repository:acme/shop:pull,push", "repository:globex/web:pull")
	assert.Equal(t, []string{"repository:acme/shop:pull,push"}, tok.access, "globex/web is not granted")

	req, err := http.NewRequest(http.MethodPost, "http://"+r.host+"/v2/acme/shop/blobs/uploads/?mount="+layer.String()+"&from=globex/web", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok.raw)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	platform, err := r.auth.PlatformCredential(time.Hour)
	require.NoError(t, err)
	ptok := r.token(t, platform, "repository:acme/shop:pull")
	req, err = http.NewRequest(http.MethodHead, "http://"+r.host+"/v2/acme/shop/blobs/"+layer.String(), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ptok.raw)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the layer was not mounted")
}

func TestPullCredential(t *testing.T) {
	r := start(t)
	seeded := r.seed(t, "acme/shop:v1", "acme/blog:v1", "globex/web:v1", "platform/run:bookworm")
	cred, err := r.auth.PullCredential("acme", time.Hour)
	require.NoError(t, err)
	pull := basic(cred)

	for _, own := range []string{"acme/shop:v1", "acme/blog:v1"} {
		got, err := r.pull(t, own, pull)
		require.NoError(t, err, own)
		assert.Equal(t, seeded[own], got)
	}
	for _, other := range []string{"globex/web:v1", "platform/run:bookworm"} {
		_, err = r.pull(t, other, pull)
		assertRefused(t, err, "pull of "+other)
	}
	_, err = r.push(t, "acme/shop:v2", pull)
	assertRefused(t, err, "push with a pull credential")
}

func TestPlatformCredentialDeletes(t *testing.T) {
	r := start(t)
	seeded := r.seed(t, "acme/shop:v1")
	ref := r.ref(t, "acme/shop@"+seeded["acme/shop:v1"].String())
	require.NoError(t, remote.Delete(ref, remote.WithAuth(r.platform(t))))
	_, err := remote.Head(ref, remote.WithAuth(r.platform(t)))
	var terr *transport.Error
	require.ErrorAs(t, err, &terr)
	assert.Equal(t, http.StatusNotFound, terr.StatusCode)
}

func TestRefusedCredentials(t *testing.T) {
	r := start(t)
	r.seed(t, "acme/shop:v1")
	good, err := r.auth.PlatformCredential(time.Hour)
	require.NoError(t, err)

	// Minted by the same key two hours ago.
	expiredAuth, err := registry.NewAuth(r.key)
	require.NoError(t, err)
	registry.SetClock(expiredAuth, func() time.Time { return time.Now().Add(-2 * time.Hour) })
	expired, err := expiredAuth.PlatformCredential(time.Hour)
	require.NoError(t, err)

	other, err := registrytest.NewAuth(t).PlatformCredential(time.Hour)
	require.NoError(t, err)

	// A build credential whose payload is swapped for a platform one.
	build, err := r.auth.BuildCredential("acme", "shop", time.Hour)
	require.NoError(t, err)
	parts := strings.Split(build, ".")
	forged, err := json.Marshal(map[string]any{"sub": "platformd", "exp": time.Now().Add(time.Hour).Unix(), "scopes": registry.PlatformScopes})
	require.NoError(t, err)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]

	for what, cred := range map[string]string{
		"expired":            expired,
		"tampered":           tampered,
		"another key's":      other,
		"not a credential":   "hunter2",
		"truncated":          good[:len(good)-3],
		"signature stripped": strings.Join(strings.Split(good, ".")[:2], ".") + ".",
	} {
		_, err := r.pull(t, "acme/shop:v1", basic(cred))
		assertRefused(t, err, what)
		resp := r.tokenRequest(t, cred, "repository:acme/shop:pull")
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, what)
	}
	_, err = r.pull(t, "acme/shop:v1", basic(good))
	assert.NoError(t, err)
}

// token is a token the endpoint signed: raw, and its access claim.
type token struct {
	raw    string
	access []string
}

func (r *testRegistry) tokenRequest(t *testing.T, cred string, scopes ...string) *http.Response {
	t.Helper()
	q := url.Values{"service": {registry.Service}, "scope": scopes}
	req, err := http.NewRequest(http.MethodGet, "http://"+r.host+registry.TokenPath+"?"+q.Encode(), nil)
	require.NoError(t, err)
	req.SetBasicAuth(registry.Username, cred)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func (r *testRegistry) token(t *testing.T, cred string, scopes ...string) token {
	t.Helper()
	resp := r.tokenRequest(t, cred, scopes...)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return token{raw: body.Token, access: accessOf(t, body.Token)}
}

// accessOf reads the access claim of a JWT (unverified: the registry
// verifies it).
func accessOf(t *testing.T, jwt string) []string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims struct {
		Access []struct {
			Type, Name string
			Actions    []string
		}
		Exp int64
		Iat int64
	}
	require.NoError(t, json.Unmarshal(payload, &claims))
	assert.Equal(t, int64(registry.DefaultTokenTTL/time.Second), claims.Exp-claims.Iat, "tokens live minutes")
	var out []string
	for _, a := range claims.Access {
		out = append(out, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	return out
}

func TestTokenGrantsTheIntersection(t *testing.T) {
	r := start(t)
	build, err := r.auth.BuildCredential("acme", "shop", time.Hour)
	require.NoError(t, err)
	platform, err := r.auth.PlatformCredential(time.Hour)
	require.NoError(t, err)
	pull, err := r.auth.PullCredential("acme", time.Hour)
	require.NoError(t, err)

	tests := []struct {
		name   string
		cred   string
		scopes []string
		want   []string
	}{
		{"build, own app", build, []string{"repository:acme/shop:pull,push,delete"}, []string{"repository:acme/shop:pull,push"}},
		{"build, base images", build, []string{"repository:platform/stack-go:pull,push", "repository:library/debian:push,pull"},
			[]string{"repository:platform/stack-go:pull", "repository:library/debian:pull"}},
		{"build, other tenant", build, []string{"repository:globex/web:pull"}, nil},
		{"build, catalog", build, []string{"registry:catalog:*"}, nil},
		{"build, wildcard action", build, []string{"repository:acme/shop:*"}, nil},
		{"build, a name that is no repository", build, []string{"repository:acme/shop/../globex:pull"}, nil},
		{"pull, own tenant", pull, []string{"repository:acme/blog:pull,push"}, []string{"repository:acme/blog:pull"}},
		{"pull, a tenant whose name starts alike", pull, []string{"repository:acmecorp/web:pull"}, nil},
		{"platform", platform, []string{"repository:library/debian:pull,push,delete", "registry:catalog:*"},
			[]string{"repository:library/debian:pull,push,delete", "registry:catalog:*"}},
		{"no scope (a login)", build, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, r.token(t, tt.cred, tt.scopes...).access)
		})
	}
}

// TestTokenByOAuthPost: containerd (the kubelet's pulls) asks for a token
// with an OAuth2 password grant first.
func TestTokenByOAuthPost(t *testing.T) {
	r := start(t)
	pull, err := r.auth.PullCredential("acme", time.Hour)
	require.NoError(t, err)
	post := func(form url.Values) (*http.Response, map[string]any) {
		resp, err := http.PostForm("http://"+r.host+registry.TokenPath, form)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp, body
	}
	resp, body := post(url.Values{"grant_type": {"password"}, "username": {registry.Username}, "password": {pull},
		"service": {registry.Service}, "scope": {"repository:acme/shop:pull repository:globex/web:pull"}, "client_id": {"containerd-client"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, []string{"repository:acme/shop:pull"}, accessOf(t, body["access_token"].(string)))
	assert.EqualValues(t, registry.DefaultTokenTTL/time.Second, body["expires_in"])

	resp, body = post(url.Values{"grant_type": {"password"}, "username": {registry.Username}, "password": {"nope"}, "service": {registry.Service}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "invalid_grant", body["error"])
	resp, body = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pull}, "service": {registry.Service}})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "unsupported_grant_type", body["error"])
}

func TestNoTenantCredentialForBaseNamespaces(t *testing.T) {
	auth := registrytest.NewAuth(t)
	for _, tenant := range []string{"platform", "library"} {
		_, err := auth.BuildCredential(tenant, "stack-go", time.Hour)
		assert.ErrorContains(t, err, "base images", tenant)
		_, err = auth.PullCredential(tenant, time.Hour)
		assert.ErrorContains(t, err, "base images", tenant)
	}
	_, err := auth.BuildCredential("acme", "Shop", time.Hour)
	assert.Error(t, err)
	_, err = auth.Mint("x", time.Hour, "repository:acme")
	assert.Error(t, err)
}

func TestPing(t *testing.T) {
	r := start(t)
	// Serve records its address as it starts.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(c, r.Ping(ctx))
	}, 10*time.Second, 20*time.Millisecond)
}

func TestPingNotServing(t *testing.T) {
	r, err := registry.New(registry.Config{RootDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Auth: registrytest.NewAuth(t), Realm: "http://127.0.0.1:5000/token"})
	require.NoError(t, err)
	t.Cleanup(r.Close)
	assert.Error(t, r.Ping(context.Background()))
}

func TestNewValidates(t *testing.T) {
	_, err := registry.New(registry.Config{Realm: "127.0.0.1:5000/token"})
	require.Error(t, err)
	for _, want := range []string{"root directory", "logger", "auth", "realm"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = registry.NewAuth([]byte("short"))
	assert.Error(t, err)
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
		assert.Equal(t, want, registry.IsLoopback(addr), addr)
	}
}

func TestDeleteRepository(t *testing.T) {
	r := start(t)
	seeded := r.seed(t, "acme/shop:v1", "acme/shopping:v1")
	platform := r.platform(t)

	require.NoError(t, r.DeleteRepository("acme/shop"))
	for _, ref := range []string{"acme/shop:v1", "acme/shop@" + seeded["acme/shop:v1"].String()} {
		_, err := remote.Head(r.ref(t, ref), remote.WithAuth(platform))
		var terr *transport.Error
		require.ErrorAs(t, err, &terr, ref)
		assert.Equal(t, http.StatusNotFound, terr.StatusCode, ref)
	}
	got, err := r.pull(t, "acme/shopping:v1", platform)
	require.NoError(t, err, "another repository is left alone")
	assert.Equal(t, seeded["acme/shopping:v1"], got)

	assert.NoError(t, r.DeleteRepository("acme/shop"), "deleting again")
	assert.NoError(t, r.DeleteRepository("acme/never"), "a repository that never was")

	for _, bad := range []string{"", "..", "acme/..", "../acme", "acme/../rival", "/acme", "acme/", "Acme/shop", "acme//shop", "acme/shop/", "./acme", "acme\\shop"} {
		assert.Error(t, r.DeleteRepository(bad), "%q", bad)
	}
	_, err = r.pull(t, "acme/shopping:v1", platform)
	assert.NoError(t, err)
}

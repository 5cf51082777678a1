package registry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/registry"
	"github.com/platform-paas/platform/server/registry/registrytest"
)

// TestUploadContinuesOnAnotherReplica starts a blob upload on one replica
// and finishes it on another that shares the storage and the secret key,
// as a client behind a Service may: the upload's state, which the client
// carries, is accepted by both.
func TestUploadContinuesOnAnotherReplica(t *testing.T) {
	auth := registrytest.NewAuth(t)
	root := filepath.Join(t.TempDir(), "registry")
	_, a := registrytest.StartAt(t, auth, root)
	_, b := registrytest.StartAt(t, auth, root)

	cred, err := auth.PlatformCredential(time.Hour)
	require.NoError(t, err)
	bearer := func(host string) string {
		q := url.Values{"service": {registry.Service}, "scope": {"repository:acme/web:push,pull"}}
		req, err := http.NewRequest(http.MethodGet, "http://"+host+registry.TokenPath+"?"+q.Encode(), nil)
		require.NoError(t, err)
		req.SetBasicAuth(registry.Username, cred)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var body struct{ Token string }
		require.NoError(t, jsonDecode(resp, &body))
		return "Bearer " + body.Token
	}
	do := func(method, u string, body []byte, host string) *http.Response {
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", bearer(host))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}

	start := do(http.MethodPost, "http://"+a+"/v2/acme/web/blobs/uploads/", nil, a)
	require.Equal(t, http.StatusAccepted, start.StatusCode)
	loc, err := url.Parse(start.Header.Get("Location"))
	require.NoError(t, err)

	blob := []byte("a layer finished on the other replica")
	q := loc.Query()
	q.Set("digest", fmt.Sprintf("sha256:%x", sha256.Sum256(blob)))
	loc.RawQuery = q.Encode()
	loc.Scheme, loc.Host = "http", b
	end := do(http.MethodPut, loc.String(), blob, b)
	assert.Equal(t, http.StatusCreated, end.StatusCode, "the second replica finishes the upload the first began")

	head := do(http.MethodHead, "http://"+a+"/v2/acme/web/blobs/"+q.Get("digest"), nil, a)
	assert.Equal(t, http.StatusOK, head.StatusCode, "and the first serves the blob")
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

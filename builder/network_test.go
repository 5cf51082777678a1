package builder

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
)

func TestNetworkEnv(t *testing.T) {
	n := Network{
		HTTPProxy: "http://proxy.corp:3128", HTTPSProxy: "http://user:s3cret-pw@proxy.corp:3128", NoProxy: "localhost,.corp,10.0.0.0/8",
		GoProxy: "https://goproxy.corp,direct", GoNoSumDB: "git.corp/*", GoPrivate: "git.corp/*",
		NPMRegistry: "https://npm.corp/", PipIndexURL: "http://pypi.corp:8080/simple/",
	}
	require.NoError(t, n.Validate())
	env := n.env()
	assert.Equal(t, "http://proxy.corp:3128", env["HTTP_PROXY"])
	assert.Equal(t, env["HTTP_PROXY"], env["http_proxy"])
	assert.Equal(t, env["HTTPS_PROXY"], env["https_proxy"])
	assert.Equal(t, "localhost,.corp,10.0.0.0/8", env["no_proxy"])
	assert.Equal(t, "https://goproxy.corp,direct", env["GOPROXY"])
	assert.Equal(t, "https://npm.corp/", env["NPM_CONFIG_REGISTRY"])
	assert.Equal(t, "pypi.corp", env["PIP_TRUSTED_HOST"], "pip takes an http:// index only from a trusted host")
	assert.Equal(t, map[string]string{
		"HTTP_PROXY": "http://proxy.corp:3128", "http_proxy": "http://proxy.corp:3128",
		"HTTPS_PROXY": n.HTTPSProxy, "https_proxy": n.HTTPSProxy,
		"NO_PROXY": n.NoProxy, "no_proxy": n.NoProxy,
	}, n.proxyArgs())
	assert.Equal(t, []string{"s3cret-pw"}, n.secretValues(), "proxy passwords are masked")

	s := n.secrets()
	assert.Contains(t, string(s[networkSecretID]), "GOPROXY=https://goproxy.corp,direct\n")
	assert.Equal(t, "git.corp/*", string(s["GOPRIVATE"]), "each variable is a secret of its own for Dockerfile builds")
	assert.NotContains(t, s, caSecretID)
	assert.Empty(t, Network{}.secrets(), "no settings, no secrets")

	// The app's config var of the same name wins.
	b := &Builder{network: n}
	all := b.secrets(map[string]string{"GOPROXY": "off"})
	assert.Equal(t, "off", string(all["GOPROXY"]))
	assert.Contains(t, string(all[envSecretID]), "GOPROXY=off")
}

func TestNetworkValidate(t *testing.T) {
	ca, _ := newTestCA(t, "127.0.0.1")
	require.NoError(t, Network{CACerts: ca}.Validate())
	for name, n := range map[string]Network{
		"not PEM":           {CACerts: []byte("not a certificate")},
		"a key, not a CA":   {CACerts: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
		"proxy scheme":      {HTTPSProxy: "socks5://proxy:1080"},
		"proxy no host":     {HTTPProxy: "http://"},
		"npm registry":      {NPMRegistry: "npm.corp"},
		"pip index":         {PipIndexURL: "ftp://pypi.corp/simple"},
		"shell in goproxy":  {GoProxy: "https://x.corp;rm -rf /"},
		"space in no-proxy": {NoProxy: "a b"},
	} {
		assert.Error(t, n.Validate(), name)
	}
}

func TestNetworkHint(t *testing.T) {
	for _, tt := range []struct {
		output []string
		want   string // in the hint; "" for none
	}{
		{[]string{`go: github.com/go-chi/chi/v5@v5.5.0: Get "https://proxy.golang.org/...": tls: failed to verify certificate: x509: certificate signed by unknown authority`}, "--build-ca-file"},
		{[]string{"npm error code SELF_SIGNED_CERT_IN_CHAIN", "npm error errno SELF_SIGNED_CERT_IN_CHAIN"}, "--build-ca-file"},
		{[]string{"Could not fetch URL https://pypi.org/simple/x/: ... (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')))"}, "--build-ca-file"},
		{[]string{`go: example.com/x@v1.0.0: Get "https://proxy.golang.org/x": proxyconnect tcp: dial tcp 127.0.0.1:1: connect: connection refused`}, "--build-https-proxy"},
		{[]string{"npm error code ENOTFOUND", "npm error getaddrinfo ENOTFOUND registry.npmjs.org"}, "did not resolve"},
		{[]string{"dial tcp: lookup proxy.golang.org on 10.0.0.1:53: no such host"}, "did not resolve"},
		{[]string{"npm error code ECONNREFUSED"}, "connection failed"},
		{[]string{"./main.go:8:14: undefined: undefinedGreeting"}, ""},
	} {
		got := networkHint(tt.output...)
		if tt.want == "" {
			assert.Empty(t, got, tt.output)
			continue
		}
		assert.Contains(t, got, tt.want, tt.output)
		assert.True(t, strings.HasPrefix(got, "The build could not use the network: "), got)
	}
}

// TestBuildNetworkSettings builds on the local stack's BuildKit through the
// operator's network settings: a Go module from an HTTPS module proxy whose
// certificate only the given CA vouches for, a Python package from a
// package index, and a proxy that is down.
func TestBuildNetworkSettings(t *testing.T) {
	_, env := newStackBuilder(t)
	build := func(t *testing.T, n Network, sample string, config map[string]string) (Result, string, error) {
		t.Helper()
		b, err := New(Config{Addr: env.BuildKitAddr, Registry: env.Registry, InsecureRegistry: true,
			Images: LocalStackImages(env.Registry), Network: n})
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var out syncbuf.Buffer
		// A fresh app each time: its module and pip caches start empty, so
		// the build must download.
		res, err := b.Build(ctx, Request{Tenant: testTenant, App: "net-" + randomHex(t, 4), SourceDir: sample, Config: config, Out: &out,
			RegistryAuth: stackCredentials(env)})
		return res, out.String(), err
	}

	t.Run("private CA and module proxy", func(t *testing.T) {
		t.Parallel()
		caPEM, proxy := serveGoModuleProxy(t)
		src := goModuleSample(t)
		n := Network{GoProxy: proxy.URL, GoNoSumDB: "example.com"}

		_, out, err := build(t, n, src, nil)
		require.Error(t, err, out)
		var be *BuildError
		require.ErrorAs(t, err, &be)
		assert.Contains(t, strings.Join(be.Output, "\n"), "x509: certificate signed by unknown authority")
		assert.Contains(t, out, "-----> The build could not use the network: a download failed TLS verification")
		assert.Contains(t, out, "--build-ca-file")

		n.CACerts = caPEM
		res, out, err := build(t, n, src, nil)
		require.NoError(t, err, out)
		assert.Positive(t, proxy.downloads.Load(), "the module came from the test's proxy")
		img := fetchImage(t, env, strings.TrimPrefix(strings.Split(res.ImageRef, "@")[0], env.Registry+"/"), res.Digest)
		for i, layer := range img.Layers {
			assert.False(t, bytes.Contains(layer, caPEM[30:90]), "layer %d holds the CA", i)
		}
		assert.NotContains(t, string(img.ConfigJSON), proxy.URL, "the mirror is not in the image config or history")
	})

	t.Run("pip index", func(t *testing.T) {
		t.Parallel()
		idx := localstack.ServePythonIndex(t, "1.0.0", map[string]string{
			"greeting-sample": "__version__ = '1.0.0'\n\ndef greet():\n    return 'hello from a wheel'\n",
		})
		res, out, err := build(t, Network{PipIndexURL: idx.URL}, filepath.Join("testdata", "apps", "python-index"), nil)
		require.NoError(t, err, out)
		assert.Positive(t, idx.Downloads.Load())
		b, _ := newStackBuilder(t)
		served := probeImage(t, b, res.ImageRef, ProcessCommand(res.Processes["web"]))
		assert.Contains(t, served, "hello from a wheel (greeting-sample 1.0.0)")
	})

	t.Run("proxy down", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close()) // nothing listens there now
		_, out, err := build(t, Network{HTTPProxy: "http://" + addr, HTTPSProxy: "http://" + addr},
			filepath.Join("testdata", "apps", "go-modules"), nil)
		require.Error(t, err, out)
		assert.Contains(t, out, "proxyconnect tcp")
		assert.Contains(t, out, "-----> The build could not use the network: the build could not go through its HTTP proxy")
	})
}

// goModuleSample writes a Go app that needs example.com/greet v1.0.0,
// which only serveGoModuleProxy serves.
func goModuleSample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, zipHash, modHash := greetModule(t)
	files := map[string]string{
		"go.mod": "module example.com/hello\n\ngo 1.21\n\nrequire example.com/greet v1.0.0\n",
		"go.sum": fmt.Sprintf("example.com/greet v1.0.0 %s\nexample.com/greet v1.0.0/go.mod %s\n", zipHash, modHash),
		"main.go": `package main

import (
	"fmt"
	"net/http"
	"os"

	"example.com/greet"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, greet.Hello()) })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

const greetGoMod = "module example.com/greet\n\ngo 1.21\n"

// greetModule returns the module zip of example.com/greet v1.0.0 and the
// go.sum hashes of it and of its go.mod.
func greetModule(t *testing.T) (zipData []byte, zipHash, modHash string) {
	t.Helper()
	files := map[string]string{
		"example.com/greet@v1.0.0/go.mod":   greetGoMod,
		"example.com/greet@v1.0.0/greet.go": "// Package greet greets.\npackage greet\n\n// Hello greets.\nfunc Hello() string { return \"hello from a private module\" }\n",
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes(), goSumHash(files), goSumHash(map[string]string{"go.mod": greetGoMod})
}

// goSumHash is Go's "h1:" hash of a set of files: SHA-256 of the sorted
// lines "<sha256 hex>  <name>".
func goSumHash(files map[string]string) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var summary strings.Builder
	for _, n := range names {
		fmt.Fprintf(&summary, "%x  %s\n", sha256.Sum256([]byte(files[n])), n)
	}
	sum := sha256.Sum256([]byte(summary.String()))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

type moduleProxy struct {
	URL       string
	downloads *atomic.Int64
}

// serveGoModuleProxy serves example.com/greet over HTTPS on loopback with a
// certificate of a CA made for the test, and returns that CA's PEM.
func serveGoModuleProxy(t *testing.T) ([]byte, moduleProxy) {
	t.Helper()
	ln := localstack.ListenOutside(t)
	ip, _, _ := net.SplitHostPort(ln.Addr().String())
	caPEM, cert := newTestCA(t, ip)
	zipData, _, _ := greetModule(t)
	var downloads atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /example.com/greet/@v/list", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "v1.0.0") })
	mux.HandleFunc("GET /example.com/greet/@v/v1.0.0.info", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Version":"v1.0.0","Time":"2026-01-01T00:00:00Z"}`)
	})
	mux.HandleFunc("GET /example.com/greet/@v/v1.0.0.mod", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, greetGoMod) })
	mux.HandleFunc("GET /example.com/greet/@v/v1.0.0.zip", func(w http.ResponseWriter, r *http.Request) {
		downloads.Add(1)
		_, _ = w.Write(zipData)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Listener = ln // where builds reach it
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return caPEM, moduleProxy{URL: srv.URL, downloads: &downloads}
}

// newTestCA makes a CA and a certificate it signs for ip.
func newTestCA(t *testing.T, ip string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "platform test proxy CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

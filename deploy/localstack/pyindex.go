package localstack

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// PythonIndex is a Python package index (PEP 503, the "simple" API) that a
// test serves where builds reach it (ListenOutside), holding pure-Python wheels it builds itself, so
// that builds install a dependency from an index without reaching PyPI.
type PythonIndex struct {
	// URL is the index's simple API, http://198.18.x.y:PORT/simple/.
	URL string
	// Host is the index's host name, for pip's trusted-host setting.
	Host string
	// Downloads counts the wheels served.
	Downloads *atomic.Int64
}

// ServePythonIndex builds a wheel of each package (name → the source of
// its __init__.py, which sets __version__ to version) and serves them until
// the test ends.
func ServePythonIndex(t testing.TB, version string, packages map[string]string) PythonIndex {
	t.Helper()
	wheels := map[string][]byte{} // file name → wheel
	links := map[string]string{}  // normalized project name → its page
	for name, source := range packages {
		file, data, err := buildWheel(name, version, source)
		require.NoError(t, err)
		wheels[file] = data
		sum := sha256.Sum256(data)
		project := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		links[project] = fmt.Sprintf("<!DOCTYPE html>\n<html><body>\n<a href=\"../../files/%s#sha256=%s\">%s</a>\n</body></html>\n",
			html.EscapeString(file), hex.EncodeToString(sum[:]), html.EscapeString(file))
	}
	var downloads atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /simple/{project}/", func(w http.ResponseWriter, r *http.Request) {
		page, ok := links[r.PathValue("project")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	})
	mux.HandleFunc("GET /files/{file}", func(w http.ResponseWriter, r *http.Request) {
		data, ok := wheels[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		downloads.Add(1)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(data)
	})
	// Where builds reach it: outside this machine, as they see it.
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ListenOutside(t)
	srv.Start()
	t.Cleanup(srv.Close)
	host, _, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return PythonIndex{URL: srv.URL + "/simple/", Host: host, Downloads: &downloads}
}

// buildWheel makes a pure-Python wheel of one package holding __init__.py.
func buildWheel(name, version, source string) (file string, data []byte, err error) {
	dist := strings.ReplaceAll(name, "-", "_")
	info := fmt.Sprintf("%s-%s.dist-info", dist, version)
	files := []struct{ path, body string }{
		{dist + "/__init__.py", source},
		{info + "/METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: a package a test serves\n", name, version)},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: platform-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.path)
		if err != nil {
			return "", nil, err
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			return "", nil, err
		}
		sum := sha256.Sum256([]byte(f.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.path, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	w, err := zw.Create(info + "/RECORD")
	if err != nil {
		return "", nil, err
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		return "", nil, err
	}
	if err := zw.Close(); err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("%s-%s-py3-none-any.whl", dist, version), buf.Bytes(), nil
}

package release_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deploy/localstack"
	"github.com/platform-paas/platform/release/releasetest"
)

// TestPushRealApps pushes samples that look like users' apps: each
// downloads third-party dependencies while it builds (through the
// machine's TLS-inspecting proxy where there is one, trusted through the
// build CA setting that make up passes), and most get config set before
// their first push, as a team starting on Heroku does.
func TestPushRealApps(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	index := localstack.ServePythonIndex(t, "1.0.0", map[string]string{
		"greeting-sample": "__version__ = '1.0.0'\n\ndef greet():\n    return 'hello from a wheel'\n",
	})
	for _, tc := range []struct {
		sample string
		config map[string]string // set before the first push
		want   []string          // in the push output
		paths  map[string]string // path → what its answer contains
		after  func(t *testing.T)
	}{
		{
			// Third-party modules, templates and static files read from the
			// source tree at run time, config set before the first push.
			sample: "go-modules",
			config: map[string]string{"GREETING": "set before the first push", "DATABASE_URL": "postgres://db.internal/guestbook"},
			want:   []string{"go app detected", "Released v2"},
			paths: map[string]string{
				"/":                 "greeting: set before the first push",
				"/static/style.css": "guestbook stylesheet",
			},
		},
		{
			sample: "node-express",
			want:   []string{"node app detected", "npm ci", "Released v1"},
			paths:  map[string]string{"/": "hello from express 4.", "/static/hello.txt": "express static file"},
		},
		{
			sample: "node-typescript",
			config: map[string]string{"NODE_OPTIONS": "--max-old-space-size=256"},
			want:   []string{"node app detected", "npm run build", "Released v2"},
			paths:  map[string]string{"/": `"message":"hello from typescript"`},
		},
		{
			// A dependency from a package index the test serves, named by the
			// app's config (an app's own PIP_INDEX_URL wins over the
			// platform's --build-pip-index-url).
			sample: "python-index",
			config: map[string]string{"PIP_INDEX_URL": index.URL, "PIP_TRUSTED_HOST": index.Host},
			want:   []string{"python app detected", "pip install -r requirements.txt", "Released v2"},
			paths:  map[string]string{"/": "hello from a wheel (greeting-sample 1.0.0)"},
			after: func(t *testing.T) {
				assert.Positive(t, index.Downloads.Load(), "the dependency came from the test's index")
			},
		},
		{
			sample: "ruby",
			config: map[string]string{"GREETING": "hi from config"},
			want:   []string{"ruby app detected", "bundle install", "Released v2"},
			paths:  map[string]string{"/": "hello from ruby 3.1"},
		},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			t.Parallel()
			app := s.CreateApp(t, tc.sample)
			if tc.config != nil {
				rel := s.SetConfig(t, app.Name, tc.config)
				assert.Equal(t, 1, rel.Version)
				assert.Empty(t, rel.Image, "nothing is built yet")
			}
			dir := s.Repo(t, tc.sample, app.Name)
			out, err := s.Push(dir)
			require.NoError(t, err, "push output:\n%s", out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			for path, want := range tc.paths {
				status, body := s.Get(t, app.Name, path)
				assert.Equal(t, http.StatusOK, status, "%s: %s", path, body)
				assert.Contains(t, body, want, path)
			}
			if tc.after != nil {
				tc.after(t)
			}
		})
	}
}

// TestPushNetworkHint pushes an app whose build goes through a proxy that
// is down: the push is rejected with a line saying that the network, not
// the app, failed, and which settings to look at.
func TestPushNetworkHint(t *testing.T) {
	s := releasetest.NewStackTenant(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	app := s.CreateApp(t, "badproxy")
	s.SetConfig(t, app.Name, map[string]string{"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy})
	dir := s.Repo(t, "go-modules", app.Name)
	out, err := s.Push(dir)
	require.Error(t, err, "push output:\n%s", out)
	assert.Contains(t, out, "proxyconnect tcp")
	assert.Contains(t, out, "remote: -----> The build could not use the network: the build could not go through its HTTP proxy")
	assert.Contains(t, out, "--build-https-proxy")
	assert.Contains(t, out, "[remote rejected]")
}

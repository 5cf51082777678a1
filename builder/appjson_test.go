package builder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAppJSON(t *testing.T) {
	tests := []struct {
		name, data, path, err string
	}{
		{"no healthchecks", `{"name": "shop", "scripts": {"postdeploy": "x"}}`, "", ""},
		{"startup check", `{"healthchecks": {"web": [{"type": "startup", "name": "up", "path": "/healthz", "attempts": 3}]}}`, "/healthz", ""},
		{"no type", `{"healthchecks": {"web": [{"path": "/ready?full=1"}]}}`, "/ready?full=1", ""},
		{"liveness is skipped", `{"healthchecks": {"web": [{"type": "liveness", "path": "/live"}, {"type": "readiness", "path": "/ready"}]}}`, "/ready", ""},
		{"a check without a path is skipped", `{"healthchecks": {"web": [{"type": "startup", "command": ["true"]}]}}`, "", ""},
		{"other process types are not web", `{"healthchecks": {"worker": [{"path": "/x"}]}}`, "", ""},
		{"relative path", `{"healthchecks": {"web": [{"path": "healthz"}]}}`, "", `app.json: healthchecks.web[0].path: "healthz" must start with /`},
		{"space", `{"healthchecks": {"web": [{"path": "/a b"}]}}`, "", "printable ASCII without spaces"},
		{"wrong type", `{"healthchecks": {"web": {"path": "/x"}}}`, "", "app.json: healthchecks has the wrong type"},
		{"not JSON", `{"healthchecks": `, "", "app.json is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := parseAppJSON([]byte(tt.data))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.path, path)
		})
	}
}

func TestDetectReadsHealthPath(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"index.html": "<p>hi</p>",
		"app.json":   `{"healthchecks": {"web": [{"type": "startup", "path": "/index.html"}]}}`,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	plan, err := Detect(dir)
	require.NoError(t, err)
	assert.Equal(t, "/index.html", plan.HealthPath)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.json"), []byte(`{"healthchecks": {"web": [{"path": "x"}]}}`), 0o644))
	_, err = Detect(dir)
	require.ErrorContains(t, err, "must start with /")
}

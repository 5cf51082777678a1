package deployer

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShellCommand(t *testing.T) {
	for cmd, want := range map[string]string{
		"bin/web":                          "exec bin/web",
		"  gunicorn -b 0.0.0.0:$PORT app ": "exec gunicorn -b 0.0.0.0:$PORT app",
		`python -c 'print(1)' > /dev/null`: `exec python -c 'print(1)' > /dev/null`,
		"exec bin/web":                     "exec bin/web",
		"sleep 20 && exec hello":           "sleep 20 && exec hello",
		"migrate; serve":                   "migrate; serve",
		"a | b":                            "a | b",
		"echo $(date)":                     "echo $(date)",
		"FOO=1 bin/web":                    "FOO=1 bin/web",
		"cd app && web":                    "cd app && web",
		"if true; then web; fi":            "if true; then web; fi",
		"web &":                            "web &",
		"one\ntwo":                         "one\ntwo",
	} {
		assert.Equal(t, want, shellCommand(cmd), "%q", cmd)
	}
}

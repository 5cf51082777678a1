package builder

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcfile(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		processes map[string]string
		release   string
		errs      []string // substrings the error must contain, in order
	}{
		{
			name:      "web and worker",
			in:        "web: bin/server -port $PORT\nworker: bin/worker\n",
			processes: map[string]string{"web": "bin/server -port $PORT", "worker": "bin/worker"},
		},
		{
			name:      "comments, blank lines, CRLF and no space after the colon",
			in:        "# processes\r\n\r\nweb:bin/server\r\n   \n  # indented comment\nclock:  bin/clock --every 1m  \n",
			processes: map[string]string{"web": "bin/server", "clock": "bin/clock --every 1m"},
		},
		{
			name:      "command containing colons",
			in:        "web: gunicorn -b 0.0.0.0:$PORT app:app\n",
			processes: map[string]string{"web": "gunicorn -b 0.0.0.0:$PORT app:app"},
		},
		{
			name:      "release is not a process type",
			in:        "web: app\nrelease: app migrate\n",
			processes: map[string]string{"web": "app"},
			release:   "app migrate",
		},
		{
			name:      "empty",
			in:        "",
			processes: map[string]string{},
		},
		{
			name:      "sixteen characters",
			in:        "abcdefghij-12345: run\n",
			processes: map[string]string{"abcdefghij-12345": "run"},
		},
		{
			name: "no colon",
			in:   "web: ok\nthis is not a process\n",
			errs: []string{`Procfile line 2: want "<type>: <command>"`},
		},
		{
			name: "upper case and underscore",
			in:   "Web: a\nmy_worker: b\n",
			errs: []string{`Procfile line 1: process type "Web" must be lower-case`, `Procfile line 2: process type "my_worker"`},
		},
		{
			name: "too long",
			in:   "\n\nabcdefghij-123456: run\n",
			errs: []string{`Procfile line 3: process type "abcdefghij-123456" is longer than 16 characters`},
		},
		{
			name: "leading and trailing dash",
			in:   "-web: a\nweb-: b\n",
			errs: []string{"Procfile line 1:", "Procfile line 2:"},
		},
		{
			name: "empty command and empty type",
			in:   "web:\n: run\n",
			errs: []string{`Procfile line 1: process type "web" has no command`, "Procfile line 2: process type is empty"},
		},
		{
			name: "duplicate",
			in:   "web: a\n# again\nweb: b\n",
			errs: []string{`Procfile line 3: process type "web" is already defined on line 1`},
		},
		{
			name: "duplicate release",
			in:   "release: a\nrelease: b\n",
			errs: []string{`Procfile line 2: process type "release" is already defined on line 1`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProcfile(strings.NewReader(tt.in))
			if len(tt.errs) > 0 {
				require.Error(t, err)
				msg := err.Error()
				for _, want := range tt.errs {
					i := strings.Index(msg, want)
					require.GreaterOrEqual(t, i, 0, "error %q should contain %q", msg, want)
					msg = msg[i+len(want):]
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.processes, p.Processes)
			assert.Equal(t, tt.release, p.Release)
		})
	}
}

func TestParseProcfileTooLarge(t *testing.T) {
	_, err := ParseProcfile(strings.NewReader(strings.Repeat("# padding\n", maxProcfileSize/10+1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than")
}

func TestProcfileTypesOrder(t *testing.T) {
	p := Procfile{Processes: map[string]string{"worker": "w", "clock": "c", "web": "s"}}
	assert.Equal(t, []string{"web", "clock", "worker"}, p.Types())
}

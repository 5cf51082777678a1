package router

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/platform-paas/platform"

// TestImportsOnlyItsOwn keeps router a leaf (see ARCHITECTURE.md): it and
// the packages under it import nothing of the platform's outside router/,
// and each package under router/internal/ nothing outside its own
// directory, so that the HTTP/1.1 server and the routing table know
// nothing of the proxy or of each other. Test files are not counted.
func TestImportsOnlyItsOwn(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", module+"/router/...").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	var internal []string
	for line := range strings.Lines(string(out)) {
		deps := strings.Fields(line)
		pkg := deps[0]
		own := module + "/router"
		if rest, ok := strings.CutPrefix(pkg, module+"/router/internal/"); ok {
			dir, _, _ := strings.Cut(rest, "/")
			own = module + "/router/internal/" + dir
			internal = append(internal, pkg)
		}
		for _, d := range deps[1:] {
			if d != module && !strings.HasPrefix(d, module+"/") {
				continue
			}
			assert.True(t, d == own || strings.HasPrefix(d, own+"/"), "%s imports %s", pkg, d)
		}
	}
	// The check is only as good as the list: it must see the internal
	// packages.
	assert.Contains(t, internal, module+"/router/internal/h1")
	assert.Contains(t, internal, module+"/router/internal/h2")
	assert.Contains(t, internal, module+"/router/internal/route")
	assert.Contains(t, internal, module+"/router/internal/sock")
}

package builder

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/platform-paas/platform"

// nonStandardDeps lists the non-standard packages pkg links, test files
// excluded.
func nonStandardDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	require.NoError(t, err, "go list -deps %s: %s", pkg, out)
	return strings.Fields(string(out))
}

// TestImportsNothingOfOurs keeps builder a leaf (see ARCHITECTURE.md).
func TestImportsNothingOfOurs(t *testing.T) {
	for _, p := range nonStandardDeps(t, module+"/builder") {
		if strings.HasPrefix(p, module+"/") || p == module {
			assert.Equal(t, module+"/builder", p, "builder imports %s", p)
		}
	}
}

// TestStaticServerIsStandardLibraryOnly: the builder compiles the static
// file server from its one embedded file, without a go.mod.
func TestStaticServerIsStandardLibraryOnly(t *testing.T) {
	assert.Equal(t, []string{module + "/builder/staticserver"}, nonStandardDeps(t, module+"/builder/staticserver"))
}

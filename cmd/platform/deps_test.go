package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/platform-paas/platform"

// serverOnly are import path prefixes that only the server may link: the
// CLI talks to platformd over HTTP and must stay small and portable.
var serverOnly = []string{
	"github.com/jackc/pgx",
	"k8s.io/client-go",
	"github.com/moby/buildkit",
	module + "/server/store",
	module + "/deployer",
	module + "/builder",
}

// deps returns the import closure of pkg, test files excluded.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	require.NoError(t, err, "go list -deps %s: %s", pkg, out)
	return strings.Fields(string(out))
}

// found returns the server-only prefixes that some package in closure has.
func found(closure []string) map[string]bool {
	hit := map[string]bool{}
	for _, p := range closure {
		for _, prefix := range serverOnly {
			if p == prefix || strings.HasPrefix(p, prefix+"/") {
				hit[prefix] = true
			}
		}
	}
	return hit
}

func TestCLIDoesNotLinkServerDeps(t *testing.T) {
	hit := found(deps(t, module+"/cmd/platform"))
	for _, prefix := range serverOnly {
		assert.False(t, hit[prefix], "cmd/platform depends on %s", prefix)
	}
}

// TestServerLinksServerDeps keeps the test above honest: the same check on
// platformd must find every prefix, or the list has gone stale.
func TestServerLinksServerDeps(t *testing.T) {
	hit := found(deps(t, module+"/cmd/platformd"))
	for _, prefix := range serverOnly {
		assert.True(t, hit[prefix], "cmd/platformd should depend on %s", prefix)
	}
}

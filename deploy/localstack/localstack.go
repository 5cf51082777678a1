// Package localstack is the test kit for the local stack: the variables
// `make up` writes to .platform/env (Env, Require), the rule for a test
// whose dependency is missing (Need), and the fixtures tests of several
// packages share (Kubernetes objects, pod reports, a Python package
// index). It does not start the stack: `make up` does.
//
// Under `make test` nothing skips: deploy/local/test.sh sets
// PLATFORM_TEST_REQUIRE=all, and a test whose dependency is missing fails
// saying what to install or run. So does any test when CI is set. A bare
// `go test` of a package without the stack skips such a test with the same
// message.
package localstack

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// Env is the local stack as .platform/env describes it.
type Env struct {
	APIURL       string // PLATFORM_API_URL
	Token        string // PLATFORM_TOKEN, an admin token
	GitURL       string // PLATFORM_GIT_URL
	RouterURL    string // PLATFORM_ROUTER_URL
	AppsDomain   string // PLATFORM_APPS_DOMAIN
	Registry     string // PLATFORM_REGISTRY, host:port of the platform's registry
	BuildKitAddr string // PLATFORM_BUILDKIT_ADDR
	Kubeconfig   string // KUBECONFIG
	DatabaseURL  string // DATABASE_URL
	// RegistryCredential is platformd's own credential for Registry
	// (every action on every repository), read from the file named by
	// PLATFORM_REGISTRY_CREDENTIAL_FILE: the registry answers nothing
	// without one. Present it with RegistryUser as the user name.
	RegistryCredential string
	// BuildCAFile is the PEM bundle platformd's builds trust
	// (PLATFORM_BUILD_CA_FILE): the machine's own trust store, so that
	// builds behind a TLS-inspecting proxy work. Empty if there is none.
	BuildCAFile string
}

// Require returns the local stack's environment. When the stack's
// variables are not set, it stops the test as Need does.
func Require(t testing.TB) Env {
	t.Helper()
	e := Env{
		APIURL:       os.Getenv("PLATFORM_API_URL"),
		Token:        os.Getenv("PLATFORM_TOKEN"),
		GitURL:       os.Getenv("PLATFORM_GIT_URL"),
		RouterURL:    os.Getenv("PLATFORM_ROUTER_URL"),
		AppsDomain:   os.Getenv("PLATFORM_APPS_DOMAIN"),
		Registry:     os.Getenv("PLATFORM_REGISTRY"),
		BuildKitAddr: os.Getenv("PLATFORM_BUILDKIT_ADDR"),
		Kubeconfig:   os.Getenv("KUBECONFIG"),
		DatabaseURL:  os.Getenv("DATABASE_URL"),
		BuildCAFile:  os.Getenv("PLATFORM_BUILD_CA_FILE"),
	}
	missing := []string{}
	if f := os.Getenv("PLATFORM_REGISTRY_CREDENTIAL_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading the stack's registry credential: %v", err)
		}
		e.RegistryCredential = strings.TrimSpace(string(b))
	}
	for name, v := range map[string]string{
		"PLATFORM_API_URL": e.APIURL, "PLATFORM_TOKEN": e.Token,
		"PLATFORM_REGISTRY": e.Registry, "PLATFORM_BUILDKIT_ADDR": e.BuildKitAddr,
		"KUBECONFIG": e.Kubeconfig, "DATABASE_URL": e.DatabaseURL,
		"PLATFORM_REGISTRY_CREDENTIAL_FILE": e.RegistryCredential,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		Need(t, "the local stack", "run `make up` and `. .platform/env`, or `make test`; unset: "+strings.Join(missing, ", "))
	}
	return e
}

// RequireVar is the environment variable that makes every dependency of
// the tests required: with RequireVar=all (as `make test` sets it), Need
// fails a test instead of skipping it.
const RequireVar = "PLATFORM_TEST_REQUIRE"

// Required reports whether a missing dependency fails a test rather than
// skipping it: under `make test` (RequireVar=all) and in CI (CI set). Need
// is how a test uses it; Required is for the rare check that degrades
// rather than skips.
func Required() bool {
	return os.Getenv(RequireVar) != "" || os.Getenv("CI") != ""
}

// Need stops a test that cannot run because what it needs is missing:
// what names the dependency ("Chromium"), how says what to run or install
// to have it ("apt-get install chromium"). Under `make test` or in CI
// (see Required) the test fails; otherwise it is skipped. Need does not
// return.
func Need(t testing.TB, what, how string) {
	t.Helper()
	switch v := os.Getenv(RequireVar); v {
	case "", "all":
	default:
		t.Fatalf("%s=%q: the only value is all", RequireVar, v)
	}
	if Required() {
		t.Fatalf("needs %s: %s (under make test or CI, no test skips)", what, how)
	}
	t.Skipf("needs %s: %s", what, how)
}

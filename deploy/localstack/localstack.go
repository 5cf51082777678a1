// Package localstack describes the local stack's contract to tests: the
// variables `make up` writes to .platform/env. A test that needs the stack
// calls Require; outside CI, without the stack, the test is skipped with a
// message naming `make up`; in CI a missing stack fails the test.
package localstack

import (
	"os"
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
	// BuildCAFile is the PEM bundle platformd's builds trust
	// (PLATFORM_BUILD_CA_FILE): the machine's own trust store, so that
	// builds behind a TLS-inspecting proxy work. Empty if there is none.
	BuildCAFile string
}

// Require returns the local stack's environment, or skips (fails, in CI) the
// test when the stack's variables are not set.
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
	for name, v := range map[string]string{
		"PLATFORM_API_URL": e.APIURL, "PLATFORM_TOKEN": e.Token,
		"PLATFORM_REGISTRY": e.Registry, "PLATFORM_BUILDKIT_ADDR": e.BuildKitAddr,
		"KUBECONFIG": e.Kubeconfig, "DATABASE_URL": e.DatabaseURL,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msg := "needs the local stack (run `make up` and `. .platform/env`, or `make test`); unset: "
		if os.Getenv("CI") != "" {
			t.Fatalf(msg+"%v", missing)
		}
		t.Skipf(msg+"%v", missing)
	}
	return e
}

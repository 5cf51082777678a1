package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/platform-paas/platform/builder"
	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/registry"
)

// registryCredentials adapts the embedded registry's Auth to what the
// pipeline (a build's credential) and the deployer (a tenant's pull
// credential) ask of it.
type registryCredentials struct {
	auth     *registry.Auth
	registry string // host[:port] that images are named by
	buildTTL time.Duration
	pullTTL  time.Duration
}

// BuildCredential mints the credential of one build of tenant's app.
func (c registryCredentials) BuildCredential(tenant, app string) (builder.Credentials, error) {
	cred, err := c.auth.BuildCredential(tenant, app, c.buildTTL)
	if err != nil {
		return builder.Credentials{}, err
	}
	return builder.Credentials{Username: registry.Username, Password: cred}, nil
}

// PullCredential mints tenant's pull credential.
func (c registryCredentials) PullCredential(tenant string) (deployer.RegistryCredential, error) {
	cred, err := c.auth.PullCredential(tenant, c.pullTTL)
	if err != nil {
		return deployer.RegistryCredential{}, err
	}
	return deployer.RegistryCredential{Registry: c.registry, Username: registry.Username, Password: cred}, nil
}

var _ deployer.PullCredentials = registryCredentials{}

// registryCredentialCommand is the subcommand that prints a credential of
// the embedded registry.
const registryCredentialCommand = "registry-credential"

// scopeList is a repeatable --scope flag.
type scopeList []string

func (s *scopeList) String() string     { return strings.Join(*s, " ") }
func (s *scopeList) Set(v string) error { *s = append(*s, v); return nil }

// runRegistryCredential is `platformd registry-credential`: it mints a
// credential of the embedded registry with the secret key (--secret-key-file
// or PLATFORM_SECRET_KEY_FILE, or PLATFORM_SECRET_KEY) and prints it,
// platformd's own unless --scope narrows it. It is for the operator and the
// local stack's scripts (pushing the base images), who hold the key anyway.
func runRegistryCredential(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("platformd "+registryCredentialCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("secret-key-file", getenv("PLATFORM_SECRET_KEY_FILE"), "file holding platformd's secret key (PLATFORM_SECRET_KEY_FILE; or set PLATFORM_SECRET_KEY)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the credential is valid")
	subject := fs.String("subject", "platformd", "who the credential is, as the registry's log names it")
	var scopes scopeList
	fs.Var(&scopes, "scope", `what the credential may do, as "repository:<name or namespace/*>:<actions>" (repeatable); default: everything, as platformd's own`)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: platformd %s [flags]\n\nPrints a credential of the embedded registry, for the password of user %q.\n\n", registryCredentialCommand, registry.Username)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", registryCredentialCommand, fs.Args())
	}
	var key []byte
	var err error
	switch {
	case *keyFile != "":
		key, err = readKeyFile(*keyFile)
	case getenv("PLATFORM_SECRET_KEY") != "":
		key, err = decodeKey(getenv("PLATFORM_SECRET_KEY"))
	default:
		err = errors.New("the secret key is required: give --secret-key-file or set PLATFORM_SECRET_KEY_FILE or PLATFORM_SECRET_KEY")
	}
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	auth, err := registry.NewAuth(key)
	if err != nil {
		return err
	}
	if len(scopes) == 0 {
		scopes = registry.PlatformScopes
	}
	cred, err := auth.Mint(*subject, *ttl, scopes...)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, cred)
	return err
}

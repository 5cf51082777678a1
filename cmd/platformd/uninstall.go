package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/platform-paas/platform/deployer"
)

// uninstallCommand is the subcommand that removes what the platform's
// tenants run from the cluster, before the platform itself goes.
const uninstallCommand = "uninstall"

// runUninstall is `platformd uninstall`: it deletes the namespace of every
// tenant of the platform with --namespace-prefix (every app, its config
// Secrets and its pull secret go with it) and waits until they are gone.
// The Helm chart runs it as a pre-delete hook, so that `helm uninstall`
// leaves nothing of the platform in the cluster; the database and the
// registry's storage, which an operator may want back, are not touched.
func runUninstall(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("platformd "+uninstallCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("namespace-prefix", getenv("PLATFORM_NAMESPACE_PREFIX"), "the platform's namespace prefix (PLATFORM_NAMESPACE_PREFIX): its tenants' namespaces are <prefix><tenant>")
	kubeconfig := fs.String("kubeconfig", getenv("KUBECONFIG"), "kubeconfig file(s); empty means the in-cluster config")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the namespaces to go")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: platformd %s [flags]\n\nDeletes every tenant namespace of the platform (all its apps) and waits until they are gone.\n\n", uninstallCommand)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", uninstallCommand, fs.Args())
	}
	if *prefix == "" {
		return errors.New("the namespace prefix is required: give --namespace-prefix or set PLATFORM_NAMESPACE_PREFIX (the platform's, such as t-)")
	}
	dep, err := deployer.New(deployer.Config{Kubeconfig: *kubeconfig, NamespacePrefix: *prefix, UserAgent: "platformd-uninstall/" + version})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	deleted, err := dep.DeleteAllTenants(ctx)
	for _, ns := range deleted {
		fmt.Fprintf(stdout, "deleted namespace %s\n", ns)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d tenant namespaces of prefix %s deleted\n", len(deleted), *prefix)
	return nil
}

// Command platform is the platform's command-line client.
//
// It owns the user's side of the API: commands in Heroku's topic:command
// grammar, reading PLATFORM_API_URL and PLATFORM_TOKEN, and printing
// results for people and scripts. It talks to platformd over HTTP only, so
// it never links the server's dependencies (pgx, client-go, BuildKit); a
// test enforces that. For now it has only help and version.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "platform:", err)
		os.Exit(1)
	}
}

// run executes the command line args and returns its error, which main
// prints.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

const rootLong = `platform deploys and runs apps on a self-hosted, Heroku-style platform.

Commands follow Heroku's topic:command grammar: a topic names the kind of
thing, a command the action on it, and the topic alone lists or shows:

  platform apps                   list apps
  platform apps:create NAME       create an app
  platform config -a APP          show an app's config vars
  platform config:set K=V -a APP  set config vars (a new release)
  platform ps:scale web=2 -a APP  scale a process type
  platform releases -a APP        list releases
  platform logs -a APP            stream logs

Deploy with git: git push platform main.

The CLI reads PLATFORM_API_URL and PLATFORM_TOKEN from the environment.
Only "version" is implemented so far; the topics above are coming.`

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "platform",
		Short:         "Deploy and run apps on the platform",
		Long:          rootLong,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true, // main prints the error once
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("platform {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "platform %s\n", version)
			return err
		},
	}
}

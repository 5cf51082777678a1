// Command platform is the platform's command-line client.
//
// It owns the user's side of the API: commands in Heroku's topic:command
// grammar, the login that keeps an API URL and token in the user's config
// file, the app's git remote, and printing results for people (tables,
// progress) and for scripts (--json). It talks to platformd over HTTP only,
// through package api, so it never links the server's dependencies (pgx,
// client-go, BuildKit); a test enforces that.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/platform-paas/platform/server/api"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "platform:", err)
		os.Exit(1)
	}
}

// run executes the command line args and returns its error, one line
// meant for the user, which main prints.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	return c.execute(ctx, args)
}

// cli is one run of the command: where it reads and writes, and what it
// knows of its environment. Tests make their own.
type cli struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer // results: tables, JSON
	stderr io.Writer // progress, prompts and notes
	// dir is the working directory git runs in; empty means the process's.
	dir string
	// http makes the API requests; nil means the api package's default.
	http *http.Client
	// now is the clock that "~ 3m ago" counts from; nil means time.Now.
	now func() time.Time
	// tz is the time zone times are shown in; nil means time.Local.
	tz *time.Location
}

func (c *cli) execute(ctx context.Context, args []string) error {
	root := c.newRootCmd()
	root.SetArgs(args)
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	return oneLine(userError(root.ExecuteContext(ctx)))
}

// userError says what went wrong the way the user can act on it.
func userError(err error) error {
	var ae *api.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		if ae.Code == api.CodeDeactivated || strings.Contains(ae.Message, "platform login") {
			return errors.New(ae.Message)
		}
		return fmt.Errorf("%s: run platform login", ae.Message)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	}
	return err
}

// oneLine keeps an error to the one line main prints.
func oneLine(err error) error {
	if err == nil || !strings.ContainsAny(err.Error(), "\r\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " "))
}

const rootLong = `platform deploys and runs apps on a self-hosted, Heroku-style platform.

Commands follow Heroku's topic:command grammar: a topic names the kind of
thing, a command the action on it, and the topic alone lists or shows:

  platform login                  save the API URL and your token
  platform keys:add               upload your SSH public key
  platform apps:create NAME       create an app (and its platform git remote)
  platform apps                   list apps
  platform apps:info -a APP       show an app
  platform apps:destroy -a APP --confirm APP
                                  delete an app and everything it runs
  platform config:set KEY=VALUE   set config vars (a new release, rolled out)
  platform ps:scale web=2:large   scale process types
  platform logs -t                follow the app's logs
  platform releases:rollback      go back to the previous release

Deploy with git: git push platform main.

Commands that act on an app take -a APP; without it, the app is read from
the "platform" git remote of the current directory. Read commands take
--json for scripts.

The CLI reads PLATFORM_API_URL and PLATFORM_TOKEN from the environment,
else from the config file that platform login writes.`

func (c *cli) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "platform",
		Short:         "Deploy and run apps on the platform",
		Long:          rootLong,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true, // main prints the error once
		Args:          unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("platform {{.Version}}\n")
	root.SuggestionsMinimumDistance = 2 // for unknownCommand
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see platform help %s)", flagValueError(err), cmd.Name())
	})
	root.AddGroup(
		&cobra.Group{ID: "account", Title: "Account:"},
		&cobra.Group{ID: "apps", Title: "Apps:"},
		&cobra.Group{ID: "run", Title: "Config, processes, releases and logs of an app:"},
		&cobra.Group{ID: "admin", Title: "Tenants and users (admins and tenant owners):"},
	)
	root.AddCommand(
		c.newLoginCmd(), c.newLogoutCmd(), c.newWhoamiCmd(), c.newPasswordSetCmd(),
		c.newKeysCmd(), c.newKeysAddCmd(), c.newKeysRemoveCmd(),
		c.newTokensCmd(), c.newTokensCreateCmd(), c.newTokensRevokeCmd(),
		c.newAppsCmd(), c.newAppsCreateCmd(), c.newAppsInfoCmd(), c.newAppsDestroyCmd(), c.newGitRemoteCmd(), c.newSSHKeyscanCmd(),
		c.newDomainsCmd(), c.newDomainsAddCmd(), c.newDomainsVerifyCmd(), c.newDomainsRemoveCmd(),
		c.newCertsCmd(), c.newCertsAddCmd(), c.newCertsRemoveCmd(), c.newHTTPSCmd(), c.newHTTPSRedirectCmd(), c.newHTTPSHSTSCmd(), c.newHTTPSBackendCmd(),
		c.newConfigCmd(), c.newConfigGetCmd(), c.newConfigSetCmd(), c.newConfigUnsetCmd(),
		c.newPsCmd(), c.newPsScaleCmd(), c.newPsRestartCmd(), c.newSizesCmd(),
		c.newReleasesCmd(), c.newReleasesInfoCmd(), c.newReleasesRollbackCmd(),
		c.newBuildsCmd(), c.newBuildsOutputCmd(), c.newLogsCmd(),
		c.newTenantsCmd(), c.newTenantsCreateCmd(), c.newTenantsQuotaCmd(),
		c.newTenantsSuspendCmd(true), c.newTenantsSuspendCmd(false), c.newTenantsDestroyCmd(),
		c.newMembersCmd(), c.newMembersAddCmd(), c.newMembersRoleCmd(), c.newMembersRemoveCmd(),
		c.newInvitationsCmd(), c.newInvitationsAnswerCmd(true), c.newInvitationsAnswerCmd(false), c.newInvitationsRevokeCmd(),
		c.newUsersCmd(), c.newUsersCreateCmd(), c.newUsersDeactivateCmd(true), c.newUsersDeactivateCmd(false), c.newAuditCmd(),
		newVersionCmd(),
	)
	return root
}

// unknownCommand refuses what the root command is given as a command it
// does not have, suggesting the nearest ones.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return errors.New(msg + " (platform help lists every command)")
}

// flagValueError says what a flag takes when its value does not parse,
// rather than the parser's own words.
func flagValueError(err error) error {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	name := "--" + ive.GetFlag().Name
	if sh := ive.GetFlag().Shorthand; sh != "" {
		name = "-" + sh + "/" + name
	}
	var what string
	switch ive.GetFlag().Value.Type() {
	case "int", "int64", "uint", "uint64", "int32":
		what = "a whole number, like 100"
	case "duration":
		what = "a duration, like 30s or 5m"
	case "bool":
		what = "true or false"
	default:
		return err
	}
	return fmt.Errorf("%s takes %s, not %q", name, what, ive.GetValue())
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

// wantArgs checks that a command got exactly the arguments usage names (such
// as "NAME"), optional ones in brackets, and says how to call it if not. A
// last one ending in "..." ("KEY...", "[TYPE=QTY...]") may repeat.
func wantArgs(usage ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		lo, hi := 0, len(usage)
		for _, u := range usage {
			if !strings.HasPrefix(u, "[") {
				lo++
			}
		}
		if n := len(usage); n > 0 && strings.HasSuffix(strings.TrimSuffix(usage[n-1], "]"), "...") {
			hi = math.MaxInt
		}
		if len(got) >= lo && len(got) <= hi {
			return nil
		}
		return fmt.Errorf("usage: %s", strings.Join(append([]string{"platform", cmd.Name()}, usage...), " "))
	}
}

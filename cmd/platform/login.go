package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newLoginCmd() *cobra.Command {
	var apiURL, token string
	cmd := &cobra.Command{
		Use:     "login",
		Short:   "Save the API URL and your API token",
		GroupID: "account",
		Long: `login asks for the platform's API URL and your API token (or takes them as
flags), checks them against the API and saves them in
$XDG_CONFIG_HOME/platform/config.json (else ~/.config/platform/config.json),
readable by you only. PLATFORM_API_URL and PLATFORM_TOKEN, when set, are
used instead of what is saved.`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A config file that cannot be read is about to be replaced.
			saved, _, _ := c.loadConfig()
			in := bufio.NewReader(c.stdin)
			var err error
			if apiURL == "" {
				def := c.getenv("PLATFORM_API_URL")
				if def == "" {
					def = saved.APIURL
				}
				if apiURL, err = c.prompt(in, "API URL", def); err != nil {
					return err
				}
			}
			if _, err := api.ParseURL(apiURL); err != nil {
				return err
			}
			if token == "" {
				if token, err = c.promptSecret(in, "API token"); err != nil {
					return err
				}
			}
			cl, err := c.newClient(apiURL, token)
			if err != nil {
				return err
			}
			acct, err := cl.Account(cmd.Context())
			var ae *api.Error
			if errors.As(err, &ae) && ae.Code == api.CodeUnauthorized {
				return fmt.Errorf("the API at %s refused that token: check it and run platform login again", cl.URL())
			}
			if err != nil {
				return err
			}
			path, err := c.saveConfig(configFile{APIURL: cl.URL(), Token: token})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Logged in as %s\n", acct.Email)
			fmt.Fprintf(c.stderr, "Saved to %s\n", path)
			if env := c.getenv("PLATFORM_TOKEN"); env != "" && env != token {
				fmt.Fprintln(c.stderr, "note: PLATFORM_TOKEN is set in your environment and is used instead of the saved token")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api-url", "", "the platform's API URL, such as http://127.0.0.1:7800")
	cmd.Flags().StringVar(&token, "token", "", "your API token (without it, login asks)")
	return cmd
}

// prompt asks for one line on stderr, offering def. An empty answer with
// no default is an error.
func (c *cli) prompt(in *bufio.Reader, what, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(c.stderr, "%s [%s]: ", what, def)
	} else {
		fmt.Fprintf(c.stderr, "%s: ", what)
	}
	line, err := in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if line = strings.TrimSpace(line); line == "" {
		line = def
	}
	if line == "" {
		return "", fmt.Errorf("no %s given: type it when asked, or pass --%s", what, flagFor(what))
	}
	return line, nil
}

// promptSecret asks for a secret, without echo when stdin is a terminal.
func (c *cli) promptSecret(in *bufio.Reader, what string) (string, error) {
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return c.prompt(in, what, "")
	}
	fmt.Fprintf(c.stderr, "%s: ", what)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", fmt.Errorf("no %s given: type it when asked, or pass --%s", what, flagFor(what))
	}
	return strings.TrimSpace(string(b)), nil
}

func flagFor(what string) string {
	if what == "API URL" {
		return "api-url"
	}
	return "token"
}

func (c *cli) newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "Forget the saved API token",
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(*cobra.Command, []string) error {
			path, err := c.configPath()
			if err != nil {
				return err
			}
			err = os.Remove(path)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				fmt.Fprintln(c.stdout, "Not logged in")
			case err != nil:
				return fmt.Errorf("logging out: %w", err)
			default:
				fmt.Fprintf(c.stdout, "Logged out: removed %s\n", path)
			}
			if c.getenv("PLATFORM_TOKEN") != "" {
				fmt.Fprintln(c.stderr, "note: PLATFORM_TOKEN is still set in your environment")
			}
			return nil
		},
	}
}

func (c *cli) newWhoamiCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "whoami",
		Short:   "Show who you are logged in as, and your tenants",
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			acct, err := cl.Account(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(acct)
			}
			who := acct.Email
			if acct.Admin {
				who += " (platform admin)"
			}
			fmt.Fprintln(c.stdout, who)
			for _, m := range acct.Memberships {
				fmt.Fprintf(c.stdout, "  %s of tenant %s\n", m.Role, m.Tenant)
			}
			return nil
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

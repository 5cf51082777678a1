package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newLoginCmd() *cobra.Command {
	var apiURL, token, email string
	cmd := &cobra.Command{
		Use:     "login",
		Short:   "Save the API URL and your API token",
		GroupID: "account",
		Long: `login asks for the platform's API URL and your API token (or takes them as
flags), checks them against the API and saves them in
$XDG_CONFIG_HOME/platform/config.json (else ~/.config/platform/config.json),
readable by you only. PLATFORM_API_URL and PLATFORM_TOKEN, when set, are
used instead of what is saved.

With --email, login asks for your password instead (set it with
platform password:set) and saves a new API token made for this login.
When stdin is not a terminal, the answers are read from it, one a line.`,
		Example: `  platform login --api-url http://127.0.0.1:7800 --token plt_...
  platform login --email alice@example.com`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if email != "" && token != "" {
				return errors.New("give --email or --token, not both")
			}
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
			var who string
			if email != "" {
				if token, err = c.loginWithPassword(cmd.Context(), in, apiURL, email); err != nil {
					return err
				}
				who = email
			} else {
				if token == "" {
					if token, err = c.promptSecret(in, "API token"); err != nil {
						return err
					}
				}
				if who, err = c.checkToken(cmd.Context(), apiURL, token); err != nil {
					return err
				}
			}
			cl, err := c.newClient(apiURL, token)
			if err != nil {
				return err
			}
			path, err := c.saveConfig(configFile{APIURL: cl.URL(), Token: token})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Logged in as %s\n", who)
			fmt.Fprintf(c.stderr, "Saved to %s\n", path)
			if env := c.getenv("PLATFORM_TOKEN"); env != "" && env != token {
				fmt.Fprintln(c.stderr, "note: PLATFORM_TOKEN is set in your environment and is used instead of the saved token")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api-url", "", "the platform's API URL, such as http://127.0.0.1:7800")
	cmd.Flags().StringVar(&token, "token", "", "your API token (without it, login asks)")
	cmd.Flags().StringVar(&email, "email", "", "log in with your e-mail address and password instead of a token")
	return cmd
}

// checkToken returns the e-mail address of the user token belongs to, or
// says that the API refused it.
func (c *cli) checkToken(ctx context.Context, apiURL, token string) (string, error) {
	cl, err := c.newClient(apiURL, token)
	if err != nil {
		return "", err
	}
	acct, err := cl.Account(ctx)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == api.CodeUnauthorized {
		return "", fmt.Errorf("the API at %s refused that token: check it and run platform login again", cl.URL())
	}
	if err != nil {
		return "", err
	}
	return acct.Email, nil
}

// loginWithPassword asks for the password of email and trades the two for
// a new API token.
func (c *cli) loginWithPassword(ctx context.Context, in *bufio.Reader, apiURL, email string) (string, error) {
	password, err := c.promptSecret(in, "Password")
	if err != nil {
		return "", err
	}
	cl, err := c.newClient(apiURL, "")
	if err != nil {
		return "", err
	}
	tok, err := cl.Login(ctx, api.LoginRequest{Email: email, Password: password})
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return "", fmt.Errorf("the API at %s refused that e-mail address and password: check them and run platform login again, or log in with a token (platform login --token)", cl.URL())
	}
	if err != nil {
		return "", err
	}
	return tok.Token, nil
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
		return "", noAnswer(what)
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
		return "", noAnswer(what)
	}
	return strings.TrimSpace(string(b)), nil
}

// noAnswer says that nothing was given when asked for what, and how else
// to give it.
func noAnswer(what string) error {
	switch what {
	case "API URL":
		return errors.New("no API URL given: type it when asked, or pass --api-url")
	case "API token":
		return errors.New("no API token given: type it when asked, or pass --token")
	}
	return fmt.Errorf("no %s given: type it when asked", strings.ToLower(what))
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
			// Where the token came from goes to stderr, beside the
			// answer, so that scripts reading who still read one line.
			if _, _, from, err := c.settings(); err == nil {
				fmt.Fprintf(c.stderr, "token from %s\n", from)
			}
			return nil
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

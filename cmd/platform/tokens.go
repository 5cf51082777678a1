package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newTokensCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "List your API tokens, newest first",
		Long: `tokens lists your API tokens: their IDs (for tokens:revoke), names, when
they were made and last used, and when they expire. The tokens themselves
are shown only once, when made.`,
		Example: "  platform tokens",
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			toks, err := api.All(cmd.Context(), cl.ListTokens)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(api.Page[api.Token]{Items: nonNil(toks)})
			}
			rows := make([][]string, 0, len(toks))
			for _, t := range toks {
				lastUsed, expires := "never", "never"
				if t.LastUsedAt != nil {
					lastUsed = c.stamp(*t.LastUsedAt)
				}
				if t.ExpiresAt != nil {
					expires = c.stamp(*t.ExpiresAt)
				}
				rows = append(rows, []string{strconv.FormatInt(t.ID, 10), t.Name, c.stamp(t.CreatedAt), lastUsed, expires})
			}
			return c.table([]string{"ID", "NAME", "CREATED", "LAST USED", "EXPIRES"}, rows)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newTokensCreateCmd() *cobra.Command {
	var name, expiresIn string
	cmd := &cobra.Command{
		Use:   "tokens:create [--name NAME] [--expires-in DURATION]",
		Short: "Make an API token, for a script or CI",
		Long: `tokens:create makes an API token of yours and prints it on stdout, once:
the platform keeps only its hash. It acts as you, with your roles. Give it a
name that says where it goes, and a lifetime (--expires-in 720h) unless it
must never expire.`,
		Example: `  platform tokens:create --name github-actions --expires-in 2160h`,
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expiresIn != "" {
				if _, err := time.ParseDuration(expiresIn); err != nil {
					return fmt.Errorf("--expires-in %q is not a duration such as 720h (30 days)", expiresIn)
				}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			tok, err := cl.CreateToken(cmd.Context(), api.CreateTokenRequest{Name: name, ExpiresIn: expiresIn})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, tok.Token)
			expiry := "it never expires"
			if tok.Info.ExpiresAt != nil {
				expiry = "it expires " + c.stamp(*tok.Info.ExpiresAt)
			}
			fmt.Fprintf(c.stderr, "Token %d (%s) made; %s. It is shown only this once: keep it somewhere safe. platform tokens:revoke %d revokes it.\n",
				tok.Info.ID, tok.Info.Name, expiry, tok.Info.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "cli", "a name saying where the token goes")
	cmd.Flags().StringVar(&expiresIn, "expires-in", "", "its lifetime, such as 720h (default: it never expires)")
	return cmd
}

func (c *cli) newTokensRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "tokens:revoke ID",
		Short:   "Revoke one of your API tokens",
		Example: "  platform tokens:revoke 12",
		GroupID: "account",
		Args:    wantArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return fmt.Errorf("%q is not a token ID: platform tokens lists yours", args[0])
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.step("Revoking token "+args[0], func() (string, error) {
				return "", cl.RevokeToken(cmd.Context(), id)
			})
		},
	}
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newTokensCmd() *cobra.Command {
	var (
		asJSON bool
		user   string
	)
	cmd := &cobra.Command{
		Use:   "tokens [--user EMAIL]",
		Short: "List your API tokens, newest first",
		Long: `tokens lists your API tokens: their IDs (for tokens:revoke), names, when
they were made and last used, and when they expire. The tokens themselves
are shown only once, when made. Platform admins list another user's with
--user.`,
		Example: "  platform tokens\n  platform tokens --user alice@example.com",
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			list := cl.ListTokens
			if user != "" {
				list = func(ctx context.Context, o api.ListOptions) (api.Page[api.Token], error) {
					return cl.ListUserTokens(ctx, user, o)
				}
			}
			toks, err := api.All(cmd.Context(), list)
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
	cmd.Flags().StringVar(&user, "user", "", "another user's tokens (platform admins)")
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
	var user string
	cmd := &cobra.Command{
		Use:   "tokens:revoke ID [--user EMAIL]",
		Short: "Revoke one of your API tokens",
		Long: `tokens:revoke revokes one of your API tokens, by its ID (platform tokens
lists them): it stops working at once, as do dashboard sessions signed in
with it. Platform admins revoke another user's with --user.`,
		Example: "  platform tokens:revoke 12\n  platform tokens:revoke 12 --user alice@example.com",
		GroupID: "account",
		Args:    wantArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				if user != "" {
					return fmt.Errorf("%q is not a token ID: platform tokens --user %s lists theirs", args[0], user)
				}
				return fmt.Errorf("%q is not a token ID: platform tokens lists yours", args[0])
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			if user != "" {
				return c.step("Revoking token "+args[0]+" of "+user, func() (string, error) {
					return "", cl.RevokeUserToken(cmd.Context(), user, id)
				})
			}
			return c.step("Revoking token "+args[0], func() (string, error) {
				return "", cl.RevokeToken(cmd.Context(), id)
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "another user's token (platform admins)")
	return cmd
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newPasswordSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "password:set",
		Short: "Set your password, for the dashboard and login --email",
		Long: `password:set sets the password you sign in to the dashboard with, and log
in with (platform login --email). At a terminal it asks for the new password
twice, without echo, and for your current one if you have one. Otherwise it
reads the new password from the first line of stdin and, if you have a
password already, the current one from the second.`,
		Example: `  platform password:set
  printf '%s\n%s\n' "$NEW" "$OLD" | platform password:set`,
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			in := bufio.NewReader(c.stdin)
			req := api.SetPasswordRequest{}
			if req.Password, err = c.promptSecret(in, "New password"); err != nil {
				return err
			}
			if c.stdinIsTerminal() {
				again, err := c.promptSecret(in, "New password, again")
				if err != nil {
					return err
				}
				if again != req.Password {
					return errors.New("the two passwords differ: run platform password:set again")
				}
			}
			err = cl.SetPassword(cmd.Context(), req)
			if refusedField(err, "current") {
				// The account has a password: the API wants it first.
				if req.Current, err = c.promptSecret(in, "Current password"); err != nil {
					return err
				}
				err = cl.SetPassword(cmd.Context(), req)
				if refusedField(err, "current") {
					return errors.New("that is not your current password: run platform password:set again")
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, "Password set: use it on the dashboard, and with platform login --email")
			return nil
		},
	}
}

// stdinIsTerminal reports whether the CLI reads from a terminal, where it
// can ask for secrets without echo.
func (c *cli) stdinIsTerminal() bool {
	f, ok := c.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// refusedField reports whether err is the API refusing the request's
// field.
func refusedField(err error, field string) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == api.CodeInvalid && ae.Field == field
}

package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newUsersCmd() *cobra.Command {
	var (
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "users [--tenant T]",
		Short: "List the platform's users (platform admins)",
		Long: `users lists every user of the platform with their roles in tenants
(platform admins). With --tenant it lists that tenant's members instead, as
platform members does.`,
		Example: `  platform users`,
		GroupID: "admin",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant != "" {
				return c.listMembers(cmd.Context(), tenant, asJSON)
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			us, err := api.All(cmd.Context(), cl.ListUsers)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(nonNil(us))
			}
			rows := make([][]string, 0, len(us))
			for _, u := range us {
				roles := make([]string, 0, len(u.Memberships))
				for _, m := range u.Memberships {
					roles = append(roles, m.Role+" of "+m.Tenant)
				}
				admin, status := "", "active"
				if u.Admin {
					admin = "admin"
				}
				if u.DeactivatedAt != nil {
					status = "deactivated " + c.stamp(*u.DeactivatedAt)
				}
				rows = append(rows, []string{u.Email, admin, status, strings.Join(roles, ", "), c.stamp(u.CreatedAt)})
			}
			return c.table([]string{"EMAIL", "ADMIN", "STATUS", "ROLES", "CREATED"}, rows)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "list this tenant's members instead")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newUsersCreateCmd() *cobra.Command {
	var admin bool
	cmd := &cobra.Command{
		Use:   "users:create EMAIL [--admin]",
		Short: "Create a user (platform admins)",
		Long: `users:create makes an account for an e-mail address (platform admins; nobody
else makes accounts) and prints its first API token once, valid for 7 days,
for you to hand over: the new user logs in with it (platform login --token),
then sets a password or adds an SSH key. Invitations to tenants waiting for
the address are theirs to accept then (platform invitations).`,
		Example: `  platform users:create alice@example.com`,
		GroupID: "admin",
		Args:    wantArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var u api.CreatedUser
			err = c.step("Creating user "+args[0], func() (string, error) {
				u, err = cl.CreateUser(cmd.Context(), api.CreateUserRequest{Email: args[0], Admin: admin})
				return "", err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Give %s this token, valid for 7 days; they run: platform login --api-url %s --token %s\n",
				u.User.Email, cl.URL(), u.InitialToken)
			return nil
		},
	}
	cmd.Flags().BoolVar(&admin, "admin", false, "make the user a platform admin")
	return cmd
}

// newUsersDeactivateCmd makes users:deactivate, or users:reactivate.
func (c *cli) newUsersDeactivateCmd(deactivate bool) *cobra.Command {
	use, short, doing := "users:reactivate EMAIL", "Let a deactivated user sign in again (platform admins)", "Reactivating "
	long := `users:reactivate lets a deactivated user sign in again: their API tokens,
SSH keys and password work as before (their dashboard sessions ended).`
	if deactivate {
		use, short, doing = "users:deactivate EMAIL", "Stop a user signing in, at once (platform admins)", "Deactivating "
		long = `users:deactivate stops a user at once: their API tokens, SSH keys and
password sign in to nothing, and their dashboard sessions end. Their tokens,
keys and roles are kept for users:reactivate. You cannot deactivate yourself.`
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: "  platform " + use[:len(use)-len(" EMAIL")] + " alice@example.com",
		GroupID: "admin",
		Args:    wantArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.step(doing+args[0], func() (string, error) {
				_, err := cl.SetUserDeactivated(cmd.Context(), args[0], deactivate)
				return "", err
			})
		},
	}
}

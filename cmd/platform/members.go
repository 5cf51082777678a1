package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

// listMembers prints the members of tenant.
func (c *cli) listMembers(ctx context.Context, tenant string, asJSON bool) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	ms, err := api.All(ctx, func(ctx context.Context, o api.ListOptions) (api.Page[api.Member], error) {
		return cl.ListMembers(ctx, tenant, o)
	})
	if err != nil {
		return err
	}
	if asJSON {
		return c.printJSON(nonNil(ms))
	}
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, []string{m.Email, m.Role, c.stamp(m.CreatedAt)})
	}
	return c.table([]string{"EMAIL", "ROLE", "SINCE"}, rows)
}

func (c *cli) newMembersCmd() *cobra.Command {
	var (
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "members --tenant T",
		Short:   "List a tenant's members and their roles",
		Example: "  platform members --tenant acme",
		GroupID: "admin",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return fmt.Errorf("usage: platform members --tenant T")
			}
			return c.listMembers(cmd.Context(), tenant, asJSON)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newMembersAddCmd() *cobra.Command {
	var tenant, role string
	cmd := &cobra.Command{
		Use:     "members:add EMAIL --tenant T [--role R]",
		Aliases: []string{"users:add"},
		Short:   "Give a user a role in a tenant, or invite an address",
		Long: `members:add gives a user a role in a tenant: owner (everything in the tenant,
its members included), member (create and deploy apps) or viewer (read only).
An address that has no account yet is invited instead: once an admin has
made their account (platform users:create) and they have signed in, they
accept with platform invitations:accept TENANT. Invitations expire after 7
days; platform invitations --tenant T lists the pending ones.`,
		Example: `  platform members:add alice@example.com --tenant acme --role member`,
		GroupID: "admin",
		Args:    wantArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return fmt.Errorf("usage: platform members:add EMAIL --tenant T --role R")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			var added api.AddedMember
			err = c.step(fmt.Sprintf("Adding %s to tenant %s as %s", args[0], tenant, role), func() (string, error) {
				added, err = cl.AddMember(cmd.Context(), tenant, api.AddMemberRequest{Email: args[0], Role: role})
				return "", err
			})
			if err != nil {
				return err
			}
			if inv := added.Invitation; inv != nil {
				fmt.Fprintf(c.stdout, "invited %s: they accept with `platform invitations:accept %s` after signing in\n", inv.Email, inv.Tenant)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (required)")
	cmd.Flags().StringVar(&role, "role", api.RoleMember, "owner, member or viewer")
	return cmd
}

func (c *cli) newMembersRoleCmd() *cobra.Command {
	var tenant, role string
	cmd := &cobra.Command{
		Use:     "members:role EMAIL --tenant T --role R",
		Aliases: []string{"users:role"},
		Short:   "Change a member's role in a tenant",
		Long: `members:role changes a member's role in a tenant: owner, member or viewer
(see members:add). A tenant keeps at least one owner.`,
		Example: "  platform members:role alice@example.com --tenant acme --role owner",
		GroupID: "admin",
		Args:    wantArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" || role == "" {
				return fmt.Errorf("usage: platform members:role EMAIL --tenant T --role R")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.step(fmt.Sprintf("Making %s %s of tenant %s", args[0], role, tenant), func() (string, error) {
				_, err := cl.SetMemberRole(cmd.Context(), tenant, args[0], role)
				return "", err
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (required)")
	cmd.Flags().StringVar(&role, "role", "", "owner, member or viewer (required)")
	return cmd
}

func (c *cli) newMembersRemoveCmd() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:     "members:remove EMAIL --tenant T",
		Aliases: []string{"users:remove"},
		Short:   "Take a user out of a tenant",
		Long: `members:remove takes a user's role in a tenant away. The user and their
other roles stay. A tenant keeps at least one owner.`,
		Example: "  platform members:remove alice@example.com --tenant acme",
		GroupID: "admin",
		Args:    wantArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return fmt.Errorf("usage: platform members:remove EMAIL --tenant T")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.step(fmt.Sprintf("Removing %s from tenant %s", args[0], tenant), func() (string, error) {
				return "", cl.RemoveMember(cmd.Context(), tenant, args[0])
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (required)")
	return cmd
}

func (c *cli) newInvitationsCmd() *cobra.Command {
	var (
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "invitations [--tenant T]",
		Short: "List your invitations to tenants, or a tenant's pending ones",
		Long: `invitations lists the pending invitations of your e-mail address, by tenant;
accept one with invitations:accept TENANT. With --tenant, it lists that
tenant's pending invitations instead (its owners and platform admins).`,
		Example: `  platform invitations
  platform invitations --tenant acme`,
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var invs []api.Invitation
			if tenant != "" {
				invs, err = api.All(cmd.Context(), func(ctx context.Context, o api.ListOptions) (api.Page[api.Invitation], error) {
					return cl.ListTenantInvitations(ctx, tenant, o)
				})
			} else {
				invs, err = api.All(cmd.Context(), cl.ListInvitations)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(api.Page[api.Invitation]{Items: nonNil(invs)})
			}
			if len(invs) == 0 {
				if tenant != "" {
					fmt.Fprintf(c.stderr, "Tenant %s has no pending invitations\n", tenant)
				} else {
					fmt.Fprintln(c.stderr, "You have no pending invitations")
				}
				return nil
			}
			rows := make([][]string, 0, len(invs))
			for _, i := range invs {
				rows = append(rows, []string{i.Tenant, i.Email, i.Role, i.InvitedBy, c.stamp(i.ExpiresAt)})
			}
			return c.table([]string{"TENANT", "EMAIL", "ROLE", "INVITED BY", "EXPIRES"}, rows)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "a tenant you own: list its pending invitations")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// yourInvitation returns your pending invitation to tenant.
func (c *cli) yourInvitation(ctx context.Context, cl *api.Client, tenant string) (api.Invitation, error) {
	invs, err := api.All(ctx, cl.ListInvitations)
	if err != nil {
		return api.Invitation{}, err
	}
	for _, i := range invs {
		if i.Tenant == tenant {
			return i, nil
		}
	}
	return api.Invitation{}, fmt.Errorf("you have no pending invitation to tenant %s: platform invitations lists yours", tenant)
}

// newInvitationsAnswerCmd makes invitations:accept, or invitations:decline.
func (c *cli) newInvitationsAnswerCmd(accept bool) *cobra.Command {
	use, short, doing := "invitations:decline TENANT", "Turn down an invitation to a tenant", "Declining the invitation to tenant "
	if accept {
		use, short, doing = "invitations:accept TENANT", "Accept an invitation to a tenant", "Accepting the invitation to tenant "
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  platform " + use[:len(use)-len(" TENANT")] + " acme",
		GroupID: "account",
		Args:    wantArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			inv, err := c.yourInvitation(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			var m api.Membership
			err = c.step(doing+args[0], func() (string, error) {
				if !accept {
					return "", cl.DeclineInvitation(cmd.Context(), inv.ID)
				}
				m, err = cl.AcceptInvitation(cmd.Context(), inv.ID)
				return "", err
			})
			if err != nil || !accept {
				return err
			}
			fmt.Fprintf(c.stdout, "You are a %s of tenant %s now\n", m.Role, m.Tenant)
			return nil
		},
	}
}

func (c *cli) newInvitationsRevokeCmd() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:     "invitations:revoke EMAIL --tenant T",
		Short:   "Revoke a tenant's pending invitation of an address",
		Example: "  platform invitations:revoke alice@example.com --tenant acme",
		GroupID: "admin",
		Args:    wantArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return fmt.Errorf("usage: platform invitations:revoke EMAIL --tenant T")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.step(fmt.Sprintf("Revoking the invitation of %s to tenant %s", args[0], tenant), func() (string, error) {
				return "", cl.RevokeInvitation(cmd.Context(), tenant, args[0])
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (required)")
	return cmd
}

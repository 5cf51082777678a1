package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newTenantsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "tenants",
		Short:   "List tenants (platform admins)",
		GroupID: "admin",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ts, err := api.All(cmd.Context(), cl.ListTenants)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(nonNil(ts))
			}
			rows := make([][]string, 0, len(ts))
			for _, t := range ts {
				status := "active"
				if t.SuspendedAt != nil {
					status = "suspended"
				}
				rows = append(rows, []string{t.Name, strconv.Itoa(t.Quota.MaxApps), strconv.Itoa(t.Quota.MaxProcesses),
					t.Quota.MaxSize, status, when(t.CreatedAt)})
			}
			return c.table([]string{"NAME", "MAX APPS", "MAX PROCESSES", "MAX SIZE", "STATUS", "CREATED"}, rows)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newTenantsCreateCmd() *cobra.Command {
	var (
		maxApps, maxProcesses int
		maxSize               string
	)
	cmd := &cobra.Command{
		Use:     "tenants:create NAME",
		Short:   "Create a tenant (platform admins)",
		GroupID: "admin",
		Args:    wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			req := api.CreateTenantRequest{Name: args[0]}
			flags := cmd.Flags()
			if flags.Changed("max-apps") || flags.Changed("max-processes") || flags.Changed("max-size") {
				req.Quota = &api.QuotaRequest{}
				if flags.Changed("max-apps") {
					req.Quota.MaxApps = &maxApps
				}
				if flags.Changed("max-processes") {
					req.Quota.MaxProcesses = &maxProcesses
				}
				if flags.Changed("max-size") {
					req.Quota.MaxSize = &maxSize
				}
			}
			done := c.progress("Creating tenant %s", args[0])
			t, err := cl.CreateTenant(cmd.Context(), req)
			if err != nil {
				fmt.Fprintln(c.stderr, "failed")
				return err
			}
			done()
			fmt.Fprintf(c.stdout, "Tenant %s: up to %d apps, %d processes, size %s\n",
				t.Name, t.Quota.MaxApps, t.Quota.MaxProcesses, t.Quota.MaxSize)
			return nil
		},
	}
	cmd.Flags().IntVar(&maxApps, "max-apps", 0, "most apps the tenant may have (default 10)")
	cmd.Flags().IntVar(&maxProcesses, "max-processes", 0, "most processes across its apps (default 20)")
	cmd.Flags().StringVar(&maxSize, "max-size", "", "largest process size: small, standard or large (default standard)")
	return cmd
}

func (c *cli) newUsersCmd() *cobra.Command {
	var (
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "users --tenant T",
		Short:   "List a tenant's members and their roles",
		GroupID: "admin",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return fmt.Errorf("usage: platform users --tenant T")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ms, err := api.All(cmd.Context(), func(ctx context.Context, o api.ListOptions) (api.Page[api.Member], error) {
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
				rows = append(rows, []string{m.Email, m.Role, when(m.CreatedAt)})
			}
			return c.table([]string{"EMAIL", "ROLE", "SINCE"}, rows)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newUsersAddCmd() *cobra.Command {
	var tenant, role string
	cmd := &cobra.Command{
		Use:   "users:add EMAIL --tenant T [--role R]",
		Short: "Give a user a role in a tenant, creating the user if new",
		Long: `users:add gives a user a role in a tenant: owner (everything in the tenant,
its members included), member (create and deploy apps) or viewer (read only).
A user the platform does not know yet is created, with a first API token
that users:add prints once, for you to hand over: the new user logs in with
it (platform login --token), then sets a password or adds an SSH key.`,
		Example: `  platform users:add alice@example.com --tenant acme --role member`,
		GroupID: "admin",
		Args:    wantArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return fmt.Errorf("usage: platform users:add EMAIL --tenant T --role R")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			var added api.AddedMember
			err = c.step(fmt.Sprintf("Adding %s to tenant %s as %s", args[0], tenant, role), func() (string, error) {
				added, err = cl.AddMemberWithToken(cmd.Context(), tenant, api.AddMemberRequest{Email: args[0], Role: role})
				return "", err
			})
			if err != nil {
				return err
			}
			if added.InitialToken != "" {
				fmt.Fprintf(c.stdout, "Give %s this token; they run: platform login --api-url %s --token %s\n",
					cmp.Or(added.Email, args[0]), cl.URL(), added.InitialToken)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (required)")
	cmd.Flags().StringVar(&role, "role", api.RoleMember, "owner, member or viewer")
	return cmd
}

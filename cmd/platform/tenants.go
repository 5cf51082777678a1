package main

import (
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
					t.Quota.MaxSize, status, c.stamp(t.CreatedAt)})
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

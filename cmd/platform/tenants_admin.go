package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newTenantsQuotaCmd() *cobra.Command {
	var (
		apps, processes int
		maxSize         string
		asJSON          bool
	)
	cmd := &cobra.Command{
		Use:   "tenants:quota TENANT [--apps N] [--processes N] [--max-size S]",
		Short: "Show or change a tenant's quota (platform admins)",
		Long: `tenants:quota shows a tenant's quota; with flags, it changes the quota
first. A quota below what the tenant uses now is refused: scale its apps
down or destroy some first.`,
		Example: `  platform tenants:quota acme
  platform tenants:quota acme --apps 20 --processes 40 --max-size large`,
		GroupID: "admin",
		Args:    wantArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			var t api.Tenant
			if flags.Changed("apps") || flags.Changed("processes") || flags.Changed("max-size") {
				q := &api.QuotaRequest{}
				if flags.Changed("apps") {
					q.MaxApps = &apps
				}
				if flags.Changed("processes") {
					q.MaxProcesses = &processes
				}
				if flags.Changed("max-size") {
					q.MaxSize = &maxSize
				}
				err = c.step("Changing the quota of tenant "+args[0], func() (string, error) {
					t, err = cl.UpdateTenant(cmd.Context(), args[0], api.UpdateTenantRequest{Quota: q})
					return "", err
				})
			} else {
				t, err = cl.GetTenant(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(t)
			}
			c.header("%s Quota", t.Name)
			return c.fields(
				"Apps", strconv.Itoa(t.Quota.MaxApps),
				"Processes", strconv.Itoa(t.Quota.MaxProcesses),
				"Max size", t.Quota.MaxSize,
			)
		},
	}
	cmd.Flags().IntVar(&apps, "apps", 0, "most apps the tenant may have")
	cmd.Flags().IntVar(&processes, "processes", 0, "most processes across its apps")
	cmd.Flags().StringVar(&maxSize, "max-size", "", "largest process size: small, standard or large")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// newTenantsSuspendCmd makes tenants:suspend, or tenants:unsuspend.
func (c *cli) newTenantsSuspendCmd(suspend bool) *cobra.Command {
	use, short, doing := "tenants:unsuspend TENANT", "Lift a tenant's suspension (platform admins)", "Lifting the suspension of tenant "
	long := `tenants:unsuspend lifts a tenant's suspension: each of its apps runs its
latest succeeded release again, scaled as before.`
	if suspend {
		use, short, doing = "tenants:suspend TENANT", "Suspend a tenant: stop its apps (platform admins)", "Suspending tenant "
		long = `tenants:suspend suspends a tenant: each of its apps is scaled to zero (its
formation is kept, for tenants:unsuspend), and its apps cannot be changed,
pushed or scaled until the suspension is lifted.`
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: "  platform " + use[:len(use)-len(" TENANT")] + " acme",
		GroupID: "admin",
		Args:    wantArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.step(doing+args[0], func() (string, error) {
				_, err := cl.UpdateTenant(cmd.Context(), args[0], api.UpdateTenantRequest{Suspended: &suspend})
				return "", err
			})
		},
	}
}

func (c *cli) newTenantsDestroyCmd() *cobra.Command {
	var confirm string
	cmd := &cobra.Command{
		Use:   "tenants:destroy TENANT --confirm TENANT",
		Short: "Destroy a tenant and all its apps (platform admins)",
		Long: `tenants:destroy deletes a tenant for good, with every app it has (as
apps:destroy does) and its namespace. It needs --confirm with the tenant's
name. If a step fails, the tenant is kept, suspended: run it again.`,
		Example: "  platform tenants:destroy acme --confirm acme",
		GroupID: "admin",
		Args:    wantArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if confirm == "" {
				return fmt.Errorf("this deletes tenant %s and all its apps; re-run with --confirm %s", name, name)
			}
			if confirm != name {
				return fmt.Errorf("--confirm %s does not match the tenant %s; re-run with --confirm %s", confirm, name, name)
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.step("Destroying tenant "+name+" and its apps", func() (string, error) {
				return "", cl.DeleteTenant(cmd.Context(), name, confirm)
			})
		},
	}
	cmd.Flags().StringVar(&confirm, "confirm", "", "the tenant's name, to confirm")
	return cmd
}

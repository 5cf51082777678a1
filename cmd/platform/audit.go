package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

// defaultAuditEvents is how many events audit lists.
const defaultAuditEvents = 50

func (c *cli) newAuditCmd() *cobra.Command {
	var (
		f      api.AuditFilter
		num    int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List recorded changes: who did what, when, from where",
		Long: `audit lists the audit log, newest first: every change made through the
API or a push, by whom, from which address. Platform admins see everything;
a tenant's owners see their tenant's (--tenant may be left out by the owner
of exactly one). --action takes an action (config.update) or a prefix
ending in "." (config.).`,
		Example: `  platform audit --tenant acme -n 20
  platform audit --app shop --action config.
  platform audit --actor alice@example.com`,
		GroupID: "admin",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if num < 0 {
				return fmt.Errorf("--num %d: give a number of events, or 0 for all", num)
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			events, err := firstN(cmd.Context(), num, func(ctx context.Context, o api.ListOptions) (api.Page[api.AuditEvent], error) {
				return cl.ListAudit(ctx, f, o)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(api.Page[api.AuditEvent]{Items: nonNil(events)})
			}
			if len(events) == 0 {
				fmt.Fprintln(c.stderr, "No audit events match")
				return nil
			}
			rows := make([][]string, 0, len(events))
			for _, e := range events {
				rows = append(rows, []string{c.stamp(e.At), e.Actor, e.Action, e.Tenant, e.App, e.Target, e.RemoteAddr, details(e.Details)})
			}
			return c.table([]string{"TIME", "ACTOR", "ACTION", "TENANT", "APP", "TARGET", "FROM", "DETAILS"}, rows)
		},
	}
	cmd.Flags().StringVar(&f.Tenant, "tenant", "", "only the events of this tenant")
	cmd.Flags().StringVarP(&f.App, "app", "a", "", "only the events of this app")
	cmd.Flags().StringVar(&f.Actor, "actor", "", "only the events of this user (an e-mail address)")
	cmd.Flags().StringVar(&f.Action, "action", "", `only this action, or the actions starting with a prefix ending in "."`)
	cmd.Flags().IntVarP(&num, "num", "n", defaultAuditEvents, "how many events to list, 0 for all")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// details words an event's details on one line, keys sorted: strings as
// they are, anything else as JSON: release=5 set=["A","B"].
func details(d map[string]any) string {
	parts := make([]string, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		v, ok := d[k].(string)
		if !ok {
			b, err := json.Marshal(d[k])
			if err != nil {
				b = []byte("?")
			}
			v = string(b)
		}
		parts = append(parts, k+"="+strings.Join(strings.Fields(v), " "))
	}
	return strings.Join(parts, " ")
}

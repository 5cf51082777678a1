package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newDomainsCmd() *cobra.Command {
	var (
		appFlag string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "domains",
		Short: "List an app's custom domains",
		Long: `domains lists the host names an app answers on besides its default one,
with their status and where each one's DNS should point (a CNAME record to
the app's default host name). A pending domain is not routed until its
owner shows they hold it: the TXT record to create for each is listed
below the domains; platform domains:verify HOST checks it.`,
		Example: `  platform domains -a shop`,
		GroupID: "apps",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			ds, err := api.All(cmd.Context(), func(ctx context.Context, o api.ListOptions) (api.Page[api.Domain], error) {
				return cl.ListDomains(ctx, app, o)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(api.Page[api.Domain]{Items: nonNil(ds)})
			}
			c.header("%s Custom Domains", app)
			if len(ds) == 0 {
				fmt.Fprintf(c.stderr, "%s has no custom domains: add one with platform domains:add HOST\n", app)
				return nil
			}
			target := c.dnsTarget(cmd.Context(), cl, app)
			rows := make([][]string, 0, len(ds))
			var records [][]string
			for _, d := range ds {
				rows = append(rows, []string{d.Host, d.Status, target, c.stamp(d.CreatedAt)})
				if v := d.Verification; v != nil {
					records = append(records, []string{v.Name, v.Type, v.Value})
				}
			}
			if err := c.table([]string{"DOMAIN", "STATUS", "DNS TARGET (CNAME)", "ADDED"}, rows); err != nil {
				return err
			}
			if len(records) == 0 {
				return nil
			}
			c.header("DNS records that verify the pending domains")
			if err := c.table([]string{"NAME", "TYPE", "VALUE"}, records); err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, "A pending domain is not routed: create its record, then run platform domains:verify HOST")
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// dnsTarget is the host a custom domain of app should be a CNAME of: the
// app's default host. It is a hint: when it cannot be had, it is "?".
func (c *cli) dnsTarget(ctx context.Context, cl *api.Client, app string) string {
	a, err := cl.GetApp(ctx, app)
	if err != nil {
		return "?"
	}
	u, err := url.Parse(a.WebURL)
	if err != nil || u.Hostname() == "" {
		return "?"
	}
	return u.Hostname()
}

// dnsHint says how to point host's DNS at the platform, whose app answers
// at target (dnsTarget's), or "" when target is not known.
func dnsHint(host, target string) string {
	switch {
	case target == "?":
		return ""
	case target == "localhost" || strings.HasSuffix(target, ".localhost"):
		// A platform on this machine: no DNS record can point here.
		return fmt.Sprintf("This platform's apps answer on this machine (%s): to reach %s through it, point the name at 127.0.0.1 (a line in /etc/hosts)", target, host)
	}
	return fmt.Sprintf("Point %s at the platform with a DNS record: %s CNAME %s", host, host, target)
}

func (c *cli) newDomainsAddCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "domains:add HOST",
		Short: "Make an app answer on a custom domain",
		Long: `domains:add claims a host name of yours for an app. It waits, unrouted,
until you show it is yours: create the DNS TXT record it prints
(_platform-challenge.HOST), then run platform domains:verify HOST. Point
the name's DNS at the platform too: a CNAME record to the app's default
host name, which platform domains shows. (A platform that skips
verification routes the name at once.)`,
		Example: `  platform domains:add www.example.com -a shop`,
		GroupID: "apps",
		Args:    wantArgs("HOST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			var d api.Domain
			err = c.step("Adding "+args[0]+" to "+app, func() (string, error) {
				d, err = cl.AddDomain(cmd.Context(), app, args[0])
				return "", err
			})
			if err != nil {
				return err
			}
			if v := d.Verification; v != nil {
				fmt.Fprintf(c.stderr, "%s is not routed until you show it is yours: create a DNS %s record %s with the value %s, then run platform domains:verify %s\n",
					d.Host, v.Type, v.Name, v.Value, d.Host)
			}
			if hint := dnsHint(d.Host, c.dnsTarget(cmd.Context(), cl, app)); hint != "" {
				fmt.Fprintln(c.stderr, hint)
			}
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newDomainsVerifyCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "domains:verify HOST",
		Short: "Check a pending domain's DNS record, and route it",
		Long: `domains:verify has the platform look up the TXT record that shows a pending
domain is yours (platform domains lists it); if it holds the domain's
token, the app answers on the domain from then on. DNS may take a while to
show a new record: run it again if it says the record is not there yet.`,
		Example: `  platform domains:verify www.example.com -a shop`,
		GroupID: "apps",
		Args:    wantArgs("HOST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			var d api.Domain
			err = c.step("Verifying "+args[0]+" for "+app, func() (string, error) {
				d, err = cl.VerifyDomain(cmd.Context(), app, args[0])
				return "", err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s is verified: %s answers on it\n", d.Host, app)
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newDomainsRemoveCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:     "domains:remove HOST",
		Short:   "Stop an app answering on a custom domain",
		Example: `  platform domains:remove www.example.com -a shop`,
		GroupID: "apps",
		Args:    wantArgs("HOST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			return c.step("Removing "+args[0]+" from "+app, func() (string, error) {
				return "", cl.RemoveDomain(cmd.Context(), app, args[0])
			})
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

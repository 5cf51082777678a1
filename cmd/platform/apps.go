package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newAppsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "apps",
		Short:   "List the apps you can see",
		GroupID: "apps",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			apps, err := api.All(cmd.Context(), cl.ListApps)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(nonNil(apps))
			}
			if len(apps) == 0 {
				fmt.Fprintln(c.stderr, "No apps yet: create one with platform apps:create NAME")
				return nil
			}
			rows := make([][]string, 0, len(apps))
			for _, a := range apps {
				rows = append(rows, []string{a.Name, a.Tenant, a.WebURL})
			}
			return c.table([]string{"NAME", "TENANT", "WEB URL"}, rows)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newAppsCreateCmd() *cobra.Command {
	var (
		tenant   string
		noRemote bool
	)
	cmd := &cobra.Command{
		Use:   "apps:create NAME",
		Short: "Create an app",
		Long: `apps:create creates an app in a tenant where you are at least a member
(--tenant may be left out if you are in exactly one). Run inside a git
repository, it also points the "platform" git remote at the app, so that
git push platform main deploys it.`,
		GroupID: "apps",
		Args:    wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			done := c.progress("Creating app %s", args[0])
			app, err := cl.CreateApp(cmd.Context(), api.CreateAppRequest{Name: args[0], Tenant: tenant})
			if err != nil {
				fmt.Fprintln(c.stderr, "failed")
				return err
			}
			done()
			fmt.Fprintf(c.stdout, "%s | %s\n", app.WebURL, app.GitURL)
			if app.GitURL != "" {
				c.noteHostKey(cmd.Context(), cl)
			}
			if noRemote || app.GitURL == "" || !c.inWorkTree(cmd.Context()) {
				return nil
			}
			return c.setRemote(cmd.Context(), app.GitURL)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant to create the app in")
	cmd.Flags().BoolVar(&noRemote, "no-remote", false, `do not add the "platform" git remote`)
	return cmd
}

func (c *cli) newAppsInfoCmd() *cobra.Command {
	var (
		appFlag string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:     "apps:info",
		Short:   "Show an app: its URLs, tenant and newest release",
		GroupID: "apps",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := c.appName(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			app, err := cl.GetApp(cmd.Context(), name)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(app)
			}
			release := "none yet: git push platform main"
			if r := app.Release; r != nil {
				release = fmt.Sprintf("v%d %s", r.Version, r.Status)
				if r.StatusReason != "" {
					release += " (" + r.StatusReason + ")"
				}
				release += ": " + r.Description
			}
			fmt.Fprintf(c.stdout, "=== %s\n", app.Name)
			return c.fields(
				"Tenant", app.Tenant,
				"Git URL", app.GitURL,
				"Web URL", app.WebURL,
				"Release", release,
				"Created", c.stamp(app.CreatedAt),
			)
		},
	}
	addAppFlag(cmd, &appFlag)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newAppsDestroyCmd() *cobra.Command {
	var appFlag, confirm string
	cmd := &cobra.Command{
		Use:   "apps:destroy -a APP --confirm APP",
		Short: "Destroy an app and everything it runs",
		Long: `apps:destroy deletes an app for good: its processes, config, releases,
builds, images and git repository. It needs the owner role in the app's
tenant, and --confirm with the app's name.`,
		GroupID: "apps",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := c.appName(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			if confirm == "" {
				return fmt.Errorf("this deletes %s and everything it runs; re-run with --confirm %s", name, name)
			}
			if confirm != name {
				return fmt.Errorf("--confirm %s does not match the app %s; re-run with --confirm %s", confirm, name, name)
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			done := c.progress("Destroying %s", name)
			if _, err := cl.DestroyApp(cmd.Context(), name, confirm); err != nil {
				fmt.Fprintln(c.stderr, "failed")
				return err
			}
			done()
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	cmd.Flags().StringVar(&confirm, "confirm", "", "the app's name, to confirm")
	return cmd
}

func (c *cli) newGitRemoteCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:     "git:remote -a APP",
		Short:   `Point the "platform" git remote at an app`,
		GroupID: "apps",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if appFlag == "" {
				return fmt.Errorf("usage: platform git:remote -a APP")
			}
			if !c.inWorkTree(cmd.Context()) {
				return fmt.Errorf("not inside a git repository: run git init, or cd into your app's repository")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			app, err := cl.GetApp(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			if app.GitURL == "" {
				return fmt.Errorf("the platform gives no git URL for %s: its git receiver is off", app.Name)
			}
			if err := c.setRemote(cmd.Context(), app.GitURL); err != nil {
				return err
			}
			c.noteHostKey(cmd.Context(), cl)
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

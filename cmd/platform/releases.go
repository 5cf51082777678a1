package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

// defaultHistory is how many releases and builds their lists show.
const defaultHistory = 15

func (c *cli) newReleasesCmd() *cobra.Command {
	var (
		appFlag string
		num     int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "releases",
		Short: "List an app's releases, newest first",
		Long: `releases lists an app's releases, newest first: each one's version, what
made it, who, when and how its rollout went. The release that runs now is
marked current.`,
		Example: `  platform releases -a shop
  platform releases -n 50`,
		GroupID: "run",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			rels, err := firstN(cmd.Context(), num, func(ctx context.Context, o api.ListOptions) (api.Page[api.Release], error) {
				return cl.ListReleases(ctx, app, o)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(api.Page[api.Release]{Items: nonNil(rels)})
			}
			if len(rels) == 0 {
				fmt.Fprintf(c.stderr, "%s has no releases yet: git push platform main makes the first\n", app)
				return nil
			}
			title := app + " Releases"
			rows := make([][]string, 0, len(rels))
			for _, r := range rels {
				if r.Current {
					title += fmt.Sprintf(" - Current: v%d", r.Version)
				}
				rows = append(rows, []string{"v" + strconv.Itoa(r.Version), firstLine(r.Description), r.Author, c.stamp(r.CreatedAt), releaseStatus(r)})
			}
			c.header("%s", title)
			return c.rows(rows)
		},
	}
	addAppFlag(cmd, &appFlag)
	cmd.Flags().IntVarP(&num, "num", "n", defaultHistory, "how many releases to list, 0 for all")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// releaseStatus is a release's state in a word or a few: "current",
// "succeeded", "failed (reason)".
func releaseStatus(r api.Release) string {
	switch {
	case r.Current:
		return "current"
	case r.StatusReason != "":
		return r.Status + " (" + firstLine(r.StatusReason) + ")"
	}
	return r.Status
}

func (c *cli) newReleasesInfoCmd() *cobra.Command {
	var (
		appFlag string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "releases:info [vN]",
		Short: "Show one release (default: the newest)",
		Long: `releases:info shows a release: what made it, who and when, its commit,
image and build, how its rollout went, the names of its config vars and its
process types. The version may be given as v5 or 5.`,
		Example: `  platform releases:info v5 -a shop
  platform releases:info`,
		GroupID: "run",
		Args:    wantArgs("[vN]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			version := 0
			if len(args) == 1 {
				v, err := parseVersion(args[0])
				if err != nil {
					return err
				}
				version = v
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			var r api.Release
			if version > 0 {
				if r, err = cl.GetRelease(cmd.Context(), app, version); err != nil {
					return err
				}
			} else {
				p, err := cl.ListReleases(cmd.Context(), app, api.ListOptions{Limit: 1})
				if err != nil {
					return err
				}
				if len(p.Items) == 0 {
					return fmt.Errorf("%s has no releases yet: git push platform main makes the first", app)
				}
				r = p.Items[0]
			}
			if asJSON {
				return c.printJSON(r)
			}
			status := r.Status
			if r.StatusReason != "" {
				status += ": " + r.StatusReason
			}
			if r.Current {
				status += " (current)"
			}
			var build, finished string
			if r.Build != 0 {
				build = strconv.FormatInt(r.Build, 10)
			}
			if r.FinishedAt != nil {
				finished = c.stamp(*r.FinishedAt)
			}
			formation := make([]string, 0, len(r.Formation))
			for _, p := range r.Formation {
				formation = append(formation, formatScale(api.ProcessUpdate{Type: p.Type, Quantity: &p.Quantity, Size: &p.Size}))
			}
			c.header("Release v%d", r.Version)
			return c.fields(
				"Change", r.Description,
				"By", r.Author,
				"When", c.stampAgo(r.CreatedAt),
				"Status", status,
				"Finished", finished,
				"Commit", r.Commit,
				"Build", build,
				"Image", r.Image,
				"Config vars", strings.Join(r.ConfigKeys, ", "),
				"Formation", strings.Join(formation, " "),
			)
		},
	}
	addAppFlag(cmd, &appFlag)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newReleasesRollbackCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "releases:rollback [vN]",
		Short: "Run an earlier release's image and config again",
		Long: `releases:rollback makes a new release with the image and config vars of an
earlier release that succeeded, and rolls it out before it returns, saying
how long it took for the router to serve it. Without
a version, the platform picks the succeeded release before the current one.
Process quantities and sizes stay as they are.`,
		Example: `  platform releases:rollback -a shop
  platform releases:rollback v3`,
		GroupID: "run",
		Args:    wantArgs("[vN]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			version := 0
			target := "the previous release"
			if len(args) == 1 {
				v, err := parseVersion(args[0])
				if err != nil {
					return err
				}
				version, target = v, "v"+strconv.Itoa(v)
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			var r api.Release
			err = c.step("Rolling back "+app+" to "+target, func() (string, error) {
				start := c.clock()
				r, err = cl.Rollback(cmd.Context(), app, api.RollbackRequest{RollbackTo: version})
				switch {
				case errors.Is(err, context.Canceled):
					return "", fmt.Errorf("interrupted: the rollback may still be rolled out; platform releases -a %s shows it", app)
				case err != nil:
					return "", err
				case r.Status == "failed":
					return "", fmt.Errorf("v%d failed: %s; the running release keeps serving", r.Version, firstLine(r.StatusReason))
				}
				return fmt.Sprintf(", v%d, live in %s", r.Version, c.since(start)), nil
			})
			if err != nil {
				return err
			}
			if version == 0 && r.Description != "" {
				fmt.Fprintf(c.stderr, "v%d: %s\n", r.Version, r.Description)
			}
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

// parseVersion parses a release version as people write it: v5, or 5.
func parseVersion(s string) (int, error) {
	digits := s
	if strings.HasPrefix(s, "v") || strings.HasPrefix(s, "V") {
		digits = s[1:]
	}
	n, err := strconv.Atoi(digits)
	if !isDigits(digits) || err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a release version such as v5: platform releases lists them", s)
	}
	return n, nil
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newBuildsCmd() *cobra.Command {
	var (
		appFlag string
		num     int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "builds",
		Short: "List an app's builds, newest first",
		Long: `builds lists the builds of an app's pushed commits, newest first: each
one's ID, status, commit, who pushed it, the stack detected, when it was
made and how long it took. builds:output ID shows one's output.`,
		Example: `  platform builds -a shop`,
		GroupID: "run",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			builds, err := firstN(cmd.Context(), num, func(ctx context.Context, o api.ListOptions) (api.Page[api.Build], error) {
				return cl.ListBuilds(ctx, app, o)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(api.Page[api.Build]{Items: nonNil(builds)})
			}
			if len(builds) == 0 {
				fmt.Fprintf(c.stderr, "%s has no builds yet: git push platform main makes the first\n", app)
				return nil
			}
			rows := make([][]string, 0, len(builds))
			for _, b := range builds {
				var took string
				if b.StartedAt != nil && b.FinishedAt != nil {
					took = b.FinishedAt.Sub(*b.StartedAt).Round(time.Second).String()
				}
				rows = append(rows, []string{strconv.FormatInt(b.ID, 10), b.Status, short(b.Commit), b.Author, b.Stack, c.stamp(b.CreatedAt), took})
			}
			c.header("%s Builds", app)
			return c.table([]string{"ID", "STATUS", "COMMIT", "BY", "STACK", "CREATED", "TOOK"}, rows)
		},
	}
	addAppFlag(cmd, &appFlag)
	cmd.Flags().IntVarP(&num, "num", "n", defaultHistory, "how many builds to list, 0 for all")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newBuildsOutputCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "builds:output [ID]",
		Short: "Print a build's output (default: the newest build's)",
		Long: `builds:output prints a build's output as the push showed it, to stdout.
Without an ID, the newest build's; platform builds lists their IDs.`,
		Example: `  platform builds:output -a shop
  platform builds:output 42`,
		GroupID: "run",
		Args:    wantArgs("[ID]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			if len(args) == 1 {
				n, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || n < 1 {
					return fmt.Errorf("%q is not a build ID: platform builds lists them", args[0])
				}
				id = n
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			if id == 0 {
				p, err := cl.ListBuilds(cmd.Context(), app, api.ListOptions{Limit: 1})
				if err != nil {
					return err
				}
				if len(p.Items) == 0 {
					return fmt.Errorf("%s has no builds yet: git push platform main makes the first", app)
				}
				id = p.Items[0].ID
			}
			return cl.BuildLog(cmd.Context(), app, id, c.stdout)
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

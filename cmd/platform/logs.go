package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newLogsCmd() *cobra.Command {
	var (
		appFlag string
		opts    api.LogOptions
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Print an app's logs; -t follows them",
		Long: `logs prints the last lines an app's processes logged, oldest first, each
with its time and process ("app[web.1]:"). With -t it keeps printing new
lines, those of processes started later included, until you press Ctrl-C.`,
		Example: `  platform logs -a shop
  platform logs -t -p worker
  platform logs -n 500 > shop.log`,
		GroupID: "run",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Lines < 0 {
				return fmt.Errorf("--num %d: give a number of lines of 1 or more", opts.Lines)
			}
			if opts.Process != "" && !processTypeRE.MatchString(opts.Process) {
				return fmt.Errorf("--process %q is not a process type: platform ps lists the app's", opts.Process)
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			// With -t, Ctrl-C cancels the context and Logs returns nil: a
			// clean exit.
			return cl.Logs(cmd.Context(), app, opts, c.stdout)
		},
	}
	addAppFlag(cmd, &appFlag)
	cmd.Flags().BoolVarP(&opts.Follow, "tail", "t", false, "keep printing new lines until Ctrl-C")
	cmd.Flags().StringVarP(&opts.Process, "process", "p", "", "only the lines of this process type, such as web")
	cmd.Flags().IntVarP(&opts.Lines, "num", "n", 0, "how many of the last lines to print (default: the server's, 100)")
	return cmd
}

package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newPsCmd() *cobra.Command {
	var (
		appFlag string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List an app's processes, by type",
		Long: `ps lists an app's processes (Heroku's dynos) under their process type, with
the type's size, command and number of processes; a type scaled to zero is
listed without processes.`,
		Example: "  platform ps -a shop",
		GroupID: "run",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			dynos, err := cl.ListDynos(cmd.Context(), app)
			if err != nil {
				return err
			}
			if asJSON {
				dynos.Items = nonNil(dynos.Items)
				return c.printJSON(dynos)
			}
			f, err := cl.GetFormation(cmd.Context(), app)
			if err != nil {
				return err
			}
			c.printDynos(app, dynos.Items, f.Items)
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// printDynos prints dynos grouped by process type, as Heroku does:
//
//	=== web (standard): bundle exec puma (2)
//	web.1: up 2026-11-25 10:00 UTC (~ 3m ago)
//
// counting the processes that run, not those stopping (which are listed
// as such), with the types of the formation that run no process as well.
func (c *cli) printDynos(app string, dynos []api.Dyno, formation []api.Process) {
	var types []string
	for _, p := range formation {
		types = append(types, p.Type)
	}
	for _, d := range dynos {
		types = append(types, d.Type)
	}
	slices.Sort(types)
	types = slices.Compact(types)
	if len(types) == 0 {
		fmt.Fprintf(c.stderr, "%s runs no processes: git push platform main deploys it\n", app)
		return
	}
	for i, typ := range types {
		var size, command string
		if j := slices.IndexFunc(formation, func(p api.Process) bool { return p.Type == typ }); j >= 0 {
			size, command = formation[j].Size, formation[j].Command
		}
		var of []api.Dyno
		for _, d := range dynos {
			if d.Type != typ {
				continue
			}
			of = append(of, d)
			if size == "" {
				size = d.Size
			}
			if command == "" {
				command = d.Command
			}
		}
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		head := typ
		if size != "" {
			head += " (" + size + ")"
		}
		if command != "" {
			head += ": " + command
		}
		// Stopping processes are shown, marked, but not counted: they are
		// on their way out.
		stopping := 0
		for _, d := range of {
			if d.State == "stopping" {
				stopping++
			}
		}
		if stopping > 0 {
			c.header("%s (%d, and %d stopping)", head, len(of)-stopping, stopping)
		} else {
			c.header("%s (%d)", head, len(of))
		}
		for _, d := range of {
			line := fmt.Sprintf("%s: %s %s", d.Name, d.State, c.stampAgo(d.Since))
			if d.Reason != "" {
				line += ": " + d.Reason
			}
			if d.Restarts == 1 {
				line += ", restarted once"
			} else if d.Restarts > 1 {
				line += fmt.Sprintf(", restarted %d times", d.Restarts)
			}
			fmt.Fprintln(c.stdout, line)
		}
	}
}

func (c *cli) newPsScaleCmd() *cobra.Command {
	var (
		appFlag string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "ps:scale [TYPE=QUANTITY[:SIZE] | TYPE=SIZE]...",
		Short: "Scale process types, or show their scale",
		Long: `ps:scale sets how many processes of each type run, and their size (small,
standard or large: platform sizes shows what each may use), at once and
without a new release. A type named twice takes the last quantity and size
given. Without arguments, it prints the formation in the same grammar.
The tenant's quota bounds the total number of processes and their size.`,
		Example: `  platform ps:scale web=3 worker=1
  platform ps:scale web=2:large
  platform ps:scale worker=small
  platform ps:scale -a shop`,
		GroupID: "run",
		Args:    wantArgs("[TYPE=QUANTITY...]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			updates, err := parseScaleArgs(args)
			if err != nil {
				return err
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			if len(updates) == 0 {
				f, err := cl.GetFormation(cmd.Context(), app)
				if err != nil {
					return err
				}
				if asJSON {
					f.Items = nonNil(f.Items)
					return c.printJSON(f)
				}
				if len(f.Items) == 0 {
					fmt.Fprintf(c.stderr, "%s has no process types yet: git push platform main deploys it\n", app)
					return nil
				}
				words := make([]string, 0, len(f.Items))
				for _, p := range f.Items {
					words = append(words, formatScale(api.ProcessUpdate{Type: p.Type, Quantity: &p.Quantity, Size: &p.Size}))
				}
				fmt.Fprintln(c.stdout, strings.Join(words, " "))
				return nil
			}
			var f api.Formation
			err = c.step("Scaling processes of "+app, func() (string, error) {
				f, err = cl.Scale(cmd.Context(), app, api.ScaleRequest{Updates: updates})
				if err != nil {
					return "", err
				}
				var now []string
				for _, u := range updates {
					if i := slices.IndexFunc(f.Items, func(p api.Process) bool { return p.Type == u.Type }); i >= 0 {
						now = append(now, fmt.Sprintf("%s at %d:%s", u.Type, f.Items[i].Quantity, f.Items[i].Size))
					}
				}
				if len(now) == 0 {
					return "", nil
				}
				return ", now running " + strings.Join(now, ", "), nil
			})
			if err != nil || !asJSON {
				return err
			}
			f.Items = nonNil(f.Items)
			return c.printJSON(f)
		},
	}
	addAppFlag(cmd, &appFlag)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newPsRestartCmd() *cobra.Command {
	var (
		appFlag string
		noWait  bool
	)
	cmd := &cobra.Command{
		Use:   "ps:restart [TYPE]",
		Short: "Restart an app's processes, of one type or all",
		Long: `ps:restart replaces an app's processes one by one, as a deploy does, so
that a web app keeps serving. With TYPE, only the processes of that type.
It returns once every new process is ready, and says how long that took;
with --no-wait, as soon as the restart has begun.`,
		Example: `  platform ps:restart
  platform ps:restart worker -a shop`,
		GroupID: "run",
		Args:    wantArgs("[TYPE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var typ string
			if len(args) == 1 {
				typ = args[0]
				if !processTypeRE.MatchString(typ) {
					return fmt.Errorf("%q is not a process type: platform ps lists the app's", typ)
				}
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			what := "all processes"
			if typ != "" {
				what = typ + " processes"
			}
			return c.step("Restarting "+what+" of "+app, func() (string, error) {
				start := c.clock()
				if err := cl.Restart(cmd.Context(), app, api.RestartRequest{Type: typ, NoWait: noWait}); err != nil {
					return "", err
				}
				if noWait {
					return ", without waiting for the new processes (platform ps shows them)", nil
				}
				return ", ready in " + c.since(start), nil
			})
		},
	}
	addAppFlag(cmd, &appFlag)
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the restart has begun, not once the new processes are ready")
	return cmd
}

func (c *cli) newSizesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sizes",
		Short: "List the process sizes and what each may use",
		Long: `sizes lists the sizes a process type can be scaled to (platform ps:scale
web=large): the CPU and memory each process is guaranteed, and the most it
may use.`,
		Example: "  platform sizes",
		GroupID: "run",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			sizes, err := cl.Sizes(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				sizes.Items = nonNil(sizes.Items)
				return c.printJSON(sizes)
			}
			rows := make([][]string, 0, len(sizes.Items))
			for _, s := range sizes.Items {
				rows = append(rows, []string{s.Name,
					cores(s.CPURequestMillicores), cores(s.CPULimitMillicores),
					strconv.Itoa(s.MemoryRequestMiB) + " MiB", strconv.Itoa(s.MemoryLimitMiB) + " MiB"})
			}
			return c.table([]string{"NAME", "CPU", "CPU LIMIT", "MEMORY", "MEMORY LIMIT"}, rows)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// cores words thousandths of a CPU core: "0.25 cores", "1 core".
func cores(milli int) string {
	n := strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
	if milli == 1000 {
		return n + " core"
	}
	return n + " cores"
}

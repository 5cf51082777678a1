package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newConfigCmd() *cobra.Command {
	var (
		appFlag string
		shell   bool
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show an app's config vars",
		Long: `config shows an app's config vars, sorted by name. With --shell, as
KEY=VALUE lines quoted for a POSIX shell (to save as a .env file). Viewers
cannot read config values.`,
		Example: `  platform config -a shop
  platform config --shell > .env`,
		GroupID: "run",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			cfg, err := cl.GetConfig(cmd.Context(), app)
			if err != nil {
				return err
			}
			if cfg.Vars == nil {
				cfg.Vars = map[string]string{}
			}
			if asJSON {
				return c.printJSON(cfg)
			}
			keys := slices.Sorted(maps.Keys(cfg.Vars))
			if shell {
				for _, k := range keys {
					fmt.Fprintf(c.stdout, "%s=%s\n", k, shellQuote(cfg.Vars[k]))
				}
				return nil
			}
			c.header("%s Config Vars", app)
			if len(keys) == 0 {
				fmt.Fprintf(c.stderr, "%s has no config vars: set some with platform config:set KEY=VALUE\n", app)
			}
			c.pairs(keys, func(k string) string { return cfg.Vars[k] })
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	cmd.Flags().BoolVarP(&shell, "shell", "s", false, "print KEY=VALUE lines, quoted for a shell")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newConfigGetCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "config:get KEY",
		Short: "Print one config var's value",
		Long: `config:get prints the value of one config var as it is, for scripts: an
unset var prints an empty line (and a note on stderr), as Heroku does.`,
		Example: `  platform config:get DATABASE_URL -a shop`,
		GroupID: "run",
		Args:    wantArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			cfg, err := cl.GetConfig(cmd.Context(), app)
			if err != nil {
				return err
			}
			v, ok := cfg.Vars[args[0]]
			if !ok {
				fmt.Fprintf(c.stderr, "%s has no config var %s\n", app, args[0])
			}
			_, err = fmt.Fprintln(c.stdout, v)
			return err
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newConfigSetCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "config:set KEY=VALUE...",
		Short: "Set config vars, and restart the app with them",
		Long: `config:set sets config vars (a value may hold '=' and, quoted, spaces) and
makes a release with them, which it rolls out before it returns: the app's
processes then run with the new values, and the router serves them. It
says how long that took. If the rollout fails, the change is undone and
the running release keeps serving.`,
		Example: `  platform config:set GREETING="hello world" LOG_LEVEL=debug
  platform config:set DATABASE_URL=postgres://db/shop?sslmode=require -a shop`,
		GroupID: "run",
		Args:    wantArgs("KEY=VALUE..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars, err := parseConfigArgs(args)
			if err != nil {
				return err
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			req := api.UpdateConfigRequest{Vars: map[string]*string{}}
			for k, v := range vars {
				req.Vars[k] = &v
			}
			keys := slices.Sorted(maps.Keys(vars))
			if err := c.updateConfig(cmd.Context(), cl, app, "Setting "+strings.Join(keys, ", "), req); err != nil {
				return err
			}
			c.pairs(keys, func(k string) string { return vars[k] })
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newConfigUnsetCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "config:unset KEY...",
		Short: "Unset config vars, and restart the app without them",
		Long: `config:unset removes config vars and makes a release without them, which
it rolls out before it returns, as config:set does, and says how long
that took.`,
		Example: `  platform config:unset LOG_LEVEL GREETING -a shop`,
		GroupID: "run",
		Args:    wantArgs("KEY..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.UpdateConfigRequest{Vars: map[string]*string{}}
			for _, k := range args {
				if k == "" || strings.Contains(k, "=") {
					return fmt.Errorf("%q is not a config var name: config:unset takes names only, as in platform config:unset GREETING", k)
				}
				req.Vars[k] = nil
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			return c.updateConfig(cmd.Context(), cl, app, "Unsetting "+strings.Join(slices.Sorted(maps.Keys(req.Vars)), ", "), req)
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

// updateConfig sends a config change and waits for its release to roll
// out, saying so on stderr with how long it took to be live: "Setting
// GREETING and restarting shop... done, v5, live in 0.9s".
func (c *cli) updateConfig(ctx context.Context, cl *api.Client, app, doing string, req api.UpdateConfigRequest) error {
	return c.step(doing+" and restarting "+app, func() (string, error) {
		start := c.clock()
		ch, err := cl.UpdateConfig(ctx, app, req)
		switch {
		case errors.Is(err, context.Canceled):
			return "", fmt.Errorf("interrupted: the change may still be rolled out; platform releases -a %s shows it", app)
		case err != nil:
			return "", err
		case ch.Release.Status == "failed":
			return "", fmt.Errorf("v%d failed: %s; the running release keeps serving", ch.Release.Version, firstLine(ch.Release.StatusReason))
		}
		return fmt.Sprintf(", v%d, live in %s", ch.Release.Version, c.since(start)), nil
	})
}

// parseConfigArgs parses config:set's KEY=VALUE arguments. The value is
// everything after the first '=', and may be empty; a key given twice
// takes its last value.
func parseConfigArgs(args []string) (map[string]string, error) {
	vars := make(map[string]string, len(args))
	for _, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("%q is not KEY=VALUE: give it a value, as in %q", arg, arg+"=value")
		case k == "":
			return nil, fmt.Errorf("%q has no name before '=': use KEY=VALUE", arg)
		}
		vars[k] = v
	}
	return vars, nil
}

// shellQuote quotes s for a POSIX shell, if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/@%+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

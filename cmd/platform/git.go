package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

// remoteName is the git remote that points at the platform, as "heroku"
// does at Heroku.
const remoteName = "platform"

// git runs git in the working directory and returns its trimmed output.
func (c *cli) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = c.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// inWorkTree reports whether the working directory is inside a git work
// tree. Without git installed, it is not.
func (c *cli) inWorkTree(ctx context.Context) bool {
	out, err := c.git(ctx, "rev-parse", "--is-inside-work-tree")
	return err == nil && out == "true"
}

// setRemote points the platform remote at url, adding it if needed, and
// says what it did.
func (c *cli) setRemote(ctx context.Context, url string) error {
	cur, err := c.git(ctx, "remote", "get-url", remoteName)
	switch {
	case err != nil:
		if _, err := c.git(ctx, "remote", "add", remoteName, url); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "Git remote %s added: %s\n", remoteName, url)
	case cur == url:
		fmt.Fprintf(c.stderr, "Git remote %s is already %s\n", remoteName, url)
	default:
		if _, err := c.git(ctx, "remote", "set-url", remoteName, url); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "Git remote %s changed from %s to %s\n", remoteName, cur, url)
	}
	return nil
}

// addAppFlag adds -a/--app to a command that acts on one app.
func addAppFlag(cmd *cobra.Command, app *string) {
	cmd.Flags().StringVarP(app, "app", "a", "", `the app (default: the one the "platform" git remote points at)`)
}

// appName is the app a command acts on: the -a flag, or else the app the
// platform git remote of the working directory points at.
func (c *cli) appName(ctx context.Context, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	url, err := c.git(ctx, "remote", "get-url", remoteName)
	if err != nil {
		return "", errors.New(`no app given: pass -a APP, or run this in a git repository with a "platform" remote (platform git:remote -a APP adds one)`)
	}
	app := appFromRemote(url)
	if app == "" {
		return "", fmt.Errorf("the platform git remote %s names no app: pass -a APP, or fix it with platform git:remote -a APP", url)
	}
	return app, nil
}

// appFromRemote is the app a git URL points at: the last element of its
// path without ".git", as in ssh://git@host:2222/shop.git or
// git@host:shop.git.
func appFromRemote(url string) string {
	url = strings.TrimSuffix(strings.TrimSuffix(url, "/"), ".git")
	if i := strings.LastIndexAny(url, "/:"); i >= 0 {
		url = url[i+1:]
	}
	return url
}

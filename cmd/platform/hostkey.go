package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/platform-paas/platform/server/api"
)

func (c *cli) newSSHKeyscanCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ssh-keyscan",
		Short: "Print the git server's SSH host keys as known_hosts lines",
		Long: `ssh-keyscan prints the git server's SSH host keys as ~/.ssh/known_hosts
lines, from the platform's API (over HTTPS or with your token, so that they
are the platform's own). Append them to trust the server before your first
push:

  platform ssh-keyscan >> ~/.ssh/known_hosts

Compare the fingerprint ssh shows with the one apps:create, git:remote
and keys:add print.`,
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			g, err := cl.Git(cmd.Context())
			if err != nil {
				return err
			}
			if len(g.HostKeys) == 0 {
				return errors.New("the platform gives no host key for its git server: ask its operator for the fingerprint")
			}
			for _, k := range g.HostKeys {
				fmt.Fprintln(c.stdout, k.KnownHosts)
			}
			return nil
		},
	}
}

// noteHostKey tells the user how to trust the git server's host key when
// their ~/.ssh/known_hosts does not trust it yet for the git URL, so that
// the first push does not stop at "Host key verification failed". It says
// nothing when the platform does not tell its host keys.
func (c *cli) noteHostKey(ctx context.Context, cl *api.Client) {
	g, err := cl.Git(ctx)
	if err != nil || len(g.HostKeys) == 0 {
		return
	}
	for _, k := range g.HostKeys {
		if c.knownHost(g.URL, k) {
			continue
		}
		fmt.Fprintf(c.stderr, "The git server's host key is %s (%s). To trust it before your first push:\n  platform ssh-keyscan >> ~/.ssh/known_hosts\n", k.Fingerprint, k.Type)
		return
	}
}

// knownHost reports whether the user's ~/.ssh/known_hosts trusts key for
// the host and port of gitURL.
func (c *cli) knownHost(gitURL string, key api.GitHostKey) bool {
	home := c.getenv("HOME")
	if home == "" {
		return false
	}
	file := filepath.Join(home, ".ssh", "known_hosts")
	if _, err := os.Stat(file); err != nil {
		return false
	}
	check, err := knownhosts.New(file)
	if err != nil {
		return false
	}
	u, err := url.Parse(gitURL)
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	fields := strings.Fields(key.KnownHosts)
	if len(fields) < 3 {
		return false
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(fields[1] + " " + fields[2]))
	if err != nil {
		return false
	}
	// The address is only compared for hashed or IP entries; the host
	// name and port are what ssh looks up.
	addr := &net.TCPAddr{IP: net.IPv4zero, Port: 0}
	return check(net.JoinHostPort(u.Hostname(), port), addr, pub) == nil
}

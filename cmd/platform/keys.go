package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

// maxKeyFile bounds what keys:add reads: a public key is one short line.
const maxKeyFile = 16 << 10

func (c *cli) newKeysCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "keys",
		Short:   "List your SSH keys",
		GroupID: "account",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			keys, err := api.All(cmd.Context(), cl.ListSSHKeys)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(nonNil(keys))
			}
			if len(keys) == 0 {
				fmt.Fprintln(c.stderr, "No SSH keys yet: add yours with platform keys:add")
				return nil
			}
			rows := make([][]string, 0, len(keys))
			for _, k := range keys {
				typ, _, _ := strings.Cut(k.PublicKey, " ")
				rows = append(rows, []string{k.Fingerprint, typ, k.Name, c.stamp(k.CreatedAt)})
			}
			return c.table([]string{"FINGERPRINT", "TYPE", "NAME", "ADDED"}, rows)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func (c *cli) newKeysAddCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "keys:add [FILE]",
		Short: "Upload an SSH public key to push with",
		Long: `keys:add uploads an SSH public key, by default ~/.ssh/id_ed25519.pub or else
~/.ssh/id_rsa.pub. Its name defaults to the key's comment.`,
		GroupID: "account",
		Args:    wantArgs("[FILE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			path, key, err := c.readPublicKey(path)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			done := c.progress("Uploading %s", path)
			k, err := cl.AddSSHKey(cmd.Context(), api.AddSSHKeyRequest{Name: name, PublicKey: key})
			if err != nil {
				fmt.Fprintln(c.stderr, "failed")
				return err
			}
			done()
			fmt.Fprintf(c.stdout, "Added SSH key %s (%s)\n", k.Fingerprint, k.Name)
			c.noteHostKey(cmd.Context(), cl)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a name for the key (default: its comment)")
	return cmd
}

// readPublicKey reads the public key at path, or the default one.
func (c *cli) readPublicKey(path string) (string, string, error) {
	if path == "" {
		home := c.getenv("HOME")
		if home == "" {
			return "", "", errors.New("no key file given and HOME is not set: pass the .pub file")
		}
		for _, name := range []string{"id_ed25519.pub", "id_rsa.pub"} {
			p := filepath.Join(home, ".ssh", name)
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return "", "", errors.New("no ~/.ssh/id_ed25519.pub or ~/.ssh/id_rsa.pub: make a key with ssh-keygen -t ed25519, or pass the .pub file")
		}
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("no key file %s", path)
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return "", "", fmt.Errorf("reading the key: %w", err)
	}
	key := strings.TrimSpace(string(b))
	switch {
	case strings.HasPrefix(key, "-----BEGIN"):
		return "", "", fmt.Errorf("%s is a private key: give the public one (%s.pub); a private key never leaves your machine", path, path)
	case len(b) > maxKeyFile || strings.Contains(key, "\n"):
		return "", "", fmt.Errorf("%s is not one public key line: give a .pub file", path)
	}
	return path, key, nil
}

func (c *cli) newKeysRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "keys:remove FINGERPRINT",
		Short:   "Remove one of your SSH keys",
		GroupID: "account",
		Args:    wantArgs("FINGERPRINT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			done := c.progress("Removing SSH key %s", args[0])
			if err := cl.RemoveSSHKey(cmd.Context(), args[0]); err != nil {
				fmt.Fprintln(c.stderr, "failed")
				return err
			}
			done()
			return nil
		},
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/platform-paas/platform/server/store"
)

// adminTokenFile is the name, under the data directory, of the file that
// receives the bootstrap administrator's API token.
const adminTokenFile = "admin-token"

// adminBootstrapper is the part of the store that bootstrapAdmin uses.
type adminBootstrapper interface {
	BootstrapAdmin(ctx context.Context, email, given string) (token string, created bool, err error)
}

// readAdminToken reads the administrator's token from a file such as a
// mounted Secret: one line, surrounding white space ignored.
func readAdminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the administrator's token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if err := store.ValidateTokenString(tok); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return tok, nil
}

// bootstrapAdmin makes sure an administrator exists. The first start
// creates one. With tokenFile, they get the token in it (an installer's
// Secret holds it, and nothing is written); without, a new token, written
// to <dataDir>/admin-token, the only place it is ever shown. Later starts
// leave the file alone.
func bootstrapAdmin(ctx context.Context, st adminBootstrapper, dataDir, email, tokenFile string, log *slog.Logger) error {
	var given string
	if tokenFile != "" {
		var err error
		if given, err = readAdminToken(tokenFile); err != nil {
			return err
		}
	}
	token, created, err := st.BootstrapAdmin(ctx, email, given)
	if err != nil {
		return fmt.Errorf("bootstrapping admin: %w", err)
	}
	path := filepath.Join(dataDir, adminTokenFile)
	if !created {
		log.Debug("admin exists; token not reissued", "user", email)
		return nil
	}
	if given != "" {
		log.Info("admin created with the token of --admin-token-file", "user", email, "path", tokenFile)
		return nil
	}
	if err := writeFileAtomic(path, []byte(token+"\n")); err != nil {
		return fmt.Errorf("writing admin token: %w", err)
	}
	log.Info("admin created; token written", "user", email, "path", path)
	return nil
}

// prepareDataDir creates the data directory (0700) and makes sure it is
// writable before anything is written to the database that must also be
// written there: a bootstrap token that cannot be saved is lost.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("cleaning up in data directory: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path with mode 0600 so that a reader sees
// either no file or all of it: a temporary file in the same directory,
// synced, then renamed over path.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes 0600 files already; say so in case that changes.
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

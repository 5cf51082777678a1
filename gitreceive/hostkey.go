package gitreceive

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// loadOrCreateHostKey reads the host key at path, or generates an ed25519
// key and stores it there (mode 0600) if there is none. Two processes racing
// to create it end up with the same key: the file is published with a hard
// link, which never replaces an existing file.
func loadOrCreateHostKey(path string, log *slog.Logger) (gossh.Signer, error) {
	signer, err := readHostKey(path, log)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return signer, err
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "platform gitreceive host key")
	if err != nil {
		return nil, fmt.Errorf("encoding host key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating host key dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".hostkey-*")
	if err != nil {
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readHostKey(path, log)
		}
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	signer, err = gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("loading generated host key: %w", err)
	}
	log.Info("generated ssh host key", "path", path, "fingerprint", gossh.FingerprintSHA256(signer.PublicKey()))
	return signer, nil
}

func readHostKey(path string, log *slog.Logger) (gossh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("parsing host key %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Not fatal: a Kubernetes Secret volume is 0644 unless told
		// otherwise, and refusing to start helps nobody.
		log.Warn("ssh host key is readable by others", "path", path, "mode", fi.Mode().Perm().String())
	}
	return signer, nil
}

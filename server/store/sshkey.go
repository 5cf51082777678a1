package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SSHKey is a public key a user pushes with.
type SSHKey struct {
	ID          int64
	UserID      int64
	Name        string
	PublicKey   string // normalised authorized_keys line: "<type> <base64> [comment]"
	Fingerprint string // SHA256:<base64>, as ssh-keygen -l and x/crypto/ssh print it
	CreatedAt   time.Time
}

// supportedKeyType reports whether the platform accepts public keys of
// algorithm t. DSA is left out on purpose.
func supportedKeyType(t string) bool {
	switch t {
	case "ssh-ed25519", "ssh-rsa",
		"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com":
		return true
	}
	return false
}

// ParseAuthorizedKey checks one authorized_keys line (without options) and
// returns it normalised along with its SHA256 fingerprint. It checks the
// form and the algorithm name inside the key blob, not the key's maths; the
// SSH server does that when the key is offered.
func ParseAuthorizedKey(line string) (normalized, fingerprint string, err error) {
	fields := strings.Fields(strings.TrimSpace(line))
	if len(fields) < 2 {
		return "", "", invalidf("public key is invalid: paste one line of the form \"ssh-ed25519 AAAA... comment\"")
	}
	typ := fields[0]
	if !supportedKeyType(typ) {
		return "", "", invalidf("public key type %q is not supported: use ed25519, ecdsa or rsa", truncate(typ, 40))
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 4 {
		return "", "", invalidf("public key is invalid: the key data is not base64")
	}
	// The blob starts with the algorithm name as an SSH string.
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != typ {
		return "", "", invalidf("public key is invalid: the key data does not match its type %q", typ)
	}
	sum := sha256.Sum256(blob)
	normalized = typ + " " + fields[1]
	if len(fields) > 2 {
		normalized += " " + strings.Join(fields[2:], " ")
	}
	return normalized, "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

const sshKeyColumns = `id, user_id, name, public_key, fingerprint, created_at`

func scanSSHKey(row pgx.Row) (SSHKey, error) {
	var k SSHKey
	err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.PublicKey, &k.Fingerprint, &k.CreatedAt)
	return k, err
}

// AddSSHKey registers publicKey (an authorized_keys line) for the user under
// name. A key registered by anyone, or a name the user already used, is a
// *ConflictError.
func (s *Store) AddSSHKey(ctx context.Context, userID int64, name, publicKey string) (SSHKey, error) {
	if err := validateLabel("SSH key", name); err != nil {
		return SSHKey{}, err
	}
	normalized, fp, err := ParseAuthorizedKey(publicKey)
	if err != nil {
		return SSHKey{}, err
	}
	k, err := scanSSHKey(s.db.QueryRow(ctx, `
		INSERT INTO ssh_keys (user_id, name, public_key, fingerprint)
		VALUES ($1, $2, $3, $4)
		RETURNING `+sshKeyColumns, userID, name, normalized, fp))
	switch {
	case isViolation(err, codeUniqueViolation, "ssh_keys_fingerprint_key"):
		return SSHKey{}, conflictf("SSH key %s is already registered", fp)
	case isViolation(err, codeUniqueViolation, "ssh_keys_user_id_name_key"):
		return SSHKey{}, conflictf("you already have an SSH key named %q", name)
	case err != nil:
		if pe, ok := pgErr(err); ok && pe.Code == codeForeignKeyViolation {
			return SSHKey{}, notFoundf("user %d", userID)
		}
		return SSHKey{}, mapErr(err)
	}
	return k, nil
}

// ListSSHKeys returns the user's keys, oldest first.
func (s *Store) ListSSHKeys(ctx context.Context, userID int64) ([]SSHKey, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sshKeyColumns+` FROM ssh_keys WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanSSHKey)
}

// RemoveSSHKey removes the user's key with the given ID. Another user's key
// is ErrNotFound.
func (s *Store) RemoveSSHKey(ctx context.Context, userID, keyID int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2`, keyID, userID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("SSH key %d", keyID)
	}
	return nil
}

// UserByFingerprint returns the owner of the key with the given SHA256
// fingerprint. Call it only for the key that authenticated the session,
// never for a key merely offered (see CVE-2024-45337). The key of a
// deactivated user is ErrDeactivated.
func (s *Store) UserByFingerprint(ctx context.Context, fingerprint string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `
		SELECT `+userColumns+`
		FROM ssh_keys k JOIN users u ON u.id = k.user_id
		WHERE k.fingerprint = $1`, fingerprint))
	if err != nil {
		return User{}, notFoundOr(err, "SSH key %s", fingerprint)
	}
	return signedIn(u, nil)
}

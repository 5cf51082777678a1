package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
)

// ErrWrongPassword means an e-mail address and password do not sign in:
// the address is unknown, has no password, or the password is wrong. It
// does not say which.
var ErrWrongPassword = errors.New("wrong e-mail address or password")

// Password length bounds, in characters (not bytes).
const (
	PasswordMinLen = 12
	PasswordMaxLen = 256
)

// argon2idParams are the cost of a password hash: OWASP's first
// recommendation for argon2id (19 MiB, 2 passes, 1 lane). A hash records
// its parameters, so raising them later leaves old hashes verifiable.
type argon2idParams struct {
	memoryKiB uint32
	time      uint32
	threads   uint8
	keyLen    uint32
}

var currentParams = argon2idParams{memoryKiB: 19 * 1024, time: 2, threads: 1, keyLen: 32}

const saltLen = 16

// dummySalt salts the hash computed for an address with no password, only
// to spend the time a real check would.
var dummySalt = []byte("platform-no-user")

// ValidatePassword reports, as an ErrInvalid error, why password cannot be
// a password: it must be PasswordMinLen to PasswordMaxLen characters.
func ValidatePassword(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return invalidf("the password must be valid UTF-8 text")
	case n < PasswordMinLen:
		return invalidf("the password must be at least %d characters long", PasswordMinLen)
	case n > PasswordMaxLen:
		return invalidf("the password must be at most %d characters long", PasswordMaxLen)
	}
	return nil
}

// SetPassword sets the user's password, after ValidatePassword. It stores
// only an argon2id hash with a random salt, in PHC string form
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func (s *Store) SetPassword(ctx context.Context, userID int64, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash := hashPassword(password, currentParams)
	tag, err := s.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return notFoundf("user %d", userID)
	}
	return nil
}

// HasPassword reports whether the user has set a password.
func (s *Store) HasPassword(ctx context.Context, userID int64) (bool, error) {
	var has bool
	err := s.db.QueryRow(ctx, `SELECT password_hash IS NOT NULL FROM users WHERE id = $1`, userID).Scan(&has)
	if err != nil {
		return false, notFoundOr(err, "user %d", userID)
	}
	return has, nil
}

// CheckPassword returns the user with the address email (in any case) if
// password is theirs. An unknown address, a user without a password and a
// wrong password are all ErrWrongPassword, and take the same time: an
// address that has no password is hashed against a dummy. The right
// password of a deactivated user is ErrDeactivated. It is safe for
// concurrent use; each call costs about 19 MiB and tens of milliseconds of
// CPU, so callers limit failed attempts (see the server's sign-in limiter).
func (s *Store) CheckPassword(ctx context.Context, email, password string) (User, error) {
	email = strings.TrimSpace(email)
	var u User
	var hash *string
	err := s.db.QueryRow(ctx, `
		SELECT `+userColumns+`, u.password_hash FROM users u WHERE lower(u.email) = lower($1)`, email).
		Scan(&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt, &u.DeactivatedAt, &hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return User{}, mapErr(err)
	}
	if err != nil || hash == nil {
		p := currentParams
		argon2.IDKey([]byte(password), dummySalt, p.time, p.memoryKiB, p.threads, p.keyLen)
		return User{}, ErrWrongPassword
	}
	ok, err := verifyPassword(*hash, password)
	if err != nil {
		return User{}, fmt.Errorf("checking the password of user %d: %w", u.ID, err)
	}
	if !ok {
		return User{}, ErrWrongPassword
	}
	// Only once the password is right does the answer say the account is
	// deactivated: to its owner, not to a guesser.
	return signedIn(u, nil)
}

// hashPassword hashes password with p and a random salt, in PHC form.
func hashPassword(password string, p argon2idParams) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // never fails; see crypto/rand.Read
	key := argon2.IDKey([]byte(password), salt, p.time, p.memoryKiB, p.threads, p.keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memoryKiB, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verifyPassword reports whether password hashes to phc, with the
// parameters phc records. A phc that is not an argon2id PHC string is an
// error (never the user's).
func verifyPassword(phc, password string) (bool, error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memoryKiB, p.threads, p.keyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

func parsePHC(phc string) (p argon2idParams, salt, key []byte, err error) {
	bad := func(why string) (argon2idParams, []byte, []byte, error) {
		return argon2idParams{}, nil, nil, fmt.Errorf("stored password hash is not argon2id in PHC form: %s", why)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("wrong shape")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("unknown version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memoryKiB, &p.time, &p.threads); err != nil {
		return bad("unreadable parameters")
	}
	// Bounds keep a corrupted row from costing a lot of memory or time.
	if p.memoryKiB < 8 || p.memoryKiB > 1<<20 || p.time < 1 || p.time > 16 || p.threads < 1 {
		return bad("parameters out of range")
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return bad("bad salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return bad("bad hash")
	}
	p.keyLen = uint32(len(key))
	return p, salt, key, nil
}

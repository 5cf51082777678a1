package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors. Test with errors.Is; the wrapping error's message says
// what was not found, what conflicted, what was invalid.
var (
	// ErrNotFound means the thing asked for does not exist (or is not
	// visible to the one asking, such as another user's SSH key).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write would break a uniqueness rule or a state
	// rule (a name already taken, a build already finished). The error is
	// a *ConflictError saying what conflicted.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means an argument was refused before reaching the
	// database (a malformed name, an unknown size). The message says why.
	ErrInvalid = errors.New("invalid argument")
	// ErrQuotaExceeded means the write would take a tenant past its quota.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrTokenExpired means an API token exists but is past its expiry.
	ErrTokenExpired = errors.New("token expired")
	// ErrDeactivated means a credential (an API token, a session, an SSH
	// key, a password) is right but its user is deactivated.
	ErrDeactivated = errors.New("user deactivated")
	// ErrLockNotHeld means the caller does not hold the deploy lock it
	// tried to renew: it expired and someone else took it, or it was
	// released.
	ErrLockNotHeld = errors.New("deploy lock not held")
	// ErrDecrypt means a config value could not be decrypted: the store was
	// opened with a different key, or the bytes were altered or moved to
	// another row.
	ErrDecrypt = errors.New("decrypting config: wrong key or corrupted value")
)

// ConflictError is the error of a write refused because it conflicts with
// existing data. It matches ErrConflict with errors.Is.
type ConflictError struct {
	// What is a short sentence naming the conflict, such as
	// `app name "foo" is already taken`.
	What string
}

func (e *ConflictError) Error() string { return e.What }

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// userError is a refusal whose message is meant for the user as is; it
// matches its sentinel with errors.Is.
type userError struct {
	kind error
	msg  string
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.kind }

func invalidf(format string, args ...any) error {
	return &userError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

func quotaf(format string, args ...any) error {
	return &userError{kind: ErrQuotaExceeded, msg: fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &ConflictError{What: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrNotFound)...)
}

// SQLSTATE codes the package maps.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeReleaseImmutable    = "PT001" // raised by the releases_immutable trigger
)

// pgErr returns the Postgres error in err's chain, if any.
func pgErr(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe, true
	}
	return nil, false
}

// isViolation reports whether err is a violation of the constraint named.
func isViolation(err error, code, constraint string) bool {
	pe, ok := pgErr(err)
	return ok && pe.Code == code && pe.ConstraintName == constraint
}

// mapErr turns what pgx and Postgres report into the package's sentinels.
// Call sites that can name the conflict (an app name, a host) check for
// their constraint first; mapErr is the fallback. It keeps err's message
// and adds the sentinel.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w", ErrNotFound)
	}
	pe, ok := pgErr(err)
	if !ok {
		return err
	}
	switch pe.Code {
	case codeUniqueViolation:
		return &ConflictError{What: fmt.Sprintf("already exists (%s)", pe.ConstraintName)}
	case codeForeignKeyViolation:
		// On insert or update a missing parent; on delete a row still
		// referenced.
		if strings.Contains(pe.Detail, "is still referenced") {
			return &ConflictError{What: fmt.Sprintf("still in use (%s)", pe.ConstraintName)}
		}
		return fmt.Errorf("referenced row does not exist (%s): %w", pe.ConstraintName, ErrNotFound)
	case codeCheckViolation:
		return invalidf("value refused by the database (%s)", pe.ConstraintName)
	case codeReleaseImmutable:
		return &ConflictError{What: pe.Message}
	}
	return err
}

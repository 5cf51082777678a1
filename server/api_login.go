package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// Token lifetimes a client may ask for (expires_in). Empty means never.
const (
	minTokenLifetime = time.Hour
	maxTokenLifetime = 8760 * time.Hour // a year
)

// defaultLoginTokenName names the token POST /login makes when the
// request names none.
const defaultLoginTokenName = "cli"

// errWrongPassword is the one answer to a failed sign-in: it does not say
// whether the address is known.
var errWrongPassword = &apiError{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized,
	Message: "wrong e-mail address or password"}

func tokenView(t store.Token) api.Token {
	return api.Token{ID: t.ID, Name: t.Name, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, CreatedAt: t.CreatedAt}
}

// tooManySignIns refuses a sign-in for wait.
func tooManySignIns(w http.ResponseWriter, wait time.Duration) error {
	w.Header().Set("Retry-After", retryAfterSeconds(wait))
	return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeTooManyRequests, Message: signInRetryMessage(wait)}
}

// expiryFrom parses a requested token lifetime: "" means never.
func expiryFrom(field, expiresIn string, now time.Time) (*time.Time, error) {
	if expiresIn == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(expiresIn)
	if err != nil || d < minTokenLifetime || d > maxTokenLifetime {
		return nil, invalid(field, "%s must be a duration from 1h to 8760h (a year), such as 720h, or left out for a token that never expires", field)
	}
	return new(now.Add(d)), nil
}

// checkPassword checks a password sign-in within the sign-in limits (see
// signInLimiter) and returns its user. The attempt is counted before the
// hash runs; an address over its limit is refused (429) and an account
// over its limit waits first. A wrong password is store.ErrWrongPassword,
// for the caller to answer; a deactivated user's right one is
// errDeactivated; every refusal is logged.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, email, password string) (store.User, error) {
	ctx := r.Context()
	remote := remoteHost(r)
	refused := func(reason string, err error) (store.User, error) {
		s.log.InfoContext(ctx, "sign-in refused", "reason", reason, "user", email,
			"remote_addr", remote, "request_id", requestIDFrom(ctx))
		return store.User{}, err
	}
	a, wait := s.signIns.begin(email, remote)
	if wait > 0 {
		return refused("rate limited", tooManySignIns(w, wait))
	}
	if a.Delay > 0 {
		if err := s.signIns.sleep(ctx, a.Delay); err != nil {
			a.cancel()
			return store.User{}, err
		}
	}
	release, err := s.signIns.hash(ctx)
	if err != nil {
		a.cancel()
		if errors.Is(err, errBusy) {
			w.Header().Set("Retry-After", "5")
			return refused("busy", err)
		}
		return store.User{}, err
	}
	u, err := s.st.CheckPassword(ctx, email, password)
	release()
	switch {
	case errors.Is(err, store.ErrWrongPassword):
		return refused("wrong password", err)
	case errors.Is(err, store.ErrDeactivated):
		a.ok() // the password was right
		return refused("user deactivated", errDeactivated)
	case err != nil:
		a.cancel()
		return store.User{}, err
	}
	a.ok()
	return u, nil
}

// login trades an e-mail address and password for a new API token:
// POST /login, without a token. Attempts are limited per address and per
// account (see checkPassword).
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req api.LoginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("email", req.Email); err != nil {
		return err
	}
	if req.Password == "" {
		return invalid("password", "password is required")
	}
	name := strings.TrimSpace(req.TokenName)
	if name == "" {
		name = defaultLoginTokenName
	}
	expires, err := expiryFrom("expires_in", req.ExpiresIn, time.Now())
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.checkPassword(w, r, req.Email, req.Password)
	if errors.Is(err, store.ErrWrongPassword) {
		return errWrongPassword
	}
	if err != nil {
		return err
	}

	r = r.WithContext(context.WithValue(ctx, userKey{}, u))
	var plaintext string
	var tok store.Token
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		plaintext, tok, err = tx.CreateToken(ctx, u.ID, name, expires)
		if err != nil {
			return invalidField("token_name", err)
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:  "account.login",
			Target:  u.Email,
			Details: tokenDetails(tok),
		})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.CreatedToken{Token: plaintext, Info: tokenView(tok)})
	return nil
}

// tokenDetails is what the audit log says about a token: never the token.
func tokenDetails(t store.Token) map[string]any {
	d := map[string]any{"token_id": t.ID, "token_name": t.Name}
	if t.ExpiresAt != nil {
		d["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return d
}

// setPassword sets the user's own password: PUT /account/password. The
// current password is required when there is one; a wrong one counts as a
// failed sign-in.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error {
	var req api.SetPasswordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Password == "" {
		return invalid("password", "password is required")
	}
	if err := store.ValidatePassword(req.Password); err != nil {
		return invalidField("password", err)
	}
	ctx := r.Context()
	u := userFrom(ctx)
	has, err := s.st.HasPassword(ctx, u.ID)
	if err != nil {
		return err
	}
	if has {
		if req.Current == "" {
			return invalid("current", "current is required: give your current password to change it")
		}
		_, err := s.checkPassword(w, r, u.Email, req.Current)
		if errors.Is(err, store.ErrWrongPassword) {
			return invalid("current", "current is not your current password")
		}
		if err != nil {
			return err
		}
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.SetPassword(ctx, u.ID, req.Password); err != nil {
			return invalidField("password", err)
		}
		// Dashboard sessions signed in with the old password end; API
		// tokens stay (they are revoked one by one: platform tokens:revoke).
		if _, err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:  "account.password",
			Target:  u.Email,
			Details: map[string]any{"first": !has},
		})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listTokens lists the user's own tokens, newest first:
// GET /account/tokens. The cursor is the token's ID.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	return listPageByID(w, r, func(o store.ListOptions) ([]store.Token, error) {
		toks, err := s.st.ListTokens(r.Context(), userFrom(r.Context()).ID)
		if err != nil {
			return nil, err
		}
		// A user has a handful of tokens: the store hands them all over,
		// oldest first, and the page is cut here.
		slices.Reverse(toks)
		i := 0
		for o.After > 0 && i < len(toks) && toks[i].ID >= o.After {
			i++
		}
		return toks[i:], nil
	}, tokenView, func(t store.Token) int64 { return t.ID })
}

// createToken makes a new API token for the user: POST /account/tokens.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateTokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("name", req.Name); err != nil {
		return err
	}
	expires, err := expiryFrom("expires_in", req.ExpiresIn, time.Now())
	if err != nil {
		return err
	}
	ctx := r.Context()
	u := userFrom(ctx)
	var plaintext string
	var tok store.Token
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		plaintext, tok, err = tx.CreateToken(ctx, u.ID, strings.TrimSpace(req.Name), expires)
		if err != nil {
			return invalidField("name", err)
		}
		return s.audit(r, tx, store.AuditEvent{Action: "token.create", Target: tok.Name, Details: tokenDetails(tok)})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.CreatedToken{Token: plaintext, Info: tokenView(tok)})
	return nil
}

// revokeToken revokes one of the user's tokens, named by its ID:
// DELETE /account/tokens/{id}. Another user's token is not found.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	raw := urlParam(r, "id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return notFound("you have no API token %s: platform tokens lists yours", raw)
	}
	ctx := r.Context()
	u := userFrom(ctx)
	toks, err := s.st.ListTokens(ctx, u.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(toks, func(t store.Token) bool { return t.ID == id })
	if i < 0 {
		return notFound("you have no API token %d: platform tokens lists yours", id)
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.RevokeToken(ctx, u.ID, id); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "token.revoke", Target: toks[i].Name, Details: tokenDetails(toks[i])})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listUsers lists every user with their memberships, by creation:
// GET /users (admins). The cursor is the user's ID.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(userFrom(r.Context()), "list users"); err != nil {
		return err
	}
	var ms map[int64][]store.Membership // of the listed users
	list := func(o store.ListOptions) ([]store.User, error) {
		users, err := s.st.ListUsers(r.Context(), o)
		if err != nil {
			return nil, err
		}
		ids := make([]int64, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		ms, err = s.st.ListMembershipsOf(r.Context(), ids)
		return users, err
	}
	view := func(u store.User) api.User {
		v := userView(u)
		v.Memberships = make([]api.Membership, 0, len(ms[u.ID]))
		for _, m := range ms[u.ID] {
			v.Memberships = append(v.Memberships, api.Membership{Tenant: m.TenantName, Role: string(m.Role)})
		}
		return v
	}
	return listPageByID(w, r, list, view, func(u store.User) int64 { return u.ID })
}

package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// The API token a user created by createUser gets, for the admin to hand
// over.
const (
	initialTokenName     = "initial"
	initialTokenLifetime = 7 * 24 * time.Hour
)

// createUser creates a user: POST /users (admins). Only admins make
// accounts. The answer holds the user's first API token, named "initial"
// and valid for initialTokenLifetime: the only way in for someone who has
// no password or key yet, shown only here, for the admin to hand over.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx), "create users"); err != nil {
		return err
	}
	var req api.CreateUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("email", req.Email); err != nil {
		return err
	}
	var out api.CreatedUser
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		u, err := tx.CreateUser(ctx, req.Email, req.Admin)
		if err != nil {
			return invalidField("email", err)
		}
		var tok store.Token
		out.InitialToken, tok, err = tx.CreateToken(ctx, u.ID, initialTokenName, new(time.Now().Add(initialTokenLifetime)))
		if err != nil {
			return err
		}
		out.User = userView(u)
		details := tokenDetails(tok)
		details["admin"] = u.IsAdmin
		return s.audit(r, tx, store.AuditEvent{Action: "user.create", Target: u.Email, Details: details})
	})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// userView is a user as admins see them, without memberships (an empty
// list).
func userView(u store.User) api.User {
	return api.User{Email: u.Email, Admin: u.IsAdmin, CreatedAt: u.CreatedAt, DeactivatedAt: u.DeactivatedAt,
		Memberships: []api.Membership{}}
}

// userNamed returns the user whose address is the {email} parameter, for
// an admin doing what.
func (s *Server) userNamed(r *http.Request, what string) (store.User, error) {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx), what); err != nil {
		return store.User{}, err
	}
	email := strings.TrimSpace(urlParam(r, "email"))
	u, err := s.st.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, notFound("there is no user %s: platform users lists them", email)
	}
	return u, err
}

// updateUser deactivates or reactivates a user: PATCH /users/{email}
// (admins). From the moment it returns, none of a deactivated user's
// credentials signs in: API tokens, dashboard sessions (which are also
// ended) and SSH keys are refused, as is their password; the tokens and
// keys are kept, for a reactivation. An admin cannot deactivate
// themselves, so an active admin always remains.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.userNamed(r, "deactivate or reactivate users")
	if err != nil {
		return err
	}
	var req api.UpdateUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Deactivated == nil {
		return invalid("deactivated", "deactivated is required: true deactivates the user, false reactivates them")
	}
	deactivate := *req.Deactivated
	if deactivate && u.ID == userFrom(ctx).ID {
		return &apiError{Status: http.StatusConflict, Code: api.CodeConflict,
			Message: "you cannot deactivate your own account: ask another platform admin"}
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		changes := u.Active() == deactivate
		var err error
		if u, err = tx.SetUserDeactivated(ctx, u.ID, deactivate); err != nil {
			return err
		}
		if !changes {
			return nil // as asked already
		}
		if !deactivate {
			return s.audit(r, tx, store.AuditEvent{Action: "user.reactivate", Target: u.Email})
		}
		ended, err := tx.DeleteUserSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "user.deactivate", Target: u.Email,
			Details: map[string]any{"sessions_ended": ended}})
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "user updated", "user", u.Email, "deactivated", deactivate,
		"by", userFrom(ctx).Email, "request_id", requestIDFrom(ctx))
	ms, err := s.st.ListMemberships(ctx, u.ID)
	if err != nil {
		return err
	}
	v := userView(u)
	for _, m := range ms {
		v.Memberships = append(v.Memberships, api.Membership{Tenant: m.TenantName, Role: string(m.Role)})
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// listUserTokens lists another user's tokens, newest first:
// GET /users/{email}/tokens (admins). One page: a user has a handful.
func (s *Server) listUserTokens(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userNamed(r, "list other users' tokens")
	if err != nil {
		return err
	}
	toks, err := s.st.ListTokens(r.Context(), u.ID)
	if err != nil {
		return err
	}
	slices.Reverse(toks)
	p := api.Page[api.Token]{Items: make([]api.Token, 0, len(toks))}
	for _, t := range toks {
		p.Items = append(p.Items, tokenView(t))
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// revokeUserToken revokes another user's token, named by its ID:
// DELETE /users/{email}/tokens/{id} (admins). It stops working at once,
// and so do the dashboard sessions signed in with it.
func (s *Server) revokeUserToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.userNamed(r, "revoke other users' tokens")
	if err != nil {
		return err
	}
	raw := urlParam(r, "id")
	noSuch := notFound("%s has no API token %s: platform tokens --user %s lists theirs", u.Email, raw, u.Email)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return noSuch
	}
	toks, err := s.st.ListTokens(ctx, u.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(toks, func(t store.Token) bool { return t.ID == id })
	if i < 0 {
		return noSuch
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		err := tx.RevokeToken(ctx, u.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return noSuch // revoked a moment ago
		}
		if err != nil {
			return fmt.Errorf("revoking token %d of user %d: %w", id, u.ID, err)
		}
		details := tokenDetails(toks[i])
		details["user"] = u.Email
		return s.audit(r, tx, store.AuditEvent{Action: "token.revoke", Target: toks[i].Name, Details: details})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

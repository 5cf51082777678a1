package server

import (
	"net/http"
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
		out.User = api.User{Email: u.Email, Admin: u.IsAdmin, CreatedAt: u.CreatedAt, Memberships: []api.Membership{}}
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

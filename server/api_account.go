package server

import (
	"net/http"
	"strings"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// getAccount says who the token belongs to: GET /account.
func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	u := userFrom(r.Context())
	ms, err := s.st.ListMemberships(r.Context(), u.ID)
	if err != nil {
		return err
	}
	a := api.Account{Email: u.Email, Admin: u.IsAdmin, CreatedAt: u.CreatedAt, Memberships: make([]api.Membership, 0, len(ms))}
	for _, m := range ms {
		a.Memberships = append(a.Memberships, api.Membership{Tenant: m.TenantName, Role: string(m.Role)})
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func sshKeyView(k store.SSHKey) api.SSHKey {
	return api.SSHKey{Name: k.Name, Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, CreatedAt: k.CreatedAt}
}

// listSSHKeys lists the user's own keys, oldest first: GET /account/keys.
func (s *Server) listSSHKeys(w http.ResponseWriter, r *http.Request) error {
	return listPageByID(w, r, func(o store.ListOptions) ([]store.SSHKey, error) {
		keys, err := s.st.ListSSHKeys(r.Context(), userFrom(r.Context()).ID)
		if err != nil {
			return nil, err
		}
		// A user has a handful of keys: the store hands them all over, in
		// ID order, and the page is cut here.
		i := 0
		for i < len(keys) && keys[i].ID <= o.After {
			i++
		}
		return keys[i:], nil
	}, sshKeyView, func(k store.SSHKey) int64 { return k.ID })
}

// addSSHKey registers a public key for the user: POST /account/keys.
func (s *Server) addSSHKey(w http.ResponseWriter, r *http.Request) error {
	var req api.AddSSHKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("public_key", req.PublicKey); err != nil {
		return err
	}
	_, fingerprint, err := store.ParseAuthorizedKey(req.PublicKey)
	if err != nil {
		return invalidField("public_key", err)
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = defaultKeyName(req.PublicKey, fingerprint)
	}
	u := userFrom(r.Context())
	var key store.SSHKey
	err = s.st.InTx(r.Context(), func(tx *store.Store) error {
		var err error
		key, err = tx.AddSSHKey(r.Context(), u.ID, name, req.PublicKey)
		if err != nil {
			return invalidField("name", err)
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:  "ssh_key.add",
			Target:  key.Fingerprint,
			Details: map[string]any{"name": key.Name},
		})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sshKeyView(key))
	return nil
}

// defaultKeyName names a key after its comment, as authorized_keys shows
// it, or else after its fingerprint.
func defaultKeyName(publicKey, fingerprint string) string {
	fields := strings.Fields(publicKey)
	if len(fields) > 2 {
		name := strings.Join(fields[2:], " ")
		if len(name) <= 100 {
			return name
		}
	}
	return fingerprint
}

// removeSSHKey removes one of the user's keys, named by its fingerprint:
// DELETE /account/keys/{fingerprint}.
func (s *Server) removeSSHKey(w http.ResponseWriter, r *http.Request) error {
	fp := urlParam(r, "fingerprint")
	if !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp
	}
	u := userFrom(r.Context())
	keys, err := s.st.ListSSHKeys(r.Context(), u.ID)
	if err != nil {
		return err
	}
	var key *store.SSHKey
	for i := range keys {
		if keys[i].Fingerprint == fp {
			key = &keys[i]
		}
	}
	if key == nil {
		return notFound("you have no SSH key %s: platform keys lists yours", fp)
	}
	err = s.st.InTx(r.Context(), func(tx *store.Store) error {
		if err := tx.RemoveSSHKey(r.Context(), u.ID, key.ID); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{
			Action:  "ssh_key.remove",
			Target:  key.Fingerprint,
			Details: map[string]any{"name": key.Name},
		})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

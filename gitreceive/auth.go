package gitreceive

import (
	"errors"
	"strings"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// How the user is determined (CVE-2024-45337).
//
// SSH lets a client ask whether a key would be accepted before proving it
// holds the private key, so the public-key callback sees candidate keys,
// not the key that authenticated. gliderlabs/ssh v0.3.8 hands every
// PublicKeyHandler call one shared Permissions object per connection, so
// nothing recorded there can be tied to the key that signed.
//
// So acceptOfferedKey only answers "would this key do?" and records nothing,
// and the user is resolved in x/crypto's VerifiedPublicKeyCallback, which
// runs only after the client's signature over the session has been verified,
// with the key that made it. The identity it returns travels in the
// Permissions that x/crypto stores on the ServerConn for that key, and the
// session handler reads it from there and from nowhere else.

// identity is who authenticated a connection.
type identity struct {
	user        string
	fingerprint string
	key         gossh.PublicKey
}

// identityKey is the Permissions.ExtraData key of the verified identity.
type identityKey struct{}

// acceptOfferedKey is gliderlabs' PublicKeyHandler. It is called for keys
// the client merely offers too, so it must not record anything.
func (s *Server) acceptOfferedKey(ctx ssh.Context, key ssh.PublicKey) bool {
	if _, isCert := key.(*gossh.Certificate); isCert {
		return false
	}
	_, err := s.auth.UserForKey(ctx, authorizedKey(key), gossh.FingerprintSHA256(key))
	if err != nil {
		s.logKeyRefused(ctx, key, err)
		return false
	}
	return true
}

// serverConfig is gliderlabs' ServerConfigCallback: gliderlabs fills in the
// rest of the config, and leaves VerifiedPublicKeyCallback alone.
func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	return &gossh.ServerConfig{
		VerifiedPublicKeyCallback: func(conn gossh.ConnMetadata, key gossh.PublicKey, _ *gossh.Permissions, _ string) (*gossh.Permissions, error) {
			fp := gossh.FingerprintSHA256(key)
			user, err := s.auth.UserForKey(ctx, authorizedKey(key), fp)
			if err != nil {
				s.logKeyRefused(ctx, key, err)
				return nil, errors.New("permission denied")
			}
			s.log.Info("ssh key authenticated", "user", user, "fingerprint", fp, "remote_addr", conn.RemoteAddr().String())
			return &gossh.Permissions{ExtraData: map[any]any{
				identityKey{}: identity{user: user, fingerprint: fp, key: key},
			}}, nil
		},
	}
}

func (s *Server) logKeyRefused(ctx ssh.Context, key ssh.PublicKey, err error) {
	attrs := []any{"fingerprint", gossh.FingerprintSHA256(key), "remote_addr", ctx.RemoteAddr().String(), "err", err}
	if errors.Is(err, ErrUnknownKey) {
		s.log.Debug("ssh key refused", attrs...)
		return
	}
	s.log.Error("ssh key lookup failed", attrs...)
}

// identityOf returns the identity verified for the session's connection.
func identityOf(sess ssh.Session) (identity, error) {
	conn, ok := sess.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	if !ok || conn.Permissions == nil {
		return identity{}, errors.New("connection has no permissions")
	}
	id, ok := conn.Permissions.ExtraData[identityKey{}].(identity)
	if !ok || id.user == "" {
		return identity{}, errors.New("connection has no verified key")
	}
	// gliderlabs remembers the key of the last accepted PublicKeyHandler
	// call; since x/crypto v0.31 that is the key that signed. Should either
	// library change, fail closed rather than guess.
	if pk := sess.PublicKey(); pk == nil || !ssh.KeysEqual(pk, id.key) {
		return identity{}, errors.New("key recorded by gliderlabs/ssh differs from the verified key")
	}
	return id, nil
}

// authorizedKey returns key in authorized_keys form without a newline.
func authorizedKey(key gossh.PublicKey) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))
}

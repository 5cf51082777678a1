// Package regtoken is the token side of the registry's authentication,
// as the distribution token spec has it: the scope grammar, the token
// endpoint (GET with Basic credentials, as docker, crane and BuildKit ask,
// and the OAuth2 password grant by POST, as containerd asks first) and the
// short-lived JWTs it signs with an Ed25519 key, which distribution's
// token access controller verifies against the key set JWKS returns.
//
// It owns the wire: who a credential is and what it may do is decided by
// the Authorizer the caller hands in (package registry's policy).
package regtoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Authorizer decides what a token request gets.
type Authorizer interface {
	// Authorize checks the Basic credentials of a token request and
	// returns who they are and the part of requested they allow: each
	// scope with the actions both asked for and allowed, scopes with none
	// left out. Credentials that are not valid are an error wrapping
	// ErrUnauthorized.
	Authorize(username, password string, requested []Scope) (subject string, granted []Scope, err error)
}

// ErrUnauthorized is a token request whose credentials are missing, not
// valid or expired.
var ErrUnauthorized = errors.New("unauthorized")

// Config configures a Server.
type Config struct {
	// Issuer and Service are the tokens' iss and aud claims; the registry
	// checks both. Service is also what a token request must name.
	Issuer  string
	Service string
	// TTL is how long a token is valid.
	TTL time.Duration
	// Key signs the tokens.
	Key ed25519.PrivateKey
	// Authorizer decides what each request gets.
	Authorizer Authorizer
	// Logger receives refusals; no credential or token is ever logged.
	Logger *slog.Logger
}

// Server signs tokens and answers token requests. It is safe for
// concurrent use.
type Server struct {
	cfg    Config
	kid    string
	signer jose.Signer
	now    func() time.Time
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Issuer == "" || cfg.Service == "" || cfg.TTL <= 0 || len(cfg.Key) != ed25519.PrivateKeySize || cfg.Authorizer == nil || cfg.Logger == nil {
		return nil, errors.New("token server: issuer, service, a positive TTL, an Ed25519 key, an authorizer and a logger are required")
	}
	kid := keyID(cfg.Key.Public().(ed25519.PublicKey))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: cfg.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return nil, fmt.Errorf("token server: %w", err)
	}
	return &Server{cfg: cfg, kid: kid, signer: signer, now: time.Now}, nil
}

// keyID names the signing key in the tokens' headers and the key set.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// JWKS returns the key set that verifies the tokens, as distribution's
// token auth reads it from its "jwks" file.
func (s *Server) JWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       s.cfg.Key.Public(),
		KeyID:     s.kid,
		Algorithm: string(jose.EdDSA),
		Use:       "sig",
	}}}
	return json.Marshal(set)
}

// Sign returns a token for subject granting access, and when it expires.
func (s *Server) Sign(subject string, access []Scope) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.cfg.TTL)
	claims := token.ClaimSet{
		Issuer:     s.cfg.Issuer,
		Subject:    subject,
		Audience:   token.AudienceList{s.cfg.Service},
		Expiration: exp.Unix(),
		NotBefore:  now.Unix(),
		IssuedAt:   now.Unix(),
		JWTID:      rand.Text(),
		Access:     []*token.ResourceActions{},
	}
	for _, a := range access {
		claims.Access = append(claims.Access, &token.ResourceActions{Type: a.Type, Name: a.Name, Actions: a.Actions})
	}
	raw, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing registry token: %w", err)
	}
	return raw, exp, nil
}

// maxBody bounds a POSTed token request.
const maxBody = 64 << 10

// ServeHTTP answers a token request: GET with the parameters in the query
// and Basic credentials, or POST with an OAuth2 password grant in the form.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		user, pass, _ := r.BasicAuth()
		q := r.URL.Query()
		s.answer(w, r, user, pass, q.Get("service"), q["scope"], false)
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request")
			return
		}
		if gt := r.PostForm.Get("grant_type"); gt != "password" {
			// Refresh tokens are not issued: a client keeps its
			// credential and asks again.
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
			return
		}
		s.answer(w, r, r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("service"), r.PostForm["scope"], true)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, user, pass, service string, scopeParams []string, oauth bool) {
	if service != s.cfg.Service {
		s.refuse(w, oauth, http.StatusBadRequest, "invalid_request", "unknown service")
		return
	}
	requested, err := parseScopes(scopeParams)
	if err != nil {
		s.refuse(w, oauth, http.StatusBadRequest, "invalid_scope", err.Error())
		return
	}
	if pass == "" {
		s.refuse(w, oauth, http.StatusUnauthorized, "invalid_client", "credentials required")
		return
	}
	subject, granted, err := s.cfg.Authorizer.Authorize(user, pass, requested)
	if err != nil {
		s.cfg.Logger.Info("registry token refused", "remote", r.RemoteAddr, "err", err)
		s.refuse(w, oauth, http.StatusUnauthorized, "invalid_grant", "credentials not valid")
		return
	}
	raw, exp, err := s.Sign(subject, granted)
	if err != nil {
		s.cfg.Logger.Error("signing registry token", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	resp := map[string]any{
		"access_token": raw,
		"expires_in":   int(s.cfg.TTL / time.Second),
		"issued_at":    exp.Add(-s.cfg.TTL).UTC().Format(time.RFC3339),
	}
	if !oauth {
		resp["token"] = raw
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// refuse answers a request that gets no token, in the form its client
// reads: the registry's error list for GET, an OAuth2 error for POST.
func (s *Server) refuse(w http.ResponseWriter, oauth bool, status int, code, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", s.cfg.Service))
	}
	if oauth {
		oauthError(w, status, code)
		return
	}
	errCode := "UNAUTHORIZED"
	if status == http.StatusBadRequest {
		errCode = "DENIED"
	}
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"code": errCode, "message": msg}}})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

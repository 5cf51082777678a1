package registry

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/platform-paas/platform/server/registry/internal/regtoken"
)

// Username is the user name that goes with a credential wherever a client
// wants one (a docker config, BuildKit's session, crane). The registry
// does not read it: the credential says who it is.
const Username = "platform"

// credentialPrefix starts every credential, and names its version.
const credentialPrefix = "prc1"

// baseNamespaces hold the images builds start from; only a credential
// for every repository (platformd's) may write to them, and no tenant's
// credential is minted for a tenant of one of these names.
var baseNamespaces = []string{"platform", "library"}

// Auth mints the registry's credentials and checks them. A credential is
// verified without a database: it is HMAC-signed with a key derived from
// platformd's secret key and holds its subject, its expiry and its
// scopes, so every platformd sharing the key accepts it until it expires.
// Auth is safe for concurrent use.
type Auth struct {
	credKey  []byte             // signs credentials
	tokenKey ed25519.PrivateKey // signs the registry's tokens
	// uploadSecret signs the state of blob uploads in progress, which
	// clients carry from one request to the next: every replica of
	// platformd derives the same, so any replica continues an upload
	// another began.
	uploadSecret string
	now          func() time.Time
}

// NewAuth returns the Auth of secretKey, platformd's secret key (at least
// 32 bytes). Two Auths of one key mint and accept the same credentials
// and tokens.
func NewAuth(secretKey []byte) (*Auth, error) {
	if len(secretKey) < 32 {
		return nil, errors.New("registry auth: the secret key must be at least 32 bytes")
	}
	credKey, err := hkdf.Key(sha256.New, secretKey, nil, "platform registry credential v1", 32)
	if err != nil {
		return nil, fmt.Errorf("registry auth: deriving the credential key: %w", err)
	}
	seed, err := hkdf.Key(sha256.New, secretKey, nil, "platform registry token v1", ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("registry auth: deriving the token key: %w", err)
	}
	upload, err := hkdf.Key(sha256.New, secretKey, nil, "platform registry upload state v1", 32)
	if err != nil {
		return nil, fmt.Errorf("registry auth: deriving the upload state key: %w", err)
	}
	return &Auth{
		credKey:      credKey,
		tokenKey:     ed25519.NewKeyFromSeed(seed),
		uploadSecret: base64.RawURLEncoding.EncodeToString(upload),
		now:          time.Now,
	}, nil
}

// credential is what a credential holds.
type credential struct {
	Subject string   `json:"sub"`
	Expires int64    `json:"exp"`
	Scopes  []string `json:"scopes"`
}

// PlatformScopes are what platformd's own credential may do: every action
// on every repository, delete included, and the catalog.
var PlatformScopes = []string{"repository:*:*", "registry:catalog:*"}

// PlatformCredential returns platformd's own credential, valid for ttl.
func (a *Auth) PlatformCredential(ttl time.Duration) (string, error) {
	return a.Mint("platformd", ttl, PlatformScopes...)
}

// BuildCredential returns the credential of one build of tenant's app,
// valid for ttl: push and pull on <tenant>/<app>, pull on the base images
// (platform/*, library/*), nothing else.
func (a *Auth) BuildCredential(tenant, app string, ttl time.Duration) (string, error) {
	if err := checkTenant(tenant); err != nil {
		return "", err
	}
	if !labelRE.MatchString(app) {
		return "", fmt.Errorf("registry credential: app %q is not a lower-case DNS label", app)
	}
	scopes := []string{"repository:" + tenant + "/" + app + ":pull,push"}
	for _, ns := range baseNamespaces {
		scopes = append(scopes, "repository:"+ns+"/*:pull")
	}
	return a.Mint("build:"+tenant+"/"+app, ttl, scopes...)
}

// PullCredential returns the credential nodes pull tenant's images with,
// valid for ttl: pull on <tenant>/*, nothing else.
func (a *Auth) PullCredential(tenant string, ttl time.Duration) (string, error) {
	if err := checkTenant(tenant); err != nil {
		return "", err
	}
	return a.Mint("pull:"+tenant, ttl, "repository:"+tenant+"/*:pull")
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkTenant(tenant string) error {
	if !labelRE.MatchString(tenant) {
		return fmt.Errorf("registry credential: tenant %q is not a lower-case DNS label", tenant)
	}
	if slices.Contains(baseNamespaces, tenant) {
		return fmt.Errorf("registry credential: tenant %q has the name of the base images' namespace; rename the tenant", tenant)
	}
	return nil
}

// Mint returns a credential for subject, valid for ttl, allowing scopes:
// each "type:name:actions" as in the token spec, where name may be a
// repository ("acme/shop"), every repository under a namespace
// ("acme/*") or every one ("*"), and actions may be "*" (all). It is
// platformd's; a tenant's credentials come from BuildCredential and
// PullCredential.
func (a *Auth) Mint(subject string, ttl time.Duration, scopes ...string) (string, error) {
	if subject == "" || ttl <= 0 {
		return "", errors.New("registry credential: a subject and a positive lifetime are required")
	}
	for _, s := range scopes {
		if _, err := regtoken.ParseScope(s); err != nil {
			return "", fmt.Errorf("registry credential: %w", err)
		}
	}
	payload, err := json.Marshal(credential{Subject: subject, Expires: a.now().Add(ttl).Unix(), Scopes: scopes})
	if err != nil {
		return "", fmt.Errorf("registry credential: %w", err)
	}
	signed := credentialPrefix + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + base64.RawURLEncoding.EncodeToString(a.mac(signed)), nil
}

func (a *Auth) mac(signed string) []byte {
	m := hmac.New(sha256.New, a.credKey)
	m.Write([]byte(signed))
	return m.Sum(nil)
}

// maxCredential bounds what is read as a credential.
const maxCredential = 4 << 10

// errCredential is every way a credential can be refused; the detail is
// for the log.
var errCredential = regtoken.ErrUnauthorized

// verify returns what the credential s holds if it is ours and has not
// expired.
func (a *Auth) verify(s string) (credential, error) {
	if len(s) > maxCredential {
		return credential{}, fmt.Errorf("%w: credential too long", errCredential)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != credentialPrefix {
		return credential{}, fmt.Errorf("%w: not a registry credential", errCredential)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, a.mac(parts[0]+"."+parts[1])) {
		return credential{}, fmt.Errorf("%w: bad signature", errCredential)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return credential{}, fmt.Errorf("%w: bad payload", errCredential)
	}
	var c credential
	if err := json.Unmarshal(raw, &c); err != nil {
		return credential{}, fmt.Errorf("%w: bad payload", errCredential)
	}
	if !a.now().Before(time.Unix(c.Expires, 0)) {
		return credential{}, fmt.Errorf("%w: credential of %s expired", errCredential, c.Subject)
	}
	return c, nil
}

// Authorize implements the token endpoint's policy: a valid credential
// gets, of each scope asked for, the actions its own scopes allow.
func (a *Auth) Authorize(_, password string, requested []regtoken.Scope) (string, []regtoken.Scope, error) {
	c, err := a.verify(password)
	if err != nil {
		return "", nil, err
	}
	held := make([]regtoken.Scope, 0, len(c.Scopes))
	for _, s := range c.Scopes {
		sc, err := regtoken.ParseScope(s)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", errCredential, err)
		}
		held = append(held, sc)
	}
	var granted []regtoken.Scope
	for _, req := range requested {
		if actions := allowed(held, req); len(actions) > 0 {
			granted = append(granted, regtoken.Scope{Type: req.Type, Name: req.Name, Actions: actions})
		}
	}
	return c.Subject, granted, nil
}

// allowed returns the actions of req that the scopes held allow. Only a
// scope of every repository ("*") may write to the base namespaces.
func allowed(held []regtoken.Scope, req regtoken.Scope) []string {
	if req.Type == "repository" && (len(req.Name) > 255 || !repoNameRE.MatchString(req.Name)) {
		return nil
	}
	var out []string
	for _, action := range req.Actions {
		for _, h := range held {
			if h.Type != req.Type || !nameMatches(h.Name, req.Name) {
				continue
			}
			if !slices.Contains(h.Actions, "*") && !slices.Contains(h.Actions, action) {
				continue
			}
			if action != "pull" && h.Name != "*" && inBaseNamespace(req.Name) {
				continue
			}
			out = append(out, action)
			break
		}
	}
	return out
}

// nameMatches reports whether the pattern held ("acme/shop", "acme/*" or
// "*") covers the repository name.
func nameMatches(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	if ns, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(name, ns+"/")
	}
	return pattern == name
}

func inBaseNamespace(name string) bool {
	for _, ns := range baseNamespaces {
		if strings.HasPrefix(name, ns+"/") {
			return true
		}
	}
	return false
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// maxRequestBody bounds an API request's body. The largest thing a client
// sends in one request is an SSH public key (an RSA-16384 key is about
// 3 KiB); later, config vars (32 KiB a value).
const maxRequestBody = 1 << 20

// apiError is an error with what the API client is told about it. Its
// message is short, true and safe to show; the detail goes to the log.
type apiError struct {
	Status  int
	Code    string // snake_case, stable: clients switch on it (see api.Code*)
	Message string
	Field   string // the request field refused, if one was
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// invalid refuses the request because of field, saying why.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalid, Message: fmt.Sprintf(format, args...), Field: field}
}

// invalidField names field in a store ErrInvalid error (whose message is
// meant for the user); other errors pass unchanged.
func invalidField(field string, err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return invalid(field, "%s", err.Error())
	}
	return err
}

func forbidden(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusForbidden, Code: api.CodeForbidden, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

var (
	errMissingToken = &apiError{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized,
		Message: "missing API token: run platform login"}
	errBadToken = &apiError{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized,
		Message: "invalid or expired token: run platform login"}
	errDeactivated = &apiError{Status: http.StatusUnauthorized, Code: api.CodeDeactivated,
		Message: "your account is deactivated: ask a platform admin to reactivate it"}
	errNoApp = &apiError{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: release.ErrNoAccess.Error()}
)

// toAPIError is the one mapping from errors to what the client is told:
// an *apiError as it says, the store's sentinels by their kind with their
// message (which the store keeps short and safe for the user who caused
// them), and nil for anything else, which is internal.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ce):
		return &apiError{Status: http.StatusConflict, Code: api.CodeConflict, Message: ce.What}
	case errors.Is(err, store.ErrInvalid):
		return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalid, Message: err.Error()}
	case errors.Is(err, store.ErrQuotaExceeded):
		return &apiError{Status: http.StatusForbidden, Code: api.CodeQuotaExceeded, Message: err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: err.Error()}
	case errors.Is(err, store.ErrTokenExpired):
		return errBadToken
	case errors.Is(err, store.ErrDeactivated):
		return errDeactivated
	}
	return nil
}

// apiHandler is an API endpoint. It writes its response on success and
// returns an error otherwise; serveAPI turns the error into the response.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// serveAPI is the one place where API errors become responses (see
// toAPIError); an internal error is a 500 whose detail is only logged.
func (s *Server) serveAPI(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		ae := toAPIError(err)
		if ae == nil {
			s.log.ErrorContext(r.Context(), "api request failed",
				"method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()), "err", err)
			ae = &apiError{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: "internal server error"}
		}
		if ae.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="platform"`)
		}
		writeJSON(w, ae.Status, api.ErrorBody{Error: api.ErrorDetail{Code: ae.Code, Message: ae.Message, Field: ae.Field}})
	}
}

// apiRoutes is the JSON API. Every route is in openapi.yaml; a test
// holds the two together.
func (s *Server) apiRoutes() chi.Router {
	r := chi.NewRouter()
	r.NotFound(s.serveAPI(func(_ http.ResponseWriter, r *http.Request) error {
		return notFound("no API endpoint %s %s", r.Method, r.URL.Path)
	}))
	r.MethodNotAllowed(s.serveAPI(func(_ http.ResponseWriter, r *http.Request) error {
		return &apiError{
			Status:  http.StatusMethodNotAllowed,
			Code:    api.CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path),
		}
	}))
	r.Get("/openapi.yaml", s.openAPI)
	r.Post("/login", s.serveAPI(s.login))
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Get("/account", s.serveAPI(s.getAccount))
		r.Put("/account/password", s.serveAPI(s.setPassword))
		r.Get("/account/keys", s.serveAPI(s.listSSHKeys))
		r.Post("/account/keys", s.serveAPI(s.addSSHKey))
		r.Delete("/account/keys/{fingerprint}", s.serveAPI(s.removeSSHKey))
		r.Get("/account/tokens", s.serveAPI(s.listTokens))
		r.Post("/account/tokens", s.serveAPI(s.createToken))
		r.Delete("/account/tokens/{id}", s.serveAPI(s.revokeToken))
		r.Get("/account/invitations", s.serveAPI(s.listAccountInvitations))
		r.Post("/account/invitations/{id}/accept", s.serveAPI(s.acceptInvitation))
		r.Post("/account/invitations/{id}/decline", s.serveAPI(s.declineInvitation))

		r.Get("/users", s.serveAPI(s.listUsers))
		r.Post("/users", s.serveAPI(s.createUser))
		r.Patch("/users/{email}", s.serveAPI(s.updateUser))
		r.Get("/users/{email}/tokens", s.serveAPI(s.listUserTokens))
		r.Delete("/users/{email}/tokens/{id}", s.serveAPI(s.revokeUserToken))
		r.Get("/sizes", s.serveAPI(s.listSizes))
		r.Get("/git", s.serveAPI(s.getGit))
		r.Get("/readiness", s.serveAPI(s.getReadiness))
		r.Get("/audit", s.serveAPI(s.listAudit))

		r.Get("/tenants", s.serveAPI(s.listTenants))
		r.Post("/tenants", s.serveAPI(s.createTenant))
		r.Get("/tenants/{tenant}", s.serveAPI(s.getTenant))
		r.Patch("/tenants/{tenant}", s.serveAPI(s.updateTenant))
		r.Delete("/tenants/{tenant}", s.serveAPI(s.deleteTenant))
		r.Get("/tenants/{tenant}/members", s.serveAPI(s.listMembers))
		r.Post("/tenants/{tenant}/members", s.serveAPI(s.addMember))
		r.Patch("/tenants/{tenant}/members/{email}", s.serveAPI(s.setMemberRole))
		r.Delete("/tenants/{tenant}/members/{email}", s.serveAPI(s.removeMember))
		r.Get("/tenants/{tenant}/invitations", s.serveAPI(s.listTenantInvitations))
		r.Delete("/tenants/{tenant}/invitations/{email}", s.serveAPI(s.revokeInvitation))

		r.Get("/apps", s.serveAPI(s.listApps))
		r.Post("/apps", s.serveAPI(s.createApp))
		r.Get("/apps/{app}", s.serveAPI(s.getApp))
		r.Delete("/apps/{app}", s.serveAPI(s.destroyApp))
		r.Get("/apps/{app}/config", s.serveAPI(s.getConfig))
		r.Patch("/apps/{app}/config", s.serveAPI(s.updateConfig))
		r.Get("/apps/{app}/formation", s.serveAPI(s.getFormation))
		r.Patch("/apps/{app}/formation", s.serveAPI(s.scaleFormation))
		r.Get("/apps/{app}/ps", s.serveAPI(s.listDynos))
		r.Post("/apps/{app}/ps/restart", s.serveAPI(s.restartDynos))
		r.Get("/apps/{app}/releases", s.serveAPI(s.listReleases))
		r.Post("/apps/{app}/releases", s.serveAPI(s.rollback))
		r.Get("/apps/{app}/releases/{version}", s.serveAPI(s.getRelease))
		r.Get("/apps/{app}/builds", s.serveAPI(s.listBuilds))
		r.Get("/apps/{app}/builds/{id}", s.serveAPI(s.getBuild))
		r.Get("/apps/{app}/builds/{id}/log", s.serveAPI(s.getBuildLog))
		r.Get("/apps/{app}/logs", s.serveAPI(s.getLogs))
		r.Get("/apps/{app}/domains", s.serveAPI(s.listDomains))
		r.Post("/apps/{app}/domains", s.serveAPI(s.addDomain))
		r.Delete("/apps/{app}/domains/{host}", s.serveAPI(s.removeDomain))
		r.Post("/apps/{app}/domains/{host}/verify", s.serveAPI(s.verifyDomain))
		r.Get("/apps/{app}/certificates", s.serveAPI(s.listCertificates))
		r.Post("/apps/{app}/certificates", s.serveAPI(s.addCertificate))
		r.Delete("/apps/{app}/certificates/{cert}", s.serveAPI(s.removeCertificate))
		r.Get("/apps/{app}/https", s.serveAPI(s.getHTTPS))
		r.Patch("/apps/{app}/https", s.serveAPI(s.updateHTTPS))
	})
	return r
}

type userKey struct{}

// authenticate lets through requests with a valid bearer token, with the
// token's user in their context (userFrom); the rest get a 401 that does
// not say whether the token was unknown or expired, or, for the token of
// a deactivated user, a 401 that says so (code deactivated). A request without an
// Authorization header may instead carry the dashboard's session cookie;
// then every request but GET and HEAD must also carry the session's CSRF
// token (see sessionUser), else it is refused with 403 "csrf".
func (s *Server) authenticate(next http.Handler) http.Handler {
	return s.serveAPI(func(w http.ResponseWriter, r *http.Request) error {
		if c, err := r.Cookie(sessionCookie); err == nil && r.Header.Get("Authorization") == "" {
			u, _, err := s.sessionUser(r, c.Value)
			if err != nil {
				return err
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
			return nil
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return errMissingToken
		}
		u, err := s.st.UserByToken(r.Context(), token)
		switch {
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTokenExpired):
			s.log.InfoContext(r.Context(), "api token refused", "request_id", requestIDFrom(r.Context()),
				"remote_addr", remoteHost(r), "expired", errors.Is(err, store.ErrTokenExpired))
			return errBadToken
		case errors.Is(err, store.ErrDeactivated):
			s.log.InfoContext(r.Context(), "api token refused", "request_id", requestIDFrom(r.Context()),
				"remote_addr", remoteHost(r), "reason", "user deactivated", "err", err)
			return errDeactivated
		case err != nil:
			return fmt.Errorf("authenticating: %w", err)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
		return nil
	})
}

// userFrom returns the authenticated user of a request that went through
// authenticate.
func userFrom(ctx context.Context) store.User {
	u, _ := ctx.Value(userKey{}).(store.User)
	return u
}

// urlParam returns the route parameter key, unescaped: chi matches on the
// escaped path when the request has one (a fingerprint holds a '/').
func urlParam(r *http.Request, key string) string {
	v := chi.URLParam(r, key)
	if r.URL.RawPath == "" {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// decodeJSON reads the request's body, one JSON object, into v. Unknown
// fields, wrong types, bad JSON, a body that is not JSON and one over
// maxRequestBody are refused with a message naming what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{Status: http.StatusUnsupportedMediaType, Code: api.CodeUnsupportedMedia,
				Message: "send the request body as JSON with Content-Type: application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON,
				Message: "the request body must be one JSON object, with nothing after it"}
		}
		return nil
	}
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		sizeErr   *http.MaxBytesError
	)
	switch {
	case errors.As(err, &sizeErr):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge,
			Message: fmt.Sprintf("the request body is larger than %d bytes", maxRequestBody)}
	case errors.Is(err, io.EOF):
		return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON,
			Message: "the request body is empty: send a JSON object"}
	case errors.As(err, &syntaxErr):
		return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON,
			Message: fmt.Sprintf("the request body is not valid JSON (at byte %d)", syntaxErr.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON,
			Message: "the request body is not valid JSON (it ends too soon)"}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON,
				Message: fmt.Sprintf("the request body must be a JSON object, not %s", jsonKind(typeErr.Value))}
		}
		return invalid(typeErr.Field, "field %q must be %s, not %s", typeErr.Field, jsonType(typeErr), jsonKind(typeErr.Value))
	}
	// encoding/json has no type for an unknown field; its message is
	// `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return invalid(name, "unknown field %q", name)
	}
	return &apiError{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: "the request body is not valid JSON"}
}

// jsonKind turns UnmarshalTypeError.Value ("number 1.5", "string") into
// words.
func jsonKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	switch kind {
	case "array", "object":
		return "an " + kind
	case "":
		return "that"
	}
	return "a " + kind
}

// jsonType names the JSON type a Go field wants.
func jsonType(e *json.UnmarshalTypeError) string {
	t := e.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// required refuses an empty string field.
func required(field, value string) error {
	if strings.TrimSpace(value) == "" {
		return invalid(field, "%s is required", field)
	}
	return nil
}

// audit records what the request's user did, from where, with tx, so that
// the event commits or rolls back with the change itself.
func (s *Server) audit(r *http.Request, tx *store.Store, e store.AuditEvent) error {
	u := userFrom(r.Context())
	e.ActorID = &u.ID
	e.ActorEmail = u.Email
	e.RemoteAddr = remoteHost(r)
	if _, err := tx.RecordAudit(r.Context(), e); err != nil {
		// Never the user's fault: keep it from mapping to a 4xx.
		return fmt.Errorf("recording audit event %s: %v", e.Action, err)
	}
	return nil
}

// errNotYet answers endpoints whose handler is not written yet.
var errNotYet = &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented, Message: "not implemented yet"}

package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// apiError is an error with what the API client is told about it. Its
// message is short, true and safe to show; the detail goes to the log.
type apiError struct {
	Status  int
	Code    string // snake_case, stable: clients switch on it
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// apiErrorBody is the wire shape of every API error:
// {"error":{"code":"not_found","message":"..."}}.
type apiErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiHandler is an API endpoint. It writes its response on success and
// returns an error otherwise; serveAPI turns the error into the response.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// serveAPI is the one place where API errors become responses: an
// *apiError as it says, anything else as a 500 whose detail is only logged.
func (s *Server) serveAPI(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.ErrorContext(r.Context(), "api request failed",
				"method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()), "err", err)
			ae = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal server error"}
		}
		var body apiErrorBody
		body.Error.Code = ae.Code
		body.Error.Message = ae.Message
		writeJSON(w, ae.Status, body)
	}
}

// apiRoutes is the JSON API. Endpoints arrive with later issues; until
// then every request is answered in the API's error shape.
func (s *Server) apiRoutes() chi.Router {
	r := chi.NewRouter()
	r.NotFound(s.serveAPI(func(_ http.ResponseWriter, r *http.Request) error {
		return &apiError{
			Status:  http.StatusNotFound,
			Code:    "not_found",
			Message: fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path),
		}
	}))
	r.MethodNotAllowed(s.serveAPI(func(_ http.ResponseWriter, r *http.Request) error {
		return &apiError{
			Status:  http.StatusMethodNotAllowed,
			Code:    "method_not_allowed",
			Message: fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path),
		}
	}))
	return r
}

package server

import (
	_ "embed"
	"net/http"
)

// openAPIDoc documents every /api/v1 route; TestOpenAPICoversRoutes fails
// when a route is missing from it or it names one that does not exist.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// openAPI serves the API's OpenAPI document, to anyone: GET /openapi.yaml.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDoc) // the client went away: nothing left to tell it
}

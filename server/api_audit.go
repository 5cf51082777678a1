package server

import "net/http"

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error { return errNotYet }

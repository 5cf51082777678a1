package server

import "net/http"

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) updateConfig(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) listSizes(w http.ResponseWriter, r *http.Request) error { return errNotYet }

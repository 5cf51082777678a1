package server

import "net/http"

func (s *Server) listDomains(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) addDomain(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) removeDomain(w http.ResponseWriter, r *http.Request) error { return errNotYet }

package server

import "net/http"

func (s *Server) login(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error { return errNotYet }

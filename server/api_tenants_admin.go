package server

import "net/http"

func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) deleteTenant(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) setMemberRole(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error { return errNotYet }

package server

import "net/http"

func (s *Server) getFormation(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) scaleFormation(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) listDynos(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) restartDynos(w http.ResponseWriter, r *http.Request) error { return errNotYet }

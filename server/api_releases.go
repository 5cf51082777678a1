package server

import "net/http"

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) listBuilds(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) getBuild(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) getBuildLog(w http.ResponseWriter, r *http.Request) error { return errNotYet }

func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) error { return errNotYet }

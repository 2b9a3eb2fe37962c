package web

import (
	"net/http"
)

func (s *Server) reconcilePage(w http.ResponseWriter, r *http.Request, sess *session) error {
	s.render(w, r, http.StatusOK, "reconcile", sess, map[string]any{})
	return nil
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request, sess *session) error {
	return errorf(http.StatusNotImplemented, "Not yet.")
}

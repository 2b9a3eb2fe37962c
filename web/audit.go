package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// auditPage lists the audit trail newest first, a hundred entries a page,
// for the whole ledger or one batch.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, sess *session) error {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	batch := strings.TrimSpace(q.Get("batch"))
	if batch != "" {
		if m, err := s.l.Batch(r.Context(), batch); err == nil {
			batch = m.BatchID
		}
	}
	entries, next, err := s.l.AuditPage(r.Context(), store.AuditQuery{Before: max(before, 0), BatchID: batch})
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "audit", sess, map[string]any{"Entries": entries, "Next": next, "Before": before, "Batch": batch})
	return nil
}

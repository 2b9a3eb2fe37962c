package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/report"
)

// Downloads are made on request into the data directory's tmp/, sent, and
// removed: the ledger is the record, the files are views of it.

// tempFile is a fresh path under tmp/ with the given extension.
func (s *Server) tempFile(ext string) string {
	return filepath.Join(s.dataDir, "tmp", randomID()+ext)
}

func (s *Server) sendTemp(w http.ResponseWriter, r *http.Request, path, name string) error {
	defer os.Remove(path)
	rel, err := filepath.Rel(s.dataDir, path)
	if err != nil {
		return err
	}
	f, err := s.root.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	return serveFile(w, r, f, name)
}

// downloadResults is every row of the batch with its outcome (the same
// file as `bulkrefund run --results`).
func (s *Server) downloadResults(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	v, err := s.l.View(r.Context(), m.BatchID)
	if err != nil {
		return err
	}
	defer v.Close()
	path := s.tempFile(".xlsx")
	if err := results.WriteFile(r.Context(), path, v); err != nil {
		os.Remove(path)
		return err
	}
	return s.sendTemp(w, r, path, fmt.Sprintf("bulkrefund-%s-results.xlsx", shortID(m.BatchID)))
}

// downloadReport reconciles the batch against the providers, looking every
// sent refund up live through the configured accounts, and sends the
// auditor's workbook (the same as `bulkrefund run --report`).
func (s *Server) downloadReport(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	if s.providers == nil {
		return errorf(http.StatusConflict, "The report looks every refund up at its provider: this server has no provider configuration (start it with --config).")
	}
	res, err := s.buildReport(r.Context(), []string{m.BatchID}, sess.User.Name)
	if err != nil {
		return err
	}
	path := s.tempFile(".xlsx")
	if err := report.WriteXLSX(path, res); err != nil {
		os.Remove(path)
		return err
	}
	s.l.AppendAudit(r.Context(), store.Audit{Actor: sess.User.Name, Action: "report", BatchID: m.BatchID, Detail: "downloaded the reconciliation report"})
	return s.sendTemp(w, r, path, fmt.Sprintf("bulkrefund-%s-report.xlsx", shortID(m.BatchID)))
}

func (s *Server) buildReport(ctx context.Context, batches []string, operator string) (*report.Result, error) {
	in := report.Inputs{Ledger: s.l, Batches: batches, ToolVersion: app.ToolVersion, Operator: operator,
		Lookup: &report.Lookup{
			Provider: func(provider, account string) (adapters.Provider, error) {
				t, ok := s.providers.Route(provider, account)
				if !ok {
					return nil, fmt.Errorf("no configured %s account %q", provider, account)
				}
				return t.Provider, nil
			},
			Limiter: func(provider, account string) report.Limiter {
				t, _ := s.providers.Route(provider, account)
				return t.Limiter
			},
		}}
	return report.Build(ctx, in)
}

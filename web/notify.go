package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Provider notifications (a provider's notifyUrl pointed at this server).
// PayEase signs its notification with the platform key: it is verified,
// then settles the refund it names. Nomad's is unsigned (PROVIDERS.md): it
// is taken only as a hint to look the refund up through the authenticated
// API, and the lookup's answer is what settles it. Either way a refund
// moves only as a compare-and-set from a doubtful state, and only if the
// answer names the same order, amount and currency.

// notifyAudit bounds how fast refused notifications are written to the
// audit trail: a flood of forged ones is logged, not allowed to fill it.
var notifyAudit = rate.NewLimiter(1, 30)

// nomadLookups bounds the lookups unsigned notifications can cause.
var nomadLookups = rate.NewLimiter(20, 50)

const maxNotify = 64 << 10

func (s *Server) refuseNotify(w http.ResponseWriter, r *http.Request, provider, reason string) {
	s.log.Warn("web: notification refused", "provider", provider, "from", clientIP(r), "reason", reason)
	if notifyAudit.Allow() {
		s.l.AppendAudit(r.Context(), store.Audit{Actor: provider + "-notify", Action: "notify-refused",
			Detail: fmt.Sprintf("from %s: %s", clientIP(r), reason)})
	}
	http.Error(w, "FAIL", http.StatusBadRequest)
}

func (s *Server) notifyPayEase(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotify))
	if err != nil {
		s.refuseNotify(w, r, adapters.PayEase, "unreadable body: "+err.Error())
		return
	}
	if s.providers == nil {
		http.Error(w, "no provider configuration", http.StatusServiceUnavailable)
		return
	}
	merchant := r.Header.Get("merchantId")
	client, ok := s.providers.Clients[config.Key(adapters.PayEase, merchant)].(*payease.Client)
	if !ok {
		s.refuseNotify(w, r, adapters.PayEase, fmt.Sprintf("merchantId %q is not a configured PayEase account", merchant))
		return
	}
	out, err := client.ReadNotify(r.Header, body)
	if err != nil {
		s.refuseNotify(w, r, adapters.PayEase, err.Error())
		return
	}
	if err := s.settle(r, adapters.PayEase, merchant, out); err != nil {
		http.Error(w, "FAIL", http.StatusInternalServerError) // the ledger could not be written: PayEase sends it again
		return
	}
	// Assumed: PayEase stops re-sending a notification answered with 200
	// and "SUCCESS" (the seed defers to a "response mechanism" it does
	// not include).
	w.Write([]byte("SUCCESS"))
}

// settle records a verified outcome; an error is the ledger's (worth the
// provider's retry). A genuine notification that does not fit the ledger
// is recorded as an exception for a person to look at, and acknowledged.
func (s *Server) settle(r *http.Request, provider, account string, out adapters.Outcome) error {
	res, err := app.Settle(r.Context(), s.l, provider, account, out)
	switch {
	case err == nil:
		if res.Changed {
			s.log.Info("web: notification settled a refund", "provider", provider, "account", account, "refund_no", out.RefundNo, "from", res.From, "to", res.To)
			if res.To.Final() {
				s.finishLater(res.Row.FirstBatch)
			}
		}
		return nil
	case errors.Is(err, app.ErrNotifyMismatch), errors.Is(err, app.ErrNotifyUnknown), errors.Is(err, app.ErrNotifyConflict):
		s.log.Warn("web: notification does not fit the ledger", "provider", provider, "account", account, "refund_no", out.RefundNo, "error", err)
		batch := ""
		if res.Row.FirstBatch != "" {
			batch = res.Row.FirstBatch
		}
		s.l.AppendAudit(r.Context(), store.Audit{Actor: provider + "-notify", Action: "notify-exception", BatchID: batch, Key: res.Key, Detail: err.Error()})
		return nil
	}
	s.log.Error("web: notification not recorded", "provider", provider, "refund_no", out.RefundNo, "error", err)
	return err
}

func (s *Server) notifyNomad(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotify))
	if err != nil {
		s.refuseNotify(w, r, adapters.Nomad, "unreadable body: "+err.Error())
		return
	}
	var n struct {
		RefundOrderRef string `json:"refundOrderRef"`
		Status         string `json:"status"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.RefundOrderRef == "" || len(n.RefundOrderRef) > 64 {
		s.refuseNotify(w, r, adapters.Nomad, "not a refund notification (want JSON with refundOrderRef)")
		return
	}
	if s.providers == nil {
		http.Error(w, "no provider configuration", http.StatusServiceUnavailable)
		return
	}
	if !nomadLookups.Allow() {
		http.Error(w, "busy", http.StatusTooManyRequests)
		return
	}
	var recs []store.Record
	err = s.l.Refunds(r.Context(), store.Query{RefundNo: n.RefundOrderRef}, func(rec store.Record) error {
		if rec.Provider == adapters.Nomad && rec.State.Doubtful() {
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		http.Error(w, "FAIL", http.StatusInternalServerError)
		return
	}
	for _, rec := range recs {
		t, ok := s.providers.Route(rec.Provider, rec.Account)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		out, err := t.Provider.Lookup(ctx, rec.Refund)
		cancel()
		if err != nil {
			s.log.Warn("web: lookup after a Nomad notification", "account", rec.Account, "refund_no", rec.RefundNo, "error", err)
			continue
		}
		// The lookup was by this refund's number at this account: an
		// answer that echoes nothing names it.
		if out.RefundNo == "" {
			out.RefundNo = rec.RefundNo
		}
		if err := s.settle(r, rec.Provider, rec.Account, out); err != nil {
			http.Error(w, "FAIL", http.StatusInternalServerError)
			return
		}
	}
	// Assumed (PROVIDERS.md): Nomad expects the plain answer "success".
	w.Write([]byte("success"))
}

// finishLater marks a batch done once notifications have settled its last
// refunds: a run that ended with refunds pending left it running. The check
// waits a second after the latest notification of the batch, so that a
// burst of them costs one count of its rows, not one each.
func (s *Server) finishLater(batchID string) {
	if batchID == "" {
		return
	}
	s.finishMu.Lock()
	defer s.finishMu.Unlock()
	if t, ok := s.finishing[batchID]; ok {
		t.Reset(time.Second)
		return
	}
	s.wg.Add(1)
	s.finishing[batchID] = time.AfterFunc(time.Second, func() {
		defer s.wg.Done()
		s.finishMu.Lock()
		delete(s.finishing, batchID)
		s.finishMu.Unlock()
		if s.ctx.Err() != nil || s.runs.active(batchID) {
			return // a run here ends by marking it itself
		}
		counts, err := s.stateCounts(s.ctx, batchID)
		if err != nil {
			return
		}
		final, total, ok := 0, 0, map[store.State]int{}
		for _, c := range counts {
			total += c.Items
			ok[c.State] += c.Items
			if c.State.Final() {
				final += c.Items
			}
		}
		if total == 0 || final != total {
			return
		}
		err = s.l.SetBatchStatusFrom(s.ctx, batchID, []string{store.BatchRunning}, store.BatchDone, store.Audit{Actor: "bulkrefund", Action: "finished",
			Detail: fmt.Sprintf("%d succeeded, %d failed: the last settled by the providers' notifications", ok[store.Succeeded], ok[store.Failed])})
		if err == nil {
			s.log.Info("web: batch finished by notifications", "batch", batchID)
		}
	})
}

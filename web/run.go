package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// Runs started from the web page run in the server process through
// app.Execute, the CLI's code. One run per batch: this process keeps one
// at a time per batch, and the ledger's run lease keeps any other process
// (a CLI run, another server) off a batch while it runs here.

type runs struct {
	mu sync.Mutex
	m  map[string]*liveRun
}

func newRuns() *runs { return &runs{m: map[string]*liveRun{}} }

type liveRun struct {
	id, by  string
	started time.Time
	counter *runner.Counter
	done    chan struct{}

	mu      sync.Mutex
	err     error
	summary runner.Summary
	ended   time.Time
}

func (r *liveRun) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *liveRun) error() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// start registers a run of id; false if one is going on.
func (rs *runs) start(id, by string) (*liveRun, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r := rs.m[id]; r != nil && !r.finished() {
		return r, false
	}
	r := &liveRun{id: id, by: by, started: time.Now(), counter: &runner.Counter{}, done: make(chan struct{})}
	rs.m[id] = r
	return r, true
}

func (rs *runs) get(id string) *liveRun {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.m[id]
}

func (rs *runs) active(id string) bool {
	r := rs.get(id)
	return r != nil && !r.finished()
}

// run starts an approved batch: the same checks as the CLI (rejected,
// approval, limits), the typed totals where the controls ask for them,
// then app.Execute on the server's own context.
func (s *Server) run(w http.ResponseWriter, r *http.Request, sess *session) error {
	ctx := r.Context()
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	if s.providers == nil {
		return errorf(http.StatusConflict, "This server has no provider configuration (start it with --config): it cannot run batches.")
	}
	plan, err := s.plans.get(ctx, s.l, m.BatchID, s.ctl)
	if err != nil {
		return err
	}
	if _, err := app.MayRun(ctx, s.l, m.BatchID, plan.ByCur, s.ctl); err != nil {
		s.log.Warn("web: run refused", "batch", m.BatchID, "user", sess.User.Name, "error", err)
		return errorf(http.StatusForbidden, "Not run: %v", err)
	}
	if len(plan.Breaches) > 0 {
		return errorf(http.StatusForbidden, "Not run: the batch is over the configured limits: %v", plan.Breaches)
	}
	if m.Status == store.BatchDone {
		return errorf(http.StatusConflict, "Every refund of this batch is final already.")
	}
	for _, t := range plan.Totals {
		if _, ok := s.providers.Route(t.Provider, t.Account); !ok {
			return errorf(http.StatusConflict, "Not run: the provider configuration has no %s account %s.", t.Provider, t.Account)
		}
	}
	for _, t := range s.ctl.TypedConfirmation(plan.ByCur) {
		if !app.TypedTotalMatches(r.PostFormValue("total_"+string(t.Currency)), t) {
			return errorf(http.StatusBadRequest, "Not run: the %s total you typed is not the batch's %s total. Type it exactly as the plan shows it. Nothing was sent.", t.Currency, t.Currency)
		}
	}
	lr, fresh := s.runs.start(m.BatchID, sess.User.Name)
	if !fresh {
		http.Redirect(w, r, "/batches/"+m.BatchID+"/watch", http.StatusSeeOther)
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(lr.done)
		res, err := app.Execute(s.ctx, s.l, m.BatchID, sess.User.Name, app.RunSpec{Route: s.providers.Route, Progress: lr.counter, Options: s.o.Run})
		lr.mu.Lock()
		lr.err, lr.summary, lr.ended = err, res.Summary, time.Now()
		lr.mu.Unlock()
		s.log.Info("web: run ended", "batch", m.BatchID, "by", sess.User.Name, "items", res.Summary.Items,
			"succeeded", res.Summary.States[store.Succeeded], "failed", res.Summary.States[store.Failed], "error", err)
	}()
	http.Redirect(w, r, "/batches/"+m.BatchID+"/watch?done=started", http.StatusSeeOther)
	return nil
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, sess *session) error {
	bp, err := s.loadBatchPage(r, sess)
	if err != nil {
		return err
	}
	p, err := s.progress(r.Context(), bp.Meta)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "watch", sess, map[string]any{"B": bp, "P": p})
	return nil
}

// progress is a batch's progress as the watch page shows it.
type progress struct {
	Batch      string  `json:"batch"`
	Status     string  `json:"status"`
	Total      int     `json:"total"`
	Done       int     `json:"done"` // answered: succeeded, failed, pending, unknown or blocked
	Succeeded  int     `json:"succeeded"`
	Failed     int     `json:"failed"`
	Pending    int     `json:"pending"`
	Unknown    int     `json:"unknown"`
	Blocked    int     `json:"blocked"`
	Planned    int     `json:"planned"`
	Submitting int     `json:"submitting"`
	Percent    int64   `json:"percent"`
	Rate       float64 `json:"rate"`        // rows answered per second, this run
	ETASeconds int64   `json:"eta_seconds"` // -1: unknown
	Running    bool    `json:"running"`
	Error      string  `json:"error,omitempty"`
	Amounts    string  `json:"succeeded_amounts"` // e.g. "CNY 12,345.67"
}

func (s *Server) progress(ctx context.Context, m store.Meta) (progress, error) {
	p := progress{Batch: m.BatchID, Status: m.Status, Total: m.Items, ETASeconds: -1}
	counts, err := s.stateCounts(ctx, m.BatchID)
	if err != nil {
		return p, err
	}
	var amounts []string
	for _, c := range counts {
		switch c.State {
		case store.Succeeded:
			p.Succeeded = c.Items
			for cur, a := range c.Amount {
				amounts = append(amounts, string(cur)+" "+money.FormatGrouped(a, cur))
			}
		case store.Failed:
			p.Failed = c.Items
		case store.Pending:
			p.Pending = c.Items
		case store.Unknown:
			p.Unknown = c.Items
		case store.Blocked:
			p.Blocked = c.Items
		case store.Planned:
			p.Planned = c.Items
		case store.Submitting:
			p.Submitting = c.Items
		}
	}
	p.Amounts = joinSorted(amounts)
	p.Done = p.Succeeded + p.Failed + p.Pending + p.Unknown + p.Blocked
	p.Percent = pct(int64(p.Done), int64(p.Total))
	if lr := s.runs.get(m.BatchID); lr != nil {
		p.Running = !lr.finished()
		if err := lr.error(); err != nil {
			p.Error = err.Error()
		}
		snap := lr.counter.Snapshot()
		end := time.Now()
		if !p.Running {
			lr.mu.Lock()
			end = lr.ended
			lr.mu.Unlock()
		}
		if secs := end.Sub(lr.started).Seconds(); secs > 0.5 {
			p.Rate = float64(snap.Settled) / secs
		}
		if p.Running && p.Rate > 0 {
			p.ETASeconds = int64(float64(p.Total-p.Done) / p.Rate)
		}
	}
	return p, nil
}

func joinSorted(parts []string) string {
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j] < parts[j-1]; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ", "
		}
		out += p
	}
	return out
}

func (s *Server) progressJSON(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	p, err := s.progress(r.Context(), m)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(p)
}

// progressEvents streams the progress as server-sent events, one a second,
// until the run ends (and one more after), the client leaves, or an hour
// passes (the browser reconnects by itself).
func (s *Server) progressEvents(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	stop := time.Now().Add(time.Hour)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		m, err = s.l.Batch(r.Context(), m.BatchID)
		if err != nil {
			return nil // the stream has started: nothing to show an error on
		}
		p, err := s.progress(r.Context(), m)
		if err != nil {
			return nil
		}
		b, _ := json.Marshal(p)
		rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b); err != nil {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		if !p.Running && !s.runs.active(m.BatchID) {
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			rc.Flush()
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-t.C:
		}
		if time.Now().After(stop) {
			return nil
		}
	}
}

package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// planCache keeps what a batch's page shows of its rows as a whole (totals,
// limits): a batch's rows never change (its id is their hash), and the
// server's controls are fixed while it runs, so this is read from the
// ledger once per batch, not on every view of a 100,000-row batch.
type planCache struct {
	mu    sync.Mutex
	max   int
	order []string
	m     map[string]*batchPlan
}

type batchPlan struct {
	Totals   []app.Total
	ByCur    []app.Total
	Rows     int
	Limits   []app.LimitCheck
	Breaches []string
}

func newPlanCache(max int) *planCache { return &planCache{max: max, m: map[string]*batchPlan{}} }

func (c *planCache) get(ctx context.Context, l store.Ledger, id string, ctl *app.Controls) (*batchPlan, error) {
	c.mu.Lock()
	p, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	items, err := app.BatchItems(ctx, l, id)
	if err != nil {
		return nil, err
	}
	p = &batchPlan{Totals: app.Totals(items), ByCur: app.CurrencyTotals(items), Rows: len(items)}
	p.Limits, p.Breaches = limitsOf(ctl, items)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok {
		c.m[id] = p
		c.order = append(c.order, id)
		if len(c.order) > c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	return p, nil
}

// limitsOf weighs items against the controls' limits: every check, and
// each broken limit in words.
func limitsOf(ctl *app.Controls, items []batch.Item) ([]app.LimitCheck, []string) {
	checks, err := ctl.CheckLimits(items)
	var le *app.LimitError
	var breaches []string
	if errors.As(err, &le) {
		for _, b := range le.Breaches {
			breaches = append(breaches, b.String())
		}
	}
	return checks, breaches
}

// batchOf finds the batch named by the path, by its id or a unique prefix.
func (s *Server) batchOf(r *http.Request) (store.Meta, error) {
	id := r.PathValue("id")
	if len(id) < 8 || len(id) > 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return store.Meta{}, errorf(http.StatusNotFound, "No such batch.")
	}
	m, err := s.l.Batch(r.Context(), id)
	if errors.Is(err, store.ErrNoBatch) {
		return m, errorf(http.StatusNotFound, "No such batch.")
	}
	return m, err
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, sess *session) error {
	batches, err := s.l.Batches(r.Context())
	if err != nil {
		return err
	}
	// Newest first; a long history is cut to the latest 200 here (the
	// audit log and `bulkrefund status` have them all).
	for i, j := 0, len(batches)-1; i < j; i, j = i+1, j-1 {
		batches[i], batches[j] = batches[j], batches[i]
	}
	more := len(batches) > 200
	if more {
		batches = batches[:200]
	}
	type row struct {
		store.Meta
		Running bool
	}
	rows := make([]row, len(batches))
	for i, b := range batches {
		rows[i] = row{Meta: b, Running: s.runs.active(b.BatchID)}
	}
	uploads, err := s.recentUploads(r.Context(), 20)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "home", sess, map[string]any{"Batches": rows, "More": more, "Uploads": uploads})
	return nil
}

func (s *Server) recentUploads(ctx context.Context, n int) ([]uploadRecord, error) {
	rows, err := s.l.DB().QueryContext(ctx, s.l.Dialect().Rebind(`SELECT `+uploadCols+` FROM web_uploads ORDER BY at DESC LIMIT ?`), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uploadRecord
	for rows.Next() {
		rec, err := scanUpload(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// batchPage is what the batch and watch pages show.
type batchPage struct {
	Meta     store.Meta
	Approval app.ApprovalState
	Upload   *uploadRecord
	Plan     *batchPlan
	Limits   []app.LimitCheck
	Breaches []string
	States   []stateCount
	Total    int

	NeedsApproval bool
	ApprovalWhy   string
	MayRun        bool
	RunBlocked    string // why it may not run, in words
	TypedConfirm  []app.Total
	Running       bool
	RunErr        string

	CanDecide  bool
	DecideNote string // why this user may not decide, if a checker
	CanRun     bool
	Rows       rowsView
}

type stateCount struct {
	State  store.State
	Items  int
	Amount map[money.Currency]int64
}

func (s *Server) loadBatchPage(r *http.Request, sess *session) (*batchPage, error) {
	ctx := r.Context()
	m, err := s.batchOf(r)
	if err != nil {
		return nil, err
	}
	bp := &batchPage{Meta: m}
	if bp.Approval, err = app.Approvals(ctx, s.l, m.BatchID); err != nil {
		return nil, err
	}
	if up, ok, err := s.uploadOfBatch(ctx, m.BatchID); err != nil {
		return nil, err
	} else if ok {
		bp.Upload = &up
	}
	if bp.Plan, err = s.plans.get(ctx, s.l, m.BatchID, s.ctl); err != nil {
		return nil, err
	}
	bp.Limits, bp.Breaches = bp.Plan.Limits, bp.Plan.Breaches
	counts, err := s.stateCounts(ctx, m.BatchID)
	if err != nil {
		return nil, err
	}
	bp.States, bp.Total = counts, m.Items
	bp.NeedsApproval, bp.ApprovalWhy = s.ctl.NeedsApproval(bp.Plan.ByCur)
	bp.TypedConfirm = s.ctl.TypedConfirmation(bp.Plan.ByCur)
	_, runErr := app.MayRun(ctx, s.l, m.BatchID, bp.Plan.ByCur, s.ctl)
	switch {
	case errors.Is(runErr, app.ErrRejected):
		bp.RunBlocked = "It was rejected: it never runs."
	case errors.Is(runErr, app.ErrNeedsApproval):
		bp.RunBlocked = "It waits for a checker's approval (someone other than " + bp.Approval.Submitter() + ") before it can run."
	case runErr != nil:
		bp.RunBlocked = runErr.Error()
	case len(bp.Breaches) > 0:
		bp.RunBlocked = "The batch is over the configured limits."
	case s.providers == nil:
		bp.RunBlocked = "This server has no provider configuration (start it with --config): it cannot run batches."
	case m.Status == store.BatchDone:
		bp.RunBlocked = "Every refund of this batch is final."
	}
	bp.MayRun = bp.RunBlocked == ""
	if ru := s.runs.get(m.BatchID); ru != nil {
		bp.Running = !ru.finished()
		if err := ru.error(); err != nil {
			bp.RunErr = err.Error()
		}
	}
	u := sess.User
	undecided := bp.Approval.Approved == nil && bp.Approval.Rejected == nil && m.Status != store.BatchDone
	if u.Can(RoleChecker) && undecided {
		if bp.Approval.IsMaker(u.Name) {
			bp.DecideNote = "You submitted this batch: another checker must approve or reject it."
		} else {
			bp.CanDecide = true
		}
	}
	bp.CanRun = u.Can(RoleMaker) && bp.MayRun && !bp.Running
	if bp.Rows, err = s.loadRows(r, m); err != nil {
		return nil, err
	}
	return bp, nil
}

// stateCounts sums the batch's rows per state (and currency), in the
// ledger's state order.
func (s *Server) stateCounts(ctx context.Context, id string) ([]stateCount, error) {
	v, err := s.l.View(ctx, id)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	counts, err := v.Counts(ctx)
	if err != nil {
		return nil, err
	}
	by := map[store.State]*stateCount{}
	for _, c := range counts {
		sc := by[c.State]
		if sc == nil {
			sc = &stateCount{State: c.State, Amount: map[money.Currency]int64{}}
			by[c.State] = sc
		}
		sc.Items += c.Items
		sc.Amount[c.Currency] += c.Amount
	}
	var out []stateCount
	for _, st := range store.States {
		if sc := by[st]; sc != nil {
			out = append(out, *sc)
		}
	}
	return out, nil
}

func (s *Server) batchView(w http.ResponseWriter, r *http.Request, sess *session) error {
	bp, err := s.loadBatchPage(r, sess)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "batch", sess, bp)
	return nil
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	err = app.Approve(r.Context(), s.l, m.BatchID, sess.User.Name, r.PostFormValue("comment"), s.ctl)
	if err := decisionError(err); err != nil {
		return err
	}
	http.Redirect(w, r, "/batches/"+m.BatchID+"?done=approved", http.StatusSeeOther)
	return nil
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	err = app.Reject(r.Context(), s.l, m.BatchID, sess.User.Name, r.PostFormValue("comment"))
	if err := decisionError(err); err != nil {
		return err
	}
	http.Redirect(w, r, "/batches/"+m.BatchID+"?done=rejected", http.StatusSeeOther)
	return nil
}

// decisionError turns a refused approval or rejection into its page.
func decisionError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, app.ErrSelfApproval):
		return errorf(http.StatusForbidden, "Not approved: %v. Another checker must approve it.", err)
	case errors.Is(err, app.ErrCommentRequired):
		return errorf(http.StatusBadRequest, "Not rejected: say why in the comment.")
	case errors.Is(err, app.ErrDecided), errors.Is(err, app.ErrNotDecidable), errors.Is(err, store.ErrBatchStatus):
		return errorf(http.StatusConflict, "Not recorded: %v.", err)
	case errors.Is(err, app.ErrOverLimit):
		return errorf(http.StatusConflict, "Not approved: %v", err)
	}
	return err
}

// rowsView is one page of a batch's rows with its filter.
type rowsView struct {
	BatchID  string
	Base     string // the page the links lead to (batch or watch)
	State    string
	Q        string
	Rows     []store.PageRow
	Page     int // unfiltered: 0-based page number
	Pages    int
	After    int64
	Next     int64 // -1: none
	Filtered bool
	States   []store.State
	NotFound bool
}

const rowsPerPage = 50

func (s *Server) loadRows(r *http.Request, m store.Meta) (rowsView, error) {
	q := r.URL.Query()
	base := "/batches/" + m.BatchID
	if strings.HasSuffix(r.URL.Path, "/watch") || q.Get("base") == "watch" {
		base += "/watch"
	}
	rv := rowsView{BatchID: m.BatchID, Base: base, State: q.Get("state"), Q: strings.TrimSpace(q.Get("q")), States: store.States, Next: -1}
	pq := store.PageQuery{BatchID: m.BatchID, Limit: rowsPerPage, After: -1}
	if st := store.State(rv.State); st.Valid() {
		pq.States = []store.State{st}
		rv.Filtered = true
	} else {
		rv.State = ""
	}
	if rv.Q != "" {
		rv.Filtered = true
		pq.RefundNo = rv.Q
	}
	if rv.Filtered {
		if a, err := strconv.ParseInt(q.Get("after"), 10, 64); err == nil && a >= 0 {
			pq.After = a
		}
	} else {
		rv.Pages = max(1, (m.Items+rowsPerPage-1)/rowsPerPage)
		rv.Page, _ = strconv.Atoi(q.Get("page"))
		rv.Page = min(max(rv.Page, 0), rv.Pages-1)
		pq.After = int64(rv.Page*rowsPerPage) - 1 // positions are 0..n-1 in sheet order
	}
	p, err := s.l.BatchPage(r.Context(), pq)
	if err != nil {
		return rv, err
	}
	if len(p.Rows) == 0 && rv.Q != "" {
		// Not a refund number of this batch: perhaps a sheet row number.
		if n, err := strconv.Atoi(rv.Q); err == nil && n > 0 {
			pq.RefundNo, pq.Row = "", n
			if p, err = s.l.BatchPage(r.Context(), pq); err != nil {
				return rv, err
			}
		}
	}
	rv.Rows, rv.Next, rv.After = p.Rows, p.Next, pq.After
	rv.NotFound = len(p.Rows) == 0 && rv.Filtered
	return rv, nil
}

// rowsFragment is the rows table alone, for the watch page's live refresh.
func (s *Server) rowsFragment(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.batchOf(r)
	if err != nil {
		return err
	}
	rv, err := s.loadRows(r, m)
	if err != nil {
		return err
	}
	return s.fragment(w, "rows", rv)
}

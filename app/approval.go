package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// Maker-checker. A batch is the SHA-256 of its validated rows (its id), so
// an approval recorded for an id holds for exactly those rows: a sheet with
// any change is another batch, which has no approval. Decisions are entries
// of the ledger's audit trail, which is never edited; the batch's status
// column follows them for display, but what may run is decided from the
// trail.

// Audit actions of maker-checker.
const (
	ActionSubmitted = "submitted"
	ActionApproved  = "approved"
	ActionRejected  = "rejected"
)

var (
	// ErrNeedsApproval: the batch needs a second person's approval and has none.
	ErrNeedsApproval = errors.New("needs a second person's approval")
	// ErrRejected: a checker rejected the batch; it never runs.
	ErrRejected = errors.New("the batch was rejected")
	// ErrSelfApproval: the approver is the batch's maker.
	ErrSelfApproval = errors.New("the person who submitted a batch cannot approve it")
	// ErrDecided: the batch was approved or rejected already.
	ErrDecided = errors.New("the batch is already decided")
	// ErrNotDecidable: the batch has run to the end.
	ErrNotDecidable = errors.New("the batch has already run")
	// ErrCommentRequired: a rejection says why.
	ErrCommentRequired = errors.New("a comment is required")
)

// Decision is one maker-checker entry of the audit trail.
type Decision struct {
	At      time.Time
	Actor   string
	Action  string // submitted, approved, rejected
	Hash    string // the content hash (batch id) the decision is bound to
	Comment string
}

// ApprovalState is where a batch stands in maker-checker.
type ApprovalState struct {
	Meta      store.Meta
	Makers    []string   // who planned or submitted it
	Submitted *Decision  // the latest submission, if any
	Approved  *Decision  // the approval in force, if any
	Rejected  *Decision  // the rejection, if any (final)
	History   []Decision // every entry bound to its content, oldest first
}

// Submitter is who submitted the batch, else who planned it.
func (s ApprovalState) Submitter() string {
	if s.Submitted != nil {
		return s.Submitted.Actor
	}
	return s.Meta.Operator
}

// IsMaker reports whether who planned or submitted the batch.
func (s ApprovalState) IsMaker(who string) bool {
	for _, m := range s.Makers {
		if strings.EqualFold(strings.TrimSpace(m), strings.TrimSpace(who)) {
			return true
		}
	}
	return false
}

// detail formats a decision's audit detail: the hash it is bound to, then
// the comment (read back by parseDecision).
func detail(hash, comment string) string {
	d := "content sha256 " + hash
	if comment != "" {
		d += "; comment: " + comment
	}
	return d
}

func parseDecision(a store.Audit) Decision {
	d := Decision{At: a.At, Actor: a.Actor, Action: a.Action}
	rest := a.Detail
	if h, ok := strings.CutPrefix(rest, "content sha256 "); ok {
		d.Hash, rest, _ = strings.Cut(h, ";")
		rest = strings.TrimSpace(rest)
	}
	if c, ok := strings.CutPrefix(rest, "comment: "); ok {
		d.Comment = c
	}
	return d
}

// Approvals reads a batch's maker-checker entries from the audit trail.
func Approvals(ctx context.Context, l store.Ledger, batchID string) (ApprovalState, error) {
	m, err := l.Batch(ctx, batchID)
	if err != nil {
		return ApprovalState{}, err
	}
	st := ApprovalState{Meta: m, Makers: []string{m.Operator}}
	err = l.AuditTrail(ctx, m.BatchID, func(a store.Audit) error {
		switch a.Action {
		case ActionSubmitted, ActionApproved, ActionRejected:
		default:
			return nil
		}
		d := parseDecision(a)
		// A decision counts only if it is bound to this content: an entry
		// naming another hash, or none (a hand-over to the workers is
		// recorded as "approved" by the one who ran it), is no decision.
		if d.Hash != m.BatchID {
			return nil
		}
		st.History = append(st.History, d)
		switch a.Action {
		case ActionSubmitted:
			dd := d
			st.Submitted = &dd
			st.Makers = append(st.Makers, d.Actor)
		case ActionApproved:
			if st.Approved == nil && st.Rejected == nil {
				dd := d
				st.Approved = &dd
			}
		case ActionRejected:
			if st.Rejected == nil {
				dd := d
				st.Rejected = &dd
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	// An approval by a maker is no approval (entries written by an older
	// tool, or by hand); a rejection stands whoever wrote it.
	if st.Approved != nil && st.IsMaker(st.Approved.Actor) {
		st.Approved = nil
	}
	if st.Rejected != nil {
		st.Approved = nil
	}
	return st, nil
}

// BatchItems reads a batch's refunds from the ledger as items, in sheet
// order, for the checks that need every row (limits on approval and run).
func BatchItems(ctx context.Context, l store.Ledger, batchID string) ([]batch.Item, error) {
	v, err := l.View(ctx, batchID)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var items []batch.Item
	err = v.Each(ctx, func(r store.Record) error {
		items = append(items, r.Item)
		return nil
	})
	return items, err
}

// Submit records a valid sheet in the ledger as a batch waiting for a
// checker. The limits are checked first: a batch over them is refused and
// nothing is recorded. Submitting a batch the ledger holds already (the
// same rows) records the submission again, unless it was decided or run.
func Submit(ctx context.Context, l store.Ledger, p *Planned, actor string, c *Controls) (store.PlanResult, error) {
	if actor == "" {
		return store.PlanResult{}, errors.New("submit: who submits is not known")
	}
	if len(p.Items) == 0 {
		return store.PlanResult{}, errors.New("submit: the sheet has no valid rows")
	}
	if _, err := c.CheckLimits(p.Items); err != nil {
		return store.PlanResult{}, err
	}
	m := p.Meta
	m.Operator = actor
	m.Status = store.BatchSubmitted
	res, err := l.Plan(ctx, m, p.Items)
	if err != nil {
		return res, err
	}
	id := res.Meta.BatchID
	if res.Resumed {
		st, err := Approvals(ctx, l, id)
		if err != nil {
			return res, err
		}
		if err := decidable(st); err != nil {
			return res, err
		}
	}
	totals := describeTotals(CurrencyTotals(p.Items))
	a := store.Audit{Actor: actor, Action: ActionSubmitted,
		Detail: detail(id, fmt.Sprintf("%d rows, %s, sheet %s sha256 %s", len(p.Items), totals, p.Meta.SourcePath, p.Meta.SourceSHA256))}
	if err := setStatus(ctx, l, id, store.BatchSubmitted, a); err != nil {
		return res, err
	}
	res.Meta.Status = store.BatchSubmitted
	return res, nil
}

// decidable refuses a decision on a batch already decided or run.
func decidable(st ApprovalState) error {
	switch {
	case st.Rejected != nil:
		return fmt.Errorf("batch %.16s: %w: rejected by %s on %s", st.Meta.BatchID, ErrDecided, st.Rejected.Actor, st.Rejected.At.Local().Format(time.DateTime))
	case st.Approved != nil:
		return fmt.Errorf("batch %.16s: %w: approved by %s on %s", st.Meta.BatchID, ErrDecided, st.Approved.Actor, st.Approved.At.Local().Format(time.DateTime))
	case st.Meta.Status == store.BatchDone:
		return fmt.Errorf("batch %.16s: %w (status %s)", st.Meta.BatchID, ErrNotDecidable, st.Meta.Status)
	}
	return nil
}

// setStatus moves the batch's status with its audit entry, as a
// compare-and-set from the statuses a decision may follow (a batch done
// cannot be decided), where the ledger offers one.
func setStatus(ctx context.Context, l store.Ledger, id, status string, a store.Audit) error {
	if cas, ok := l.(interface {
		SetBatchStatusFrom(ctx context.Context, id string, from []string, to string, a store.Audit) error
	}); ok {
		return cas.SetBatchStatusFrom(ctx, id, []string{store.BatchPlanned, store.BatchSubmitted, store.BatchRunning}, status, a)
	}
	return l.SetBatchStatus(ctx, id, status, a)
}

// Approve records a checker's approval of a batch: bound to its content
// hash, by someone other than its maker, and only while the batch is within
// the limits. The comment is optional.
func Approve(ctx context.Context, l store.Ledger, batchID, actor, comment string, c *Controls) error {
	return decide(ctx, l, batchID, actor, comment, c, ActionApproved)
}

// Reject records a checker's rejection of a batch, with the reason. A
// rejected batch never runs; its rows may be submitted again only as
// another batch (changed content).
func Reject(ctx context.Context, l store.Ledger, batchID, actor, comment string) error {
	if strings.TrimSpace(comment) == "" {
		return fmt.Errorf("reject: %w: say why the batch is rejected", ErrCommentRequired)
	}
	return decide(ctx, l, batchID, actor, comment, nil, ActionRejected)
}

func decide(ctx context.Context, l store.Ledger, batchID, actor, comment string, c *Controls, action string) error {
	if strings.TrimSpace(actor) == "" {
		return fmt.Errorf("%s: who decides is not known", action)
	}
	st, err := Approvals(ctx, l, batchID)
	if err != nil {
		return err
	}
	id := st.Meta.BatchID
	if err := decidable(st); err != nil {
		return err
	}
	if action == ActionApproved {
		if st.IsMaker(actor) {
			return fmt.Errorf("batch %.16s: %w (%s submitted it)", id, ErrSelfApproval, st.Submitter())
		}
		items, err := BatchItems(ctx, l, id)
		if err != nil {
			return err
		}
		if len(items) != st.Meta.Items {
			return fmt.Errorf("batch %.16s: the ledger holds %d rows of its %d: not approved", id, len(items), st.Meta.Items)
		}
		if _, err := c.CheckLimits(items); err != nil {
			return err
		}
	}
	status := store.BatchApproved
	if action == ActionRejected {
		status = store.BatchRejected
	}
	comment = strings.Join(strings.Fields(comment), " ")
	return setStatus(ctx, l, id, status, store.Audit{Actor: actor, Action: action, Detail: detail(id, comment)})
}

// MayRun decides whether a batch may be sent now: never if it was rejected,
// and, where the controls ask for a second person's approval (by its
// totals), only with an approval bound to its content. batchID may name a
// batch the ledger does not hold yet (a sheet about to be planned): it has
// no approval. It returns the approval in force, if any.
func MayRun(ctx context.Context, l store.Ledger, batchID string, totals []Total, c *Controls) (*Decision, error) {
	var st ApprovalState
	if l != nil {
		var err error
		st, err = Approvals(ctx, l, batchID)
		if err != nil && !errors.Is(err, store.ErrNoBatch) {
			return nil, err
		}
	}
	if st.Rejected != nil {
		r := st.Rejected
		return nil, fmt.Errorf("batch %.16s: %w by %s on %s (%s): it cannot run; change the sheet and submit it again",
			batchID, ErrRejected, r.Actor, r.At.Local().Format(time.DateTime), r.Comment)
	}
	need, why := c.NeedsApproval(totals)
	if !need {
		return st.Approved, nil
	}
	if st.Approved == nil {
		return nil, fmt.Errorf("batch %.16s %w: %s. Submit it (bulkrefund submit FILE, or upload it on the web page) and have a checker approve it (bulkrefund approve %.16s); nothing was sent",
			batchID, ErrNeedsApproval, why, batchID)
	}
	return st.Approved, nil
}

// describeTotals is "CNY 1,234.50, USD 10.00".
func describeTotals(ts []Total) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s %s", t.Currency, money.FormatGrouped(t.Amount, t.Currency))
	}
	return strings.Join(parts, ", ")
}

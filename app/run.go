package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/worker"
)

// Spec is one run of a sheet: everything the use case needs, whoever asks
// (the CLI, the web page).
type Spec struct {
	Sheet       SheetSpec
	Ledger      string // the ledger's spec (LedgerSpec)
	NewLedger   bool   // an empty file at the ledger's path may become a new ledger
	Operator    string // who runs it; "" for the operating-system user
	SkipInvalid bool   // run the valid rows of a sheet with invalid rows
	// Connect gives the providers' routes; it is called once the sheet is
	// valid, so that a bad sheet never starts anything.
	Connect  func() (Routes, error)
	Options  runner.Options
	Progress *runner.Counter
	Results  string // results file, written after the run
	// ResultsOptions say how it is written (the CSV's byte-order mark).
	ResultsOptions results.Options
	// AsyncPoll: when Options.Poll is 0 and the batch holds providers that
	// settle later, pending refunds are looked up this long.
	AsyncPoll time.Duration
	// Report, when set, reconciles the batch after a run that was not
	// interrupted; clean is false when the report has exceptions.
	Report func(ctx context.Context, l store.Ledger, batchID string) (clean bool, err error)
	// Controls are the limits and maker-checker rules (controls.go); nil:
	// none, but a rejected batch never runs all the same.
	Controls *Controls
	// ViaWorkers hands the batch to `bulkrefund worker` processes instead
	// of sending it here: Run records it, approves it for the workers
	// (worker.HandOver) and returns. Connect may then be nil: the workers
	// have their own config.
	ViaWorkers bool
}

// Hooks are how a caller takes part in a run: what it shows and whether it
// confirms. Any may be nil.
type Hooks struct {
	// Planned is called once the sheet is valid and checked against the
	// ledger, before the confirmation: the place to show the plan.
	Planned func(p *Planned, check store.PlanResult, known Known)
	// Confirm decides whether to send; nil confirms.
	Confirm func(p *Planned, check store.PlanResult) bool
	// ConfirmTotals, for a batch above the controls' typed-confirmation
	// threshold, has the operator type these totals; it replaces Confirm.
	// Nil (an unattended run) is accepted only for an approved batch.
	ConfirmTotals func(p *Planned, typed []Total) bool
	// Started is called once the batch is in the ledger, before any call.
	Started func(l *store.SQL, batchID string)
}

// Outcome is what a run did. Fields are filled as far as the run got.
type Outcome struct {
	Planned     *Planned
	Check       store.PlanResult
	BatchID     string
	Ledger      string
	Run         RunResult
	Report      bool // a report was written
	ReportClean bool
	ReportErr   error
	Approval    *Decision // the approval the batch ran under, if any
	// Unsettled lists the batch's first refunds that were sent and did
	// not succeed; MoreUnsettled says there are more.
	Unsettled     []store.Record
	MoreUnsettled bool
}

// Clean reports whether the run left nothing to do: a clean sheet, every
// refund succeeded, no account paused, and a clean report if one was made.
func (o Outcome) Clean() bool {
	s := o.Run.Summary
	return o.Planned != nil && o.Planned.Validation.Invalid == 0 && s.Items > 0 && s.States[store.Succeeded] == s.Items &&
		len(s.Paused) == 0 && (!o.Report || o.ReportClean) && o.Run.ResultsErr == nil && o.ReportErr == nil
}

// InvalidRowsError: the sheet has invalid rows; nothing was sent.
type InvalidRowsError struct{ Planned *Planned }

func (e *InvalidRowsError) Error() string {
	return fmt.Sprintf("%d invalid rows: nothing was sent (fix them, or skip them to run the %d valid rows)",
		e.Planned.Validation.Invalid, e.Planned.Validation.Valid)
}

func (e *InvalidRowsError) Unwrap() error { return ErrInvalidRows }

// ErrNoRows: the sheet has no valid row to run.
var ErrNoRows = errors.New("no valid rows to run")

// ErrUnusable marks errors about the inputs (an unreadable sheet, a config
// lacking an account, a ledger that is not one): nothing was sent.
var ErrUnusable = errors.New("unusable input")

// Run is the use case "send a sheet's refunds": validate, check against the
// ledger (a refund number held for another refund refuses the batch before
// any call), show the plan, confirm, record the batch, send what is left
// (resuming what an earlier run left), write the results and the report.
// The error says why it stopped: *InvalidRowsError, *store.ConflictError,
// ErrNotConfirmed, store.ErrInUse, runner.ErrInterrupted, an error wrapping
// ErrUnusable, or a ledger error during the run.
func Run(ctx context.Context, spec Spec, h Hooks) (Outcome, error) {
	var out Outcome
	p, err := Load(spec.Sheet, spec.Operator)
	out.Planned = p
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrUnusable, err)
	}
	if p.Validation.Invalid > 0 && !spec.SkipInvalid {
		return out, &InvalidRowsError{Planned: p}
	}
	if len(p.Items) == 0 {
		return out, ErrNoRows
	}
	if spec.Options.Poll == 0 && spec.AsyncPoll > 0 && len(AsyncProviders(p.Items)) > 0 {
		spec.Options.Poll = spec.AsyncPoll
	}
	var route Routes
	if spec.Connect != nil || !spec.ViaWorkers {
		if route, err = spec.Connect(); err != nil {
			return out, fmt.Errorf("%w: %w", ErrUnusable, err)
		}
		if it, missing := MissingRoute(p.Items, route); missing {
			return out, fmt.Errorf("%w: row %d: %w: %s account %q", ErrUnusable, it.Row, runner.ErrNoRoute, it.Provider, it.Account)
		}
	}
	out.Ledger = spec.Ledger

	// Nothing is created before the confirmation: a missing ledger is
	// created once the operator said yes.
	l, err := OpenLedgerExisting(ctx, spec.Ledger)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l, err = nil, nil
	case errors.Is(err, store.ErrNotLedger) && spec.NewLedger:
		l, err = OpenLedger(ctx, spec.Ledger, true)
	}
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrUnusable, err)
	}
	var known Known
	if l != nil {
		defer l.Close()
		out.Ledger = l.Where()
		if out.Check, err = Check(ctx, l, p); err != nil {
			return out, err
		}
		if out.Check.Known > 0 {
			if known, err = KnownOf(ctx, l, p); err != nil {
				return out, err
			}
		}
	} else {
		out.Check = store.PlanResult{Meta: p.Meta, New: len(p.Items)}
	}
	if h.Planned != nil {
		h.Planned(p, out.Check, known)
	}
	// The controls, before any confirmation and any call (controls.go).
	if out.Approval, err = spec.Controls.Gate(ctx, l, p); err != nil {
		return out, err
	}
	if typed := spec.Controls.TypedConfirmation(CurrencyTotals(p.Items)); len(typed) > 0 {
		switch {
		case h.ConfirmTotals != nil:
			if !h.ConfirmTotals(p, typed) {
				return out, ErrNotConfirmed
			}
		case out.Approval == nil:
			return out, fmt.Errorf("%w: the batch's %s total is above it", ErrTypedTotalRequired, typed[0].Currency)
		}
	} else if h.Confirm != nil && !h.Confirm(p, out.Check) {
		return out, ErrNotConfirmed
	}

	if l == nil {
		if l, err = OpenLedger(ctx, spec.Ledger, false); err != nil {
			return out, fmt.Errorf("%w: %w", ErrUnusable, err)
		}
		defer l.Close()
		out.Ledger = l.Where()
	}
	// A conflict here means another process planned the same refund
	// numbers since the check: still refused before any call.
	planned, err := l.Plan(ctx, p.Meta, p.Items)
	if err != nil {
		return out, err
	}
	out.BatchID = planned.Meta.BatchID
	if h.Started != nil {
		h.Started(l, out.BatchID)
	}
	p.Items = nil // the ledger has them now; a 200k-row sheet need not stay in memory twice
	if spec.ViaWorkers {
		_, err := worker.HandOver(ctx, l, out.BatchID, p.Meta.Operator)
		return out, err
	}

	out.Run, err = Execute(ctx, l, out.BatchID, p.Meta.Operator, RunSpec{
		Route: route, Options: spec.Options, Progress: spec.Progress, Results: spec.Results, ResultsOptions: spec.ResultsOptions})
	if errors.Is(err, store.ErrInUse) || out.Run.Summary.CountsErr != nil {
		return out, err
	}
	out.Unsettled, out.MoreUnsettled = unsettled(ctx, l, out.BatchID, 20)
	if errors.Is(err, runner.ErrInterrupted) {
		return out, err
	}
	if spec.Report != nil {
		out.Report = true
		out.ReportClean, out.ReportErr = spec.Report(ctx, l, out.BatchID)
	}
	return out, err
}

// unsettled returns up to max refunds of a batch that did not succeed and
// were sent (failed, unknown, pending, blocked, submitting), and whether
// there are more.
func unsettled(ctx context.Context, l store.Ledger, batchID string, max int) ([]store.Record, bool) {
	v, err := l.View(context.WithoutCancel(ctx), batchID)
	if err != nil {
		return nil, false
	}
	defer v.Close()
	var out []store.Record
	more := false
	v.Each(context.WithoutCancel(ctx), func(r store.Record) error {
		if r.State == store.Succeeded || r.State == store.Planned {
			return nil
		}
		if len(out) == max {
			more = true
			return errEnough
		}
		out = append(out, r)
		return nil
	})
	return out, more
}

var errEnough = errors.New("enough")

// Known is what the ledger already holds of a sheet's refunds.
type Known struct {
	States  map[store.State]int
	Batches int // earlier batches they came from
}

// KnownOf counts a sheet's refunds the ledger holds, by state.
func KnownOf(ctx context.Context, l *store.SQL, p *Planned) (Known, error) {
	k := Known{States: map[store.State]int{}}
	batches := map[string]bool{}
	for _, it := range p.Items {
		r, ok, err := l.ByKey(ctx, it.Key())
		if err != nil {
			return k, err
		}
		if ok {
			k.States[r.State]++
			batches[r.FirstBatch] = true
		}
	}
	k.Batches = len(batches)
	return k, nil
}

// RowAction is what a run would do to one row.
type RowAction struct {
	Row      int
	Provider string
	Account  string
	OrderNo  string
	RefundNo string
	Amount   int64
	Currency string
	// What: "send", "send revoke", "done earlier: succeeded (CODE)", "look up first (was unknown)…"
	What string
	// Kind groups actions for counting: send, done earlier, look up first.
	Kind string
}

// DryRun says what a run would do to each row of p, reading the ledger
// (if it exists) without creating or changing anything. A refund number the
// ledger holds for another refund is reported as the run would refuse it.
func DryRun(ctx context.Context, ledgerSpec string, p *Planned, each func(RowAction)) error {
	l, err := OpenLedgerExisting(ctx, ledgerSpec)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l = nil
	case err != nil:
		return err
	default:
		defer l.Close()
		if _, err := Check(ctx, l, p); err != nil {
			return err
		}
	}
	for _, it := range p.Items {
		a := RowAction{Row: it.Row, Provider: it.Provider, Account: it.Account, OrderNo: it.OrderNo, RefundNo: it.RefundNo,
			Amount: it.Amount, Currency: string(it.Currency), What: "send", Kind: "send"}
		if it.Action == adapters.ActionRevoke {
			a.What = "send revoke"
		}
		if l != nil {
			r, ok, err := l.ByKey(ctx, it.Key())
			if err != nil {
				return err
			}
			if ok {
				switch r.State {
				case store.Succeeded, store.Failed:
					a.What, a.Kind = "done earlier: "+string(r.State), "done earlier: "+string(r.State)
					if r.ProviderCode != "" {
						a.What += " (" + r.ProviderCode + ")"
					}
				case store.Submitting, store.Unknown, store.Pending:
					a.What = "look up first (was " + string(r.State) + "); sent again only if the provider has no record"
					a.Kind = "look up first"
				case store.Blocked:
					a.What = "send (was blocked: credentials or configuration refused)"
				}
			}
		}
		each(a)
	}
	return nil
}

// AsyncProviders names the providers of items that settle refunds later.
func AsyncProviders(items []batch.Item) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		if seen[it.Provider] {
			continue
		}
		seen[it.Provider] = true
		if d, ok := registry.Get(it.Provider); ok && d.Async {
			out = append(out, it.Provider)
		}
	}
	sort.Strings(out)
	return out
}

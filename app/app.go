// Package app holds bulkrefund's use cases — plan a sheet against the
// ledger, run a batch, resume it, report where it stands — so that the CLI,
// the web server and the workers call the same code. Callers do the
// talking (flags, prompts, pages); this package decides.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/version"
	"github.com/bulkrefund/bulkrefund/money"
)

// ToolVersion is recorded in every batch and report.
var ToolVersion = version.String("bulkrefund")

// ErrNotConfirmed: the operator declined the plan; nothing was sent.
var ErrNotConfirmed = errors.New("not confirmed: nothing was sent")

// ErrInvalidRows: the sheet has invalid rows; nothing was sent.
var ErrInvalidRows = errors.New("invalid rows: nothing was sent")

// LedgerSpec is the ledger to use: the flag's value if given, else
// BULKREFUND_LEDGER, else the default file in the user's state directory.
func LedgerSpec(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("BULKREFUND_LEDGER"); env != "" {
		return env
	}
	return store.DefaultPath()
}

// SandboxLedger is the ledger of one --sandbox run: the in-process sandbox
// forgets every refund when the process ends, so a sandbox run never shares
// the installation's ledger (its refunds would look missing at the next
// sandbox, or be taken as already done).
func SandboxLedger(now time.Time) string {
	return filepath.Join(store.StateDir(), "sandbox", "ledger-"+now.UTC().Format("20060102T150405.000000000")+".db")
}

// OpenLedger opens the ledger named by spec (a path, or a postgres:// URL
// where supported), creating a new SQLite file where none exists.
func OpenLedger(ctx context.Context, spec string, fresh bool) (*store.SQL, error) {
	return openLedger(ctx, spec, store.SQLiteOptions{Create: true, Fresh: fresh})
}

// OpenLedgerExisting opens a ledger that must exist (status, reconcile).
func OpenLedgerExisting(ctx context.Context, spec string) (*store.SQL, error) {
	return openLedger(ctx, spec, store.SQLiteOptions{})
}

var openLedger = store.OpenLedger

// SheetSpec names a sheet to read.
type SheetSpec struct {
	Path      string
	Sheet     string // XLSX sheet; "" for the first visible one
	MaxErrors int    // invalid-row messages kept in the log
	Options   sheet.Options
	// OnInvalid, if set, also gets every invalid row: its original cells
	// and all its errors (the web page shows them with the cells marked).
	OnInvalid func(cells []string, errs []*sheet.RowError) error
}

// Planned is a validated sheet, ready to be checked against the ledger.
type Planned struct {
	Items      []batch.Item
	Meta       store.Meta
	Validation sheet.Summary
	Errors     *sheet.ErrorLog
}

// Load validates a sheet and describes it as a batch. The error is an
// unreadable or unusable file; invalid rows are counted in
// Validation.Invalid and listed in Errors.
func Load(s SheetSpec, operator string) (*Planned, error) {
	p := &Planned{Errors: sheet.NewErrorLog(s.MaxErrors)}
	opts := s.Options
	opts.Sheet = s.Sheet
	sum, err := sheet.Validate(s.Path, opts,
		func(it batch.Item) error { p.Items = append(p.Items, it); return nil },
		func(cells []string, errs []*sheet.RowError) error {
			p.Errors.Add(errs)
			if s.OnInvalid != nil {
				return s.OnInvalid(cells, errs)
			}
			return nil
		})
	p.Validation = sum
	if err != nil {
		return p, err
	}
	p.Meta, err = describe(s.Path, p.Items, operator)
	return p, err
}

// Operator is who runs this process: the operating-system user.
func Operator() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

func describe(path string, items []batch.Item, operator string) (store.Meta, error) {
	fh, err := os.Open(path)
	if err != nil {
		return store.Meta{}, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return store.Meta{}, err
	}
	if operator == "" {
		operator = Operator()
	}
	m := store.Meta{BatchID: batch.Identity(items), SourcePath: path, SourceSHA256: hex.EncodeToString(h.Sum(nil)),
		ToolVersion: ToolVersion, Created: time.Now().UTC(), Items: len(items), Operator: operator}
	m.Host, _ = os.Hostname()
	return m, nil
}

// Total is the rows and amount of one provider, account and currency.
type Total struct {
	Provider string
	Account  string
	Currency money.Currency
	Rows     int
	Amount   int64
}

// Totals sums items per provider, account and currency, in a stable order.
// Amounts of different currencies are never added together.
func Totals(items []batch.Item) []Total {
	idx := map[[3]string]int{}
	var out []Total
	for _, it := range items {
		k := [3]string{it.Provider, it.Account, string(it.Currency)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Total{Provider: it.Provider, Account: it.Account, Currency: it.Currency})
		}
		out[i].Rows++
		out[i].Amount += it.Amount
	}
	rank := map[string]int{}
	for i, p := range adapters.Providers {
		rank[p] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Provider != b.Provider {
			return rank[a.Provider] < rank[b.Provider]
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		return a.Currency < b.Currency
	})
	return out
}

// CurrencyTotals sums items per currency.
func CurrencyTotals(items []batch.Item) []Total {
	idx := map[money.Currency]int{}
	var out []Total
	for _, it := range items {
		i, ok := idx[it.Currency]
		if !ok {
			i = len(out)
			idx[it.Currency] = i
			out = append(out, Total{Currency: it.Currency})
		}
		out[i].Rows++
		out[i].Amount += it.Amount
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

// Check weighs a loaded sheet against the ledger without writing: which of
// its refunds are new, which the ledger holds already, and any refund
// number the ledger holds for other content (a *store.ConflictError).
func Check(ctx context.Context, l store.Ledger, p *Planned) (store.PlanResult, error) {
	return l.Check(ctx, p.Meta, p.Items)
}

// Routes finds a provider account's client; ok false: not configured.
type Routes func(provider, account string) (runner.Target, bool)

// MissingRoute names the first item whose account the config lacks.
func MissingRoute(items []batch.Item, route Routes) (batch.Item, bool) {
	for _, it := range items {
		if _, ok := route(it.Provider, it.Account); !ok {
			return it, true
		}
	}
	return batch.Item{}, false
}

// RunSpec is one run of a batch.
type RunSpec struct {
	Route    Routes
	Options  runner.Options
	Progress *runner.Counter
	// Results, when set, is written with every row's outcome after the run,
	// whatever happened (CSV or XLSX by its extension).
	Results        string
	ResultsOptions results.Options
}

// RunResult is where a run left its batch.
type RunResult struct {
	BatchID string
	Summary runner.Summary
	// ResultsErr is the failure to write the results file, if any.
	ResultsErr error
}

// Execute runs a batch already planned in the ledger: it takes the batch's
// run lease (ErrInUse if another process runs it), sends what is left,
// and writes the results file. Its error is the runner's (ErrInterrupted,
// a ledger error) or the lease's.
func Execute(ctx context.Context, l store.Ledger, batchID, actor string, spec RunSpec) (RunResult, error) {
	res := RunResult{BatchID: batchID}
	st, err := l.Run(ctx, batchID)
	if err != nil {
		return res, err
	}
	defer st.Close()
	l.SetBatchStatus(context.WithoutCancel(ctx), batchID, store.BatchRunning, store.Audit{Actor: actor, Action: "ran"})
	r := &runner.Runner{Store: st, Route: spec.Route, Options: spec.Options, Progress: spec.Progress}
	sum, runErr := r.Run(ctx)
	res.Summary = sum
	if spec.Results != "" {
		res.ResultsErr = results.WriteFile(context.WithoutCancel(ctx), spec.Results, st, spec.ResultsOptions)
	}
	status := store.BatchRunning
	if runErr == nil && sum.CountsErr == nil && sum.States[store.Succeeded]+sum.States[store.Failed] == sum.Items {
		status = store.BatchDone
	}
	if status == store.BatchDone {
		l.SetBatchStatus(context.WithoutCancel(ctx), batchID, store.BatchDone, store.Audit{Actor: actor, Action: "finished",
			Detail: fmt.Sprintf("%d succeeded, %d failed", sum.States[store.Succeeded], sum.States[store.Failed])})
	}
	return res, runErr
}

// Resumable counts a batch's refunds that a run would still work on.
func Resumable(sum runner.Summary) int {
	return sum.States[store.Planned] + sum.States[store.Submitting] + sum.States[store.Unknown] +
		sum.States[store.Pending] + sum.States[store.Blocked]
}

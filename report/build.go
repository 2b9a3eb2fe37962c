package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Inputs are everything one report reads. Files are read in the order
// given; each becomes a Source in the provenance.
type Inputs struct {
	// Ledger and Batches: the batches of the ledger whose refunds are our
	// side, each a Source of its own.
	Ledger     store.Ledger
	Batches    []string
	States     []string // per-batch state files of an earlier bulkrefund, read as they are
	Results    []string // results files (CSV or XLSX)
	Statements []string // provider statements (CSV or XLSX)
	Orders     []string // orders ledgers (CSV or XLSX)

	// Records the caller already holds, added to what the files give
	// (e.g. a sandbox's statement kept in memory).
	Ours   []Ours
	Theirs []Theirs

	// Lookup, when set, asks the providers live about every refund of our
	// side that was sent (with From set: those that can have a row in the
	// period, see docs/report.md); the answers join the provider side.
	Lookup *Lookup

	// History, when set, keeps the exceptions from one reconciliation to
	// the next (package report/history: in the ledger).
	History History

	Options
	Operator    string
	ToolVersion string
	Now         time.Time // generation time; zero means time.Now()
}

// Limiter paces one provider account's lookups (a *rate.Limiter, or a
// limiter shared through the ledger).
type Limiter interface {
	Wait(ctx context.Context) error
}

// Lookup configures live lookups through the adapters.
type Lookup struct {
	// Provider returns the client for a provider account.
	Provider func(provider, account string) (adapters.Provider, error)
	// Parallel bounds the lookups in flight (default 8).
	Parallel int
	// Limiter returns the token bucket of a provider account (its
	// configured rate); nil, or a nil result, falls back to PerAccount.
	Limiter func(provider, account string) Limiter
	// PerAccount limits the lookups per second to one provider account
	// when Limiter gives none (default 10, burst 1).
	PerAccount rate.Limit
	// Timeout bounds each lookup (default 15 s).
	Timeout time.Duration
	// Attempts is how many times a lookup that failed (a 503, a timeout, a
	// 429) is tried in all (default 4). A lookup is a read, so retrying it
	// is always safe.
	Attempts int
}

// Build reads the inputs, reconciles them and fills in the provenance.
// Input problems come back as *InputError (or an error naming the file).
func Build(ctx context.Context, in Inputs) (*Result, error) {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	var (
		meta   Meta
		ours   []Ours
		theirs []Theirs
		orders []Order
	)
	add := func(s Source) int32 {
		meta.Sources = append(meta.Sources, s)
		return int32(len(meta.Sources) - 1)
	}
	// Every file is read at once, two at a time (one per core): reading and
	// parsing is most of a large reconciliation's work. Sources are numbered
	// in the order given, and parts are joined in that order, so the result
	// does not depend on which read finishes first.
	type part struct {
		ours   []Ours
		theirs []Theirs
		orders []Order
		err    error
	}
	var jobs []func() part
	for _, b := range in.Batches {
		src := add(Source{Role: "ledger", Path: in.Ledger.Where()})
		jobs = append(jobs, func() part {
			recs, m, err := ReadBatch(ctx, in.Ledger, b, src)
			if err != nil {
				return part{err: err}
			}
			s := &meta.Sources[src]
			s.SHA256, s.Records, s.BatchID, s.RunID, s.operator = m.SourceSHA256, len(recs), m.BatchID, runID(m), m.Operator
			return part{ours: recs}
		})
	}
	for _, p := range in.States {
		src := add(Source{Role: "state", Path: p})
		jobs = append(jobs, func() part {
			recs, m, err := ReadStore(ctx, p, src)
			if err != nil {
				return part{err: err}
			}
			sum, err := hashFile(p)
			s := &meta.Sources[src]
			s.SHA256, s.Records, s.BatchID, s.RunID, s.operator = sum, len(recs), m.BatchID, runID(m), m.Operator
			return part{ours: recs, err: err}
		})
	}
	for _, p := range in.Results {
		src := add(Source{Role: "results", Path: p})
		jobs = append(jobs, func() part {
			recs, sum, err := ReadResults(p, src, loc)
			meta.Sources[src].SHA256, meta.Sources[src].Records = sum, len(recs)
			return part{ours: recs, err: err}
		})
	}
	for _, p := range in.Statements {
		src := add(Source{Role: "statement", Path: p})
		jobs = append(jobs, func() part {
			recs, sum, err := ReadStatement(p, src, loc)
			meta.Sources[src].SHA256, meta.Sources[src].Records = sum, len(recs)
			return part{theirs: recs, err: err}
		})
	}
	for _, p := range in.Orders {
		src := add(Source{Role: "orders", Path: p})
		jobs = append(jobs, func() part {
			recs, sum, err := ReadOrders(p, now, loc)
			meta.Sources[src].SHA256, meta.Sources[src].Records = sum, len(recs)
			return part{orders: recs, err: err}
		})
	}
	parts := make([]part, len(jobs))
	var g errgroup.Group
	g.SetLimit(2)
	for i, job := range jobs {
		g.Go(func() error { parts[i] = job(); return nil })
	}
	g.Wait()
	for _, pt := range parts {
		if pt.err != nil {
			return nil, pt.err
		}
		ours, theirs, orders = join(ours, pt.ours), join(theirs, pt.theirs), join(orders, pt.orders)
	}
	for _, s := range meta.Sources {
		if meta.Operator == "" && s.operator != "" {
			meta.Operator = s.operator
		}
	}
	if len(in.Ours) > 0 {
		src := add(Source{Role: "memory", Records: len(in.Ours)})
		for _, o := range in.Ours {
			o.Source = src
			ours = append(ours, o)
		}
	}
	if len(in.Theirs) > 0 {
		src := add(Source{Role: "memory", Records: len(in.Theirs)})
		for _, t := range in.Theirs {
			t.Source = src
			theirs = append(theirs, t)
		}
	}
	var open map[string]*Tracked
	if in.History != nil {
		list, err := in.History.Open(ctx)
		if err != nil {
			return nil, fmt.Errorf("exception history: %w", err)
		}
		open = make(map[string]*Tracked, len(list))
		for i := range list {
			open[list[i].ID] = &list[i]
		}
	}
	if in.Lookup != nil {
		fillPaymentMethods(ours, orders)
		src := add(Source{Role: "lookup"})
		recs, err := lookupAll(ctx, in.Lookup, ours, orders, lookupScope(ours, orders, in.From, open), src)
		if err != nil {
			return nil, err
		}
		meta.Sources[src].Records = len(recs)
		theirs = join(theirs, recs)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := reconcile(ours, theirs, orders, in.Options, open)
	if in.Operator != "" {
		meta.Operator = in.Operator
	}
	meta.GeneratedAt = now
	meta.ToolVersion = in.ToolVersion
	for _, s := range meta.Sources {
		if s.RunID != "" {
			meta.RunIDs = append(meta.RunIDs, s.RunID)
		}
		if s.BatchID != "" {
			meta.BatchIDs = append(meta.BatchIDs, s.BatchID)
		}
	}
	slices.Sort(meta.RunIDs)
	meta.RunIDs = slices.Compact(meta.RunIDs)
	slices.Sort(meta.BatchIDs)
	meta.BatchIDs = slices.Compact(meta.BatchIDs)
	res.Meta = meta
	assignAges(res, now, open)
	if in.History != nil {
		if err := in.History.Record(ctx, res.night(now)); err != nil {
			return nil, fmt.Errorf("exception history: %w", err)
		}
	}
	return res, nil
}

// runID names a run by its batch and the time its store was created: the
// store is one file per batch, and this is what tells two runs apart.
func runID(m store.Meta) string {
	id := m.BatchID
	if len(id) > 16 {
		id = id[:16]
	}
	if !m.Created.IsZero() {
		id += "@" + m.Created.UTC().Format(time.RFC3339)
	}
	return id
}

// ReadBatch reads one batch of the ledger as our side.
func ReadBatch(ctx context.Context, l store.Ledger, batchID string, source int32) ([]Ours, store.Meta, error) {
	path := l.Where() + " batch " + batchID
	m, err := l.Batch(ctx, batchID)
	if err != nil {
		return nil, m, fmt.Errorf("%s: %w", path, err)
	}
	if out, ok, err := readBatchDirect(ctx, l, m, path, source); ok {
		return out, m, err
	}
	return readView(ctx, l, batchID, path, source)
}

func readView(ctx context.Context, l store.Ledger, batchID, path string, source int32) ([]Ours, store.Meta, error) {
	st, err := l.View(ctx, batchID)
	if err != nil {
		return nil, store.Meta{}, fmt.Errorf("%s: %w", path, err)
	}
	defer st.Close()
	m, err := st.Meta(ctx)
	if err != nil {
		return nil, m, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]Ours, 0, m.Items)
	err = st.Each(ctx, func(r store.Record) error {
		s, err := ParseState(string(r.State))
		if err != nil {
			return &InputError{File: path, Row: r.Row, Column: "state", Value: string(r.State), Err: err}
		}
		out = append(out, NewOurs(OurRecord{
			Provider: r.Provider, Account: r.Account, OrderNo: r.OrderNo,
			ProviderOrderID: r.ProviderOrderID, RefundNo: r.RefundNo, Action: r.Action,
			Amount: r.Amount, Total: r.Total, Currency: r.Currency, State: s, PaymentMethod: r.PaymentMethod,
			ProviderRefundID: r.ProviderRefundID, ProviderCode: r.ProviderCode, ProviderMessage: r.ProviderMessage,
			Error: r.LastError, Attempts: int32(r.Attempts), FirstAttempt: r.FirstAttempt, LastAttempt: r.LastAttempt,
			Source: source, Row: int32(r.Row),
		}))
		return nil
	})
	if err != nil {
		return nil, m, fmt.Errorf("%s: %w", path, err)
	}
	return out, m, nil
}

// ReadStore reads a per-batch state file of an earlier bulkrefund (tables
// meta and items) as our side, leaving the file as it is: the file is
// imported into a throw-away ledger by the ledger's own importer and read
// back from there, so that the old format is known in one place. To keep
// its refunds for good, import it: `bulkrefund ledger import PATH`.
func ReadStore(ctx context.Context, path string, source int32) ([]Ours, store.Meta, error) {
	if err := notALedger(path); err != nil {
		return nil, store.Meta{}, err
	}
	dir, err := os.MkdirTemp("", "reconcile-state-")
	if err != nil {
		return nil, store.Meta{}, err
	}
	defer os.RemoveAll(dir)
	l, err := store.OpenSQLite(filepath.Join(dir, "ledger.db"), store.SQLiteOptions{Create: true})
	if err != nil {
		return nil, store.Meta{}, err
	}
	defer l.Close()
	imp, err := store.ImportState(ctx, l, path, "reconcile")
	if err != nil {
		return nil, store.Meta{}, fmt.Errorf("%s: %w", path, err)
	}
	return readView(ctx, l, imp.Plan.Meta.BatchID, path, source)
}

// notALedger refuses a ledger given as a state file: it is read with
// --ledger (Inputs.Ledger), which also keeps the exceptions' history.
func notALedger(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table' AND name='ledger_schema'`).Scan(&n); err == nil && n > 0 {
		return fmt.Errorf("%s is a ledger, not a per-batch state file: give it as --ledger %s", path, path)
	}
	return nil
}

// lookupScope says which of our refunds a lookup asks about. Without a
// period, every one. With From, those that can have a row in the report:
// not final yet, sent at or after From, or an exception still open from an
// earlier night; and every other refund of their orders, so that the
// order's net and refunded total are complete.
func lookupScope(ours []Ours, orders []Order, from time.Time, open map[string]*Tracked) func(i int) bool {
	if from.IsZero() {
		return func(int) bool { return true }
	}
	x := newIdents(ours, nil, orders)
	type ok struct{ p, a, o string }
	in := map[ok]bool{}
	for i := range ours {
		o := &ours[i]
		ord := x.order(o.Provider(), o.Account(), o.OrderNo(), o.ProviderOrderID())
		scoped := !o.State.final() || !o.LastAttempt().Before(from) || !o.FirstAttempt().Before(from)
		if !scoped && len(open) > 0 {
			_, scoped = open[oursID(o, ord)]
		}
		if scoped {
			in[ok{o.Provider(), o.Account(), ord}] = true
		}
	}
	return func(i int) bool {
		o := &ours[i]
		return in[ok{o.Provider(), o.Account(), x.order(o.Provider(), o.Account(), o.OrderNo(), o.ProviderOrderID())}]
	}
}

// lookupAll asks the providers about every refund of ours that may have
// reached them (each refund number once), with bounded parallelism and a
// token bucket per provider account. A refund the provider does not know
// gives no record; a lookup that fails gives a record of status unknown,
// which reconciles as PENDING with the error as its reason.
func lookupAll(ctx context.Context, l *Lookup, ours []Ours, orders []Order, scope func(int) bool, src int32) ([]Theirs, error) {
	par := l.Parallel
	if par <= 0 {
		par = 8
	}
	per := l.PerAccount
	if per <= 0 {
		per = 10
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	attempts := l.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	// One lookup per match key.
	x := newIdents(ours, nil, orders)
	idx := make([]int, 0, len(ours))
	for i := range ours {
		if ours[i].State.sent() && scope(i) {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return cmpKey(x.oursKey(&ours[a]), x.oursKey(&ours[b])) })
	idx = slices.CompactFunc(idx, func(a, b int) bool { return cmpKey(x.oursKey(&ours[a]), x.oursKey(&ours[b])) == 0 })

	limiters := map[string]Limiter{}
	clients := map[string]adapters.Provider{}
	for _, i := range idx {
		k := ours[i].Provider() + "\x00" + ours[i].Account()
		if _, ok := clients[k]; ok {
			continue
		}
		p, err := l.Provider(ours[i].Provider(), ours[i].Account())
		if err != nil {
			return nil, fmt.Errorf("lookup: %s account %s: %w", ours[i].Provider(), ours[i].Account(), err)
		}
		var lim Limiter
		if l.Limiter != nil {
			lim = l.Limiter(ours[i].Provider(), ours[i].Account())
		}
		if lim == nil || isNilLimiter(lim) {
			lim = rate.NewLimiter(per, 1)
		}
		clients[k], limiters[k] = p, lim
	}

	out := make([]Theirs, len(idx))
	found := make([]bool, len(idx))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	for n, i := range idx {
		o := &ours[i]
		k := o.Provider() + "\x00" + o.Account()
		g.Go(func() error {
			req := adapters.Refund{
				Provider: o.Provider(), Account: o.Account(), OrderNo: o.OrderNo(), ProviderOrderID: o.ProviderOrderID(),
				RefundNo: o.RefundNo(), Amount: o.Amount, Total: o.Total, Currency: o.Currency(), Action: o.Action(),
				PaymentMethod: o.PaymentMethod(),
			}
			var oc adapters.Outcome
			var err error
			for a := 1; ; a++ {
				if err = limiters[k].Wait(gctx); err != nil {
					return err
				}
				cctx, cancel := context.WithTimeout(gctx, timeout)
				oc, err = clients[k].Lookup(cctx, req)
				cancel()
				if err == nil || errors.Is(err, adapters.ErrNotFound) || adapters.KindOf(err) == adapters.KindFinal || a >= attempts {
					break
				}
				wait := max(adapters.RetryAfterOf(err), time.Duration(a)*100*time.Millisecond)
				select {
				case <-gctx.Done():
					return gctx.Err()
				case <-time.After(wait):
				}
			}
			t := TheirRecord{
				Provider: o.Provider(), Account: o.Account(), OrderNo: o.OrderNo(), ProviderOrderID: o.ProviderOrderID(),
				RefundNo: o.RefundNo(), Action: o.Action(), Currency: o.Currency(), Source: src, Row: o.Row, Lookup: true,
			}
			if o.Action() == adapters.ActionRevoke {
				t.RefundNo = ""
			}
			switch {
			case errors.Is(err, adapters.ErrNotFound):
				return nil
			case err != nil:
				if gctx.Err() != nil {
					return gctx.Err()
				}
				t.Status, t.AmountUnknown = StatusUnknown, true
				t.Code, t.Message = "LOOKUP_"+strings.ToUpper(adapters.KindOf(err).String()), err.Error()
			default:
				lookupRecord(&t, o, oc)
			}
			out[n], found[n] = NewTheirs(t), true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for n := range out {
		if found[n] {
			kept = append(kept, out[n])
		}
	}
	return kept, nil
}

// lookupRecord fills a provider record from a lookup's answer. An amount is
// taken only when the answer is about this refund and reports one: never
// ours in its place (a refund would be MATCHED without any comparison), and
// never the amount of another refund the answer shows (Upay's query shows
// an order's latest transaction). The order's refunded total, where the
// answer gives it, is kept for the order-level confirmation.
func lookupRecord(t *TheirRecord, o *Ours, oc adapters.Outcome) {
	t.Status = statusFrom(oc.Status)
	t.Amount = oc.Amount
	t.ProviderRefundID, t.Time, t.Code, t.Message = oc.ProviderRefundID, oc.Time, oc.Code, oc.Message
	if oc.Currency != "" {
		t.Currency = oc.Currency
	}
	if oc.ProviderOrderID != "" {
		t.ProviderOrderID = oc.ProviderOrderID
	}
	if oc.RefundNo != "" && oc.RefundNo != o.RefundNo() && o.Action() != adapters.ActionRevoke {
		// The answer is about another refund: it says nothing of this one.
		t.Status, t.ProviderRefundID = StatusUnknown, ""
		t.Message = strings.TrimSpace("the answer is about refund " + oc.RefundNo + "; " + oc.Message)
	}
	if t.Status == StatusUnknown || oc.Amount == 0 {
		t.Amount, t.AmountUnknown = 0, true
	}
	if oc.NetAmount >= 0 && oc.OrderTotal > 0 && oc.NetAmount <= oc.OrderTotal {
		t.OrderReported, t.OrderRefunded = true, oc.OrderTotal-oc.NetAmount
	}
}

// fillPaymentMethods takes the payment method a lookup needs (Nomad names
// it in the query) from the orders ledger where our record lacks it, as a
// results file does.
func fillPaymentMethods(ours []Ours, orders []Order) {
	if len(orders) == 0 {
		return
	}
	pm := map[[3]string]string{}
	for _, o := range orders {
		if o.PaymentMethod != "" {
			pm[[3]string{o.Provider, o.Account, o.OrderNo}] = o.PaymentMethod
		}
	}
	for i := range ours {
		if ours[i].PaymentMethod() == "" {
			if m := pm[[3]string{ours[i].Provider(), ours[i].Account(), ours[i].OrderNo()}]; m != "" {
				rec := ours[i].Record()
				rec.PaymentMethod = m
				ours[i] = NewOurs(rec)
			}
		}
	}
}

// join appends b to a, or takes b as is when a is empty: a million-row
// input is not copied just to be concatenated with nothing.
func join[T any](a, b []T) []T {
	if len(a) == 0 {
		return b
	}
	return append(a, b...)
}

// isNilLimiter catches a nil *rate.Limiter inside the interface.
func isNilLimiter(l Limiter) bool {
	rl, ok := l.(*rate.Limiter)
	return ok && rl == nil
}

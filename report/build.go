package report

import (
	"context"
	"errors"
	"fmt"
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
	Results    []string // results files (CSV or XLSX)
	Statements []string // provider statements (CSV or XLSX)
	Orders     []string // orders ledgers (CSV or XLSX)

	// Records the caller already holds, added to what the files give
	// (e.g. a sandbox's statement kept in memory).
	Ours   []Ours
	Theirs []Theirs

	// Lookup, when set, asks the providers live about every refund of our
	// side that was sent; the answers join the provider side.
	Lookup *Lookup

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
	if in.Lookup != nil {
		fillPaymentMethods(ours, orders)
		src := add(Source{Role: "lookup"})
		recs, err := lookupAll(ctx, in.Lookup, ours, src)
		if err != nil {
			return nil, err
		}
		meta.Sources[src].Records = len(recs)
		theirs = join(theirs, recs)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := Reconcile(ours, theirs, orders, in.Options)
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

// lookupAll asks the providers about every refund of ours that may have
// reached them (each refund number once), with bounded parallelism and a
// token bucket per provider account. A refund the provider does not know
// gives no record; a lookup that fails gives a record of status unknown,
// which reconciles as PENDING with the error as its reason.
func lookupAll(ctx context.Context, l *Lookup, ours []Ours, src int32) ([]Theirs, error) {
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
	idx := make([]int, 0, len(ours))
	for i := range ours {
		if ours[i].State.sent() {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return cmpKey(oursKey(&ours[a]), oursKey(&ours[b])) })
	idx = slices.CompactFunc(idx, func(a, b int) bool { return cmpKey(oursKey(&ours[a]), oursKey(&ours[b])) == 0 })

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
				RefundNo: o.RefundNo(), Action: o.Action(), Currency: o.Currency(), Source: src, Row: o.Row,
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
				t.Status, t.Amount = StatusUnknown, o.Amount
				t.Code, t.Message = "LOOKUP_"+strings.ToUpper(adapters.KindOf(err).String()), err.Error()
			default:
				t.Status = statusFrom(oc.Status)
				t.Amount = oc.Amount
				if oc.Amount == 0 {
					// The provider did not report the amount: take ours and
					// say so, rather than invent a mismatch.
					t.Amount = o.Amount
					t.Message = "amount not reported by the provider; ours assumed"
				}
				if oc.Currency != "" {
					t.Currency = oc.Currency
				}
				t.ProviderRefundID, t.Time, t.Code = oc.ProviderRefundID, oc.Time, oc.Code
				if oc.ProviderOrderID != "" {
					t.ProviderOrderID = oc.ProviderOrderID
				}
				if t.Message == "" {
					t.Message = oc.Message
				}
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

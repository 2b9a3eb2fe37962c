package report

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
)

// History keeps exceptions from one reconciliation to the next, so that
// each carries when it was first seen and for how many nights it has been
// open, an exception that clears is recorded with the evidence, and an
// auditor's explanation stays with it. Package report/history keeps it in
// the ledger; Build uses it when Inputs.History is set.
type History interface {
	// Open returns the exceptions still open after earlier reconciliations.
	Open(ctx context.Context) ([]Tracked, error)
	// Record stores one reconciliation: every exception it saw open, and
	// every earlier one it found cleared.
	Record(ctx context.Context, n Night) error
}

// Tracked is an open exception as the history keeps it.
type Tracked struct {
	ID         string
	Category   Category
	FirstSeen  time.Time
	LastSeen   time.Time
	NightsOpen int
	LastNight  string // YYYY-MM-DD of the last reconciliation that saw it, in its time zone
	// Resolution is the latest explanation an auditor recorded for it, if any.
	Resolution *Resolution
	// What the exception's row showed (Seen), to find it among a million
	// rows without naming each: any may be empty.
	OrderNo, RefundNo, ProviderRefundID string
}

// Resolution is an auditor's explanation of an exception. It holds while
// the exception stays in the category it explained; if the exception turns
// into another one, it counts again.
type Resolution struct {
	At       time.Time
	By       string
	Note     string
	Category Category
}

// Age is an exception row's history.
type Age struct {
	ID         string // the exception's name, the same every night (see Row.ExceptionID)
	FirstSeen  time.Time
	LastSeen   time.Time
	NightsOpen int // distinct nights (dates in Options.Location) it was seen open, tonight included
	Resolution *Resolution
}

// Days is how many whole days the exception has been open at now.
func (a *Age) Days(now time.Time) int {
	if now.Before(a.FirstSeen) {
		return 0
	}
	return int(now.Sub(a.FirstSeen) / (24 * time.Hour))
}

// Cleared is an exception of an earlier night that this reconciliation
// found settled, and the evidence.
type Cleared struct {
	ID         string
	Category   Category // as it was last seen open
	FirstSeen  time.Time
	NightsOpen int
	At         time.Time
	Now        Category // the refund's category tonight
	Evidence   string   // what settled it, in plain words
}

// Night is one reconciliation as History.Record stores it.
type Night struct {
	At          time.Time
	Night       string // YYYY-MM-DD in the report's time zone
	Operator    string
	ToolVersion string
	Rows        int
	Seen        []Seen
	Cleared     []Cleared
}

// Seen is one exception a reconciliation saw open, with what an auditor
// needs to find it again.
type Seen struct {
	Age
	Category         Category
	Reason           string
	RefundKey        string // the ledger key of our refund, if the exception is about one
	Provider         string
	Account          string
	OrderNo          string
	RefundNo         string
	ProviderRefundID string
}

// cover is what a reconciliation found for an exception of an earlier night.
type cover struct {
	cat      Category
	evidence string
}

// ExceptionID names the exception of a row the same way every night: the
// refund's identity (provider/account[/order]/refund number, the order
// where the provider makes refund numbers unique per order), a provider
// record's own id for a record we do not have, or the order for an
// order-level difference. `reconcile resolve` takes it.
func (r *Row) ExceptionID() string { return r.exceptionID() }

func (r *Row) exceptionID() string {
	p, a := r.Provider(), r.Account()
	switch {
	case r.why == whyOrderTotal:
		return idJoin(p, a, r.ord, "order refunded total")
	case r.O == nil:
		return theirsID(r.T, r.ord)
	}
	id := oursID(r.O, r.ord)
	if r.why == whyDupOurs {
		id += fmt.Sprintf(" (asks %s %s)", major(r.O.Amount, r.O.Currency()), r.O.Currency())
	}
	return id
}

// oursID names our refund o, of order identity ord.
func oursID(o *Ours, ord string) string {
	p, a := o.Provider(), o.Account()
	switch {
	case o.Action() == adapters.ActionRevoke:
		return idJoin(p, a, ord, "revoke")
	case o.RefundNo() == "":
		return idJoin(p, a, ord, "refund without number")
	case orderScoped(p):
		return idJoin(p, a, ord, o.RefundNo())
	}
	return idJoin(p, a, o.RefundNo())
}

// theirsID names a provider record we do not have: by its provider refund
// id when it has one.
func theirsID(t *Theirs, ord string) string {
	p, a := t.Provider(), t.Account()
	switch {
	case t.ProviderRefundID() != "":
		return idJoin(p, a, "provider refund "+t.ProviderRefundID())
	case t.Action() == adapters.ActionRevoke:
		return idJoin(p, a, ord, "revoke (provider)")
	}
	return idJoin(p, a, ord, t.RefundNo()) + fmt.Sprintf(" (provider, %s %s at %s)", major(t.Amount, t.Currency()), t.Currency(), when(t.Time()))
}

func idJoin(parts ...string) string { return strings.Join(parts, "/") }

// coverage finds, for each open exception of an earlier night, the row
// that stands for it tonight: the row's own exception id, or for a row
// that pairs a provider record with ours, the id the provider record had
// alone (an unexpected refund that turned out to be ours).
func coverage(rows []Row, open map[string]*Tracked) map[string]cover {
	if len(open) == 0 {
		return nil
	}
	// Naming every row costs more than the rest of the walk: name only
	// rows that share an order, refund number or provider refund id with
	// an open exception.
	probe := map[string]bool{}
	for _, t := range open {
		if t.OrderNo == "" && t.RefundNo == "" && t.ProviderRefundID == "" {
			probe = nil // a history that does not say: name every row
			break
		}
		for _, v := range [3]string{t.OrderNo, t.RefundNo, t.ProviderRefundID} {
			if v != "" {
				probe[v] = true
			}
		}
	}
	out := map[string]cover{}
	for i := range rows {
		r := &rows[i]
		if probe != nil && !probe[r.OrderNo()] && !probe[r.RefundNo()] && !probe[r.ProviderRefundID()] {
			continue
		}
		ids := [2]string{r.exceptionID()}
		if r.O != nil && r.T != nil {
			ids[1] = theirsID(r.T, r.ord)
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			if _, ok := open[id]; ok {
				out[id] = cover{r.Category, r.evidence()}
			}
		}
	}
	return out
}

// evidence says in plain words what a row found, for an exception it clears.
func (r *Row) evidence() string {
	src := "the provider's records"
	if r.T != nil {
		src = "the provider's record"
	}
	switch {
	case r.note&noteConfirmed != 0:
		return "MATCHED: confirmed by the order's refunded total"
	case r.Category == Matched && r.note&noteByPRID != 0:
		return "MATCHED: paired by the provider refund id " + r.T.ProviderRefundID()
	case r.Category == Matched:
		return "MATCHED: amount and status agree with " + src
	case r.Category == Failed:
		return "FAILED: both sides agree it failed (" + codeMsg(r.ProviderCode(), r.ProviderMessage()) + ")"
	}
	return "now " + r.Category.String() + " as " + r.exceptionID()
}

// assignAges gives every exception row its Age: from the history's open
// exception of the same id, else new tonight; and lists the open
// exceptions that cleared. Row ids are made unique (a suffix #2, #3) so
// that two exceptions never share a history.
func assignAges(res *Result, now time.Time, open map[string]*Tracked) {
	tonight := now.In(res.Options.Location).Format(time.DateOnly)
	seen := map[string]int{}
	res.Ages = res.Ages[:0]
	for i := range res.Rows {
		r := &res.Rows[i]
		if !r.Category.Exception() {
			continue
		}
		id := r.exceptionID()
		if n := seen[id]; n > 0 {
			seen[id] = n + 1
			id = fmt.Sprintf("%s #%d", id, n+1)
		} else {
			seen[id] = 1
		}
		a := Age{ID: id, FirstSeen: now, LastSeen: now, NightsOpen: 1}
		if t := open[id]; t != nil {
			a.FirstSeen, a.NightsOpen = t.FirstSeen, t.NightsOpen
			if t.LastNight != tonight {
				a.NightsOpen++
			}
			if t.Resolution != nil && t.Resolution.Category == r.Category {
				a.Resolution = t.Resolution
			}
		}
		res.Ages = append(res.Ages, a)
		r.age = int32(len(res.Ages))
	}
	res.Cleared = res.Cleared[:0]
	ids := make([]string, 0, len(open))
	for id := range open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c, ok := res.covered[id]
		if !ok || seen[id] > 0 {
			continue
		}
		t := open[id]
		res.Cleared = append(res.Cleared, Cleared{ID: id, Category: t.Category, FirstSeen: t.FirstSeen, NightsOpen: t.NightsOpen,
			At: now, Now: c.cat, Evidence: c.evidence})
	}
}

// Age returns the history of an exception row (nil for other rows).
func (res *Result) Age(r *Row) *Age {
	if r.age <= 0 || int(r.age) > len(res.Ages) {
		return nil
	}
	return &res.Ages[r.age-1]
}

// Resolution returns the explanation that holds for an exception row, if
// an auditor recorded one.
func (res *Result) Resolution(r *Row) *Resolution {
	if a := res.Age(r); a != nil {
		return a.Resolution
	}
	return nil
}

// AgeBuckets are the Summary's exception ages, in whole days open.
var AgeBuckets = []struct {
	Label    string
	Min, Max int // inclusive; Max < 0: no upper bound
}{{"0–1 days", 0, 1}, {"2–7 days", 2, 7}, {"8–30 days", 8, 30}, {"over 30 days", 31, -1}}

// AgeCount is one line of the Summary's exceptions by age.
type AgeCount struct {
	Label     string
	Open      int // not explained: these keep the exit code at 1
	Explained int
}

// ByAge counts the exception rows by how long they have been open.
func (res *Result) ByAge() []AgeCount {
	out := make([]AgeCount, len(AgeBuckets))
	for i, b := range AgeBuckets {
		out[i].Label = b.Label
	}
	for i := range res.Rows {
		r := &res.Rows[i]
		a := res.Age(r)
		if a == nil {
			continue
		}
		d := a.Days(res.Meta.GeneratedAt)
		for k, b := range AgeBuckets {
			if d >= b.Min && (b.Max < 0 || d <= b.Max) {
				if a.Resolution != nil {
					out[k].Explained++
				} else {
					out[k].Open++
				}
				break
			}
		}
	}
	return out
}

// night builds what History.Record stores for res.
func (res *Result) night(now time.Time) Night {
	n := Night{At: now, Night: now.In(res.Options.Location).Format(time.DateOnly), Operator: res.Meta.Operator,
		ToolVersion: res.Meta.ToolVersion, Rows: len(res.Rows), Cleared: res.Cleared}
	for i := range res.Rows {
		r := &res.Rows[i]
		a := res.Age(r)
		if a == nil {
			continue
		}
		s := Seen{Age: *a, Category: r.Category, Reason: r.Reason(), Provider: r.Provider(), Account: r.Account(),
			OrderNo: r.OrderNo(), RefundNo: r.RefundNo(), ProviderRefundID: r.ProviderRefundID()}
		if r.O != nil && r.why != whyDupOurs {
			s.RefundKey = refundKey(r.O)
		}
		n.Seen = append(n.Seen, s)
	}
	return n
}

// refundKey is our refund's ledger key, as the ledger computes it.
func refundKey(o *Ours) string {
	return batch.Item{Refund: adapters.Refund{Provider: o.Provider(), Account: o.Account(), OrderNo: o.OrderNo(),
		ProviderOrderID: o.ProviderOrderID(), RefundNo: o.RefundNo()}}.Key()
}

package report

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/money"
)

// Result is a finished reconciliation: every row with its category, the
// net per order, the totals, and where the inputs came from.
type Result struct {
	Rows   []Row      // every refund in exactly one category, in report order
	Orders []OrderNet // one per order (and currency) that has a row in Rows
	// Summary has one line per category and currency, in category order;
	// every category appears (with zero counts) so the auditor sees all eight.
	Summary []CategoryTotal
	// Totals has one line per provider, account, currency and day.
	Totals []Total
	Meta   Meta

	Options Options

	// The records the rows point into.
	Ours   []Ours
	Theirs []Theirs
}

// OrderNet is one order's refunds netted against its total.
type OrderNet struct {
	Provider, Account, OrderNo, ProviderOrderID string
	Currency                                    money.Currency
	// Total is the order total from the orders ledger, else the largest
	// total our refund rows carried; TotalFrom says which ("orders",
	// "refund sheet") or is empty when no total is known.
	Total     int64
	TotalFrom string
	// RefundedProvider sums the provider's succeeded records of the order;
	// RefundedOurs sums our refunds of the order recorded as succeeded.
	RefundedProvider int64
	RefundedOurs     int64
	// Net is Total − RefundedProvider; meaningful only when TotalFrom != "".
	Net        int64
	OverRefund bool // RefundedProvider > Total, or a total is known and RefundedOurs > Total
	Refunds    int  // rows of the order
}

// CategoryTotal counts the rows of one category in one currency.
type CategoryTotal struct {
	Category         Category
	Currency         money.Currency
	Rows             int
	OurAmount        int64 // sum of Row.OurAmount
	ProviderAmount   int64 // sum of Row.ProviderAmount
	ProviderRefunded int64 // sum of Row.ProviderRefunded
}

// Total sums the rows of one provider account, currency and day.
type Total struct {
	Provider, Account string
	Currency          money.Currency
	Day               string // YYYY-MM-DD in Options.Location; empty for rows without a time
	Rows              int
	Exceptions        int
	OurAmount         int64 // sum of Row.OurAmount
	OurRefunded       int64 // sum of Row.OurRefunded
	ProviderRefunded  int64 // sum of Row.ProviderRefunded
}

// Reconcile matches our records against the provider's and computes the
// report. It does not read files; Build does that and then calls it. The
// slices are kept (rows point into them) and ours/theirs must not be
// changed afterwards.
func Reconcile(ours []Ours, theirs []Theirs, orders []Order, opt Options) *Result {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	rows := match(ours, theirs, opt.AmountTolerance)
	setSortKeys(rows)
	slices.SortFunc(rows, func(a, b Row) int { return cmpRows(&a, &b) })

	res := &Result{Options: opt, Ours: ours, Theirs: theirs}
	// Orders are computed on every row, before the period filter: whether
	// an order is over-refunded depends on all its refunds, not on those of
	// the period.
	nets := netOrders(rows, orders)

	keep := rows[:0]
	keepOrder := make([]bool, len(nets))
	oi := 0
	for i := range rows {
		r := &rows[i]
		for oi < len(nets) && !sameOrder(r, &nets[oi]) {
			oi++
		}
		if !inPeriod(r, opt) {
			continue
		}
		if oi < len(nets) {
			keepOrder[oi] = true
		}
		keep = append(keep, *r)
	}
	res.Rows = slices.Clip(keep)
	for i := range nets {
		if keepOrder[i] {
			res.Orders = append(res.Orders, nets[i])
		}
	}
	res.Summary, res.Totals = summarize(res.Rows, opt.Location)
	return res
}

func inPeriod(r *Row, opt Options) bool {
	if r.Category == Pending {
		return true
	}
	t := r.Time()
	if t.IsZero() {
		return true
	}
	if !opt.From.IsZero() && t.Before(opt.From) {
		return false
	}
	if !opt.To.IsZero() && !t.Before(opt.To) {
		return false
	}
	return true
}

func sameOrder(r *Row, n *OrderNet) bool {
	return r.Provider() == n.Provider && r.Account() == n.Account && r.OrderNo() == n.OrderNo && r.Currency() == n.Currency
}

func cmpOrder(p, a, o string, c money.Currency, p2, a2, o2 string, c2 money.Currency) int {
	if x := strings.Compare(p, p2); x != 0 {
		return x
	}
	if x := strings.Compare(a, a2); x != 0 {
		return x
	}
	if x := strings.Compare(o, o2); x != 0 {
		return x
	}
	return strings.Compare(string(c), string(c2))
}

// netOrders walks the sorted rows one order at a time, merging in the
// ledger (sorted the same way), and flags the refunds that take an order
// beyond its total as DUPLICATE.
func netOrders(rows []Row, orders []Order) []OrderNet {
	ledger := make([]*Order, len(orders))
	for i := range orders {
		ledger[i] = &orders[i]
	}
	slices.SortStableFunc(ledger, func(a, b *Order) int {
		return cmpOrder(a.Provider, a.Account, a.OrderNo, a.Currency, b.Provider, b.Account, b.OrderNo, b.Currency)
	})
	// Count the orders first: a million OrderNets grown by doubling would
	// hold two copies at the moment the slice grows.
	groups := 0
	for i := range rows {
		if i == 0 || !sameOrderRows(&rows[i], &rows[i-1]) {
			groups++
		}
	}
	nets := make([]OrderNet, 0, groups)
	li := 0
	var group []*Row
	for start := 0; start < len(rows); {
		r0 := &rows[start]
		end := start + 1
		for end < len(rows) && sameOrderRows(&rows[end], r0) {
			end++
		}
		n := OrderNet{Provider: r0.Provider(), Account: r0.Account(), OrderNo: r0.OrderNo(), Currency: r0.Currency(), Refunds: end - start}
		for li < len(ledger) && cmpOrder(ledger[li].Provider, ledger[li].Account, ledger[li].OrderNo, ledger[li].Currency,
			n.Provider, n.Account, n.OrderNo, n.Currency) < 0 {
			li++
		}
		if li < len(ledger) && cmpOrder(ledger[li].Provider, ledger[li].Account, ledger[li].OrderNo, ledger[li].Currency,
			n.Provider, n.Account, n.OrderNo, n.Currency) == 0 {
			n.Total, n.TotalFrom = ledger[li].Total, "orders"
			n.ProviderOrderID = ledger[li].ProviderOrderID
		}
		group = group[:0]
		for i := start; i < end; i++ {
			r := &rows[i]
			group = append(group, r)
			if n.ProviderOrderID == "" {
				n.ProviderOrderID = r.ProviderOrderID()
			}
			if n.TotalFrom != "orders" && r.O != nil && r.O.Total > 0 && r.O.Total > n.Total {
				n.Total, n.TotalFrom = r.O.Total, "refund sheet"
			}
			n.RefundedProvider += r.ProviderRefunded()
			n.RefundedOurs += r.OurRefunded()
		}
		if n.TotalFrom != "" {
			n.Net = n.Total - n.RefundedProvider
			n.OverRefund = n.RefundedProvider > n.Total || n.RefundedOurs > n.Total
			if n.RefundedProvider > n.Total {
				flagOverTotal(group, n.Total)
			}
		}
		nets = append(nets, n)
		start = end
	}
	return nets
}

// flagOverTotal marks the refunds that took an order past its total: in
// the provider's time order, every succeeded refund after which the running
// sum exceeds the total. Only MATCHED rows change category; a row already
// in an exception category keeps the more specific verdict.
func flagOverTotal(group []*Row, total int64) {
	paid := make([]*Row, 0, len(group))
	for _, r := range group {
		if r.ProviderRefunded() > 0 {
			paid = append(paid, r)
		}
	}
	slices.SortStableFunc(paid, func(a, b *Row) int { return a.T.Time().Compare(b.T.Time()) })
	var sum int64
	for _, r := range paid {
		sum += r.ProviderRefunded()
		if sum > total && r.Category == Matched {
			r.Category, r.why, r.x, r.y = Duplicate, whyOverTotal, sum, total
		}
	}
}

func summarize(rows []Row, loc *time.Location) ([]CategoryTotal, []Total) {
	type ck struct {
		c   Category
		cur money.Currency
	}
	cats := map[ck]*CategoryTotal{}
	catFor := func(c Category, cur money.Currency) *CategoryTotal {
		k := ck{c, cur}
		t := cats[k]
		if t == nil {
			t = &CategoryTotal{Category: c, Currency: cur}
			cats[k] = t
		}
		return t
	}
	type tk struct {
		p, a string
		cur  money.Currency
		day  string
	}
	tots := map[tk]*Total{}
	totFor := func(r *Row, cur money.Currency, day string) *Total {
		k := tk{r.Provider(), r.Account(), cur, day}
		t := tots[k]
		if t == nil {
			t = &Total{Provider: k.p, Account: k.a, Currency: cur, Day: day}
			tots[k] = t
		}
		return t
	}
	// Days repeat across rows; format each distinct date once.
	var lastDay string
	var lastY int
	var lastM time.Month
	var lastD int
	for i := range rows {
		r := &rows[i]
		day := ""
		if t := r.Time(); !t.IsZero() {
			y, m, d := t.In(loc).Date()
			if y != lastY || m != lastM || d != lastD || lastDay == "" {
				lastY, lastM, lastD = y, m, d
				lastDay = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			}
			day = lastDay
		}
		// Each side's amounts are added under that side's own currency, so a
		// currency mismatch never sums yuan with dollars.
		cur := r.Currency()
		c := catFor(r.Category, cur)
		c.Rows++
		t := totFor(r, cur, day)
		t.Rows++
		if r.Category.Exception() {
			t.Exceptions++
		}
		if r.O != nil {
			c.OurAmount += r.O.Amount
			t.OurAmount += r.O.Amount
			t.OurRefunded += r.OurRefunded()
		}
		if r.T != nil {
			ct := c
			tt := t
			if r.T.Currency() != cur {
				ct = catFor(r.Category, r.T.Currency())
				tt = totFor(r, r.T.Currency(), day)
			}
			ct.ProviderAmount += r.T.Amount
			ct.ProviderRefunded += r.ProviderRefunded()
			tt.ProviderRefunded += r.ProviderRefunded()
		}
	}
	// Every category shows, at least with the currencies seen (or CNY).
	curs := map[money.Currency]bool{}
	for k := range cats {
		curs[k.cur] = true
	}
	if len(curs) == 0 {
		curs[money.CNY] = true
	}
	for _, c := range Categories() {
		for cur := range curs {
			catFor(c, cur)
		}
	}
	summary := make([]CategoryTotal, 0, len(cats))
	for _, v := range cats {
		summary = append(summary, *v)
	}
	slices.SortFunc(summary, func(a, b CategoryTotal) int {
		if c := cmp.Compare(a.Category, b.Category); c != 0 {
			return c
		}
		return strings.Compare(string(a.Currency), string(b.Currency))
	})
	totals := make([]Total, 0, len(tots))
	for _, v := range tots {
		totals = append(totals, *v)
	}
	slices.SortFunc(totals, func(a, b Total) int {
		return cmp.Or(strings.Compare(a.Provider, b.Provider), strings.Compare(a.Account, b.Account),
			strings.Compare(string(a.Currency), string(b.Currency)), strings.Compare(a.Day, b.Day))
	})
	return summary, totals
}

// Clean reports whether nothing needs a person: every row MATCHED or FAILED.
func (res *Result) Clean() bool {
	for i := range res.Rows {
		if res.Rows[i].Category.Exception() {
			return false
		}
	}
	return true
}

// Count returns the number of rows in category c.
func (res *Result) Count(c Category) int {
	n := 0
	for _, s := range res.Summary {
		if s.Category == c {
			n += s.Rows
		}
	}
	return n
}

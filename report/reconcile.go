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

	// Ages has the history of every exception row (Row.Age); Cleared the
	// exceptions of earlier nights this reconciliation found settled. Both
	// come from Inputs.History; without one every exception is new tonight.
	Ages    []Age
	Cleared []Cleared

	Options Options

	// The records the rows point into.
	Ours   []Ours
	Theirs []Theirs

	covered map[string]cover // open exceptions of earlier nights → what this one found instead
}

// OrderNet is one order's refunds in one currency netted against its
// total. An order has one line per currency its refunds were recorded in
// (by us or by the provider); a line in another currency than the order's
// own is flagged and has no total or net, so that no sum mixes currencies.
type OrderNet struct {
	Provider, Account, OrderNo, ProviderOrderID string
	Currency                                    money.Currency
	// OrderCurrency is the order's own currency (the orders ledger's, else
	// that of our refunds of it); CurrencyDiffers is Currency != OrderCurrency.
	OrderCurrency   money.Currency
	CurrencyDiffers bool
	// Total is the order total from the orders ledger, else the largest
	// total our refund rows carried; TotalFrom says which ("orders",
	// "refund sheet") or is empty when no total is known.
	Total     int64
	TotalFrom string
	// RefundedProvider sums the provider's succeeded records of the order
	// in this currency; RefundedOurs sums our refunds of the order in this
	// currency recorded as succeeded.
	RefundedProvider int64
	RefundedOurs     int64
	// Net is Total − RefundedProvider; meaningful only when TotalFrom != "".
	Net        int64
	OverRefund bool // RefundedProvider > Total, or a total is known and RefundedOurs > Total
	Refunds    int  // rows of the order in this currency
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
	return reconcile(ours, theirs, orders, opt, nil)
}

func reconcile(ours []Ours, theirs []Theirs, orders []Order, opt Options, open map[string]*Tracked) *Result {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	x := newIdents(ours, theirs, orders)
	rows := match(x, ours, theirs, opt.AmountTolerance)
	rows = pairByProviderRefundID(x, rows, opt.AmountTolerance)
	rows = confirmOrders(x, rows)
	setSortKeys(x, rows)
	slices.SortFunc(rows, func(a, b Row) int { return cmpRows(&a, &b) })

	res := &Result{Options: opt, Ours: ours, Theirs: theirs}
	res.covered = coverage(rows, open)
	ledger := sortedOrders(orders)
	keep := rows[:0]
	li := 0
	// One order at a time: its nets are computed on every row, before the
	// period filter (whether an order is over-refunded depends on all its
	// refunds, not on those of the period), and its lines are listed when
	// any of its rows is in the period.
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && sameOrderRows(&rows[end], &rows[start]) {
			end++
		}
		r0 := &rows[start]
		p, a := r0.Provider(), r0.Account()
		for li < len(ledger) && cmpOrder(ledger[li].Provider, ledger[li].Account, ledger[li].OrderNo, p, a, r0.ord) < 0 {
			li++
		}
		var lo *Order
		if li < len(ledger) && cmpOrder(ledger[li].Provider, ledger[li].Account, ledger[li].OrderNo, p, a, r0.ord) == 0 {
			lo = ledger[li]
		}
		nets := netOrder(rows[start:end], lo)
		listed := false
		for i := start; i < end; i++ {
			if inPeriod(&rows[i], opt, open) {
				keep = append(keep, rows[i])
				listed = true
			}
		}
		if listed {
			res.Orders = append(res.Orders, nets...)
		}
		start = end
	}
	res.Rows = slices.Clip(keep)
	res.Summary, res.Totals = summarize(res.Rows, opt.Location)
	return res
}

func inPeriod(r *Row, opt Options, open map[string]*Tracked) bool {
	if r.Category == Pending {
		return true
	}
	t := r.Time()
	if t.IsZero() {
		return true
	}
	if (opt.From.IsZero() || !t.Before(opt.From)) && (opt.To.IsZero() || t.Before(opt.To)) {
		return true
	}
	// An exception still open from an earlier night stays in the report
	// until it clears or is explained, whenever it happened.
	if len(open) > 0 && r.Category.Exception() {
		_, ok := open[r.exceptionID()]
		return ok
	}
	return false
}

func cmpOrder(p, a, o string, p2, a2, o2 string) int {
	if x := strings.Compare(p, p2); x != 0 {
		return x
	}
	if x := strings.Compare(a, a2); x != 0 {
		return x
	}
	return strings.Compare(o, o2)
}

// sortedOrders sorts the orders ledger as the rows are: provider, account,
// order number (the rows' order identity is the order number whenever the
// ledger can know the order).
func sortedOrders(orders []Order) []*Order {
	ledger := make([]*Order, len(orders))
	for i := range orders {
		ledger[i] = &orders[i]
	}
	slices.SortStableFunc(ledger, func(a, b *Order) int {
		return cmpOrder(a.Provider, a.Account, a.OrderNo, b.Provider, b.Account, b.OrderNo)
	})
	return ledger
}

// netOrder nets one order's rows: one line per currency, the order's own
// first. Each row adds our refunded amount to the line of our currency and
// the provider's to the line of its currency, so a refund recorded in
// another currency than the order's is a line of its own. Refunds that take
// the order beyond its total are flagged DUPLICATE.
func netOrder(rows []Row, lo *Order) []OrderNet {
	r0 := &rows[0]
	base := OrderNet{Provider: r0.Provider(), Account: r0.Account(), OrderNo: r0.OrderNo()}
	if lo != nil {
		base.OrderNo, base.ProviderOrderID, base.OrderCurrency = lo.OrderNo, lo.ProviderOrderID, lo.Currency
		base.Total, base.TotalFrom = lo.Total, "orders"
	}
	for i := range rows {
		r := &rows[i]
		if base.ProviderOrderID == "" {
			base.ProviderOrderID = r.ProviderOrderID()
		}
		if base.OrderNo == "" {
			base.OrderNo = r.OrderNo()
		}
		if base.OrderCurrency == "" && r.O != nil {
			base.OrderCurrency = r.O.Currency()
		}
	}
	if base.OrderCurrency == "" {
		base.OrderCurrency = r0.Currency()
	}
	lines := []OrderNet{base}
	lines[0].Currency = base.OrderCurrency
	line := func(c money.Currency) *OrderNet {
		for i := range lines {
			if lines[i].Currency == c {
				return &lines[i]
			}
		}
		n := base
		n.Currency, n.CurrencyDiffers, n.Total, n.TotalFrom = c, true, 0, ""
		lines = append(lines, n)
		return &lines[len(lines)-1]
	}
	for i := range rows {
		r := &rows[i]
		line(r.Currency()).Refunds++
		if r.O != nil {
			n := line(r.O.Currency())
			n.RefundedOurs += r.OurRefunded()
			if !n.CurrencyDiffers && lo == nil && r.O.Total > n.Total {
				n.Total, n.TotalFrom = r.O.Total, "refund sheet"
			}
		}
		if r.T != nil {
			line(r.ProviderCurrency()).RefundedProvider += r.ProviderRefunded()
		}
	}
	for i := range lines {
		n := &lines[i]
		if n.TotalFrom == "" {
			continue
		}
		n.Net = n.Total - n.RefundedProvider
		n.OverRefund = n.RefundedProvider > n.Total || n.RefundedOurs > n.Total
		if n.RefundedProvider > n.Total {
			flagOverTotal(rows, n.Currency, n.Total)
		}
	}
	if len(lines) > 1 {
		slices.SortStableFunc(lines[1:], func(a, b OrderNet) int { return strings.Compare(string(a.Currency), string(b.Currency)) })
	}
	return lines
}

// flagOverTotal marks the refunds that took an order past its total: in
// the provider's time order, every succeeded refund in the order's currency
// after which the running sum exceeds the total. Only MATCHED rows change
// category; a row already in an exception category keeps the more specific
// verdict.
func flagOverTotal(rows []Row, cur money.Currency, total int64) {
	paid := make([]*Row, 0, len(rows))
	for i := range rows {
		if r := &rows[i]; r.T != nil && r.ProviderCurrency() == cur && r.ProviderRefunded() != 0 {
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
		if v, ok := r.ProviderAmount(); ok {
			ct := c
			tt := t
			if pc := r.ProviderCurrency(); pc != cur {
				ct = catFor(r.Category, pc)
				tt = totFor(r, pc, day)
			}
			ct.ProviderAmount += v
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

// Clean reports whether nothing needs a person: every row MATCHED or
// FAILED, or an exception an auditor has explained.
func (res *Result) Clean() bool {
	return res.Open() == 0
}

// Open counts the exceptions nobody has explained: what a nightly run's
// exit code is about.
func (res *Result) Open() int {
	n := 0
	for i := range res.Rows {
		if r := &res.Rows[i]; r.Category.Exception() && res.Resolution(r) == nil {
			n++
		}
	}
	return n
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

package report

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/money"
)

// kind is how a column's values are typed in each output: CSV and JSON
// carry amounts as exact decimal text and times as RFC 3339 text, XLSX as
// number cells with a currency format and date-time cells.
type kind uint8

const (
	kText kind = iota
	kAmount
	kInt
	kBool
	kTime // an instant: RFC 3339 UTC text, a date-time cell
	kDate // a calendar day (its midnight, UTC): YYYY-MM-DD, a date cell
)

// field is one cell before it is written.
type field struct {
	s    string
	n    int64
	cur  money.Currency
	b    bool
	t    time.Time
	null bool // no value (an amount the row does not have)
}

type colDef struct {
	name string
	kind kind
}

// sheet is one logical table of the report: a file of --csv, a key of
// --json, and the data of one or more XLSX sheets (see layout.go for how
// each prints).
type sheet struct {
	title string // what the table is, in words
	file  string // CSV file name without .csv; JSON key
	cols  []colDef
	n     int
	fill  func(i int, f []field)
}

var refundCols = []colDef{
	{"category", kText}, {"reason", kText}, {"what_to_do", kText},
	{"provider", kText}, {"account", kText}, {"order_no", kText}, {"provider_order_id", kText},
	{"refund_no", kText}, {"action", kText}, {"currency", kText},
	{"our_amount", kAmount}, {"provider_amount", kAmount}, {"difference", kAmount},
	{"our_state", kText}, {"provider_status", kText}, {"provider_refund_id", kText},
	{"provider_code", kText}, {"provider_message", kText}, {"time", kTime}, {"day", kDate},
	{"attempts", kInt}, {"our_record", kText}, {"provider_record", kText},
}

var failureCols = []colDef{
	{"provider", kText}, {"account", kText}, {"order_no", kText}, {"refund_no", kText},
	{"currency", kText}, {"amount", kAmount}, {"provider_code", kText}, {"provider_message", kText},
	{"reason", kText}, {"what_to_do", kText}, {"time", kTime}, {"our_record", kText},
}

var orderCols = []colDef{
	{"provider", kText}, {"account", kText}, {"order_no", kText}, {"provider_order_id", kText},
	{"currency", kText}, {"total", kAmount}, {"total_from", kText},
	{"refunded_per_provider", kAmount}, {"refunded_per_us", kAmount}, {"net", kAmount},
	{"over_refund", kBool}, {"refunds", kInt}, {"currency_differs", kBool},
}

// ageCols follow the refund columns on Exceptions: the exception's name
// and history from one reconciliation to the next.
var ageCols = []colDef{{"exception_id", kText}, {"first_seen", kTime}, {"last_seen", kTime}, {"nights_open", kInt}}

// resolvedCols follow them on Resolved: the auditor's explanation.
var resolvedCols = []colDef{{"resolved_at", kTime}, {"resolved_by", kText}, {"note", kText}}

var excCols = slices.Concat(refundCols, ageCols)

var resolvedSheetCols = slices.Concat(refundCols, ageCols, resolvedCols)

var byAgeCols = []colDef{{"age", kText}, {"open", kInt}, {"explained", kInt}}

var clearedCols = []colDef{
	{"exception_id", kText}, {"category", kText}, {"first_seen", kTime}, {"nights_open", kInt},
	{"cleared_at", kTime}, {"now", kText}, {"evidence", kText},
}

var summaryCols = []colDef{
	{"category", kText}, {"currency", kText}, {"rows", kInt},
	{"our_amount", kAmount}, {"provider_amount", kAmount}, {"provider_refunded", kAmount},
}

var totalCols = []colDef{
	{"provider", kText}, {"account", kText}, {"currency", kText}, {"day", kDate},
	{"rows", kInt}, {"exceptions", kInt}, {"our_amount", kAmount}, {"our_refunded", kAmount},
	{"provider_refunded", kAmount},
}

var providerCols = []colDef{
	{"provider", kText}, {"account", kText}, {"currency", kText},
	{"rows", kInt}, {"exceptions", kInt}, {"our_amount", kAmount}, {"our_refunded", kAmount},
	{"provider_refunded", kAmount},
}

var provenanceCols = []colDef{
	{"role", kText}, {"path", kText}, {"sha256", kText}, {"records", kInt},
	{"run_id", kText}, {"batch_id", kText},
}

var infoCols = []colDef{{"field", kText}, {"value", kText}}

func text(s string) field                      { return field{s: s} }
func amount(n int64, cur money.Currency) field { return field{n: n, cur: cur} }
func integer(n int64) field                    { return field{n: n} }
func nullAmount() field                        { return field{null: true} }
func instant(t time.Time) field                { return field{t: t, null: t.IsZero()} }

// day is the calendar day of t in loc, as its midnight in UTC (a date
// cell has no zone); null for the zero time.
func day(t time.Time, loc *time.Location) field {
	if t.IsZero() {
		return field{null: true}
	}
	y, m, d := t.In(loc).Date()
	return field{t: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// dayText reads a YYYY-MM-DD day back as a day field.
func dayText(s string) field {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return field{null: true}
	}
	return field{t: t}
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// providerTotals sums the per-day totals over the days: one line per
// provider, account and currency (Totals is sorted so, day last).
func providerTotals(ts []Total) []Total {
	var out []Total
	for _, t := range ts {
		if n := len(out); n > 0 && out[n-1].Provider == t.Provider && out[n-1].Account == t.Account && out[n-1].Currency == t.Currency {
			o := &out[n-1]
			o.Rows += t.Rows
			o.Exceptions += t.Exceptions
			o.OurAmount += t.OurAmount
			o.OurRefunded += t.OurRefunded
			o.ProviderRefunded += t.ProviderRefunded
			continue
		}
		t.Day = ""
		out = append(out, t)
	}
	return out
}

// sheets lays out the report. Every output writer walks the same list, so
// the CSV, JSON and XLSX carry the same rows in the same order.
func (res *Result) sheets() []sheet {
	var exc, resolved, fail []int32
	for i := range res.Rows {
		switch c := res.Rows[i].Category; {
		case c == Failed:
			fail = append(fail, int32(i))
		case c.Exception() && res.Resolution(&res.Rows[i]) != nil:
			resolved = append(resolved, int32(i))
		case c.Exception():
			exc = append(exc, int32(i))
		}
	}
	// The oldest exceptions first: they are the ones overdue.
	oldestFirst := func(a, b int32) int {
		x, y := res.Age(&res.Rows[a]), res.Age(&res.Rows[b])
		if x == nil || y == nil {
			return 0
		}
		return x.FirstSeen.Compare(y.FirstSeen)
	}
	slices.SortStableFunc(exc, oldestFirst)
	slices.SortStableFunc(resolved, oldestFirst)
	byAge := res.ByAge()
	loc := res.Options.Location
	if loc == nil {
		loc = time.UTC
	}
	sourceName := func(src int32, row int32) string {
		name := "input"
		if int(src) < len(res.Meta.Sources) {
			s := res.Meta.Sources[src]
			name = s.Role
			if s.Path != "" {
				name = filepath.Base(s.Path)
			}
			if s.Role == "ledger" && s.BatchID != "" {
				name += " batch " + s.BatchID[:min(12, len(s.BatchID))]
			}
		}
		if row > 0 {
			return name + " row " + strconv.Itoa(int(row))
		}
		return name
	}
	refund := func(r *Row, f []field) {
		cur := r.Currency()
		f[0] = text(r.Category.String())
		f[1] = text(r.Reason())
		f[2] = text(r.Todo())
		f[3], f[4], f[5], f[6] = text(r.Provider()), text(r.Account()), text(r.OrderNo()), text(r.ProviderOrderID())
		f[7], f[8], f[9] = text(r.RefundNo()), text(string(r.Action())), text(string(cur))
		f[10], f[11], f[12] = nullAmount(), nullAmount(), nullAmount()
		f[13], f[14] = text(""), text("")
		f[20], f[21], f[22] = field{null: true}, text(""), text("")
		if r.O != nil {
			f[10] = amount(r.O.Amount, r.O.Currency())
			f[13] = text(r.O.State.String())
			f[20] = integer(int64(r.O.Attempts))
			f[21] = text(sourceName(r.O.Source, r.O.Row))
		}
		pv, known := r.ProviderAmount()
		if known {
			f[11] = amount(pv, r.ProviderCurrency())
		}
		if r.T != nil {
			f[14] = text(r.ProviderStatus().String())
			f[22] = text(sourceName(r.T.Source, r.T.Row))
		}
		if r.O != nil && known && r.O.Currency() == r.ProviderCurrency() {
			f[12] = amount(pv-r.O.Amount, cur)
		}
		f[15], f[16], f[17] = text(r.ProviderRefundID()), text(r.ProviderCode()), text(r.ProviderMessage())
		t := r.Time()
		f[18], f[19] = instant(t), day(t, loc)
	}
	aged := func(r *Row, f []field) {
		n := len(refundCols)
		refund(r, f)
		f[n], f[n+1], f[n+2], f[n+3] = text(""), field{null: true}, field{null: true}, field{null: true}
		if a := res.Age(r); a != nil {
			f[n], f[n+1], f[n+2], f[n+3] = text(a.ID), instant(a.FirstSeen), instant(a.LastSeen), integer(int64(a.NightsOpen))
		}
	}
	m := res.Meta
	period := res.Period()
	byProvider := providerTotals(res.Totals)
	info := [][2]string{
		{"report_id", res.ID()},
		{"generated_at", timeText(m.GeneratedAt)},
		{"operator", m.Operator},
		{"tool_version", m.ToolVersion},
		{"run_ids", strings.Join(m.RunIDs, " ")},
		{"batch_ids", strings.Join(m.BatchIDs, " ")},
		{"amount_tolerance", strconv.FormatInt(res.Options.AmountTolerance, 10) + " minor units"},
		{"period", period.String()},
		{"from", timeText(period.From)},
		{"to", timeText(period.To)},
		{"period_basis", period.Basis},
		{"time_zone", loc.String()},
		{"rows", strconv.Itoa(len(res.Rows))},
		{"exceptions", strconv.Itoa(len(exc) + len(resolved))},
		{"explained", strconv.Itoa(len(resolved))},
		{"open_exceptions", strconv.Itoa(len(exc))},
		{"cleared", strconv.Itoa(len(res.Cleared))},
		{"failures", strconv.Itoa(len(fail))},
	}
	return []sheet{
		{title: "Counts and sums per category", file: "summary", cols: summaryCols, n: len(res.Summary), fill: func(i int, f []field) {
			s := &res.Summary[i]
			f[0], f[1], f[2] = text(s.Category.String()), text(string(s.Currency)), integer(int64(s.Rows))
			f[3], f[4], f[5] = amount(s.OurAmount, s.Currency), amount(s.ProviderAmount, s.Currency), amount(s.ProviderRefunded, s.Currency)
		}},
		{title: "Totals per provider, account and currency", file: "by_provider", cols: providerCols, n: len(byProvider), fill: func(i int, f []field) {
			t := &byProvider[i]
			f[0], f[1], f[2] = text(t.Provider), text(t.Account), text(string(t.Currency))
			f[3], f[4] = integer(int64(t.Rows)), integer(int64(t.Exceptions))
			f[5], f[6], f[7] = amount(t.OurAmount, t.Currency), amount(t.OurRefunded, t.Currency), amount(t.ProviderRefunded, t.Currency)
		}},
		{title: "Totals per provider, account, currency and day", file: "totals", cols: totalCols, n: len(res.Totals), fill: func(i int, f []field) {
			t := &res.Totals[i]
			f[0], f[1], f[2], f[3] = text(t.Provider), text(t.Account), text(string(t.Currency)), dayText(t.Day)
			f[4], f[5] = integer(int64(t.Rows)), integer(int64(t.Exceptions))
			f[6], f[7], f[8] = amount(t.OurAmount, t.Currency), amount(t.OurRefunded, t.Currency), amount(t.ProviderRefunded, t.Currency)
		}},
		{title: "Exceptions by age (days since first seen)", file: "exceptions_by_age", cols: byAgeCols, n: len(byAge), fill: func(i int, f []field) {
			f[0], f[1], f[2] = text(byAge[i].Label), integer(int64(byAge[i].Open)), integer(int64(byAge[i].Explained))
		}},
		{title: "Inputs", file: "provenance", cols: provenanceCols, n: len(m.Sources), fill: func(i int, f []field) {
			s := &m.Sources[i]
			f[0], f[1], f[2], f[3], f[4], f[5] = text(s.Role), text(s.Path), text(s.SHA256), integer(int64(s.Records)), text(s.RunID), text(s.BatchID)
		}},
		{title: "Report", file: "report_info", cols: infoCols, n: len(info), fill: func(i int, f []field) {
			f[0], f[1] = text(info[i][0]), text(info[i][1])
		}},
		{title: "Exceptions", file: "exceptions", cols: excCols, n: len(exc), fill: func(i int, f []field) { aged(&res.Rows[exc[i]], f) }},
		{title: "Resolved", file: "resolved", cols: resolvedSheetCols, n: len(resolved), fill: func(i int, f []field) {
			r := &res.Rows[resolved[i]]
			aged(r, f)
			n := len(refundCols) + len(ageCols)
			z := res.Resolution(r)
			f[n], f[n+1], f[n+2] = instant(z.At), text(z.By), text(z.Note)
		}},
		{title: "Cleared", file: "cleared", cols: clearedCols, n: len(res.Cleared), fill: func(i int, f []field) {
			c := &res.Cleared[i]
			f[0], f[1], f[2], f[3] = text(c.ID), text(c.Category.String()), instant(c.FirstSeen), integer(int64(c.NightsOpen))
			f[4], f[5], f[6] = instant(c.At), text(c.Now.String()), text(c.Evidence)
		}},
		{title: "Failures", file: "failures", cols: failureCols, n: len(fail), fill: func(i int, f []field) {
			r := &res.Rows[fail[i]]
			f[0], f[1], f[2], f[3] = text(r.Provider()), text(r.Account()), text(r.OrderNo()), text(r.RefundNo())
			f[4], f[5] = text(string(r.Currency())), amount(r.OurAmount(), r.Currency())
			f[6], f[7], f[8], f[9] = text(r.ProviderCode()), text(r.ProviderMessage()), text(r.Reason()), text(r.Todo())
			f[10], f[11] = instant(r.Time()), text(sourceName(r.O.Source, r.O.Row))
		}},
		{title: "Net by order", file: "net_by_order", cols: orderCols, n: len(res.Orders), fill: func(i int, f []field) {
			o := &res.Orders[i]
			f[0], f[1], f[2], f[3], f[4] = text(o.Provider), text(o.Account), text(o.OrderNo), text(o.ProviderOrderID), text(string(o.Currency))
			f[5], f[6], f[9] = nullAmount(), text(o.TotalFrom), nullAmount()
			if o.TotalFrom != "" {
				f[5], f[9] = amount(o.Total, o.Currency), amount(o.Net, o.Currency)
			}
			f[7], f[8] = amount(o.RefundedProvider, o.Currency), amount(o.RefundedOurs, o.Currency)
			f[10], f[11], f[12] = field{b: o.OverRefund}, integer(int64(o.Refunds)), field{b: o.CurrencyDiffers}
		}},
		{title: "All refunds", file: "all_refunds", cols: refundCols, n: len(res.Rows), fill: func(i int, f []field) { refund(&res.Rows[i], f) }},
	}
}

// guard defuses text a spreadsheet would run as a formula (CSV injection):
// a leading =, +, -, @, tab or CR gets an apostrophe in front. It is the
// results file's guard, exactly reversible, so a report's CSV reads back.
func guard(s string) string { return results.Guard(s) }

package report

import (
	"slices"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/internal/excel"
	"github.com/bulkrefund/bulkrefund/money"
)

// The Summary sheet is the report's cover page, laid out on one grid of six
// columns: a label column, then the columns of the per-category table
// (currency, rows, three amounts). Each block uses the grid its own way:
// label and value (the value spanning B:F), the category table, and the
// sign-off lines; so no block's widths are another's.
var coverWidths = []float64{34, 11, 10, 19, 19, 19}

// valueWidth is the width of B:F, where a label's value goes.
var valueWidth = coverWidths[1] + coverWidths[2] + coverWidths[3] + coverWidths[4] + coverWidths[5]

// pageHeight is the printable height in points of a landscape page of the
// shorter paper (A4: 595 pt less the top and bottom margins).
const pageHeight = 595.0 - (0.75+0.6)*72

// coverRow is one row of the cover: its cells, its height (0: one line)
// and which of its cells span to column F ("A" or "B"), or the pairs
// B:C and D:E of a sign-off line.
type coverRow struct {
	vals   []any
	height float64
	span   string
	style  int // of the row's cells that have none
}

// block is rows printed together: a block that fits on a page is never
// split across two.
type block []coverRow

func (b *block) add(height float64, span string, vals ...any) {
	*b = append(*b, coverRow{vals: vals, height: height, span: span})
}

// addRuled adds a row of a table: a light rule under every cell.
func (b *block) addRuled(style int, vals ...any) {
	*b = append(*b, coverRow{vals: vals, style: style})
}

func (b block) points() float64 {
	h := 0.0
	for _, r := range b {
		h += cmpOr(r.height, excel.LineHeight)
	}
	return h
}

func cmpOr(h, def float64) float64 {
	if h == 0 {
		return def
	}
	return h
}

// cover writes the Summary sheet.
func (w *xlsxWriter) cover(name string, tables map[string]sheet) error {
	res, m := w.res, w.res.Meta
	if err := w.f.SetPage(name, excel.Page{Paper: w.paper, FitWidth: true, Header: w.header, Footer: w.footer}); err != nil {
		return err
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	for i, wd := range coverWidths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	p := w.period
	loc := "UTC"
	if res.Options.Location != nil {
		loc = res.Options.Location.String()
	}
	label := func(s string) excelize.Cell { return excelize.Cell{StyleID: w.label, Value: s} }
	textRow := func(b *block, l, s string) {
		b.add(excel.RowHeight(excel.WrappedLines(s, valueWidth)), "B", label(l), excelize.Cell{StyleID: w.value, Value: guard(s)})
	}
	section := func(title string) block {
		cells := make([]any, len(coverWidths))
		for i := range cells {
			cells[i] = excelize.Cell{StyleID: w.section}
		}
		cells[0] = excelize.Cell{StyleID: w.section, Value: title}
		b := block{{}} // a blank line above
		b.add(20, "", cells...)
		return b
	}

	// Title and period; who, when, which build.
	head := block{}
	head.add(28, "A", excelize.Cell{StyleID: w.title, Value: reportTitle})
	head.add(20, "A", excelize.Cell{StyleID: w.subtitle, Value: "Period " + p.String() + " (" + loc + ")"})
	head = append(head, section("Report")...)
	for _, kv := range [][2]string{
		{"Report id", w.id},
		{"Period", p.String() + ", " + loc + " (" + p.Basis + ")"},
		{"Generated", timeText(m.GeneratedAt)},
		{"Operator", m.Operator},
		{"Tool version", m.ToolVersion},
		{"Amount tolerance", strconv.FormatInt(res.Options.AmountTolerance, 10) + " minor units"},
	} {
		textRow(&head, kv[0], kv[1])
	}
	if len(m.RunIDs) > 0 {
		textRow(&head, "Runs", strings.Join(m.RunIDs, "\n"))
	}

	// Key figures, and money per currency (never one sum across currencies).
	key := section("Key figures")
	over, exceptions := 0, 0
	for _, o := range res.Orders {
		if o.OverRefund {
			over++
		}
	}
	exceptions = res.Open()
	explained := 0
	for _, a := range res.ByAge() {
		explained += a.Explained
	}
	for _, kf := range []struct {
		label string
		n     int
		where string
	}{
		{"Refunds in the report", len(res.Rows), "sheet All refunds"},
		{"Matched", res.Count(Matched), ""},
		{"Exceptions: need a person", exceptions, "sheet Exceptions, oldest first"},
		{"    of which pending (re-check next run)", res.Count(Pending), ""},
		{"Exceptions an auditor explained", explained, "sheet Resolved"},
		{"Exceptions cleared since the last reconciliation", len(res.Cleared), "sheet Cleared"},
		{"Failed on both sides", res.Count(Failed), "sheet Failures"},
		{"Orders refunded beyond their total", over, "sheet Net by order"},
	} {
		l := label(kf.label)
		if strings.HasPrefix(kf.label, " ") {
			l.StyleID = w.plain
		}
		key.add(0, "", l, nil, excelize.Cell{StyleID: w.count, Value: kf.n}, excelize.Cell{StyleID: w.note, Value: kf.where})
	}
	key.add(0, "", w.headCells([]bool{false, false, true, true, true, true},
		"per currency", "currency", "rows", "refunded per us", "per the providers", "difference")...)
	for _, t := range currencyTotals(res.Totals) {
		sc := excel.Scale(t.Currency)
		key.addRuled(w.body, excelize.Cell{StyleID: w.labelRule, Value: "Refunded"}, string(t.Currency), excelize.Cell{StyleID: w.num, Value: t.Rows},
			excel.Amount(w.amount[sc], t.OurRefunded, t.Currency), excel.Amount(w.amount[sc], t.ProviderRefunded, t.Currency),
			excel.Amount(w.amountBold[sc], t.ProviderRefunded-t.OurRefunded, t.Currency))
	}

	// Counts and sums per category.
	sum := tables["summary"]
	cats := section(sum.title)
	names := make([]string, len(sum.cols))
	numeric := make([]bool, len(sum.cols))
	for i, c := range sum.cols {
		names[i], numeric[i] = c.name, c.kind == kAmount || c.kind == kInt
	}
	cats.add(0, "", w.headCells(numeric, names...)...)
	// Every category once, in the report's first currency, and other
	// currencies where they have something: the CSV file has every pair.
	shown := map[Category]bool{}
	fields := make([]field, len(sum.cols))
	for i := 0; i < sum.n; i++ {
		s := &res.Summary[i]
		if shown[s.Category] && s.Rows == 0 && s.OurAmount == 0 && s.ProviderAmount == 0 && s.ProviderRefunded == 0 {
			continue
		}
		shown[s.Category] = true
		sum.fill(i, fields)
		vals := make([]any, len(sum.cols))
		for k, col := range sum.cols {
			vals[k] = w.cell(col.kind, fields[k], false)
		}
		cats.addRuled(w.body, vals...)
	}
	cats.add(0, "")
	cats.add(0, "A", excelize.Cell{StyleID: w.note, Value: "Totals per provider and account: sheet By provider. Per day: sheet Totals per day."})

	// Exceptions by how long they have been open.
	ages := tables["exceptions_by_age"]
	aging := section(ages.title)
	aging.add(0, "", w.headCells([]bool{false, true, true}, "age", "open", "explained")...)
	af := make([]field, len(ages.cols))
	for i := 0; i < ages.n; i++ {
		ages.fill(i, af)
		aging.addRuled(w.body, excelize.Cell{StyleID: w.labelRule, Value: af[0].s}, excelize.Cell{StyleID: w.num, Value: af[1].n},
			excelize.Cell{StyleID: w.num, Value: af[2].n})
	}

	// Inputs, each with its hash.
	inputs := section("Inputs")
	for _, s := range m.Sources {
		where := s.Path
		if where == "" {
			where = map[string]string{"lookup": "live lookups through the providers' query APIs", "memory": "records handed over in memory"}[s.Role]
		}
		textRow(&inputs, s.Role, where)
		if s.SHA256 != "" {
			inputs.add(0, "B", label("    SHA-256"), excelize.Cell{StyleID: w.mono, Value: s.SHA256})
		}
		inputs.add(0, "B", label("    records"), excelize.Cell{StyleID: w.value, Value: strconv.Itoa(s.Records)})
		if s.RunID != "" {
			textRow(&inputs, "    run", s.RunID)
		}
		if s.BatchID != "" {
			inputs.add(0, "B", label("    batch"), excelize.Cell{StyleID: w.mono, Value: s.BatchID})
		}
	}
	sign := section("Sign-off")
	sign.add(0, "", nil, excelize.Cell{StyleID: w.signHead, Value: "Name"}, nil,
		excelize.Cell{StyleID: w.signHead, Value: "Signature"}, nil, excelize.Cell{StyleID: w.signHead, Value: "Date"})
	for _, role := range []string{"Prepared by", "Reviewed by", "Approved by"} {
		line := excelize.Cell{StyleID: w.sign}
		sign.add(26, "sign", excelize.Cell{StyleID: w.signHead, Value: role}, line, line, line, line, line)
	}

	c := &coverWriter{sw: sw}
	// The first page is the cover: who, what, the key figures and the
	// sign-off. The detail follows.
	for _, b := range []block{head, key, sign, cats, aging, inputs} {
		if err := c.write(b); err != nil {
			return err
		}
	}
	return sw.Flush()
}

func (w *xlsxWriter) headCells(numeric []bool, names ...string) []any {
	cells := make([]any, len(names))
	for i, n := range names {
		style := w.head
		if numeric[i] {
			style = w.headNum
		}
		cells[i] = excelize.Cell{StyleID: style, Value: n}
	}
	return cells
}

// coverWriter writes blocks through the stream writer (which only goes
// forward), starting a new page before a block that would not fit on what
// is left of the current one.
type coverWriter struct {
	sw   *excelize.StreamWriter
	row  int
	used float64 // points used on the current page
}

func (c *coverWriter) write(b block) error {
	if h := b.points(); c.used > 0 && c.used+h > pageHeight && h <= pageHeight {
		// The block's first row is a blank line: start the page after it.
		if err := c.sw.InsertPageBreak("A" + strconv.Itoa(c.row+2)); err != nil {
			return err
		}
		c.used = -excel.LineHeight
	}
	for _, r := range b {
		c.row++
		c.used += cmpOr(r.height, excel.LineHeight)
		if len(r.vals) == 0 {
			continue
		}
		n := strconv.Itoa(c.row)
		if err := c.sw.SetRow("A"+n, r.vals, excelize.RowOpts{Height: r.height, StyleID: r.style}); err != nil {
			return err
		}
		var merges [][2]string
		switch r.span {
		case "A", "B":
			merges = [][2]string{{r.span + n, "F" + n}}
		case "sign":
			merges = [][2]string{{"B" + n, "C" + n}, {"D" + n, "E" + n}}
		}
		for _, mg := range merges {
			if err := c.sw.MergeCell(mg[0], mg[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// currencyTotals sums the per-day totals per currency, in currency order.
func currencyTotals(ts []Total) []Total {
	by := map[money.Currency]*Total{}
	for _, t := range ts {
		s := by[t.Currency]
		if s == nil {
			s = &Total{Currency: t.Currency}
			by[t.Currency] = s
		}
		s.Rows += t.Rows
		s.OurRefunded += t.OurRefunded
		s.ProviderRefunded += t.ProviderRefunded
	}
	out := make([]Total, 0, len(by))
	for _, t := range by {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Total) int { return strings.Compare(string(a.Currency), string(b.Currency)) })
	return out
}

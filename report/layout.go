package report

import "github.com/bulkrefund/bulkrefund/internal/excel"

// view is how one table of the report prints as an XLSX sheet: which of
// its columns, in which order, how wide, and which wrap. The CSV and JSON
// files always carry every column; a sheet meant to be read on paper
// carries the columns an auditor reads there, and All refunds carries them
// all.
//
// A sheet either fits one landscape page wide on A4 and Letter with its
// text at 8 pt or more (TestPaperWidths checks every view), or is across:
// it prints at acrossScale over several pages across, each page repeating
// the header row and the first titleCols columns, so every page says which
// refunds it shows.
type view struct {
	name      string // sheet name
	file      string // the table it shows (sheet.file)
	cols      []viewCol
	across    bool
	titleCols int
}

type viewCol struct {
	name  string
	width float64 // Excel width, in characters
	wrap  bool    // long text wraps within the column
}

// acrossScale is the print scale of sheets wider than a page: 11 pt text
// prints at 8.8 pt.
const acrossScale = 80

// The report's sheets after the Summary, in workbook order.
var views = []view{
	{name: "By provider", file: "by_provider", cols: []viewCol{
		{"provider", 10, false}, {"account", 22, false}, {"currency", 9, false}, {"rows", 9, false},
		{"exceptions", 11, false}, {"our_amount", 17, false}, {"our_refunded", 17, false}, {"provider_refunded", 18, false},
	}},
	// Oldest first, nights_open leading (first_seen, last_seen and the
	// exception_id that `reconcile resolve` takes are in the CSV and JSON,
	// and on Resolved and Cleared).
	{name: "Exceptions", file: "exceptions", cols: []viewCol{
		{"nights_open", 13, false}, {"category", 24, false}, {"provider", 9, false}, {"account", 17, true},
		{"order_no", 17, true}, {"refund_no", 17, true}, {"currency", 9, false}, {"our_amount", 15, false},
		{"provider_amount", 17, false}, {"reason", 25, true}, {"what_to_do", 21, true},
	}},
	{name: "Resolved", file: "resolved", cols: []viewCol{
		{"nights_open", 13, false}, {"category", 24, false}, {"provider", 9, false}, {"order_no", 17, true},
		{"refund_no", 17, true}, {"currency", 9, false}, {"our_amount", 15, false}, {"resolved_at", 22, false},
		{"resolved_by", 14, true}, {"note", 30, true},
	}},
	{name: "Cleared", file: "cleared", cols: []viewCol{
		{"exception_id", 30, true}, {"category", 24, false}, {"first_seen", 22, false}, {"nights_open", 13, false},
		{"cleared_at", 22, false}, {"now", 11, false}, {"evidence", 40, true},
	}},
	{name: "Failures", file: "failures", cols: []viewCol{
		{"provider", 9, false}, {"account", 19, true}, {"order_no", 18, true}, {"refund_no", 19, true},
		{"currency", 9, false}, {"amount", 15, false}, {"provider_code", 16, true}, {"provider_message", 23, true},
		{"reason", 29, true}, {"what_to_do", 26, true},
	}},
	{name: "Net by order", file: "net_by_order", cols: []viewCol{
		{"provider", 9, false}, {"account", 14, true}, {"order_no", 16, true}, {"provider_order_id", 16, true},
		{"currency", 9, false}, {"total", 15, false}, {"total_from", 11, false}, {"refunded_per_provider", 22, false},
		{"refunded_per_us", 17, false}, {"net", 15, false}, {"over_refund", 12, false}, {"refunds", 9, false},
		{"currency_differs", 17, false},
	}},
	{name: "Totals per day", file: "totals", cols: []viewCol{
		{"provider", 10, false}, {"account", 22, false}, {"currency", 9, false}, {"day", 12, false}, {"rows", 9, false},
		{"exceptions", 11, false}, {"our_amount", 17, false}, {"our_refunded", 17, false}, {"provider_refunded", 18, false},
	}},
	// Every column, the refund's identity first: refund_no and category
	// print at the left of every page across.
	{name: "All refunds", file: "all_refunds", across: true, titleCols: 2, cols: []viewCol{
		{"refund_no", 20, true}, {"category", 24, false},
		{"provider", 9, false}, {"account", 19, true}, {"order_no", 20, true}, {"provider_order_id", 18, true},
		{"action", 8, false}, {"currency", 9, false}, {"our_amount", 15, false}, {"provider_amount", 17, false},
		{"difference", 15, false}, {"our_state", 11, false}, {"provider_status", 15, false}, {"time", 22, false},
		{"day", 12, false}, {"reason", 40, true}, {"what_to_do", 34, true}, {"provider_refund_id", 20, true},
		{"provider_code", 16, true}, {"provider_message", 26, true}, {"attempts", 10, false},
		{"our_record", 28, true}, {"provider_record", 24, true},
	}},
}

func (v *view) widths() []float64 {
	w := make([]float64, len(v.cols))
	for i, c := range v.cols {
		w[i] = c.width
	}
	return w
}

// page is how the view prints.
func (v *view) page(p excel.Paper, header, footer string) excel.Page {
	pg := excel.Page{Paper: p, TitleRows: 1, Header: header, Footer: footer}
	if v.across {
		pg.Scale, pg.TitleCols = acrossScale, v.titleCols
	} else {
		pg.FitWidth = true
	}
	return pg
}

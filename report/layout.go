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
	{name: "Exceptions", file: "exceptions", cols: []viewCol{
		{"category", 24, false}, {"provider", 9, false}, {"account", 19, true}, {"order_no", 18, true},
		{"refund_no", 19, true}, {"currency", 9, false}, {"our_amount", 15, false}, {"provider_amount", 17, false},
		{"reason", 29, true}, {"what_to_do", 25, true},
	}},
	{name: "Failures", file: "failures", cols: []viewCol{
		{"provider", 9, false}, {"account", 19, true}, {"order_no", 18, true}, {"refund_no", 19, true},
		{"currency", 9, false}, {"amount", 15, false}, {"provider_code", 16, true}, {"provider_message", 23, true},
		{"reason", 29, true}, {"what_to_do", 26, true},
	}},
	{name: "Net by order", file: "net_by_order", cols: []viewCol{
		{"provider", 9, false}, {"account", 19, true}, {"order_no", 20, true}, {"provider_order_id", 18, true},
		{"currency", 9, false}, {"total", 15, false}, {"total_from", 11, false}, {"refunded_per_provider", 22, false},
		{"refunded_per_us", 17, false}, {"net", 15, false}, {"over_refund", 12, false}, {"refunds", 9, false},
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

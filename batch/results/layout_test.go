package results

import (
	"testing"

	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// TestXLSXWidths: every header fits its column on one line (bold is about
// 3 % wider), numbers and times show whole (a number that does not fit
// prints as ###), and at the 80 % print scale the row column repeated on
// every page leaves room for each other column.
func TestXLSXWidths(t *testing.T) {
	numeric := map[int]string{colRow: "999999", colAmount: "99999999.99", colAttempts: "1000", colFirst: "2026-11-20T10:30:07Z", colLast: "2026-11-20T10:30:07Z"}
	for i, h := range Header {
		w := xlsxCols[i].width
		head := excel.TextWidth(h)*1.03 + 0.5
		if i == colRow || i == colAmount || i == colAttempts {
			head += 1.5 // the right indent of numbers
		}
		if head > w {
			t.Errorf("header %s needs width %.1f, has %v", h, head, w)
		}
		if s, ok := numeric[i]; ok && excel.TextWidth(s)+2 > w {
			t.Errorf("%s (width %v) cannot show %s", h, w, s)
		}
		if i > 0 && (excel.ColumnPoints(xlsxCols[0].width)+excel.ColumnPoints(w))*0.8 > excel.PrintableWidth() {
			t.Errorf("%s does not fit on a page beside the row column", h)
		}
	}
	if 0.8*excel.BodyPoints < excel.MinPrintedPoints {
		t.Error("80 % prints below 8 pt")
	}
}

// Package results writes a run's results file: every item with its state and
// what the provider said, as CSV or XLSX (by the file name's extension), in
// the results format shared with reconcile.
package results

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/atomicfile"
	"github.com/bulkrefund/bulkrefund/money"
)

// Header is the results file's header row, in order.
var Header = []string{"row", "provider", "account", "order_no", "provider_order_id", "refund_no", "action",
	"amount", "currency", "state", "provider_refund_id", "provider_code", "provider_message",
	"attempts", "first_attempt", "last_attempt", "error"}

// ErrFormat: the results file name has an extension other than .csv or .xlsx.
var ErrFormat = errors.New("results file must end in .csv or .xlsx")

// Fields renders one record as the results row: amounts in major units,
// times RFC3339 UTC ("" if none). Text is returned raw; writers guard it.
func Fields(r store.Record) []string {
	return []string{
		strconv.Itoa(r.Row), r.Provider, r.Account, r.OrderNo, r.ProviderOrderID, r.RefundNo, string(r.Action),
		money.Format(r.Amount, r.Currency), string(r.Currency), string(r.State),
		r.ProviderRefundID, r.ProviderCode, r.ProviderMessage,
		strconv.Itoa(r.Attempts), fmtTime(r.FirstAttempt), fmtTime(r.LastAttempt), r.LastError,
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// textColumns are the columns whose values come from a sheet or a provider
// and so may start with a formula character.
var textColumns = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 10: true, 11: true, 12: true, 16: true}

// Guard defuses text a spreadsheet would take as a formula (=, +, -, @, or a
// leading tab/CR) by prefixing an apostrophe, the OWASP CSV-injection advice.
// It is exactly reversible by Unguard, so that reconcile reads back the ids
// that were written: text already starting with apostrophes before a formula
// character gets one more.
func Guard(s string) string {
	if needsGuard(s) {
		return "'" + s
	}
	return s
}

// Unguard undoes Guard: Unguard(Guard(s)) == s for every s.
func Unguard(s string) string {
	if len(s) > 1 && s[0] == '\'' && needsGuard(s[1:]) {
		return s[1:]
	}
	return s
}

// needsGuard: s is apostrophes (possibly none) then a formula character.
func needsGuard(s string) bool {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	if i == len(s) {
		return false
	}
	switch s[i] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// WriteFile writes every record of st to path, as CSV or XLSX by extension.
// It writes to a temporary file beside path and renames it, so a reader never
// sees half a file.
func WriteFile(ctx context.Context, path string, st store.Store) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".csv" && ext != ".xlsx" {
		return fmt.Errorf("%w: %q", ErrFormat, path)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if ext == ".csv" {
			return WriteCSV(ctx, w, st)
		}
		return WriteXLSX(ctx, w, st)
	})
}

// WriteCSV writes the results as CSV: UTF-8 with a byte-order mark (so that
// Excel shows Chinese text; reconcile skips it), header first.
func WriteCSV(ctx context.Context, w io.Writer, st store.Store) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	err := st.Each(ctx, func(r store.Record) error {
		f := Fields(r)
		for i := range f {
			if textColumns[i] {
				f[i] = Guard(f[i])
			}
		}
		return cw.Write(f)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// WriteXLSX writes the results as one "Results" sheet through excelize's
// stream writer (bounded memory for any row count): styled, frozen header,
// row and attempts as numbers, text guarded. The amount stays decimal text
// ("12.50"), exactly as in the CSV: money never passes through a float, and
// reconcile reads it back exactly.
func WriteXLSX(ctx context.Context, w io.Writer, st store.Store) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Results"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	head, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"305496"}}})
	if err != nil {
		return err
	}
	widths := []float64{7, 10, 22, 24, 22, 22, 8, 12, 8, 11, 24, 24, 30, 8, 21, 21, 40}
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	hc := make([]any, len(Header))
	for i, h := range Header {
		hc[i] = excelize.Cell{StyleID: head, Value: h}
	}
	if err := sw.SetRow("A1", hc); err != nil {
		return err
	}
	n := 1
	err = st.Each(ctx, func(r store.Record) error {
		n++
		fs := Fields(r)
		row := make([]any, len(fs))
		for i, v := range fs {
			if textColumns[i] {
				v = Guard(v)
			}
			row[i] = v
		}
		row[0] = r.Row
		row[13] = r.Attempts
		cell, _ := excelize.CoordinatesToCellName(1, n)
		return sw.SetRow(cell, row)
	})
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

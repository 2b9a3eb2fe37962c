package sheet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// Table reads any table the tools take in (a provider statement, a results
// file, an orders ledger) row by row, with the reader behind Validate: CSV
// in UTF-8 (with or without BOM), GB18030/GBK or UTF-16, comma, semicolon
// or tab separated; or an XLSX sheet read as stored, with its cell types;
// title rows above the header; and the same Limits. A table is not a refund
// sheet: FindHeader matches the caller's columns, and the caller reads the
// cells.
type Table struct {
	src  source
	name string
	nums []bool
}

// TableOptions tunes OpenTable.
type TableOptions struct {
	// Sheet is the XLSX sheet to read; "" means the first visible sheet.
	Sheet string
	// Limits bound the input; the zero value means DefaultLimits.
	Limits Limits
	// Hash makes SHA256 available: the digest of the bytes read.
	Hash bool
}

// OpenTable opens path ("-" for standard input). Its errors are those of
// Validate: wrapping ErrUnreadable, ErrEmptyFile or ErrNoSuchSheet, or a
// *LimitError.
func OpenTable(path string, opts TableOptions) (*Table, error) {
	lim := opts.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits()
	}
	src, err := openSource(path, opts.Sheet, lim, opts.Hash)
	if err != nil {
		return nil, err
	}
	return &Table{src: src, name: src.input().name}, nil
}

// Name is the input as messages name it.
func (t *Table) Name() string { return t.name }

// Format describes what was read: `CSV, GB18030, comma-separated`.
func (t *Table) Format() string { return t.src.describe() }

// Next returns the next row's number (as the spreadsheet numbers it) and
// cells; io.EOF after the last. A malformed CSV record comes back with a
// *RowError wrapping ErrMalformedRow, and reading can go on; any other
// error ends the table. The cells slice is reused by the next call; its
// strings are not.
func (t *Table) Next() (int, []string, error) {
	row, cells, rowErr, err := t.src.next()
	if err != nil {
		return 0, nil, err
	}
	t.nums = t.src.numeric()
	if rowErr != nil {
		return row, cells, &RowError{Row: row, Err: rowErr}
	}
	return row, cells, nil
}

// Numeric reports whether cell i of the row last returned was stored as a
// number (an XLSX number cell). Such a cell holds the number's stored text,
// for money.ParseCell and CheckID.
func (t *Table) Numeric(i int) bool { return i >= 0 && i < len(t.nums) && t.nums[i] }

// SHA256 returns the hex SHA-256 of the whole input, reading what is left
// of it. The table must have been opened with Hash.
func (t *Table) SHA256() (string, error) { return t.src.input().digest() }

// Close releases the input.
func (t *Table) Close() error { return t.src.close() }

// Column is one logical column a table's header is matched against.
type Column struct {
	Name     string
	Aliases  []string // header texts that name it, compared as NormalizeHeader folds them
	Required bool
	// Amount: a unit suffix on the header ("refund_amount_fen",
	// "退款金额(分)", "amount (cents)") says the column is in minor units.
	Amount bool
}

// Header is where a table's columns are.
type Header struct {
	Row   int      // spreadsheet row number of the header
	Index []int    // per Column: the cell index, -1 when absent
	Text  []string // per Column: the header cell as written
	Minor []bool   // per Column: an amount in minor units
}

// Has reports whether column k is in the table.
func (h *Header) Has(k int) bool { return h.Index[k] >= 0 }

// Cell returns column k's cell of a row, spaces trimmed; "" when the
// column or the cell is absent.
func (h *Header) Cell(cells []string, k int) string {
	i := h.Index[k]
	if i < 0 || i >= len(cells) {
		return ""
	}
	return strings.TrimSpace(cells[i])
}

// HeaderError is a header that could not be found or used: ErrNoHeader,
// ErrMissingColumn (Missing names them, Row is the row that came closest)
// or ErrDuplicateCol (Detail names the two cells).
type HeaderError struct {
	Row     int
	Missing []string
	Detail  string
	Err     error
}

func (e *HeaderError) Error() string {
	s := e.Err.Error()
	if len(e.Missing) > 0 {
		s += ": " + strings.Join(e.Missing, ", ")
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Row > 0 {
		s = fmt.Sprintf("row %d: %s", e.Row, s)
	}
	return s
}

func (e *HeaderError) Unwrap() error { return e.Err }

// FindHeader reads up to searchRows rows for the header: the first row
// that names every required column (and of which extra, if given, finds
// nothing missing), so that title rows above it are skipped. Rows up to
// the header are consumed; Next goes on below it.
func (t *Table) FindHeader(cols []Column, searchRows int, extra func(*Header) []string) (*Header, error) {
	aliases := map[string]int{}
	for k := len(cols) - 1; k >= 0; k-- { // the first column listing an alias wins
		for _, a := range cols[k].Aliases {
			aliases[NormalizeHeader(a)] = k
		}
	}
	var best *HeaderError
	for n := 0; n < searchRows; n++ {
		row, cells, err := t.Next()
		if err == io.EOF {
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h, err := matchColumns(cells, cols, aliases)
		if err != nil {
			return nil, &HeaderError{Row: row, Detail: err.Error(), Err: ErrDuplicateCol}
		}
		h.Row = row
		var missing []string
		found := 0
		for k, c := range cols {
			if h.Index[k] >= 0 {
				found++
			} else if c.Required {
				missing = append(missing, c.Name)
			}
		}
		if len(missing) == 0 && extra != nil {
			missing = extra(h)
		}
		if len(missing) == 0 {
			return h, nil
		}
		if found > 0 && (best == nil || len(missing) < len(best.Missing)) {
			best = &HeaderError{Row: row, Missing: missing, Err: ErrMissingColumn}
		}
	}
	if best == nil {
		var req []string
		for _, c := range cols {
			if c.Required {
				req = append(req, c.Name)
			}
		}
		return nil, &HeaderError{Err: ErrNoHeader, Detail: fmt.Sprintf("none in the first %d rows (expected columns such as %s)", searchRows, strings.Join(req, ", "))}
	}
	return nil, best
}

// matchColumns maps one row's cells to cols.
func matchColumns(cells []string, cols []Column, aliases map[string]int) (*Header, error) {
	h := &Header{Index: make([]int, len(cols)), Text: make([]string, len(cols)), Minor: make([]bool, len(cols))}
	for k := range h.Index {
		h.Index[k] = -1
	}
	for i, cell := range cells {
		n := NormalizeHeader(cell)
		if n == "" {
			continue
		}
		k, ok := aliases[n]
		minor := false
		if !ok {
			base, m := amountUnit(n)
			if k, ok = aliases[base]; ok && !cols[k].Amount {
				ok = false
			}
			minor = m
		}
		if !ok {
			continue
		}
		if h.Index[k] >= 0 {
			return nil, fmt.Errorf("%s and %s both mean %s", clip.Quote(h.Text[k]), clip.Quote(cell), cols[k].Name)
		}
		h.Index[k], h.Text[k], h.Minor[k] = i, strings.TrimSpace(cell), minor
	}
	return h, nil
}

// NormalizeHeader folds a header cell for matching, as refund sheets are
// matched: case, spaces, '_', '-' and '.' do not count, full-width forms
// are folded, a BOM is dropped ("Refund No", "refund_no", "ｒｅｆｕｎｄＮｏ"
// are one name).
func NormalizeHeader(s string) string { return normalizeHeader(s) }

// amountUnit splits a normalized header into its base and whether it
// names minor units, as unitSuffix does, "(fen)" and "(cents)" included.
func amountUnit(n string) (string, bool) {
	for _, s := range []string{"(fen)", "(cents)"} {
		if strings.HasSuffix(n, s) && len(n) > len(s) {
			return n[:len(n)-len(s)], true
		}
	}
	if strings.HasSuffix(n, "(yuan)") && len(n) > 6 {
		return n[:len(n)-6], false
	}
	return unitSuffix(n)
}

// Size is the input's size in bytes, -1 for standard input.
func (t *Table) Size() int64 {
	if t.src.input().f == os.Stdin {
		return -1
	}
	return t.src.input().size
}

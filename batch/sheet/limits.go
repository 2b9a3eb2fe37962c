package sheet

import (
	"errors"
	"strconv"

	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// Limits bound what reading one input may cost, in memory and in time. They
// are checked as the bytes stream in, never trusted from a header (a zip
// entry's declared size, a shared-strings count), so that a hostile or
// broken file is refused in seconds and a few dozen MB, whatever it claims.
type Limits struct {
	// FileBytes bounds a CSV file or standard input as read, and an XLSX
	// file as stored (compressed).
	FileBytes int64
	// PartBytes bounds one part of an XLSX workbook (one zip entry: the
	// sheet, the shared strings) as it inflates; WorkbookBytes bounds all
	// the parts read from one workbook together.
	PartBytes, WorkbookBytes int64
	// Ratio bounds how many times its compressed size a part may inflate
	// to, once it is past ratioFloor bytes: a zip bomb inflates a thousand
	// times, a real sheet about ten.
	Ratio int64
	// SharedStrings bounds the workbook's shared-strings table held in
	// memory (the text, plus 8 bytes per string).
	SharedStrings int64
	// CellChars bounds one cell, in characters.
	CellChars int
	// Columns bounds the cells of one row.
	Columns int
	// RowBytes bounds one row: a CSV record as decoded (every line it
	// spans), or the text of an XLSX row's cells.
	RowBytes int
	// Rows bounds the rows of a sheet, title and header rows counted.
	Rows int
	// Parts bounds the entries of a workbook's zip, and Sheets its sheets.
	Parts, Sheets int
	// XMLDepth bounds the nesting of XML elements, and XMLToken the bytes of
	// one XML tag, text, comment or CDATA section.
	XMLDepth, XMLToken int
}

// DefaultLimits are generous for any real refund sheet or provider
// statement: Excel's own limits where it has them (1,048,576 rows, 16,384
// columns, 32,767 characters a cell), and sizes that a 1,048,576-row,
// 13-column workbook (about 70 MB zipped, 730 MB of sheet XML) fits.
func DefaultLimits() Limits {
	return Limits{
		FileBytes:     1 << 30,
		PartBytes:     2 << 30,
		WorkbookBytes: 3 << 30,
		Ratio:         100,
		SharedStrings: 256 << 20,
		CellChars:     32767,
		Columns:       16384,
		RowBytes:      1 << 20,
		Rows:          1048576,
		Parts:         10000,
		Sheets:        4096,
		XMLDepth:      64,
		XMLToken:      1 << 20,
	}
}

// ratioFloor is how far a part inflates before Ratio applies: small parts
// (a styles part, a tiny sheet) can compress very well and cost nothing.
const ratioFloor = 8 << 20

// ErrLimit is wrapped by every *LimitError.
var ErrLimit = errors.New("input limit exceeded")

// LimitError reports an input refused because it exceeds one of the
// reader's limits (or is not a regular file). Its text is one line that
// names the file and the limit: `big.csv: row length limit exceeded: row 2
// is over 1 MiB`.
type LimitError struct {
	File   string // the input as the user named it
	Limit  string // the limit's name: "cell length", "compression ratio"
	Max    int64  // the limit's value, in the unit Detail gives
	Detail string // where and by how much, and what the input probably is
}

func (e *LimitError) Error() string {
	s := e.Limit + " limit exceeded: " + e.Detail
	if e.File != "" {
		s = e.File + ": " + s
	}
	return clip.Line(s)
}

func (e *LimitError) Unwrap() error { return ErrLimit }

// named fills in the file of a *LimitError raised where it was not known.
func named(err error, file string) error {
	var le *LimitError
	if errors.As(err, &le) && le.File == "" {
		le.File = file
	}
	return err
}

func limitErr(limit string, max int64, detail string) *LimitError {
	return &LimitError{Limit: limit, Max: max, Detail: detail}
}

// size renders a byte count for messages: 1 GiB, 512 KiB, 300 bytes.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return thousands(n) + " bytes"
}

// thousands renders n with comma separators: 32767 → "32,767".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

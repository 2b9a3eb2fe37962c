package sheet

import (
	"errors"
	"strconv"
	"strings"

	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// File-level errors: Validate returns an error wrapping one of these when
// the file cannot be used at all (the CLI exits 2).
var (
	ErrUnreadable    = errors.New("unreadable file")
	ErrEmptyFile     = errors.New("file is empty")
	ErrNoHeader      = errors.New("no header row found")
	ErrMissingColumn = errors.New("missing required column")
	ErrDuplicateCol  = errors.New("two columns mean the same field")
	ErrNoRows        = errors.New("no data rows below the header")
	ErrNoSuchSheet   = errors.New("no such sheet")
)

// Row-level errors: each RowError wraps one of these (or a money sentinel
// such as money.ErrTooManyDecimals for amounts).
var (
	ErrRequired          = errors.New("required")
	ErrTooLong           = errors.New("too long")
	ErrBadFormat         = errors.New("bad format")
	ErrOutOfRange        = errors.New("out of range")
	ErrPrecisionLost     = errors.New("precision lost")
	ErrUnknownProvider   = errors.New("unknown provider")
	ErrBadAction         = errors.New("unknown action")
	ErrRevokeNotAllowed  = errors.New("the provider has no revoke")
	ErrRevokeNotFull     = errors.New("a revoke must be for the full order amount")
	ErrRevokeNotAlone    = errors.New("a revoke must be alone on its order")
	ErrDuplicateRefundNo = errors.New("refund number used twice")
	ErrOverRefund        = errors.New("refunds exceed the order total")
	ErrOrderConflict     = errors.New("order details differ between rows")
	ErrCurrency          = errors.New("currency not supported by provider")
	ErrRagged            = errors.New("wrong number of cells")
	ErrMalformedRow      = errors.New("malformed CSV row")
	ErrControlChar       = errors.New("invisible or control character in an id")
)

// RowError is one problem with one row: the row as the spreadsheet numbers
// it, the column as the user wrote it ("" when the whole row is at fault),
// the offending value, and a wrapped sentinel.
type RowError struct {
	Row    int
	Column string
	Value  string
	Err    error
}

// Error renders `row 12, column "退款金额", value "12.345": <reason>`.
func (e *RowError) Error() string {
	if e.Column == "" {
		return "row " + strconv.Itoa(e.Row) + ": " + e.Reason()
	}
	return "row " + strconv.Itoa(e.Row) + ", " + e.Reason()
}

// Reason is the message without the row number, for the errors file whose
// row number has its own column.
func (e *RowError) Reason() string {
	var b strings.Builder
	if e.Column != "" {
		b.WriteString("column ")
		b.WriteString(strconv.Quote(e.Column))
		b.WriteString(", value ")
		b.WriteString(clip.Quote(e.Value))
		b.WriteString(": ")
	}
	if e.Err != nil {
		// The reason may quote the value again, unshortened: keep the
		// line one short line whatever the cell held.
		b.WriteString(clip.Line(e.Err.Error()))
	}
	return b.String()
}

func (e *RowError) Unwrap() error { return e.Err }

package report

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// Sentinel errors wrapped by InputError, for errors.Is.
var (
	// ErrBadValue: a cell that cannot be read as its column's type.
	ErrBadValue = errors.New("invalid value")
	// ErrMissingColumn: a required column is absent from the header.
	ErrMissingColumn = errors.New("required column missing")
	// ErrNoHeader: no row of the file looks like the expected header.
	ErrNoHeader = errors.New("no header row found")
	// ErrAmount: an amount that is not exact decimal money in its currency.
	ErrAmount = errors.New("invalid amount")
	// ErrDuplicateColumn: two header cells name the same column.
	ErrDuplicateColumn = errors.New("column given twice")
)

// InputError is a problem with one place of one input file. Row is the row
// as a spreadsheet numbers it (the header is usually row 1); Column is the
// header text as the file wrote it.
type InputError struct {
	File   string
	Row    int
	Column string
	Value  string
	Err    error
}

func (e *InputError) Error() string {
	s := e.File
	if e.Row > 0 {
		s += ":" + strconv.Itoa(e.Row)
	}
	if e.Column != "" {
		s += fmt.Sprintf(": column %q", e.Column)
	}
	if e.Value != "" {
		s += ": value " + clip.Quote(e.Value)
	}
	return clip.Line(s + ": " + e.Err.Error())
}

func (e *InputError) Unwrap() error { return e.Err }

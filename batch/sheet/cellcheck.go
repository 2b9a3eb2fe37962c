package sheet

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// CheckID checks an id cell (trimmed) for what no provider's id holds and
// a spreadsheet does not show: control characters (NUL, a tab or line
// break inside the id), invisible format characters (zero-width space,
// direction marks, a stray BOM) and undecodable bytes (U+FFFD). And when
// the file stored the cell as a number (numeric), a plain number of 16 or
// more digits: spreadsheets keep 15 significant digits, so the id is
// already cut. The exponent form ("4.20000114820211E+27") is the
// validator's to judge, as it is in CSV text too.
//
// The error wraps ErrControlChar or ErrPrecisionLost.
func CheckID(s string, numeric bool) error {
	if i := suspect(s); i >= 0 {
		if err := checkChars(s, i); err != nil {
			return err
		}
	}
	if numeric && !looksExponent(s) {
		if n := intDigits(s); n >= 16 {
			return fmt.Errorf("%w: the id was stored as a number of %d digits, and a spreadsheet keeps only 15, so its last digits are gone; format the column as Text and re-enter the id", ErrPrecisionLost, n)
		}
	}
	return nil
}

// suspect returns the index of the first byte that is not printable ASCII
// (the whole of almost every id), or -1.
func suspect(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return i
		}
	}
	return -1
}

// checkChars looks at s from byte from on, character by character.
func checkChars(s string, from int) error {
	for i, r := range s[from:] {
		i += from
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(s[i:]); n == 3 {
					return fmt.Errorf("%w: character %d is U+FFFD, a byte the file's encoding could not decode", ErrControlChar, utf8.RuneCountInString(s[:i])+1)
				}
				return fmt.Errorf("%w: character %d is not valid UTF-8", ErrControlChar, utf8.RuneCountInString(s[:i])+1)
			}
			return fmt.Errorf("%w: character %d is %s; providers' ids are printable text", ErrControlChar, utf8.RuneCountInString(s[:i])+1, charName(r))
		}
	}
	return nil
}

func charName(r rune) string {
	names := map[rune]string{0: "NUL", '\t': "a tab", '\n': "a line break", '\r': "a carriage return",
		0x200B: "a zero-width space", 0x200C: "a zero-width non-joiner", 0x200D: "a zero-width joiner",
		0x200E: "a left-to-right mark", 0x200F: "a right-to-left mark", 0xFEFF: "a byte-order mark (zero-width no-break space)",
		0x2028: "a line separator", 0x2029: "a paragraph separator", 0x00AD: "a soft hyphen"}
	if n, ok := names[r]; ok {
		return fmt.Sprintf("%s (%U)", n, r)
	}
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xA0) {
		return fmt.Sprintf("the control character %U", r)
	}
	return fmt.Sprintf("the invisible character %U", r)
}

// intDigits counts the significant digits before the decimal point of a
// stored number ("0012.5" → 2).
func intDigits(s string) int {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for i < len(s) && s[i] == '0' {
		i++
	}
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n++
	}
	return n
}

// idFields are the columns CheckID applies to in a refund sheet.
var idFields = [...]field{fAccount, fOrderNo, fProviderOrderID, fRefundNo}

// checkIDs applies CheckID to a row's id cells, after the validator's own
// per-row rules and on the same goroutine; numeric is the source's cell
// types for the row. A row it finds at fault is invalid however the other
// rules judged it.
func (v *validator) checkIDs(r *rowResult, numeric []bool) {
	if r.blank {
		return
	}
	for _, f := range idFields {
		i := v.cols.idx[f]
		if i < 0 || i >= len(r.cells) {
			continue
		}
		s := trim(r.cells[i])
		if err := CheckID(s, i < len(numeric) && numeric[i]); err != nil {
			r.errs = append(r.errs, &RowError{Row: r.row, Column: v.cols.name[f], Value: s, Err: err})
		}
	}
}

package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// Sentinel errors of amount parsing. Every error returned by ParseMajor,
// ParseMinor and RecoverFloat wraps exactly one of them.
var (
	ErrEmptyAmount     = errors.New("amount is empty")
	ErrNotANumber      = errors.New("not a number")
	ErrTooManyDecimals = errors.New("more decimals than the currency allows")
	ErrNotPositive     = errors.New("amount must be greater than zero")
	ErrOverflow        = errors.New("amount too large")
	// ErrAmbiguousFloat reports a spreadsheet number whose binary value does
	// not land on the currency's grid even at Excel's own 15-digit precision
	// (12.499999999 CNY): it may be a typo or a formula's unrounded result,
	// so it is never rounded.
	ErrAmbiguousFloat = errors.New("number does not round unambiguously to the currency's scale")
)

// ParseMajor parses decimal text in major units ("12.50") into minor units
// of cur, exactly. It accepts what finance sheets contain: surrounding spaces
// (also full-width and no-break spaces), full-width digits and punctuation,
// a leading ¥/￥/$ sign or a trailing 元, and comma thousands separators in
// groups of three ("1,234.50"). It rejects, never rounds, more decimals than
// the currency has; it rejects zero, negative amounts, exponents and anything
// else that is not plainly a positive decimal number.
func ParseMajor(s string, cur Currency) (int64, error) {
	scale, ok := cur.Scale()
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnknownCurrency, clip.Quote(string(cur)))
	}
	return parseDecimal(s, scale, true, cur)
}

// ParseMinor parses integer text in minor units ("1250" fen), the unit of a
// column named with a _fen or _cents suffix. It accepts the same decoration
// as ParseMajor but no decimal point: a fraction of a fen is an error.
func ParseMinor(s string) (int64, error) {
	return parseDecimal(s, 0, true, "")
}

// RecoverFloat parses the stored text of a numeric spreadsheet cell (a
// binary double written as decimal text, possibly in exponent form, such as
// "0.30000000000000004" or "1.25E+3") into minor units of cur.
//
// The rule for recovering a float artifact is precise: if the shortest
// decimal that round-trips the double has no more decimals than the currency
// allows, that is the amount. Otherwise the double is rounded to 15
// significant digits — the precision Excel keeps and displays, so the value
// the user saw — and if that lands exactly on the currency's grid (0.3 for
// 0.30000000000000004) it is the amount. If it does not (12.499999999), the
// value is ambiguous and rejected; if the shortest form itself has at most 15
// significant digits the user typed too many decimals (12.345) and
// ErrTooManyDecimals is returned instead.
//
// With minorUnits the cell holds fen and the grid is the integers.
func RecoverFloat(s string, cur Currency, minorUnits bool) (int64, error) {
	scale, ok := cur.Scale()
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnknownCurrency, clip.Quote(string(cur)))
	}
	if minorUnits {
		scale = 0
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, ErrEmptyAmount
	}
	if !looksFloat(t) {
		// Text, not a number the sheet stored: the exact rules apply.
		return parseDecimal(s, scale, true, cur)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%w: %s", ErrNotANumber, clip.Quote(s))
	}
	if f <= 0 {
		return 0, fmt.Errorf("%w: %s", ErrNotPositive, clip.String(s))
	}
	if f >= 1e18 {
		return 0, fmt.Errorf("%w: %s", ErrOverflow, clip.String(s))
	}
	shortest := strconv.FormatFloat(f, 'f', -1, 64)
	v, err := parseDecimal(shortest, scale, false, cur)
	if err == nil || !errors.Is(err, ErrTooManyDecimals) {
		return v, err
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	rounded := strconv.FormatFloat(r, 'f', -1, 64)
	if rounded == shortest {
		return 0, err // the user's own digits: too many decimals
	}
	v, err2 := parseDecimal(rounded, scale, false, cur)
	if err2 != nil {
		return 0, fmt.Errorf("%w: %s (%s at 15 digits)", ErrAmbiguousFloat, clip.String(s), rounded)
	}
	return v, nil
}

// looksFloat reports whether t is plain ASCII float text as a spreadsheet
// stores numbers: digits, at most one '.', an optional exponent.
func looksFloat(t string) bool {
	if t == "" {
		return false
	}
	i := 0
	if t[0] == '-' || t[0] == '+' {
		i++
	}
	digits, dot, exp := 0, false, false
	for ; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && !exp:
			dot = true
		case (c == 'e' || c == 'E') && !exp && digits > 0:
			exp = true
			if i+1 < len(t) && (t[i+1] == '+' || t[i+1] == '-') {
				i++
			}
			if i+1 >= len(t) {
				return false
			}
		default:
			return false
		}
	}
	return digits > 0
}

// normalizeRune maps full-width ASCII variants (U+FF01..U+FF5E) to ASCII and
// the ideographic and no-break spaces to ' '.
func normalizeRune(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFF01 + '!'
	case r == 0x3000 || r == 0x00A0 || r == 0x202F:
		return ' '
	}
	return r
}

// parseDecimal is the exact parser behind ParseMajor and ParseMinor. It does
// not allocate on the common path (plain ASCII digits).
func parseDecimal(s string, scale int, decorated bool, cur Currency) (int64, error) {
	t := s
	if decorated {
		t = cleanAmount(s)
	}
	if t == "" {
		return 0, ErrEmptyAmount
	}
	neg := false
	switch t[0] {
	case '-':
		neg = true
		t = t[1:]
	case '+':
		t = t[1:]
	}
	var v int64
	frac := -1 // decimals seen so far, -1 before the point
	groupLen, grouped := 0, false
	sawDigit := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			sawDigit = true
			if frac >= 0 {
				frac++
				if frac > scale {
					if c == '0' && allZeros(t[i:]) {
						// Trailing zeros ("12.500") change nothing.
						return finish(v, frac-1, scale, neg, s)
					}
					if !allDigits(t[i:]) {
						return 0, fmt.Errorf("%w: %s", ErrNotANumber, clip.Quote(s))
					}
					return 0, tooMany(s, scale, cur)
				}
			} else {
				groupLen++
			}
			d := int64(c - '0')
			if v > (math.MaxInt64-d)/10 {
				return 0, fmt.Errorf("%w: %s", ErrOverflow, clip.String(s))
			}
			v = v*10 + d
		case c == ',' && decorated && frac < 0:
			// A thousands separator: 1–3 digits before the first, exactly 3 after each.
			if !sawDigit || (grouped && groupLen != 3) || (!grouped && groupLen > 3) {
				return 0, fmt.Errorf("%w: %s (misplaced thousands separator)", ErrNotANumber, clip.Quote(s))
			}
			grouped, groupLen = true, 0
		case c == '.' && frac < 0:
			if grouped && groupLen != 3 {
				return 0, fmt.Errorf("%w: %s (misplaced thousands separator)", ErrNotANumber, clip.Quote(s))
			}
			frac = 0
		default:
			return 0, fmt.Errorf("%w: %s", ErrNotANumber, clip.Quote(s))
		}
	}
	if !sawDigit {
		return 0, fmt.Errorf("%w: %s", ErrNotANumber, clip.Quote(s))
	}
	if frac < 0 && grouped && groupLen != 3 {
		return 0, fmt.Errorf("%w: %s (misplaced thousands separator)", ErrNotANumber, clip.Quote(s))
	}
	if frac < 0 {
		frac = 0
	}
	return finish(v, frac, scale, neg, s)
}

func finish(v int64, frac, scale int, neg bool, s string) (int64, error) {
	for ; frac < scale; frac++ {
		if v > math.MaxInt64/10 {
			return 0, fmt.Errorf("%w: %s", ErrOverflow, clip.String(s))
		}
		v *= 10
	}
	if neg && v != 0 {
		return 0, fmt.Errorf("%w: %s is negative", ErrNotPositive, clip.String(strings.TrimSpace(s)))
	}
	if v == 0 {
		return 0, fmt.Errorf("%w: %s", ErrNotPositive, clip.String(strings.TrimSpace(s)))
	}
	return v, nil
}

func tooMany(s string, scale int, cur Currency) error {
	if cur == "" {
		return fmt.Errorf("%w: %s is in minor units and cannot have decimals", ErrTooManyDecimals, clip.Quote(s))
	}
	return fmt.Errorf("%w: %s has more than %d decimals for %s", ErrTooManyDecimals, clip.Quote(s), scale, cur)
}

func allZeros(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] != '0' {
			return false
		}
	}
	return true
}

func allDigits(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return true
}

// cleanAmount strips the decoration a sheet puts around an amount:
// surrounding spaces, a currency sign before the number (either side of a
// minus sign), a trailing 元, full-width forms. Spaces inside the number stay
// and make it invalid: "12 50" is not guessed to be 1250. It returns s itself
// (no allocation) when s is plain ASCII.
func cleanAmount(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == ' ' || c == '\t' || c == '$' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	t := strings.Map(normalizeRune, s)
	t = strings.TrimSpace(t)
	t = strings.TrimSuffix(t, "元")
	t = strings.TrimSpace(t)
	sign := ""
	if strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
		sign, t = t[:1], strings.TrimSpace(t[1:])
	}
	for _, sym := range []string{"¥", "￥", "$", "CNY", "RMB"} {
		if strings.HasPrefix(t, sym) {
			t = strings.TrimSpace(t[len(sym):])
			break
		}
	}
	if sign == "" && (strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+")) {
		sign, t = t[:1], t[1:]
	}
	return sign + t
}

// ParseCell reads an amount cell of a sheet or statement, in cur's minor
// units: a number cell of a spreadsheet (number) through RecoverFloat, text
// in minor units (a _fen/_cents column) through ParseMinor, other text
// through ParseMajor. Refund sheets and provider statements both read
// their amounts here, so one file's 12.345 is the same error in either.
func ParseCell(s string, cur Currency, minorUnits, number bool) (int64, error) {
	switch {
	case number:
		return RecoverFloat(s, cur, minorUnits)
	case minorUnits:
		return ParseMinor(s)
	}
	return ParseMajor(s, cur)
}

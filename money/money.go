// Package money holds amounts as int64 minor units plus an ISO 4217 currency.
//
// No float64 ever carries an amount: sheets are parsed from decimal text into
// minor units, and reports format minor units back into decimal text. A
// currency the table below does not know is an error, never a default, so a
// typo such as "CYN" cannot silently be treated as two-decimal money.
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// Currency is an upper-case ISO 4217 alphabetic code.
type Currency string

// CNY is the default currency of a refund sheet.
const CNY Currency = "CNY"

// ErrUnknownCurrency reports a code missing from the currency table.
var ErrUnknownCurrency = errors.New("unknown currency code")

// scales maps each supported ISO 4217 code to its number of minor-unit
// digits. It lists the currencies the four providers settle in (PayEase
// names CNY, USD, EUR, GBP, JPY, KRW, RUB, CHF, HKD, SGD, MOP, CAD, NZD, TWD)
// plus a few common ones; extend it rather than guessing.
var scales = map[Currency]int{
	"CNY": 2, "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "RUB": 2,
	"CHF": 2, "HKD": 2, "SGD": 2, "MOP": 2, "CAD": 2, "NZD": 2, "TWD": 2,
	"AUD": 2, "THB": 2, "MYR": 2, "UZS": 2, "KZT": 2, "BHD": 3, "KWD": 3,
}

// ParseCurrency normalizes a code ("cny", " CNY ") and checks it is known.
func ParseCurrency(s string) (Currency, error) {
	c := Currency(strings.ToUpper(strings.TrimSpace(s)))
	if _, ok := scales[c]; !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownCurrency, clip.Quote(s))
	}
	return c, nil
}

// Scale is the number of minor-unit digits of c; ok is false for an unknown code.
func (c Currency) Scale() (digits int, ok bool) {
	d, ok := scales[c]
	return d, ok
}

// Amount is a quantity of money in minor units (fen, cents).
type Amount struct {
	Minor    int64
	Currency Currency
}

// String formats a as "12.50 CNY".
func (a Amount) String() string {
	return Format(a.Minor, a.Currency) + " " + string(a.Currency)
}

// Format renders minor units as major-unit decimal text: 1250 CNY → "12.50",
// -5 CNY → "-0.05", 300 JPY → "300". An unknown currency is rendered with two
// decimals; callers validate currencies at the edge, so that only shows up in
// debugging output.
func Format(minor int64, c Currency) string {
	scale, ok := c.Scale()
	if !ok {
		scale = 2
	}
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = uint64(-minor) // correct for math.MinInt64 too, via two's complement
	}
	digits := strconv.FormatUint(u, 10)
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// FormatGrouped is Format with the integer digits in groups of three, for
// people reading a plan or a summary: 123456789 CNY → "1,234,567.89",
// -123456 JPY → "-123,456". The grouping is on the digits Format gives, so it
// is exact for every int64; ParseMajor reads the result back.
func FormatGrouped(minor int64, c Currency) string {
	s := Format(minor, c)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteString(sign)
	for i, d := range []byte(intPart) {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(d)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// Pow10 returns 10**n for the small n of currency scales.
func Pow10(n int) int64 {
	p := int64(1)
	for i := 0; i < n; i++ {
		p *= 10
	}
	return p
}

// Group renders n with thousands separators: 1234567 → "1,234,567".
func Group(n int64) string {
	if n < 0 {
		return "-" + groupDigits(strconv.FormatUint(uint64(-n), 10))
	}
	return groupDigits(strconv.FormatInt(n, 10))
}

func groupDigits(d string) string {
	if len(d) <= 3 {
		return d
	}
	var b strings.Builder
	head := len(d) % 3
	if head > 0 {
		b.WriteString(d[:head])
	}
	for i := head; i < len(d); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(d[i : i+3])
	}
	return b.String()
}

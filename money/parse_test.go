package money

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseMajor(t *testing.T) {
	tests := []struct {
		in   string
		cur  Currency
		want int64
		err  error
	}{
		{"12.50", CNY, 1250, nil},
		{" 12.5 ", CNY, 1250, nil},
		{"12", CNY, 1200, nil},
		{"0.01", CNY, 1, nil},
		{".5", CNY, 50, nil},
		{"12.", CNY, 1200, nil},
		{"1,234.50", CNY, 123450, nil},
		{"1,234,567", CNY, 123456700, nil},
		{"¥12.50", CNY, 1250, nil},
		{"￥12.50", CNY, 1250, nil},
		{"¥ 1,234.50", CNY, 123450, nil},
		{"12.50元", CNY, 1250, nil},
		{"１２．５０", CNY, 1250, nil},     // full-width digits and point
		{"１，２３４．５", CNY, 123450, nil}, // full-width comma
		{"\u300012.50\u3000", CNY, 1250, nil},
		{"\u00a012.50", CNY, 1250, nil},
		{"12.500", CNY, 1250, nil}, // trailing zeros add nothing
		{"300", "JPY", 300, nil},
		{"1.234", "BHD", 1234, nil},
		{"99999999.99", CNY, 9999999999, nil},
		{"12.345", CNY, 0, ErrTooManyDecimals},
		{"12.5000001", CNY, 0, ErrTooManyDecimals},
		{"300.5", "JPY", 0, ErrTooManyDecimals},
		{"0", CNY, 0, ErrNotPositive},
		{"0.00", CNY, 0, ErrNotPositive},
		{"-12.50", CNY, 0, ErrNotPositive},
		{"-¥12.50", CNY, 0, ErrNotPositive},
		{"¥-12.50", CNY, 0, ErrNotPositive},
		{"", CNY, 0, ErrEmptyAmount},
		{"   ", CNY, 0, ErrEmptyAmount},
		{"abc", CNY, 0, ErrNotANumber},
		{"12 50", CNY, 0, ErrNotANumber},
		{"12.5.0", CNY, 0, ErrNotANumber},
		{"1e3", CNY, 0, ErrNotANumber},
		{"12,50", CNY, 0, ErrNotANumber}, // decimal comma is not guessed
		{"1,23,456", CNY, 0, ErrNotANumber},
		{",123", CNY, 0, ErrNotANumber},
		{"1234,567.5", CNY, 0, ErrNotANumber},
		{"12.5x", CNY, 0, ErrNotANumber},
		{"12.505x", CNY, 0, ErrNotANumber},
		{"-", CNY, 0, ErrNotANumber},
		{".", CNY, 0, ErrNotANumber},
		{"NaN", CNY, 0, ErrNotANumber},
		{"9999999999999999999", CNY, 0, ErrOverflow},
		{"92233720368547758.07", CNY, 9223372036854775807, nil},
		{"92233720368547758.08", CNY, 0, ErrOverflow},
		{"10000000000000000", CNY, 1000000000000000000, nil}, // found by FuzzParseAmount
		{"12.50", "XYZ", 0, ErrUnknownCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMajor(tt.in, tt.cur)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("ParseMajor(%q, %s) error = %v, want %v", tt.in, tt.cur, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("ParseMajor(%q, %s) = %d, want %d", tt.in, tt.cur, got, tt.want)
			}
		})
	}
}

func TestParseMinor(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  error
	}{
		{"1250", 1250, nil},
		{"1,250", 1250, nil},
		{" １２５０ ", 1250, nil},
		{"1250.00", 1250, nil},
		{"12.5", 0, ErrTooManyDecimals},
		{"0", 0, ErrNotPositive},
		{"-1", 0, ErrNotPositive},
		{"x", 0, ErrNotANumber},
	}
	for _, tt := range tests {
		got, err := ParseMinor(tt.in)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || got != tt.want {
			t.Errorf("ParseMinor(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestRecoverFloat(t *testing.T) {
	tests := []struct {
		in    string
		cur   Currency
		minor bool
		want  int64
		err   error
	}{
		{"12.5", CNY, false, 1250, nil},
		{"0.30000000000000004", CNY, false, 30, nil}, // 0.1+0.2
		{"12.499999999999998", CNY, false, 1250, nil},
		{"1.1000000000000001", CNY, false, 110, nil},
		{"1.25E+3", CNY, false, 125000, nil},
		{"1E-2", CNY, false, 1, nil},
		{"12.34567891234567", CNY, false, 0, ErrAmbiguousFloat}, // 16 digits, off the grid at 15
		{"12.499999999", CNY, false, 0, ErrTooManyDecimals},     // what the cell shows: too many decimals
		{"12.345", CNY, false, 0, ErrTooManyDecimals},
		{"1250", CNY, true, 1250, nil},
		{"1249.9999999999998", CNY, true, 1250, nil},
		{"1249.5", CNY, true, 0, ErrTooManyDecimals},
		{"0", CNY, false, 0, ErrNotPositive},
		{"-3", CNY, false, 0, ErrNotPositive},
		{"1E+300", CNY, false, 0, ErrOverflow},
		{"¥12.50", CNY, false, 1250, nil}, // a text cell: exact rules
		{"abc", CNY, false, 0, ErrNotANumber},
		{"", CNY, false, 0, ErrEmptyAmount},
	}
	for _, tt := range tests {
		got, err := RecoverFloat(tt.in, tt.cur, tt.minor)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || got != tt.want {
			t.Errorf("RecoverFloat(%q, %s, %v) = %d, %v; want %d, %v", tt.in, tt.cur, tt.minor, got, err, tt.want, tt.err)
		}
	}
}

// FuzzParseAmount checks that parsing never panics, that every error wraps a
// sentinel, and that a success formats back to text that parses to the same
// minor units.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.50", "1,234.50", "¥12.50", "１２．５", "-1", "0.30000000000000004", "1E+3", "12.345", ""} {
		f.Add(s)
	}
	sentinels := []error{ErrEmptyAmount, ErrNotANumber, ErrTooManyDecimals, ErrNotPositive, ErrOverflow, ErrAmbiguousFloat}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (int64, error){
			func(s string) (int64, error) { return ParseMajor(s, CNY) },
			ParseMinor,
			func(s string) (int64, error) { return RecoverFloat(s, CNY, false) },
		} {
			v, err := parse(s)
			if err != nil {
				ok := false
				for _, e := range sentinels {
					ok = ok || errors.Is(err, e)
				}
				if !ok {
					t.Fatalf("%q: error %v wraps no sentinel", s, err)
				}
				continue
			}
			if v <= 0 {
				t.Fatalf("%q: parsed to non-positive %d without error", s, v)
			}
		}
		if v, err := ParseMajor(s, CNY); err == nil {
			back, err := ParseMajor(Format(v, CNY), CNY)
			if err != nil || back != v {
				t.Fatalf("%q → %d → %q → %d, %v", s, v, Format(v, CNY), back, err)
			}
		}
		if v, err := ParseMinor(s); err == nil {
			if back, _ := ParseMinor(strconv.FormatInt(v, 10)); back != v {
				t.Fatalf("%q → %d does not round-trip", s, v)
			}
		}
	})
}

// TestParseCell: one entry point for sheets and statements; a number cell
// is recovered from its binary-float text only when that is unambiguous,
// never rounded.
func TestParseCell(t *testing.T) {
	for _, tt := range []struct {
		s             string
		minor, number bool
		want          int64
		err           error
	}{
		{"12.5", false, true, 1250, nil},
		{"0.30000000000000004", false, true, 30, nil},
		{"12.345", false, true, 0, ErrTooManyDecimals},
		{"12.499999999", false, true, 0, ErrTooManyDecimals},
		{"12.34567891234567", false, true, 0, ErrAmbiguousFloat},
		{"12.345", false, false, 0, ErrTooManyDecimals},
		{"¥1,234.50", false, false, 123450, nil},
		{"1250", true, false, 1250, nil},
		{"1250", true, true, 1250, nil},
		{"12.5", true, false, 0, ErrTooManyDecimals},
		{"-3", false, false, 0, ErrNotPositive},
	} {
		got, err := ParseCell(tt.s, CNY, tt.minor, tt.number)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseCell(%q, minor %v, number %v) = %d, %v; want %d, %v", tt.s, tt.minor, tt.number, got, err, tt.want, tt.err)
		}
	}
	// A huge cell is quoted shortened.
	_, err := ParseCell(strings.Repeat("9x", 100000), CNY, false, false)
	if !errors.Is(err, ErrNotANumber) || len(err.Error()) > 100 {
		t.Errorf("error of %d bytes: %.100s", len(err.Error()), err)
	}
}

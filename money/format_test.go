package money

import (
	"math"
	"strings"
	"testing"
)

func TestFormatGrouped(t *testing.T) {
	tests := []struct {
		minor int64
		cur   Currency
		want  string
	}{
		{0, CNY, "0.00"},
		{5, CNY, "0.05"},
		{-5, CNY, "-0.05"},
		{99999, CNY, "999.99"},
		{100000, CNY, "1,000.00"},
		{123456789, CNY, "1,234,567.89"},
		{-123456789, CNY, "-1,234,567.89"},
		{999, "JPY", "999"},
		{1000, "JPY", "1,000"},
		{-123456, "JPY", "-123,456"},
		{1234567, "BHD", "1,234.567"},
		{math.MaxInt64, CNY, "92,233,720,368,547,758.07"},
		{math.MinInt64, CNY, "-92,233,720,368,547,758.08"},
	}
	for _, tt := range tests {
		if got := FormatGrouped(tt.minor, tt.cur); got != tt.want {
			t.Errorf("FormatGrouped(%d, %s) = %q, want %q", tt.minor, tt.cur, got, tt.want)
		}
	}
}

// The grouped text parses back to the same minor units: the separators are
// presentation only.
func TestFormatGroupedRoundTrip(t *testing.T) {
	for _, minor := range []int64{1, 12, 1234, 123456, 12345678, 1234567890, 999999999999} {
		for _, c := range []Currency{CNY, "JPY", "BHD"} {
			s := FormatGrouped(minor, c)
			got, err := ParseMajor(s, c)
			if err != nil || got != minor {
				t.Errorf("%s %s: ParseMajor = %d, %v; want %d", s, c, got, err, minor)
			}
			if strings.ReplaceAll(s, ",", "") != Format(minor, c) {
				t.Errorf("%s without commas differs from Format %s", s, Format(minor, c))
			}
		}
	}
}

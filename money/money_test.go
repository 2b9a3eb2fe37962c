package money

import "testing"

func TestFormatGrouped(t *testing.T) {
	for _, tc := range []struct {
		minor int64
		c     Currency
		want  string
	}{
		{0, CNY, "0.00"}, {99, CNY, "0.99"}, {123456, CNY, "1,234.56"}, {9980433, CNY, "99,804.33"},
		{-123456789, CNY, "-1,234,567.89"}, {1000, "JPY", "1,000"}, {100000, CNY, "1,000.00"},
	} {
		if got := FormatGrouped(tc.minor, tc.c); got != tc.want {
			t.Errorf("FormatGrouped(%d, %s) = %q, want %q", tc.minor, tc.c, got, tc.want)
		}
	}
	if Group(1234567) != "1,234,567" || Group(12) != "12" || Group(-1000) != "-1,000" {
		t.Error("Group")
	}
}

package clip

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":                         `""`,
		"R1":                       `"R1"`,
		"A\x00B":                   `"A\x00B"`,
		strings.Repeat("退", 60):    `"` + strings.Repeat("退", 60) + `"`,
		strings.Repeat("退", 61):    `"` + strings.Repeat("退", 60) + `…"`,
		strings.Repeat("x", 1<<20): `"` + strings.Repeat("x", 60) + `…"`,
		"line\nbreak":              `"line\nbreak"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%.20q) = %s, want %s", in, got, want)
		}
	}
}

func TestLine(t *testing.T) {
	if got := Line("plain message"); got != "plain message" {
		t.Errorf("got %q", got)
	}
	if got := Line("a\nb\x00c"); got != `a\nb\x00c` {
		t.Errorf("got %q", got)
	}
	long := Line(strings.Repeat("é", 10000))
	if n := len([]rune(long)); n != maxLine+1 || !strings.HasSuffix(long, "…") {
		t.Errorf("long line has %d characters", n)
	}
}

func TestJoin(t *testing.T) {
	if got := Join([]string{"a", "b"}); got != "a, b" {
		t.Errorf("got %q", got)
	}
	many := make([]string, 16384)
	for i := range many {
		many[i] = strings.Repeat("x", 1000)
	}
	got := Join(many)
	if !strings.HasSuffix(got, ", … and 16364 more") || len(got) > 20*70 {
		t.Errorf("got %d bytes: %.100s", len(got), got)
	}
}

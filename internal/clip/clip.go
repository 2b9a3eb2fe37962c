// Package clip shortens text quoted in messages. A cell, a header or a path
// can be megabytes long or hold line breaks; every message that quotes one
// goes through Quote, so that an error stays one short line whatever the
// input held.
package clip

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Max is how many characters of a value a message keeps.
const Max = 60

// String returns s cut to Max characters, with "…" when cut.
func String(s string) string {
	if len(s) <= Max {
		return s
	}
	i, n := 0, 0
	for i < len(s) && n < Max {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	if i == len(s) {
		return s
	}
	return s[:i] + "…"
}

// Quote is strconv.Quote of String(s): control characters (NUL, line
// breaks) are shown escaped, and the value is at most Max characters.
func Quote(s string) string {
	return strconv.Quote(String(s))
}

// maxLine bounds Line.
const maxLine = 500

// Line makes a message safe to print as one line: control characters are
// escaped as strconv.Quote would, and text past maxLine characters is cut.
// It is the net under messages built from parts that were not quoted.
func Line(s string) string {
	clean := len(s) <= maxLine
	for i := 0; clean && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxLine {
			b.WriteString("…")
			break
		}
		n++
		if r < 0x20 || r == 0x7f {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxItems bounds Join.
const maxItems = 20

// Join joins items with ", ", each cut by String, at most maxItems of them
// and then "… and N more": a header of 16,384 cells or a workbook of
// thousands of sheets stays one short line.
func Join(items []string) string {
	var b strings.Builder
	for i, s := range items {
		if i == maxItems {
			fmt.Fprintf(&b, ", … and %d more", len(items)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(String(s))
	}
	return b.String()
}

package excel

import (
	"strings"
	"unicode"
)

// LineHeight is the height in points of one line of 11 pt text in a row,
// as Excel sizes a row of Calibri 11.
const LineHeight = 15.0

// RowHeight is the height in points a row needs so that its wrapped cells
// show every line (0 for one line: the default height). A row's height is
// not worked out by the stream writer, and Excel and LibreOffice do not
// reliably fit rows to wrapped text when they open a file, so the height is
// estimated here, erring on the tall side: a little white space is better
// than a reason cut off on paper.
func RowHeight(n int) float64 {
	if n <= 1 {
		return 0
	}
	return min(409, float64(n)*LineHeight) // 409 pt is Excel's largest row
}

// WrappedLines estimates how many lines s takes when wrapped in a column
// of Excel width w (w digits of the default font fit in it, by the width's
// definition): lines break at spaces and after hyphens, a word longer than
// a line breaks anywhere, and a newline always breaks. Characters are
// measured by charWidth; a cell's padding leaves a line a little less than
// w (cellRoom).
func WrappedLines(s string, w float64) int {
	w -= cellRoom
	lines := 0
	for para := range strings.SplitSeq(s, "\n") {
		lines++
		used := 0.0
		for len(para) > 0 {
			// The next word, with the break after it (a space or a hyphen).
			end := strings.IndexAny(para, " -")
			word := para
			if end >= 0 {
				word = para[:end+1]
			}
			para = para[len(word):]
			// A trailing space may hang past the edge.
			n := TextWidth(strings.TrimSuffix(word, " "))
			switch {
			case used+n <= w:
				used += TextWidth(word)
			case n <= w:
				lines++
				used = TextWidth(word)
			default:
				// Longer than a line: broken anywhere, from a new line.
				if used > 0 {
					lines++
				}
				used = 0
				for _, r := range word {
					if cw := charWidth(r); used+cw > w {
						lines++
						used = cw
					} else {
						used += cw
					}
				}
			}
		}
	}
	return lines
}

// cellRoom is what a cell's padding takes of a line, in digits.
const cellRoom = 0.5

// TextWidth is s's width in digits of the default font (see charWidth).
func TextWidth(s string) float64 {
	n := 0.0
	for _, r := range s {
		n += charWidth(r)
	}
	return n
}

// charWidth is r's width in digits of the default font (Calibri 11; its
// metric twin Carlito's advance widths, rounded up to a hundredth): a
// digit is 1 by the column width's definition, a lower-case letter about
// 1, i and l a half, m and w one and a half. East Asian wide characters
// (汉字, kana, full-width forms) come from a fallback font and take two;
// other characters one.
func charWidth(r rune) float64 {
	switch {
	case r >= ' ' && r <= '~':
		return float64(asciiWidth[r-' ']) / 100
	case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		r >= 0x3000 && r <= 0x303F || r >= 0xFF01 && r <= 0xFF60:
		return 2
	}
	return 1
}

// asciiWidth is the width of ' ' to '~' in hundredths of a digit.
var asciiWidth = [95]uint8{
	45, 65, 80, 99, 100, 142, 135, 44, 60, 60, 99, 99, 50, 61, 50, 77,
	100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 53, 53, 99, 99, 99, 92,
	177, 115, 108, 106, 122, 97, 91, 125, 123, 50, 63, 103, 83, 169, 128, 131,
	102, 133, 108, 91, 97, 127, 112, 176, 103, 97, 93, 61, 77, 61, 99, 99,
	58, 95, 104, 84, 104, 99, 61, 93, 104, 46, 48, 90, 46, 158, 104, 105,
	104, 104, 69, 78, 67, 104, 90, 142, 86, 90, 78, 63, 91, 63, 99,
}

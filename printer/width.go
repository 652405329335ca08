package printer

import (
	"strings"
	"unicode/utf8"
)

// RuneWidth is the number of columns r takes on a printer in Chinese mode.
//
// In Chinese mode (FS &) every character that GB18030 encodes in more than
// one byte is printed with the 24-dot Hanzi font, i.e. twice as wide as an
// ASCII character. That covers the East Asian Wide and Fullwidth characters
// and also the "ambiguous" ones (·, “ ”, é, ￥) that a terminal would draw
// narrow, so the rule here is simply: ASCII is one column, anything else two.
// Control characters are not printed and take none.
func RuneWidth(r rune) int {
	switch {
	case r < 0x20 || r == 0x7f:
		return 0
	case r < 0x80:
		return 1
	case r == utf8.RuneError:
		return 1 // invalid UTF-8 is printed as '?'; see Encode
	}
	return 2
}

// Width is the number of printer columns s takes; see RuneWidth.
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += RuneWidth(r)
	}
	return n
}

// Pair lays out a label and a value on one line of the given width, the
// label flush left and the value flush right ("金额          ￥128.50"), as
// receipts show them. When both do not fit on one line, the value goes on
// the next line, flush right, so that neither is cut. The result contains
// no markup; a "\n" in it is a line break for Encode.
func Pair(left, right string, columns int) string {
	left, right = oneLine(left), oneLine(right)
	lw, rw := Width(left), Width(right)
	switch {
	case right == "":
		return left
	case lw+1+rw <= columns:
		return left + strings.Repeat(" ", columns-lw-rw) + right
	case rw <= columns:
		pad := strings.Repeat(" ", columns-rw)
		if left == "" {
			return pad + right
		}
		return left + "\n" + pad + right
	}
	if left == "" {
		return right
	}
	return left + "\n" + right
}

// oneLine replaces line breaks and other control characters by spaces, so
// that a field cannot break the layout it is put in.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

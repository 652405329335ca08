package printer

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", "<CB>店</CB><BR><B>粗</B><L>大</L><RIGHT>右</RIGHT><CUT>",
		"<QR>https://x.y/z</QR><BC128>ABC{123</BC128>", "<QR>abc", "</C></B><X>",
		"中文abc def\r\n¥1\t\x00\xff", "<L>" + "一二三四五六七八九十" + "</L>",
		Receipt{Kind: KindDeposit, Store: "店", OrderID: "D1", Amount: 1}.Markup(32),
	} {
		f.Add(s, 32)
		f.Add(s, 48)
	}
	f.Fuzz(func(t *testing.T, doc string, cols int) {
		cols = cols % 100
		for _, p := range []Profile{Generic58(), Generic80(), {Columns: cols, Dots: cols * 12, NativeQR: true, Code128: true}, {Columns: cols}} {
			b := Encode(doc, p)
			if !bytes.HasPrefix(b, []byte{0x1b, '@', 0x1c, '&'}) {
				t.Fatalf("job does not start with ESC @ FS &: % X", b[:min(len(b), 8)])
			}
			d, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode(%q)): %v", doc, err)
			}
			if n := len(SplitJobs(b)); n != 1 {
				t.Fatalf("Encode output splits into %d jobs", n)
			}
			_ = d.Text()
			if !strings.Contains(doc, "<") {
				if got, want := strings.Join(d.Lines, ""), plain(doc); strings.ReplaceAll(got, " ", "") != want {
					t.Fatalf("text changed on the way:\n got %q\nwant %q", got, want)
				}
			}
		}
	})
}

// plain is what printing a markup-free doc shows, spaces aside: line
// breaks and control characters go, ¥ becomes ￥, bad UTF-8 becomes '?'.
func plain(doc string) string {
	var sb strings.Builder
	for _, r := range doc {
		switch {
		case r == utf8.RuneError:
			sb.WriteByte('?')
		case r == '¥':
			sb.WriteRune('￥')
		case r >= 0x80 && !gbRoundTrips(r):
			sb.WriteByte('?')
		case r < 0x20 || r == 0x7f || r == ' ':
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func gbRoundTrips(r rune) bool {
	b, err := simplifiedchinese.GB18030.NewEncoder().String(string(r))
	if err != nil {
		return false
	}
	back, err := simplifiedchinese.GB18030.NewDecoder().String(b)
	return err == nil && back == string(r)
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode("<C>中</C><QR>q</QR><BC128>b</BC128>", Generic80()))
	f.Add([]byte{0x1d, '(', 'k', 0xff, 0xff})
	f.Add([]byte{0x1d, 'k', 73, 3, '{', 'C', 200})
	f.Add([]byte{0x1b, '@', 0x10, 0x04, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _ := Decode(b)
		_ = d.Text()
		total := 0
		for _, j := range SplitJobs(b) {
			total += len(j)
		}
		if total != len(b) {
			t.Fatalf("SplitJobs lost bytes: %d of %d", total, len(b))
		}
	})
}

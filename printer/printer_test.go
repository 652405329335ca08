package printer

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/code128"
)

func TestWidth(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"中文", 4},
		{"a中b", 4},
		{"￥128.50", 8},
		{"·“”", 6}, // ambiguous width: Hanzi font in Chinese mode
		{"a\tb\x00", 2},
		{"\xff", 1}, // invalid UTF-8 prints as '?'
	} {
		if got := Width(tc.s); got != tc.want {
			t.Errorf("Width(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestPair(t *testing.T) {
	for _, tc := range []struct {
		l, r string
		cols int
		want string
	}{
		{"金额", "￥1.00", 16, "金额      ￥1.00"},
		{"a", "b", 5, "a   b"},
		{"ab", "cd", 5, "ab cd"},
		{"abc", "cd", 5, "abc\n   cd"},
		{"订单号", "D1234567890", 16, "订单号\n     D1234567890"},
		{"x", "", 8, "x"},
		{"", "y", 4, "   y"},
		{"a\nb", "c", 5, "a b c"},
		{"l", "abcdefgh", 4, "l\nabcdefgh"},
	} {
		got := Pair(tc.l, tc.r, tc.cols)
		if got != tc.want {
			t.Errorf("Pair(%q, %q, %d) = %q, want %q", tc.l, tc.r, tc.cols, got, tc.want)
		}
		if !strings.Contains(got, "\n") && Width(got) != tc.cols && tc.r != "" {
			t.Errorf("Pair(%q, %q, %d) = %q: width %d", tc.l, tc.r, tc.cols, got, Width(got))
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		fen  int64
		want string
	}{
		{0, "0.00"},
		{5, "0.05"},
		{10, "0.10"},
		{100, "1.00"},
		{12850, "128.50"},
		{-5, "-0.05"},
		{-12850, "-128.50"},
		{123456789012, "1234567890.12"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	} {
		if got := FormatAmount(tc.fen); got != tc.want {
			t.Errorf("FormatAmount(%d) = %q, want %q", tc.fen, got, tc.want)
		}
	}
}

func mustDecode(t *testing.T, b []byte) Doc {
	t.Helper()
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v\n% X", err, b)
	}
	return d
}

func TestWrap(t *testing.T) {
	p := Profile{Columns: 10, Dots: 384, NativeQR: true, Code128: true}
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"fits", "hello", []string{"hello"}},
		{"exact", "0123456789", []string{"0123456789"}},
		{"words", "hello world again", []string{"hello", "world", "again"}},
		{"long word", "abcdefghijklmno", []string{"abcdefghij", "klmno"}},
		{"cjk", "一二三四五六七", []string{"一二三四五", "六七"}},
		{"cjk odd column", "a一二三四五", []string{"a一二三四", "五"}},
		{"mixed", "ab一二三四 cd", []string{"ab一二三四", "cd"}},
		{"no comma at line start", "一二三四五，六", []string{"一二三四", "五，六"}},
		{"large", "<L>一二三</L>", []string{"一二", "三"}},
		{"large ascii", "<L>abcdef</L>", []string{"abcde", "f"}},
		{"newlines", "a\nb\r\nc\rd<BR>e", []string{"a", "b", "c", "d", "e"}},
		{"blank lines", "a<BR><BR>b", []string{"a", "", "b"}},
		{"continuation drops spaces", "abcde     fghij", []string{"abcde", "fghij"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDecode(t, Encode(tc.doc, p))
			if !slices.Equal(d.Lines, tc.want) {
				t.Errorf("lines %q, want %q", d.Lines, tc.want)
			}
		})
	}
}

// TestWrapNeverOverflows checks the invariant behind every layout: no line
// is wider than the paper unless it is a single character.
func TestWrapNeverOverflows(t *testing.T) {
	docs := []string{
		strings.Repeat("中文abc ", 40),
		"<L>" + strings.Repeat("x一", 50) + "</L>",
		strings.Repeat("，", 70),
		strings.Repeat("a", 100) + strings.Repeat("中", 33),
	}
	for _, cols := range []int{1, 2, 3, 5, 32, 48} {
		for _, doc := range docs {
			b := Encode(doc, Profile{Columns: cols})
			d := mustDecode(t, b)
			for i, blk := range d.Blocks {
				if blk.Kind != TextLine {
					continue
				}
				w := Width(blk.Text)
				if blk.Large {
					w *= 2
				}
				if w > cols && len([]rune(blk.Text)) > 1 {
					t.Errorf("cols %d: line %d %q is %d wide", cols, i, blk.Text, w)
				}
			}
			if got, want := strings.Join(d.Lines, ""), strings.ReplaceAll(strings.NewReplacer("<L>", "", "</L>", "").Replace(doc), " ", ""); strings.ReplaceAll(got, " ", "") != want {
				t.Errorf("cols %d: text lost or changed:\n got %q\nwant %q", cols, got, want)
			}
		}
	}
}

func TestEncodeExactBytes(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		p         Profile
		want      []byte
	}{
		{"bold without needless reset", "<B>hi</B>", Generic80(),
			[]byte{0x1b, '@', 0x1c, '&', 0x1b, 'E', 1, 'h', 'i', '\n', 0x1b, 'd', 4, 0x1d, 'V', 66, 0}},
		{"no cutter feeds only", "hi", Profile{Columns: 32},
			[]byte{0x1b, '@', 0x1c, '&', 'h', 'i', '\n', 0x1b, 'd', 4}},
		{"style sent once across lines", "<C><B>a<BR>b</B></C><BR>c", Profile{Columns: 32},
			[]byte{0x1b, '@', 0x1c, '&', 0x1b, 'a', 1, 0x1b, 'E', 1, 'a', '\n', 'b', '\n', 0x1b, 'a', 0, 0x1b, 'E', 0, 'c', '\n', 0x1b, 'd', 4}},
		{"large", "<L>x</L>y", Profile{Columns: 32},
			[]byte{0x1b, '@', 0x1c, '&', 0x1d, '!', 0x11, 'x', 0x1d, '!', 0, 'y', '\n', 0x1b, 'd', 4}},
		{"right", "<RIGHT>r</RIGHT>", Profile{Columns: 32},
			[]byte{0x1b, '@', 0x1c, '&', 0x1b, 'a', 2, 'r', '\n', 0x1b, 'd', 4}},
		{"GB18030", "中文", Profile{Columns: 32},
			[]byte{0x1b, '@', 0x1c, '&', 0xd6, 0xd0, 0xce, 0xc4, '\n', 0x1b, 'd', 4}},
		{"yen becomes fullwidth yuan", "¥1￥2", Profile{Columns: 32},
			[]byte{0x1b, '@', 0x1c, '&', 0xa3, 0xa4, '1', 0xa3, 0xa4, '2', '\n', 0x1b, 'd', 4}},
		{"explicit cut, no second cut", "a<CUT>", Generic58(),
			[]byte{0x1b, '@', 0x1c, '&', 'a', '\n', 0x1b, 'd', 4, 0x1d, 'V', 66, 0}},
		{"empty doc", "", Generic58(), []byte{0x1b, '@', 0x1c, '&'}},
		{"QR", "<QR>ab</QR>", Profile{Columns: 32, Dots: 384, NativeQR: true},
			[]byte{0x1b, '@', 0x1c, '&', 0x1b, 'a', 1,
				0x1d, '(', 'k', 4, 0, 49, 65, 50, 0,
				0x1d, '(', 'k', 3, 0, 49, 67, 8,
				0x1d, '(', 'k', 3, 0, 49, 69, 49,
				0x1d, '(', 'k', 5, 0, 49, 80, 48, 'a', 'b',
				0x1d, '(', 'k', 3, 0, 49, 81, 48,
				0x1b, 'd', 4}},
		{"Code128", "<BC128>A{1</BC128>", Profile{Columns: 32, Dots: 384, Code128: true},
			[]byte{0x1b, '@', 0x1c, '&', 0x1b, 'a', 1,
				0x1d, 'H', 2, 0x1d, 'h', 80, 0x1d, 'w', 3,
				0x1d, 'k', 73, 6, '{', 'B', 'A', '{', '{', '1',
				0x1b, 'd', 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Encode(tc.doc, tc.p)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("Encode(%q)\n got % X\nwant % X", tc.doc, got, tc.want)
			}
		})
	}
}

func TestMarkupTolerance(t *testing.T) {
	p := Generic58()
	for _, tc := range []struct {
		doc  string
		want []string
	}{
		{"<X>a</X>", []string{"<X>a</X>"}},
		{"<QR>abc", []string{"<QR>abc"}},
		{"a<b", []string{"a<b"}},
		{"</B>a</C>b<>", []string{"ab<>"}},
		{"<b>x</b><br>y", []string{"x", "y"}},
		{"<C><RIGHT>r</C>", []string{"r"}},
		{"</QR><LOGO>z", []string{"z"}},
		{"<BR/>", []string{"<BR/>"}},
	} {
		d := mustDecode(t, Encode(tc.doc, p))
		if !slices.Equal(d.Lines, tc.want) {
			t.Errorf("Encode(%q) lines %q, want %q", tc.doc, d.Lines, tc.want)
		}
	}
	// Alignment of "<C><RIGHT>r</C>": closing C leaves RIGHT open.
	d := mustDecode(t, Encode("<C><RIGHT></C>r", p))
	if d.Blocks[0].Align != AlignRight {
		t.Errorf("align %d, want right", d.Blocks[0].Align)
	}
}

func TestCodes(t *testing.T) {
	doc := "<C>x</C><QR>https://pay.example/o?id=1&x=<y></QR>" +
		"<BC128>D2024{01}</BC128><BC128>中文</BC128>tail"
	d := mustDecode(t, Encode(doc, Generic80()))
	if want := []string{"https://pay.example/o?id=1&x=<y>"}; !slices.Equal(d.QR, want) {
		t.Errorf("QR %q, want %q", d.QR, want)
	}
	if want := []string{"D2024{01}"}; !slices.Equal(d.Barcodes, want) {
		t.Errorf("barcodes %q, want %q", d.Barcodes, want)
	}
	// Non-ASCII cannot be Code128: printed as text instead.
	if want := []string{"x", "中文", "tail"}; !slices.Equal(d.Lines, want) {
		t.Errorf("lines %q, want %q", d.Lines, want)
	}
	if !d.Cut {
		t.Error("not cut")
	}

	// A printer without QR/Code128 gets them as raster images, the
	// barcode with its human-readable line under it.
	d = mustDecode(t, Encode("<QR>q1</QR><BC128>b1</BC128>", Profile{Columns: 32}))
	images := 0
	for _, b := range d.Blocks {
		if b.Kind == Raster {
			images++
		}
	}
	if len(d.QR)+len(d.Barcodes) != 0 || !slices.Equal(d.Lines, []string{"b1"}) || images < 1 {
		t.Errorf("fallback: %d images, lines %q", images, d.Lines)
	}
	// Too long for any QR version.
	long := strings.Repeat("z", 3000)
	d = mustDecode(t, Encode("<QR>"+long+"</QR>", Generic58()))
	if len(d.QR) != 0 || strings.Join(d.Lines, "") != long {
		t.Errorf("long QR: %d codes, %d lines", len(d.QR), len(d.Lines))
	}
	// Too wide for 58 mm paper as Code128 (set B, with its quiet zone).
	d = mustDecode(t, Encode("<BC128>"+strings.Repeat("z", 40)+"</BC128>", Generic58()))
	if len(d.Barcodes) != 0 {
		t.Errorf("40-char barcode printed on 58 mm")
	}
	// 40 digits are 20 symbols of set C: they fit.
	d = mustDecode(t, Encode("<BC128>"+strings.Repeat("9", 40)+"</BC128>", Generic58()))
	if len(d.Barcodes) != 1 || d.Barcodes[0] != strings.Repeat("9", 40) {
		t.Errorf("40 digits: %q", d.Barcodes)
	}
}

// Code128 data takes the densest sets by boombuler/barcode's rule (the
// raster and the renderer use it): its width in modules is the library's,
// and it decodes back to the payload.
func TestCode128Sets(t *testing.T) {
	for _, tc := range []struct {
		payload, data string
	}{
		{"P20261202120000123456", "{BP{C\x14\x1a\x0c\x02\x0c\x00\x00\x0c\x22\x38"},
		{"1234", "{C\x0c\x22"},
		{"123", "{B123"},
		{"12345", "{C\x0c\x22{B5"},
		{"AB{12", "{BAB{{12"},
		{"D2024010200001", "{BD{C\x14\x18\x01\x02\x00\x00{B1"},
	} {
		data, symbols, ok := code128Data(tc.payload)
		if !ok || string(data) != tc.data {
			t.Errorf("%s: data %+q, want %+q", tc.payload, data, tc.data)
		}
		bc, err := code128.Encode(tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		if m := code128Modules(symbols); m != bc.Bounds().Dx() {
			t.Errorf("%s: %d modules, the library draws %d", tc.payload, m, bc.Bounds().Dx())
		}
		if s, msg := decode128(data); s != tc.payload || msg != "" {
			t.Errorf("%s: decodes as %q %s", tc.payload, s, msg)
		}
	}
	if _, _, ok := code128Data("订单"); ok {
		t.Error("non-ASCII taken")
	}
}

func TestReceipt(t *testing.T) {
	at := time.Date(2024, 1, 2, 7, 4, 5, 0, time.UTC) // 15:04:05 in Beijing
	for _, kind := range []string{KindPay, KindRefund, KindDeposit, KindConsume, KindUnfreeze} {
		for _, p := range []Profile{Generic58(), Generic80()} {
			r := Receipt{
				Kind: kind, Store: "老王小卖部<CUT>", Merchant: "杭州老王商贸有限公司", Device: "SN001", Staff: "张三",
				Desc:    "农夫山泉550ml×2 康师傅红烧牛肉面×1 双汇王中王火腿肠×3",
				OrderID: "D2024010200001", Wallet: "alipay", TransactionID: "2024010222001",
				Amount: 12850, Time: at, Reprint: kind == KindRefund,
			}
			b := Encode(r.Markup(p.Columns), p)
			d := mustDecode(t, b)
			text := strings.Join(d.Lines, "")
			title := kindText[kind].title
			for _, want := range []string{"老王小卖部＜CUT＞", title, "支付宝", "￥128.50", "D2024010200001",
				"2024010222001", "2024-01-02 15:04:05", "SN001", "张三", "杭州老王商贸有限公司", "农夫山泉550ml×2", "双汇王中王火腿肠×3"} {
				if !strings.Contains(text, want) {
					t.Errorf("%s/%s: no %q in\n%s", kind, p.Name, want, d.Text())
				}
			}
			if got := strings.Contains(text, "重打印"); got != r.Reprint {
				t.Errorf("%s: reprint marker %v, want %v", kind, got, r.Reprint)
			}
			var wantCodes []string
			if kind == KindDeposit {
				wantCodes = []string{"D2024010200001"}
			}
			if !slices.Equal(d.QR, wantCodes) || !slices.Equal(d.Barcodes, wantCodes) {
				t.Errorf("%s: QR %q barcodes %q, want %q", kind, d.QR, d.Barcodes, wantCodes)
			}
			if !d.Cut {
				t.Errorf("%s: not cut", kind)
			}
			if n := bytes.Count(b, []byte{0x1d, 'V'}); n != 1 {
				t.Errorf("%s: %d cuts", kind, n)
			}
			for _, blk := range d.Blocks {
				if w := Width(blk.Text); blk.Kind == TextLine && !blk.Large && w > p.Columns {
					t.Errorf("%s/%s: line %q is %d wide", kind, p.Name, blk.Text, w)
				}
			}
		}
	}
}

func TestWalletName(t *testing.T) {
	for code, want := range map[string]string{
		"wechat": "微信", "alipay": "支付宝", "unionpay": "云闪付", "bestpay": "翼支付",
		"ecny": "数字人民币", "WECHAT": "微信", "paypal": "其他", "": "其他",
	} {
		if got := WalletName(code); got != want {
			t.Errorf("WalletName(%q) = %q, want %q", code, got, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      []byte
		offset int
	}{
		{"unknown ESC", []byte{0x1b, '@', 'a', 0x1b, 't', 1}, 3},
		{"truncated ESC a", []byte{'x', 0x1b, 'a'}, 1},
		{"lone ESC", []byte{0x1b}, 0},
		{"control byte", []byte{'a', 0x0d}, 1},
		{"truncated QR store", []byte{0x1d, '(', 'k', 10, 0, 49, 80, 48}, 0},
		{"truncated GB18030", []byte{0x1c, '&', 0xd6}, 2},
		{"bad GB18030", []byte{0x1c, '&', 0xd6, 0x20}, 2},
		{"QR print without store", []byte{0x1d, '(', 'k', 3, 0, 49, 81, 48}, 0},
		{"barcode without code set", []byte{0x1d, 'k', 73, 2, 'a', 'b'}, 0},
		{"other barcode type", []byte{0x1d, 'k', 4, 'a', 0}, 0},
	} {
		_, err := Decode(tc.b)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: err %v, want DecodeError", tc.name, err)
			continue
		}
		if de.Offset != tc.offset {
			t.Errorf("%s: offset %d, want %d (%v)", tc.name, de.Offset, tc.offset, err)
		}
	}
}

func TestDecodeAcceptsStatusAndCodeSetC(t *testing.T) {
	b := []byte{0x1b, '@', 0x10, 0x04, 1, 0x1d, 'k', 73, 5, '{', 'C', 12, 3, 99, 'o', 'k', '\n'}
	d := mustDecode(t, b)
	if !slices.Equal(d.Barcodes, []string{"120399"}) || !slices.Equal(d.Lines, []string{"ok"}) {
		t.Errorf("got %+v", d)
	}
}

func TestSplitJobs(t *testing.T) {
	j1 := Encode("one<QR>\x1b@inside</QR>", Generic58())
	j2 := Encode("two", Generic58())
	status := []byte{0x10, 0x04, 1}
	stream := slices.Concat(status, j1, j2, j1)
	jobs := SplitJobs(stream)
	if len(jobs) != 4 {
		t.Fatalf("%d jobs, want 4", len(jobs))
	}
	for i, want := range [][]byte{status, j1, j2, j1} {
		if !bytes.Equal(jobs[i], want) {
			t.Errorf("job %d = % X, want % X", i, jobs[i], want)
		}
	}
	if got := mustDecode(t, jobs[1]).QR; !slices.Equal(got, []string{"\x1b@inside"}) {
		t.Errorf("QR %q", got)
	}
	if SplitJobs(nil) != nil {
		t.Error("jobs in empty stream")
	}
}

func TestDocText(t *testing.T) {
	d := mustDecode(t, Encode("<C>mid</C><BR><RIGHT>r</RIGHT><BR>left<QR>q</QR>", Generic58()))
	d.Columns = 11
	want := "    mid\n          r\nleft\n  [QR: q]\n-----------\n"
	if got := d.Text(); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
}

func TestDecodeStatus(t *testing.T) {
	for _, tc := range []struct {
		n, b byte
		want Status
	}{
		{1, 0x16, Status{}},
		{1, 0x1e, Status{Offline: true}},
		{2, 0x12, Status{}},
		{2, 0x16, Status{CoverOpen: true}},
		{2, 0x32, Status{PaperOut: true}},
		{4, 0x12, Status{}},
		{4, 0x1e, Status{}}, // near end only
		{4, 0x72, Status{PaperOut: true}},
		{3, 0xff, Status{}},
	} {
		if got := DecodeStatus(tc.n, tc.b); got != tc.want {
			t.Errorf("DecodeStatus(%d, %#x) = %+v, want %+v", tc.n, tc.b, got, tc.want)
		}
	}
	s := DecodeStatus(1, 0x1e).Merge(DecodeStatus(4, 0x72))
	if s.OK() || s.String() != "paper out, offline" {
		t.Errorf("merged %v", s)
	}
	if !(Status{}).OK() || (Status{}).String() != "ok" {
		t.Error("zero status not ok")
	}
}

func TestForPaper(t *testing.T) {
	for mm, cols := range map[int]int{58: 32, 80: 48, 0: 32, 76: 32} {
		if p := ForPaper(mm); p.Columns != cols || p.Dots != cols*12 {
			t.Errorf("ForPaper(%d) = %+v", mm, p)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		model    string
		paper    int
		cols     int
		qr, cut  bool
		wantFail bool
	}{
		{"", 58, 32, true, true, false},
		{"", 80, 48, true, true, false},
		{"generic-80", 58, 32, true, true, false},
		{"xprinter-xp58iih", 58, 32, false, false, false},
		{"xprinter-xp58iih", 80, 0, false, false, true},
		{"gprinter-gp5890x", 58, 32, true, false, false},
		{"epson-tm-t82iii", 80, 48, true, true, false},
		{"epson-tm-t82iii", 58, 32, true, true, false},
		{"nope", 58, 0, false, false, true},
		{"", 76, 0, false, false, true},
	} {
		p, err := Lookup(tc.model, tc.paper)
		if (err != nil) != tc.wantFail {
			t.Errorf("Lookup(%q, %d): %v", tc.model, tc.paper, err)
			continue
		}
		if err != nil {
			continue
		}
		if p.Columns != tc.cols || p.Dots != tc.cols*12 || p.NativeQR != tc.qr || p.Cutter != tc.cut || p.SpeedMM == 0 {
			t.Errorf("Lookup(%q, %d) = %+v", tc.model, tc.paper, p)
		}
	}
	if n := len(Models()); n < 5 {
		t.Errorf("%d models", n)
	}
}

func TestLogo(t *testing.T) {
	// A 800×200 picture: left half black, right half transparent.
	img := image.NewNRGBA(image.Rect(0, 0, 800, 200))
	for y := 0; y < 200; y++ {
		for x := 0; x < 400; x++ {
			img.Set(x, y, color.Black)
		}
	}
	b, err := LogoBitmap(img, 384)
	if err != nil {
		t.Fatal(err)
	}
	if b.W != 384 || b.H != 96 {
		t.Fatalf("logo %dx%d, want 384x96", b.W, b.H)
	}
	if !b.At(10, 10) || b.At(300, 10) {
		t.Error("black half not black or transparent half not white")
	}
	if _, err := LogoBitmap(image.NewNRGBA(image.Rect(0, 0, 0, 0)), 384); err == nil {
		t.Error("empty image accepted")
	}
	// <LOGO> prints it as strips that decode back to the same dots.
	d := mustDecode(t, EncodeWith("<LOGO>x", Generic58(), Options{Logo: b}))
	if len(d.Blocks) < 2 || d.Blocks[0].Kind != Raster {
		t.Fatalf("blocks %+v", d.Blocks)
	}
	got := d.Blocks[0].Image
	if got.H != b.H || !got.At(10, 10) || got.At(300, 10) {
		t.Errorf("logo came back %dx%d", got.W, got.H)
	}
	if d := mustDecode(t, Encode("<LOGO>x", Generic58())); d.Blocks[0].Kind != TextLine {
		t.Error("<LOGO> with no logo printed something")
	}
}

func TestDecodeRasterStrict(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      []byte
		offset int
	}{
		{"truncated raster header", []byte{0x1d, 'v', '0', 0, 1, 0}, 0},
		{"truncated raster data", []byte{'x', 0x1d, 'v', '0', 0, 2, 0, 2, 0, 0xff, 0xff, 0xff}, 1},
		{"raster mode out of range", []byte{0x1d, 'v', '0', 7, 1, 0, 1, 0, 0xff}, 0},
		{"GS v 1", []byte{0x1d, 'v', '1', 0, 1, 0, 1, 0, 0xff}, 0},
		{"truncated drawer kick", []byte{0x1b, 'p', 0}, 0},
	} {
		_, err := Decode(tc.b)
		var de *DecodeError
		if !errors.As(err, &de) || de.Offset != tc.offset {
			t.Errorf("%s: %v, want error at %d", tc.name, err, tc.offset)
		}
	}
	// CommandLen tells a cut-short command from a wrong one.
	if _, err := CommandLen([]byte{0x1d, 'v', '0', 0, 1}, false); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := CommandLen([]byte{0x1b, 't', 1}, false); err == nil || errors.Is(err, ErrTruncated) {
		t.Errorf("unknown: %v", err)
	}
	if n, err := CommandLen([]byte{0x1c, '&', 0xd6, 0xd0}, true); n != 2 || err != nil {
		t.Errorf("FS &: %d %v", n, err)
	}
	// A double-width raster decodes twice as wide.
	d := mustDecode(t, []byte{0x1d, 'v', '0', 1, 1, 0, 1, 0, 0x80})
	if img := d.Blocks[0].Image; img.W != 16 || !img.At(0, 0) || !img.At(1, 0) || img.At(2, 0) {
		t.Errorf("double width raster %+v", img)
	}
}

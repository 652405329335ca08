package render

import (
	"image"
	"image/draw"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/posagent/posagent/printer"
)

// crop returns the part of img in r with a white quiet zone around it,
// as a scanner sees a code on the paper.
func crop(img image.Image, r image.Rectangle) image.Image {
	const quiet = 40
	out := image.NewGray(image.Rect(0, 0, r.Dx()+2*quiet, r.Dy()+2*quiet))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(quiet, quiet, quiet+r.Dx(), quiet+r.Dy()), img, r.Min, draw.Src)
	return out
}

func scan(t *testing.T, img image.Image, reader gozxing.Reader) (string, error) {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := reader.Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// The deposit receipt's QR and Code128, drawn as each printer prints them
// (native commands or raster fallback), scan back to the order number.
func TestCodesScanBack(t *testing.T) {
	const order = "D2024010200001"
	r := printer.Receipt{Kind: printer.KindDeposit, Store: "老王小卖部", OrderID: order, Wallet: "wechat",
		Amount: 50000, Time: time.Date(2024, 1, 2, 7, 4, 5, 0, time.UTC)}
	noCodes := printer.Generic80()
	noCodes.Name, noCodes.NativeQR, noCodes.Code128 = "no-codes-80", false, false
	profiles := []printer.Profile{noCodes}
	for _, m := range printer.Models() {
		for _, paper := range []int{58, 80} {
			if p, err := printer.Lookup(m, paper); err == nil {
				profiles = append(profiles, p)
			}
		}
	}
	for _, p := range profiles {
		t.Run(p.Name+"-"+itoa(p.PaperMM), func(t *testing.T) {
			img, placed, err := Render(printer.Encode(r.Markup(p.Columns), p), p.Dots)
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds().Dx() != p.Dots {
				t.Fatalf("image %d dots wide, paper %d", img.Bounds().Dx(), p.Dots)
			}
			var qrs, bars int
			for _, pl := range placed {
				switch pl.Kind {
				case printer.QRCode:
					if got, err := scan(t, crop(img, pl.Rect), qrcode.NewQRCodeReader()); err != nil || got != order {
						t.Errorf("native QR scans as %q, %v", got, err)
					}
					qrs++
				case printer.Barcode:
					if got, err := scan(t, crop(img, pl.Rect), oned.NewCode128Reader()); err != nil || got != order {
						t.Errorf("native Code128 scans as %q, %v", got, err)
					}
					bars++
				case printer.Raster:
					c := crop(img, pl.Rect)
					if got, err := scan(t, c, qrcode.NewQRCodeReader()); err == nil {
						if got != order {
							t.Errorf("raster QR scans as %q", got)
						}
						qrs++
					} else if got, err := scan(t, c, oned.NewCode128Reader()); err == nil {
						if got != order {
							t.Errorf("raster Code128 scans as %q", got)
						}
						bars++
					} else {
						t.Errorf("raster image %v scans as neither QR nor Code128", pl.Rect)
					}
				}
			}
			if qrs != 1 || bars != 1 {
				t.Errorf("%d QR and %d Code128 scanned, want 1 each", qrs, bars)
			}
		})
	}
}

func TestTextAndFont(t *testing.T) {
	if n := Glyphs(); n < 20000 {
		t.Fatalf("font has %d glyphs", n)
	}
	if m := Missing("收款凭证￥128.50 老王小卖部，（）"); len(m) != 0 {
		t.Fatalf("font lacks %q", string(m))
	}
	job := printer.Encode("<C>中</C><BR><RIGHT>a</RIGHT><BR><L>大</L>", printer.Generic58())
	img, placed, err := Render(job, 384)
	if err != nil {
		t.Fatal(err)
	}
	var lines []Placed
	for _, p := range placed {
		if p.Kind == printer.TextLine {
			lines = append(lines, p)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d text lines", len(lines))
	}
	// Centred Hanzi: 24 dots in the middle; right-aligned ASCII: 12 at the end;
	// large Hanzi: 48×48.
	if r := lines[0].Rect; r.Min.X != (384-24)/2 || r.Dx() != 24 {
		t.Errorf("centred 中 at %v", r)
	}
	if r := lines[1].Rect; r.Max.X != 384 || r.Dx() != 12 {
		t.Errorf("right a at %v", r)
	}
	if r := lines[2].Rect; r.Dx() != 48 || r.Dy() != 48 {
		t.Errorf("large 大 at %v", r)
	}
	// Ink where the glyphs are, none in an empty column.
	ink := func(r image.Rectangle) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if img.ColorIndexAt(x, y) == 1 {
					n++
				}
			}
		}
		return n
	}
	for i, l := range lines {
		if ink(l.Rect) == 0 {
			t.Errorf("line %d has no ink", i)
		}
	}
	if n := ink(image.Rect(0, lines[0].Rect.Min.Y, 100, lines[0].Rect.Max.Y)); n != 0 {
		t.Errorf("%d dots left of a centred character", n)
	}
}

func TestRenderReportsUndecodable(t *testing.T) {
	job := append(printer.Encode("ok", printer.Generic58()), 0x1b, 't')
	img, _, err := Render(job, 384)
	if err == nil || img == nil || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("err %v", err)
	}
}

// FuzzRender: captured bytes from anywhere never panic the renderer.
func FuzzRender(f *testing.F) {
	f.Add(printer.Encode("<CB>店</CB><QR>q</QR><BC128>b</BC128><LOGO>", printer.Generic58()))
	f.Add([]byte{0x1d, 'v', '0', 3, 1, 0, 2, 0, 0xff, 0x0f})
	f.Add([]byte{0x1d, 'w', 0, 0x1d, 'h', 0, 0x1d, 'k', 73, 3, '{', 'B', 'x'})
	f.Add([]byte{0x1d, '(', 'k', 3, 0, 49, 67, 0, 0x1d, '(', 'k', 4, 0, 49, 80, 48, 'a', 0x1d, '(', 'k', 3, 0, 49, 81, 48})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		img, _, _ := Render(b, 384)
		if img == nil || img.Bounds().Dx() != 384 {
			t.Fatal("no image")
		}
	})
}

func itoa(n int) string {
	if n == 80 {
		return "80"
	}
	return "58"
}

// The rendered barcode is as wide as the one the printer prints from the
// same bytes (GS w modules × the modules of the GS k data), whether sent
// as the printer's command or as a raster; it keeps its quiet zone on the
// paper, and white space separates it from the QR under it.
func TestBarcodeDrawnAsPrinted(t *testing.T) {
	const order = "P20261202120000123456" // as NewOutTradeNo makes them
	r := printer.Receipt{Kind: printer.KindDeposit, Store: "如家酒店", OrderID: order, Wallet: "wechat", Amount: 50000, Time: time.Now()}
	for _, paper := range []int{58, 80} {
		native := printer.ForPaper(paper)
		raster := native
		raster.Code128, raster.NativeQR = false, false
		job := printer.Encode(r.Markup(native.Columns), native)
		i := strings.Index(string(job), "\x1dk\x49")
		if i < 0 {
			t.Fatalf("%d mm: no GS k 73 in the job", paper)
		}
		w := strings.LastIndex(string(job[:i]), "\x1dw")
		if w < 0 {
			t.Fatalf("%d mm: no GS w before the barcode", paper)
		}
		module := int(job[w+2])
		data := job[i+4 : i+4+int(job[i+3])]
		want := printer.Code128DataModules(data) * module
		if paper == 58 && module != 2 {
			t.Errorf("58 mm: %d-dot modules, want 2 (set C for the digits)", module)
		}
		for _, p := range []printer.Profile{native, raster} {
			img, placed, err := Render(printer.Encode(r.Markup(p.Columns), p), p.Dots)
			if err != nil {
				t.Fatal(err)
			}
			var bar, qr image.Rectangle
			for _, pl := range placed {
				c := crop(img, pl.Rect)
				if got, err := scan(t, c, oned.NewCode128Reader()); err == nil && got == order && (pl.Kind == printer.Barcode || pl.Kind == printer.Raster) {
					bar = pl.Rect
				} else if got, err := scan(t, c, qrcode.NewQRCodeReader()); err == nil && got == order {
					qr = pl.Rect
				}
			}
			if bar.Empty() || qr.Empty() {
				t.Fatalf("%s %d mm: barcode %v, QR %v", p.Name, paper, bar, qr)
			}
			y := bar.Min.Y + 10
			left, right := -1, -1
			for x := 0; x < p.Dots; x++ {
				if img.ColorIndexAt(x, y) == 1 {
					if left < 0 {
						left = x
					}
					right = x
				}
			}
			if got := right - left + 1; got != want {
				t.Errorf("%s %d mm (code128 %v): drawn %d dots wide, printed %d", p.Name, paper, p.Code128, got, want)
			}
			if quiet := 10 * module; left < quiet || p.Dots-1-right < quiet {
				t.Errorf("%s %d mm: quiet zone %d / %d dots, want ≥ %d", p.Name, paper, left, p.Dots-1-right, quiet)
			}
			gap := 0
			for y := qr.Min.Y - 1; y > bar.Min.Y && blankRow(img, y); y-- {
				gap++
			}
			if gap < 16 {
				t.Errorf("%s %d mm: %d white rows between the barcode's text and the QR", p.Name, paper, gap)
			}
		}
	}
}

func blankRow(img *image.Paletted, y int) bool {
	for x := 0; x < img.Bounds().Dx(); x++ {
		if img.ColorIndexAt(x, y) == 1 {
			return false
		}
	}
	return true
}

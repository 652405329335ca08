package printer

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"github.com/boombuler/barcode/code128"
	qrcode "github.com/skip2/go-qrcode"
)

// Bitmap is a 1-bit image as printers take it: rows of (W+7)/8 bytes, the
// most significant bit leftmost, 1 for a black dot.
type Bitmap struct {
	W, H int
	Bits []byte
}

// NewBitmap returns a white w×h bitmap.
func NewBitmap(w, h int) *Bitmap {
	return &Bitmap{W: w, H: h, Bits: make([]byte, (w+7)/8*h)}
}

// Stride is the number of bytes in a row.
func (b *Bitmap) Stride() int { return (b.W + 7) / 8 }

// Set blackens the dot at (x, y); dots outside the bitmap are ignored.
func (b *Bitmap) Set(x, y int) {
	if x < 0 || y < 0 || x >= b.W || y >= b.H {
		return
	}
	b.Bits[y*b.Stride()+x/8] |= 0x80 >> (x % 8)
}

// At reports whether the dot at (x, y) is black.
func (b *Bitmap) At(x, y int) bool {
	if x < 0 || y < 0 || x >= b.W || y >= b.H {
		return false
	}
	return b.Bits[y*b.Stride()+x/8]&(0x80>>(x%8)) != 0
}

// fill blackens the w×h rectangle at (x, y).
func (b *Bitmap) fill(x, y, w, h int) {
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			b.Set(i, j)
		}
	}
}

// Logo limits: a logo taller than this wastes paper and time on the wire.
const (
	MaxLogoHeight = 240 // dots, 30 mm at 203 dpi
)

// LogoBitmap turns a picture into a logo for paper dots wide: scaled down
// (never up) to fit the paper and MaxLogoHeight, then thresholded at half
// brightness, transparent parts white. Errors only for an empty image.
func LogoBitmap(img image.Image, dots int) (*Bitmap, error) {
	r := img.Bounds()
	if r.Dx() <= 0 || r.Dy() <= 0 {
		return nil, errors.New("logo: empty image")
	}
	if dots <= 0 {
		dots = Generic58().Dots
	}
	// Scale factor as a fraction num/den ≤ 1.
	num, den := 1, 1
	if r.Dx() > dots || r.Dy() > MaxLogoHeight {
		if r.Dx()*MaxLogoHeight > r.Dy()*dots {
			num, den = dots, r.Dx()
		} else {
			num, den = MaxLogoHeight, r.Dy()
		}
	}
	w, h := max(r.Dx()*num/den, 1), max(r.Dy()*num/den, 1)
	b := NewBitmap(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Box filter: average the source pixels this dot covers.
			x0, x1 := r.Min.X+x*den/num, r.Min.X+(x+1)*den/num
			y0, y1 := r.Min.Y+y*den/num, r.Min.Y+(y+1)*den/num
			x1, y1 = max(x1, x0+1), max(y1, y0+1)
			var sum, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					sum += luma(img.At(sx, sy))
					n++
				}
			}
			if sum/n < 0x8000 {
				b.Set(x, y)
			}
		}
	}
	return b, nil
}

// luma is the brightness of c over white paper, 0 (black) to 0xffff.
func luma(c color.Color) uint64 {
	r, g, b, a := c.RGBA()
	// Composite over white: transparent is paper.
	white := 0xffff - a
	r, g, b = r+white, g+white, b+white
	return (299*uint64(r) + 587*uint64(g) + 114*uint64(b)) / 1000
}

// qrBitmap draws payload as a QR code (level M, no quiet zone: the paper
// around it is one) with the given module size in dots.
func qrBitmap(payload string, module int) (*Bitmap, error) {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	q.DisableBorder = true
	m := q.Bitmap()
	n := len(m)
	b := NewBitmap(n*module, n*module)
	for y, row := range m {
		for x, black := range row {
			if black {
				b.fill(x*module, y*module, module, module)
			}
		}
	}
	return b, nil
}

// qrModules is the side of payload's QR code in modules (level M), as
// qrBitmap draws it, or 0 if no QR version holds it.
func qrModules(payload string) int {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return 0
	}
	q.DisableBorder = true
	return len(q.Bitmap())
}

// code128Bitmap draws payload as Code128 with bars w dots per module and h
// dots tall.
func code128Bitmap(payload string, w, h int) (*Bitmap, error) {
	bc, err := code128.Encode(payload)
	if err != nil {
		return nil, fmt.Errorf("code128 %q: %w", payload, err)
	}
	n := bc.Bounds().Dx()
	b := NewBitmap(n*w, h)
	for x := 0; x < n; x++ {
		if c, _, _, _ := bc.At(x, 0).RGBA(); c == 0 {
			b.fill(x*w, 0, w, h)
		}
	}
	return b, nil
}

// centred returns b shifted right so it sits in the middle of a line dots
// wide. Images are centred with white space instead of ESC a because not
// every clone applies ESC a to GS v 0.
func centred(b *Bitmap, dots int) *Bitmap {
	off := (dots - b.W) / 2
	if off <= 0 {
		return b
	}
	out := NewBitmap(off+b.W, b.H)
	for y := 0; y < b.H; y++ {
		for x := 0; x < b.W; x++ {
			if b.At(x, y) {
				out.Set(off+x, y)
			}
		}
	}
	return out
}

// appendRaster appends b as GS v 0 commands of at most maxBytes data each
// (whole rows, at least one), so no single command outgrows the printer's
// receive buffer.
func appendRaster(out []byte, b *Bitmap, maxBytes int) []byte {
	stride := b.Stride()
	if stride == 0 || b.H == 0 {
		return out
	}
	rows := max(min(maxBytes/stride, 0xffff), 1)
	for y := 0; y < b.H; y += rows {
		n := min(rows, b.H-y)
		out = append(out, gs, 'v', '0', 0, byte(stride), byte(stride>>8), byte(n), byte(n>>8))
		out = append(out, b.Bits[y*stride:(y+n)*stride]...)
	}
	return out
}

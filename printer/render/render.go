// Package render draws captured ESC/POS as the paper would look: a
// black-and-white image at the printer's dot width (203 dpi), with Chinese
// text, QR codes, Code128 barcodes and raster images, for people to look at
// (posctl render, the dev kit) and for tests that scan the codes back.
//
// Text uses an embedded subset of GNU Unifont (ASCII and GBK, 8×16 and
// 16×16 dots) scaled 1.5× to the printer's 12×24 and 24×24 fonts, so the
// renderer needs no font on the machine it runs on (see OFL.txt).
// It lives apart from package printer so that the agent's binary does not
// carry the font.
//
// Invariants:
//   - it draws what printer.Decode reads and nothing else: a job that does
//     not decode is drawn up to the error, which Render returns;
//   - the image is exactly dots wide (58 mm's when dots is 0 or less), in
//     two colours, paper and dot;
//   - Draw places every decoded block, in order, and says where (Placed);
//   - a character the font lacks is drawn as a box, never left out, and
//     Missing names such characters.
package render

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"image"
	"image/color"
	"io"
	"sort"
	"sync"

	"github.com/boombuler/barcode/code128"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/printer"
)

//go:embed glyphs.bin.gz
var glyphData []byte

type glyph struct {
	w    int // 8 or 16 dots
	bits []byte
}

var font = sync.OnceValue(func() map[rune]glyph {
	m := map[rune]glyph{}
	zr, err := gzip.NewReader(bytes.NewReader(glyphData))
	if err != nil {
		return m
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return m
	}
	for len(data) >= 3 {
		r, w := rune(binary.BigEndian.Uint16(data)), int(data[2])
		n := 16 * w / 8
		if len(data) < 3+n {
			break
		}
		m[r] = glyph{w: w, bits: data[3 : 3+n]}
		data = data[3+n:]
	}
	return m
})

// Layout constants at 203 dpi, as an Epson-style printer prints by default.
const (
	lineSpacing = 30 // dots per text line (ESC 2 default)
	charH       = 24 // font height; a Hanzi is 24×24, ASCII 12×24
	margin      = 8  // white above and below the receipt
	cutGap      = 24 // dashed cut line with space around it
)

// Palette of the image: paper and dot.
var palette = color.Palette{color.White, color.Black}

// Placed is a block of the receipt and where it was drawn.
type Placed struct {
	printer.Block
	Rect image.Rectangle
}

// Render draws the ESC/POS job b on paper dots wide (384 for 58 mm, 576
// for 80 mm). What does not decode (Decode is strict) is reported as the
// error, with the image of everything before it.
func Render(b []byte, dots int) (*image.Paletted, []Placed, error) {
	doc, err := printer.Decode(b)
	img, placed := Draw(doc, dots)
	return img, placed, err
}

// Draw lays out a decoded job on paper dots wide.
func Draw(doc printer.Doc, dots int) (*image.Paletted, []Placed) {
	if dots <= 0 {
		dots = printer.Generic58().Dots
	}
	// First pass: sizes; second: drawing.
	type item struct {
		blk  printer.Block
		img  *printer.Bitmap // codes and images as dots
		h    int
		hri  string
		cols int
	}
	var items []item
	height := 2 * margin
	for _, blk := range doc.Blocks {
		it := item{blk: blk}
		switch blk.Kind {
		case printer.TextLine:
			it.h = lineSpacing
			if blk.Large {
				it.h = 2*charH + lineSpacing - charH
			}
		case printer.QRCode:
			it.img = qrDots(blk.Text, min(max(blk.Module, 1), 16)) // printers allow 1-16
		case printer.Barcode:
			it.img = barDots(blk.Text, min(max(blk.BarWidth, 1), 6), max(blk.BarHeight, 1)) // GS w: 1-6
			if blk.HRI&2 != 0 {
				it.hri = blk.Text
			}
		case printer.Raster:
			it.img = blk.Image
		case printer.Feed:
			it.h = blk.Lines * lineSpacing
		case printer.CutMark:
			it.h = cutGap
		}
		if it.img != nil {
			it.h = it.img.H
			if it.hri != "" {
				it.h += lineSpacing
			}
		}
		height += it.h
		items = append(items, it)
	}
	img := image.NewPaletted(image.Rect(0, 0, dots, height), palette)
	var placed []Placed
	y := margin
	for _, it := range items {
		r := image.Rect(0, y, dots, y+it.h)
		switch it.blk.Kind {
		case printer.TextLine:
			r = drawLine(img, it.blk, y, dots)
		case printer.CutMark:
			for x := 0; x < dots; x += 8 {
				for i := 0; i < 4 && x+i < dots; i++ {
					img.SetColorIndex(x+i, y+cutGap/2, 1)
				}
			}
		}
		if it.img != nil {
			x := offset(it.blk.Align, it.img.W, dots)
			for j := 0; j < it.img.H; j++ {
				for i := 0; i < it.img.W; i++ {
					if it.img.At(i, j) {
						img.SetColorIndex(x+i, y+j, 1)
					}
				}
			}
			r = image.Rect(x, y, x+it.img.W, y+it.img.H)
			if it.hri != "" {
				drawLine(img, printer.Block{Kind: printer.TextLine, Align: it.blk.Align,
					Runs: []printer.Run{{Text: it.hri}}}, y+it.img.H+(lineSpacing-charH)/2, dots)
			}
		}
		placed = append(placed, Placed{Block: it.blk, Rect: r})
		y += it.h
	}
	return img, placed
}

// offset is where a thing w dots wide starts on the line.
func offset(align, w, dots int) int {
	switch align {
	case printer.AlignCenter:
		return max((dots-w)/2, 0)
	case printer.AlignRight:
		return max(dots-w, 0)
	}
	return 0
}

// drawLine draws a text line at y and returns where its text is.
func drawLine(img *image.Paletted, blk printer.Block, y, dots int) image.Rectangle {
	runs := blk.Runs
	if runs == nil && blk.Text != "" {
		runs = []printer.Run{{Text: blk.Text, Bold: blk.Bold, Large: blk.Large}}
	}
	w := 0
	for _, run := range runs {
		for _, r := range run.Text {
			w += cellW(r, run.Large)
		}
	}
	x := offset(blk.Align, w, dots)
	start := x
	base := y
	if blk.Large {
		base = y // large glyphs fill 48 dots from the top of the line
	}
	for _, run := range runs {
		for _, r := range run.Text {
			cw := cellW(r, run.Large)
			scale := 3 // in halves: 1.5×
			if run.Large {
				scale = 6
			}
			top := base
			if blk.Large && !run.Large {
				top = base + charH // small text on a large line sits on its baseline
			}
			drawGlyph(img, r, x, top, cw, scale, run.Bold)
			x += cw
		}
	}
	h := charH
	if blk.Large {
		h = 2 * charH
	}
	return image.Rect(start, y, x, y+h)
}

// cellW is the width in dots of r: 12 for ASCII, 24 for a Hanzi, doubled
// for large text.
func cellW(r rune, large bool) int {
	w := 12 * printer.RuneWidth(r)
	if large {
		w *= 2
	}
	return w
}

// drawGlyph draws r in a cell cw dots wide at (x, y), scaled scale/2 from
// Unifont's 16-dot height; bold is drawn twice, a dot apart, as printers
// do. A character the font lacks is drawn as a box.
func drawGlyph(img *image.Paletted, r rune, x, y, cw, scale int, bold bool) {
	g, ok := font()[r]
	h := 16 * scale / 2
	if !ok {
		for i := 1; i < cw-1; i++ {
			img.SetColorIndex(x+i, y+2, 1)
			img.SetColorIndex(x+i, y+h-2, 1)
		}
		for j := 2; j <= h-2; j++ {
			img.SetColorIndex(x+1, y+j, 1)
			img.SetColorIndex(x+cw-2, y+j, 1)
		}
		return
	}
	gw := g.w * scale / 2
	ox := x + (cw-gw)/2
	stride := g.w / 8
	for j := 0; j < h; j++ {
		sy := j * 2 / scale
		for i := 0; i < gw; i++ {
			sx := i * 2 / scale
			if g.bits[sy*stride+sx/8]&(0x80>>(sx%8)) != 0 {
				img.SetColorIndex(ox+i, y+j, 1)
				if bold {
					img.SetColorIndex(ox+i+1, y+j, 1)
				}
			}
		}
	}
}

// qrDots draws payload as the printer's GS ( k QR (model 2, level M) with
// module dots per module and no quiet zone (the paper is one).
func qrDots(payload string, module int) *printer.Bitmap {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return printer.NewBitmap(0, 0)
	}
	q.DisableBorder = true
	m := q.Bitmap()
	b := printer.NewBitmap(len(m)*module, len(m)*module)
	for y, row := range m {
		for x, black := range row {
			if black {
				for j := 0; j < module; j++ {
					for i := 0; i < module; i++ {
						b.Set(x*module+i, y*module+j)
					}
				}
			}
		}
	}
	return b
}

// barDots draws payload as Code128 with modules w dots wide, h tall.
func barDots(payload string, w, h int) *printer.Bitmap {
	bc, err := code128.Encode(payload)
	if err != nil {
		return printer.NewBitmap(0, 0)
	}
	n := bc.Bounds().Dx()
	b := printer.NewBitmap(n*w, h)
	for x := 0; x < n; x++ {
		if c, _, _, _ := bc.At(x, 0).RGBA(); c == 0 {
			for j := 0; j < h; j++ {
				for i := 0; i < w; i++ {
					b.Set(x*w+i, j)
				}
			}
		}
	}
	return b
}

// Glyphs is the number of characters the embedded font has.
func Glyphs() int { return len(font()) }

// Missing lists the characters of s the embedded font lacks, sorted.
func Missing(s string) []rune {
	seen := map[rune]bool{}
	for _, r := range s {
		if _, ok := font()[r]; !ok && r >= 0x20 {
			seen[r] = true
		}
	}
	var out []rune
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

package printer

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Encode renders print markup (wire contract §6) as one ESC/POS job for p.
//
// The job starts with ESC @ and FS & (Chinese mode) so it does not depend on
// what an earlier job left behind, and sends text in GB18030. Text is
// wrapped at p.Columns: a Hanzi takes two columns, <L>/<CB> text twice its
// width; lines break at spaces or next to a Hanzi, never inside a character,
// and not before closing punctuation such as "，" or "）".
//
// Markup is forgiving because it comes from outside: unknown tags print as
// text, stray or missing closing tags are ignored, and no input panics.
// Alignment is a property of a whole line (ESC a only acts at the start of
// a line), taken from the tags open at the line's first character.
//
// Style bytes are sent only when the style changes. A job that does not end
// with <CUT> gets a feed and, if p.Cutter, a partial cut.
//
// QR codes and Code128 are sent as the printer's own commands when the
// profile has them, else drawn here and sent as raster images (GS v 0);
// <LOGO> prints nothing: EncodeWith takes the logo.
func Encode(doc string, p Profile) []byte {
	return EncodeWith(doc, p, Options{})
}

// Options are what a job may need beyond the markup and the printer.
type Options struct {
	// Logo is what <LOGO> prints, centred; nil prints nothing. Make it
	// with LogoBitmap for the profile's Dots.
	Logo *Bitmap
}

// EncodeWith is Encode with options.
func EncodeWith(doc string, p Profile, o Options) []byte {
	e := &encoder{
		p:     p,
		opt:   o,
		cols:  p.columns(),
		gb:    simplifiedchinese.GB18030.NewEncoder(),
		gbDec: simplifiedchinese.GB18030.NewDecoder(),
		out:   make([]byte, 0, len(doc)*2+64),
	}
	e.out = append(e.out, esc, '@', fs, '&')
	e.run(doc)
	e.flushPending()
	if e.dirty {
		e.cut()
	}
	return e.out
}

// cell is one character on the current line, already encoded.
type cell struct {
	r     rune
	enc   []byte
	w     int // columns, doubled for large text
	bold  bool
	large bool
}

type alignTag struct {
	tag   string
	align byte
}

type encoder struct {
	p     Profile
	opt   Options
	cols  int
	gb    *encoding.Encoder
	gbDec *encoding.Decoder
	out   []byte

	// Markup state: which tags are open.
	aligns      []alignTag
	bold, large int

	// Printer state: what the bytes sent so far have set.
	pAlign   byte
	pBold    bool
	pLarge   bool
	pBarcode int // module width last set with GS w (0: none yet)

	// The line being built.
	line      []cell
	lineW     int
	lineAlign byte
	cont      bool // the line continues a wrapped one: drop leading spaces

	dirty bool // something was printed since the last cut

	// closes caches where the last </QR> and </BC128> are, so that a doc
	// full of unclosed <QR> is not searched to its end at every one.
	closes map[string]int
}

// lastClose returns the index of the last closeTag in doc, or -1.
func (e *encoder) lastClose(doc, closeTag string) int {
	if j, ok := e.closes[closeTag]; ok {
		return j
	}
	if e.closes == nil {
		e.closes = make(map[string]int, 2)
	}
	j := lastIndexFold(doc, closeTag)
	e.closes[closeTag] = j
	return j
}

func (e *encoder) run(doc string) {
	for i := 0; i < len(doc); {
		if doc[i] == '<' {
			if n, ok := e.tag(doc, i); ok {
				i += n
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(doc[i:])
		switch {
		case r == '\r':
			if i+1 < len(doc) && doc[i+1] == '\n' {
				size++
			}
			e.newline()
		case r == '\n':
			e.newline()
		case r == '\t':
			e.add(' ', e.bold > 0, e.large > 0)
		default:
			e.add(r, e.bold > 0, e.large > 0)
		}
		i += size
	}
}

// tag handles the markup tag at doc[i] ('<') and reports how many bytes it
// consumed; ok is false when the text there is not a known tag.
func (e *encoder) tag(doc string, i int) (n int, ok bool) {
	end := strings.IndexByte(doc[i:], '>')
	if end < 2 || end > len("</BC128") {
		return 0, false
	}
	name := strings.ToUpper(doc[i+1 : i+end])
	n = end + 1
	closing := strings.HasPrefix(name, "/")
	name = strings.TrimPrefix(name, "/")
	switch name {
	case "BR", "CUT", "LOGO":
		if closing {
			return 0, false
		}
	case "C", "CB", "RIGHT", "B", "L":
	case "QR", "BC128":
		if closing {
			return n, true // a close with no open: ignore it
		}
		closeTag := "</" + name + ">"
		j := -1
		if e.lastClose(doc, closeTag) > i {
			j = indexFold(doc[i+n:], closeTag)
		}
		if j < 0 {
			return 0, false // no payload end: print the tag as text
		}
		payload := doc[i+n : i+n+j]
		if name == "QR" {
			e.qr(payload)
		} else {
			e.barcode(payload)
		}
		return n + j + len(closeTag), true
	default:
		return 0, false
	}
	switch {
	case name == "BR":
		e.newline()
	case name == "CUT":
		e.flushPending()
		if e.dirty {
			e.cut()
		}
	case name == "LOGO":
		if e.opt.Logo != nil && e.opt.Logo.W <= e.p.dots() {
			e.image(e.opt.Logo)
		}
	case name == "B":
		e.bold = count(e.bold, closing)
	case name == "L":
		e.large = count(e.large, closing)
	case name == "CB":
		e.large = count(e.large, closing)
		e.alignTag(name, AlignCenter, closing)
	case name == "C":
		e.alignTag(name, AlignCenter, closing)
	case name == "RIGHT":
		e.alignTag(name, AlignRight, closing)
	}
	return n, true
}

// count opens or closes one level of a style; a close with nothing open is
// ignored rather than going negative.
func count(n int, closing bool) int {
	if closing {
		return max(n-1, 0)
	}
	return n + 1
}

// alignTag opens an alignment, or closes the innermost open one with the
// same tag name, so that "<C><RIGHT>x</C>y" leaves RIGHT in force.
func (e *encoder) alignTag(name string, a byte, closing bool) {
	if !closing {
		e.aligns = append(e.aligns, alignTag{name, a})
		return
	}
	for k := len(e.aligns) - 1; k >= 0; k-- {
		if e.aligns[k].tag == name {
			e.aligns = append(e.aligns[:k], e.aligns[k+1:]...)
			return
		}
	}
}

func (e *encoder) align() byte {
	if len(e.aligns) == 0 {
		return AlignLeft
	}
	return e.aligns[len(e.aligns)-1].align
}

// indexFold is strings.Index ignoring ASCII case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// lastIndexFold is strings.LastIndex ignoring ASCII case.
func lastIndexFold(s, sub string) int {
	for i := len(s) - len(sub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// add puts one character on the current line, wrapping when it overflows.
func (e *encoder) add(r rune, bold, large bool) {
	var enc []byte
	switch {
	case r == utf8.RuneError:
		// Invalid UTF-8 (or U+FFFD itself): nothing sensible to print.
		r, enc = '?', []byte{'?'}
	case r < 0x20 || r == 0x7f:
		return
	case r < 0x80:
		enc = []byte{byte(r)}
	default:
		if r == '¥' {
			// ¥ is a 4-byte GB18030 code most printer fonts lack; the
			// fullwidth yuan sign is in GB2312 and in every font.
			r = '￥'
		}
		enc = e.gbRune(r)
		if enc == nil {
			r, enc = '?', []byte{'?'}
		}
	}
	if len(e.line) == 0 {
		if r == ' ' && e.cont {
			return
		}
		e.lineAlign = e.align()
	}
	w := RuneWidth(r)
	if large {
		w *= 2
	}
	e.line = append(e.line, cell{r: r, enc: enc, w: w, bold: bold, large: large})
	e.lineW += w
	for e.lineW > e.cols && len(e.line) > 1 {
		k := e.breakAt()
		e.emitLine(trimCells(e.line[:k], false))
		rest := trimCells(e.line[k:], true)
		e.line = append(e.line[:0:0], rest...)
		e.lineW = cellsWidth(e.line)
		e.cont = true
	}
}

// gbRune encodes r in GB18030, or returns nil when it cannot be printed:
// GB18030 has no code for it, or the code does not decode back to r (some
// Private Use Area points map to other PUA points, and no printer font has
// glyphs for them anyway).
func (e *encoder) gbRune(r rune) []byte {
	var src [utf8.UTFMax]byte
	var enc, back [8]byte
	n := utf8.EncodeRune(src[:], r)
	e.gb.Reset()
	m, _, err := e.gb.Transform(enc[:], src[:n], true)
	if err != nil || m == 0 {
		return nil
	}
	e.gbDec.Reset()
	k, _, err := e.gbDec.Transform(back[:], enc[:m], true)
	if err != nil || string(back[:k]) != string(src[:n]) {
		return nil
	}
	return append([]byte(nil), enc[:m]...)
}

// breakAt picks where to wrap the overflowing current line: the last
// allowed break whose head fits, else the longest head that fits (a word
// longer than the line), else one character.
func (e *encoder) breakAt() int {
	n := len(e.line)
	for k := n - 1; k >= 1; k-- {
		if canBreak(e.line[k-1].r, e.line[k].r) && cellsWidth(trimCells(e.line[:k], false)) <= e.cols {
			return k
		}
	}
	for k := n - 1; k >= 1; k-- {
		if cellsWidth(e.line[:k]) <= e.cols {
			return k
		}
	}
	return 1
}

// canBreak reports whether a line may break between a and b: at spaces, and
// next to CJK characters except before closing or after opening punctuation.
func canBreak(a, b rune) bool {
	if a == ' ' || b == ' ' {
		return true
	}
	if strings.ContainsRune(noBreakBefore, b) || strings.ContainsRune(noBreakAfter, a) {
		return false
	}
	return RuneWidth(a) == 2 || RuneWidth(b) == 2
}

const (
	noBreakBefore = "，。、；：！？）」』】》〉…—～·％,.;:!?)]}%"
	noBreakAfter  = "（「『【《〈([{￥$"
)

func trimCells(c []cell, left bool) []cell {
	if left {
		for len(c) > 0 && c[0].r == ' ' {
			c = c[1:]
		}
		return c
	}
	for len(c) > 0 && c[len(c)-1].r == ' ' {
		c = c[:len(c)-1]
	}
	return c
}

func cellsWidth(c []cell) int {
	n := 0
	for _, x := range c {
		n += x.w
	}
	return n
}

// newline ends the current line (an empty one prints as a blank line).
func (e *encoder) newline() {
	e.emitLine(e.line)
	e.line = e.line[:0]
	e.lineW = 0
	e.cont = false
}

// flushPending prints a started line before a block (QR, barcode, cut)
// that cannot share it.
func (e *encoder) flushPending() {
	if len(e.line) > 0 {
		e.newline()
	}
}

func (e *encoder) emitLine(c []cell) {
	c = trimCells(c, false)
	if len(c) > 0 {
		e.setAlign(e.lineAlign)
	}
	for _, x := range c {
		e.setStyle(x.bold, x.large)
		e.out = append(e.out, x.enc...)
	}
	e.out = append(e.out, lf)
	e.dirty = true
}

func (e *encoder) setAlign(a byte) {
	if e.pAlign != a {
		e.out = append(e.out, esc, 'a', a)
		e.pAlign = a
	}
}

func (e *encoder) setStyle(bold, large bool) {
	if e.pBold != bold {
		e.out = append(e.out, esc, 'E', b2u(bold))
		e.pBold = bold
	}
	if e.pLarge != large {
		var n byte
		if large {
			n = 0x11 // double width and double height
		}
		e.out = append(e.out, gs, '!', n)
		e.pLarge = large
	}
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// cut ends a receipt: a few lines of feed so the last line clears the tear
// bar or cutter, then a partial cut when the printer has a cutter.
func (e *encoder) cut() {
	e.out = append(e.out, esc, 'd', endFeedLines)
	if e.p.Cutter {
		e.out = append(e.out, gs, 'V', 66, partialCutFeed)
	}
	e.dirty = false
}

// qr prints payload as a centred native QR code (model 2, level M), sized
// to the paper; it falls back to text when the printer has no QR support
// or no QR version can hold the payload.
func (e *encoder) qr(payload string) {
	if payload == "" {
		return
	}
	version := 0
	for v, c := range qrCapacityM {
		if len(payload) <= c {
			version = v + 1
			break
		}
	}
	module := 0
	if version > 0 {
		module = min(e.p.dots()*3/4/(17+4*version), qrMaxModule)
	}
	if module < 1 {
		e.textBlock(payload)
		return
	}
	if !e.p.NativeQR {
		// Sized from the symbol actually drawn (its version may be
		// smaller than the byte-mode bound above).
		n := qrModules(payload)
		if n == 0 {
			e.textBlock(payload)
			return
		}
		m := min(e.p.dots()*3/4/n, qrMaxModule)
		bm, err := qrBitmap(payload, max(m, 1))
		if err != nil || m < 1 {
			e.textBlock(payload)
			return
		}
		e.image(bm)
		return
	}
	e.flushPending()
	e.setAlign(AlignCenter)
	n := len(payload) + 3
	e.out = append(e.out,
		gs, '(', 'k', 4, 0, 49, 65, 50, 0, // fn 165: model 2
		gs, '(', 'k', 3, 0, 49, 67, byte(module), // fn 167: module size
		gs, '(', 'k', 3, 0, 49, 69, qrLevelM, // fn 169: error correction
		gs, '(', 'k', byte(n), byte(n>>8), 49, 80, 48) // fn 180: store
	e.out = append(e.out, payload...)
	e.out = append(e.out, gs, '(', 'k', 3, 0, 49, 81, 48) // fn 181: print
	e.dirty = true
}

// barcode prints payload as a centred Code128 with the text under it, in
// the densest code sets for it (code128Data) and with its quiet zone on
// the paper. Code sets B and C hold printable ASCII only; other payloads,
// and ones too long for the paper even with 1-dot modules, print as text.
func (e *encoder) barcode(payload string) {
	if payload == "" {
		return
	}
	data, symbols, ok := code128Data(payload)
	if !ok {
		e.textBlock(payload)
		return
	}
	modules := code128Modules(symbols)
	w := min(e.p.dots()/(modules+2*code128Quiet), barcodeMaxW)
	if w < 1 || len(data) > code128MaxData {
		e.textBlock(payload)
		return
	}
	if !e.p.Code128 {
		bm, err := code128Bitmap(payload, w, barcodeHeight)
		if err != nil || bm.W > e.p.dots() {
			e.textBlock(payload)
			return
		}
		e.image(bm)
		e.textBlock(payload) // the human-readable line GS H 2 prints natively
		return
	}
	e.flushPending()
	e.setAlign(AlignCenter)
	if e.pBarcode == 0 {
		e.out = append(e.out, gs, 'H', hriBelow, gs, 'h', barcodeHeight)
	}
	if e.pBarcode != w {
		e.out = append(e.out, gs, 'w', byte(w))
		e.pBarcode = w
	}
	e.out = append(e.out, gs, 'k', 73, byte(len(data)))
	e.out = append(e.out, data...)
	e.dirty = true
}

// image prints b centred on a line of its own as raster strips.
func (e *encoder) image(b *Bitmap) {
	e.flushPending()
	e.setAlign(AlignLeft) // centred by its own white space
	e.out = appendRaster(e.out, centred(b, e.p.dots()), e.p.stripBytes())
	e.dirty = true
}

// textBlock prints s centred in plain style on lines of its own, in place of
// a code the printer cannot print.
func (e *encoder) textBlock(s string) {
	e.flushPending()
	saved := e.aligns
	e.aligns = []alignTag{{"", AlignCenter}}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		e.add(r, false, false)
	}
	e.flushPending()
	e.aligns = saved
}

package printer

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Doc is what an ESC/POS job prints, as far as a person reading the receipt
// (or a test) cares: the text lines, the payloads of the codes, and whether
// the paper was cut.
type Doc struct {
	Lines    []string // text lines in print order, UTF-8, without styling
	QR       []string // QR payloads in print order
	Barcodes []string // Code128 payloads in print order
	Cut      bool     // a GS V cut was sent

	// Blocks is everything printed, in order, with the layout Text needs.
	Blocks []Block

	// Columns is the paper width Text centres in. Decode cannot know it;
	// zero means the widest of 32 and the widest line.
	Columns int
}

// BlockKind says what a Block is.
type BlockKind int

// Block kinds.
const (
	TextLine BlockKind = iota
	QRCode
	Barcode
	CutMark
)

// More block kinds, after the first four so their values stay put.
const (
	Raster BlockKind = iota + CutMark + 1 // a GS v 0 image (Image)
	Feed                                  // ESC d: Lines blank lines
)

// Block is one printed thing: a text line, a code, an image, a feed or a
// cut, with what a renderer needs to draw it as the printer would.
type Block struct {
	Kind  BlockKind
	Text  string // the line, or the code's payload
	Align int    // AlignLeft, AlignCenter or AlignRight
	Bold  bool   // some of the line is bold
	Large bool   // some of the line is double size

	Runs      []Run   // TextLine: the line in runs of one style
	Module    int     // QRCode: module size in dots (GS ( k fn 167)
	BarWidth  int     // Barcode: module width in dots (GS w)
	BarHeight int     // Barcode: height in dots (GS h)
	HRI       int     // Barcode: GS H position of the text (0 none, 1 above, 2 below, 3 both)
	Image     *Bitmap // Raster
	Lines     int     // Feed
}

// Run is part of a text line printed in one style.
type Run struct {
	Text  string
	Bold  bool
	Large bool
}

// DecodeError reports where a byte stream stops being ESC/POS that Decode
// understands.
type DecodeError struct {
	Offset int
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("escpos: offset %d: %s", e.Offset, e.Msg)
}

// Decode parses the ESC/POS subset that Encode emits (ESC @, FS &, FS .,
// ESC a, ESC E, ESC d, ESC p, GS !, GS ( k for QR, GS H/h/w, GS k 73,
// GS v 0, GS V, DLE EOT, LF and GB18030 text) and returns what it prints.
//
// It is strict on purpose: an unknown or truncated command is an error
// naming its offset, so a test catches Encode emitting something a printer
// would misread. The Doc holds everything decoded before the error.
func Decode(b []byte) (Doc, error) {
	d := newDecoder()
	for i := 0; i < len(b); {
		n, err := commandLen(b[i:], d.chinese)
		if err != "" {
			d.flush()
			return d.doc, &DecodeError{Offset: i, Msg: err}
		}
		if msg := d.apply(b[i : i+n]); msg != "" {
			d.flush()
			return d.doc, &DecodeError{Offset: i, Msg: msg}
		}
		i += n
	}
	d.flush()
	return d.doc, nil
}

// SplitJobs splits a captured printer byte stream into jobs, each starting
// at an ESC @ (Encode starts every job with one). Bytes before the first
// ESC @ form a job of their own. Commands are skipped whole, so an ESC @
// inside a QR or barcode payload does not split a job; where the stream is
// not understood it is scanned byte by byte.
func SplitJobs(b []byte) [][]byte {
	var jobs [][]byte
	start := 0
	chinese := false
	for i := 0; i < len(b); {
		if b[i] == esc && i+1 < len(b) && b[i+1] == '@' {
			if i > start {
				jobs = append(jobs, b[start:i])
			}
			start = i
			chinese = false
		}
		n, err := commandLen(b[i:], chinese)
		if err != "" {
			n = 1
		} else if b[i] == fs {
			chinese = b[i+1] == '&'
		}
		i += n
	}
	if start < len(b) {
		jobs = append(jobs, b[start:])
	}
	return jobs
}

// ErrTruncated is wrapped by CommandLen's error when b ends inside a
// command: more bytes may complete it.
var ErrTruncated = errors.New("truncated command")

// CommandLen returns the length of the ESC/POS command or character at the
// start of b, as Decode reads it; chinese says whether FS & is in force (it
// decides whether bytes 0x81-0xFE start a two- or four-byte character). A
// stream reader (a virtual printer, a driver chunking a job at command
// boundaries) uses it to find where commands end. The error wraps
// ErrTruncated when b stops inside a command.
func CommandLen(b []byte, chinese bool) (int, error) {
	if len(b) == 0 {
		return 0, ErrTruncated
	}
	n, msg := commandLen(b, chinese)
	if msg == "" {
		return n, nil
	}
	if strings.HasPrefix(msg, "truncated") {
		return 0, fmt.Errorf("%w: %s", ErrTruncated, msg)
	}
	return 0, errors.New(msg)
}

// commandLen returns the length of the command or character at b[0], or a
// message saying why it is not one Decode knows.
func commandLen(b []byte, chinese bool) (int, string) {
	need := func(n int) (int, string) {
		if len(b) < n {
			return 0, fmt.Sprintf("truncated command % X", b)
		}
		return n, ""
	}
	c := b[0]
	switch {
	case c == lf:
		return 1, ""
	case c >= 0x20 && c <= 0x7e:
		return 1, ""
	case c >= 0x80 && !chinese:
		return 1, ""
	case c >= 0x81 && c <= 0xfe:
		return gbLen(b)
	}
	if len(b) < 2 {
		return 0, fmt.Sprintf("truncated command %02X", c)
	}
	switch c {
	case esc:
		switch b[1] {
		case '@':
			return 2, ""
		case 'a', 'E', 'd':
			return need(3)
		case 'p':
			return need(5)
		}
	case fs:
		switch b[1] {
		case '&', '.':
			return 2, ""
		}
	case dle:
		if b[1] == eot {
			return need(3)
		}
	case gs:
		switch b[1] {
		case '!', 'H', 'h', 'w':
			return need(3)
		case 'V':
			if len(b) >= 3 && (b[2] == 65 || b[2] == 66) {
				return need(4)
			}
			return need(3)
		case 'v':
			if len(b) < 8 {
				return need(8)
			}
			if b[2] != '0' || (b[3] > 3 && (b[3] < 48 || b[3] > 51)) {
				return 0, fmt.Sprintf("unsupported raster command GS v %02X %d", b[2], b[3])
			}
			x, y := int(b[4])|int(b[5])<<8, int(b[6])|int(b[7])<<8
			return need(8 + x*y)
		case 'k':
			if len(b) < 4 {
				return need(4)
			}
			if b[2] != 73 {
				return 0, fmt.Sprintf("unsupported barcode command GS k %d", b[2])
			}
			return need(4 + int(b[3]))
		case '(':
			if len(b) < 5 {
				return need(5)
			}
			if b[2] != 'k' {
				return 0, fmt.Sprintf("unknown command GS ( %02X", b[2])
			}
			return need(5 + int(b[3]) + int(b[4])<<8)
		}
	default:
		return 0, fmt.Sprintf("unexpected byte %02X", c)
	}
	return 0, fmt.Sprintf("unknown command %02X %02X", c, b[1])
}

// gbLen returns the length of the GB18030 character at b[0] (0x81..0xFE).
func gbLen(b []byte) (int, string) {
	if len(b) < 2 {
		return 0, "truncated GB18030 character"
	}
	switch c := b[1]; {
	case c >= 0x40 && c <= 0x7e, c >= 0x80 && c <= 0xfe:
		return 2, ""
	case c >= 0x30 && c <= 0x39:
		if len(b) < 4 {
			return 0, "truncated GB18030 character"
		}
		if b[2] >= 0x81 && b[2] <= 0xfe && b[3] >= 0x30 && b[3] <= 0x39 {
			return 4, ""
		}
	}
	return 0, fmt.Sprintf("invalid GB18030 sequence % X", b[:min(len(b), 4)])
}

type decoder struct {
	doc     Doc
	gb      *encoding.Decoder
	chinese bool
	align   int
	bold    bool
	large   bool

	line      strings.Builder
	lineAlign int
	lineBold  bool
	lineLarge bool
	pending   bool // the line has text (an empty LF still prints a line)
	qr        []byte
	qrStored  bool
	runs      []Run

	// Code settings, Epson's power-on defaults until set.
	qrModule, barW, barH, hri int
}

func newDecoder() *decoder {
	return &decoder{gb: simplifiedchinese.GB18030.NewDecoder(), qrModule: 3, barW: 3, barH: 162}
}

// apply interprets one whole command or character.
func (d *decoder) apply(c []byte) string {
	switch c[0] {
	case lf:
		d.endLine()
		return ""
	case esc:
		switch c[1] {
		case '@':
			d.flush()
			d.chinese, d.align, d.bold, d.large = false, AlignLeft, false, false
			d.qrStored = false
			d.qrModule, d.barW, d.barH, d.hri = 3, 3, 162, 0
		case 'a':
			a := int(c[2])
			if a >= '0' {
				a -= '0'
			}
			if a > AlignRight {
				return fmt.Sprintf("bad alignment ESC a %d", c[2])
			}
			d.align = a
		case 'E':
			d.bold = c[2]&1 == 1
		case 'd':
			d.flush()
			if c[2] > 0 {
				d.doc.Blocks = append(d.doc.Blocks, Block{Kind: Feed, Lines: int(c[2])})
			}
		case 'p': // drawer kick: nothing printed
		}
		return ""
	case fs:
		d.chinese = c[1] == '&'
		return ""
	case dle:
		if c[2] < 1 || c[2] > 4 {
			return fmt.Sprintf("bad DLE EOT %d", c[2])
		}
		return ""
	case gs:
		return d.gs(c)
	}
	// A character.
	d.startText()
	var ch string
	switch {
	case c[0] < 0x80:
		ch = string(c[0])
	case !d.chinese:
		r, _ := charmap.CodePage437.NewDecoder().Bytes(c)
		ch = string(r)
	default:
		r, err := d.gb.Bytes(c)
		if err != nil {
			return fmt.Sprintf("undecodable GB18030 % X", c)
		}
		ch = string(r)
	}
	d.line.WriteString(ch)
	if k := len(d.runs) - 1; k >= 0 && d.runs[k].Bold == d.bold && d.runs[k].Large == d.large {
		d.runs[k].Text += ch
	} else {
		d.runs = append(d.runs, Run{Text: ch, Bold: d.bold, Large: d.large})
	}
	d.lineBold = d.lineBold || d.bold
	d.lineLarge = d.lineLarge || d.large
	return ""
}

func (d *decoder) gs(c []byte) string {
	switch c[1] {
	case '!':
		d.large = c[2] != 0
	case 'H':
		d.hri = int(c[2] & 3)
	case 'h':
		d.barH = int(c[2])
	case 'w':
		d.barW = int(c[2])
	case 'v':
		x, y := int(c[4])|int(c[5])<<8, int(c[6])|int(c[7])<<8
		bm := &Bitmap{W: x * 8, H: y, Bits: c[8 : 8+x*y]}
		if c[3]&1 != 0 { // double width: widen every dot
			bm = scaleBitmap(bm, 2, 1)
		}
		if c[3]&2 != 0 { // double height
			bm = scaleBitmap(bm, 1, 2)
		}
		d.flush()
		// Strips of one image (see appendRaster) join back into one.
		if k := len(d.doc.Blocks) - 1; k >= 0 && d.doc.Blocks[k].Kind == Raster && d.doc.Blocks[k].Image.W == bm.W {
			prev := d.doc.Blocks[k].Image
			d.doc.Blocks[k].Image = &Bitmap{W: bm.W, H: prev.H + bm.H, Bits: append(append([]byte(nil), prev.Bits...), bm.Bits...)}
			return ""
		}
		d.doc.Blocks = append(d.doc.Blocks, Block{Kind: Raster, Image: bm, Align: d.align})
	case 'V':
		if m := c[2]; m != 0 && m != 1 && m != 48 && m != 49 && m != 65 && m != 66 {
			return fmt.Sprintf("bad cut mode GS V %d", m)
		}
		d.flush()
		d.doc.Cut = true
		d.doc.Blocks = append(d.doc.Blocks, Block{Kind: CutMark})
	case 'k':
		data := c[4:]
		s, msg := decode128(data)
		if msg != "" {
			return msg
		}
		d.flush()
		d.doc.Barcodes = append(d.doc.Barcodes, s)
		d.doc.Blocks = append(d.doc.Blocks, Block{Kind: Barcode, Text: s, Align: d.align, BarWidth: d.barW, BarHeight: d.barH, HRI: d.hri})
	case '(':
		p := c[5:]
		if len(p) < 2 || p[0] != 49 {
			return "unsupported GS ( k function (only QR, cn 49)"
		}
		switch fn := p[1]; fn {
		case 65, 67, 69:
			if len(p) < 3 {
				return fmt.Sprintf("short QR function %d", fn)
			}
			if fn == 67 {
				d.qrModule = int(p[2])
			}
		case 80:
			if len(p) < 3 || p[2] != 48 {
				return "bad QR store"
			}
			d.qr = append(d.qr[:0], p[3:]...)
			d.qrStored = true
		case 81:
			if !d.qrStored {
				return "QR print with nothing stored"
			}
			d.flush()
			s := string(d.qr)
			d.doc.QR = append(d.doc.QR, s)
			d.doc.Blocks = append(d.doc.Blocks, Block{Kind: QRCode, Text: s, Align: d.align, Module: d.qrModule})
		default:
			return fmt.Sprintf("unsupported QR function %d", fn)
		}
	}
	return ""
}

// decode128 reads GS k 73 data: a code-set prefix then symbols.
func decode128(data []byte) (string, string) {
	if len(data) < 2 || data[0] != '{' || data[1] < 'A' || data[1] > 'C' {
		return "", "Code128 data must start with {A, {B or {C"
	}
	set := data[1]
	var out []byte
	for i := 2; i < len(data); i++ {
		c := data[i]
		if c == '{' {
			if i+1 >= len(data) {
				return "", "Code128 data ends in '{'"
			}
			i++
			switch n := data[i]; n {
			case '{':
				out = append(out, '{')
			case 'A', 'B', 'C':
				set = n
			default:
				return "", fmt.Sprintf("unsupported Code128 function {%c", n)
			}
			continue
		}
		if set == 'C' {
			if c > 99 {
				return "", "Code128 set C value over 99"
			}
			out = append(out, '0'+c/10, '0'+c%10)
			continue
		}
		out = append(out, c)
	}
	return string(out), ""
}

func (d *decoder) startText() {
	if !d.pending {
		d.pending = true
		d.lineAlign = d.align
	}
}

// flush ends a line that has text; a printer prints its buffer before
// feeds, codes and cuts.
func (d *decoder) flush() {
	if d.pending {
		d.endLine()
	}
}

func (d *decoder) endLine() {
	s := d.line.String()
	d.doc.Lines = append(d.doc.Lines, s)
	blk := Block{Kind: TextLine, Text: s, Align: d.align, Bold: d.lineBold, Large: d.lineLarge, Runs: d.runs}
	if d.pending {
		blk.Align = d.lineAlign
	}
	d.doc.Blocks = append(d.doc.Blocks, blk)
	d.runs = nil
	d.line.Reset()
	d.pending, d.lineBold, d.lineLarge = false, false, false
}

// Text renders the receipt as plain text for a terminal: lines aligned in
// Columns, codes as "[QR: …]" and "[CODE128: …]", a cut as a dashed line.
func (d Doc) Text() string {
	w := d.Columns
	if w <= 0 {
		w = 32
		for _, l := range d.Lines {
			w = max(w, Width(l))
		}
	}
	var sb strings.Builder
	for _, b := range d.Blocks {
		var s string
		switch b.Kind {
		case TextLine:
			s = b.Text
		case QRCode:
			s = "[QR: " + b.Text + "]"
		case Barcode:
			s = "[CODE128: " + b.Text + "]"
		case CutMark:
			sb.WriteString(strings.Repeat("-", w))
			sb.WriteByte('\n')
			continue
		case Raster:
			s = fmt.Sprintf("[image %dx%d]", b.Image.W, b.Image.H)
		case Feed:
			continue
		}
		s = oneLine(s)
		if pad := w - Width(s); pad > 0 && s != "" {
			switch b.Align {
			case AlignCenter:
				s = strings.Repeat(" ", pad/2) + s
			case AlignRight:
				s = strings.Repeat(" ", pad) + s
			}
		}
		sb.WriteString(s)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// scaleBitmap repeats every dot sx times across and sy times down.
func scaleBitmap(b *Bitmap, sx, sy int) *Bitmap {
	out := NewBitmap(b.W*sx, b.H*sy)
	for y := 0; y < out.H; y++ {
		for x := 0; x < out.W; x++ {
			if b.At(x/sx, y/sy) {
				out.Set(x, y)
			}
		}
	}
	return out
}

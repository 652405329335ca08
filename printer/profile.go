package printer

import (
	"fmt"
	"sort"
	"strings"
)

// Profile describes what a printer model can do, in the spirit of
// escpos-printer-db: the agent never guesses a capability at print time, it
// reads it here. Layout depends only on Columns (characters of the 12×24
// ASCII font per line); Dots sizes QR codes, barcodes and images so they fit
// the paper.
//
// Every profile prints Chinese in Chinese mode (FS &) with GB18030 text:
// printers sold for Chinese shops all have it, and the encoder's layout
// (a Hanzi is two columns) assumes the 24×24 Hanzi font.
type Profile struct {
	Name     string // config key, e.g. "xprinter-xp58iih"
	Model    string // what the label on the printer says
	PaperMM  int    // paper width the layout is for (58 or 80)
	MaxPaper int    // widest paper the mechanism takes, mm
	Dots     int    // printable dots per line at 203 dpi
	Columns  int    // ASCII (12-dot) columns per line; a Hanzi takes two
	Charset  string // multi-byte character set in Chinese mode
	NativeQR bool   // GS ( k QR; without it QR codes are sent as raster images
	Code128  bool   // GS k 73; without it Code128 is sent as a raster image
	Cutter   bool   // GS V; without it a job ends with a feed to tear at
	Drawer   bool   // ESC p cash-drawer kick connector
	SpeedMM  int    // print speed, mm/s (vendor figure), for wire-vs-print estimates
	Buffer   int    // receive buffer, bytes: raster strips are kept well below it
}

// Generic58 is a common 58 mm printer (384 dots, 32 columns) with QR and
// Code128 support. Cutter is on: printers without one ignore GS V, so the
// only cost of a wrong guess is nothing, while a missing cut on a printer
// that has one leaves receipts joined.
func Generic58() Profile {
	return Profile{Name: "generic-58", Model: "generic 58 mm ESC/POS", PaperMM: 58, MaxPaper: 58, Dots: 384, Columns: 32,
		Charset: "GB18030", NativeQR: true, Code128: true, Cutter: true, SpeedMM: 90, Buffer: 4096}
}

// Generic80 is a common 80 mm desktop/cloud printer (576 dots, 48 columns)
// with QR, Code128, an auto-cutter and a drawer port.
func Generic80() Profile {
	return Profile{Name: "generic-80", Model: "generic 80 mm ESC/POS", PaperMM: 80, MaxPaper: 80, Dots: 576, Columns: 48,
		Charset: "GB18030", NativeQR: true, Code128: true, Cutter: true, Drawer: true, SpeedMM: 200, Buffer: 4096}
}

// models are the named printers. Figures are the vendors' published
// specifications; where a firmware family differs between batches the
// profile takes the conservative side (a raster QR scans on every firmware,
// a native one prints garbage on a firmware without GS ( k).
var models = map[string]Profile{
	// Xprinter XP-58IIH: the ubiquitous 58 mm tear-bar printer. 90 mm/s,
	// no cutter, no drawer port. Code128 is in every firmware; GS ( k QR
	// is missing from many XP-58 firmwares, so QR goes as a raster image.
	"xprinter-xp58iih": {Model: "Xprinter XP-58IIH", PaperMM: 58, MaxPaper: 58, Dots: 384, Columns: 32,
		Charset: "GB18030", NativeQR: false, Code128: true, Cutter: false, Drawer: false, SpeedMM: 90, Buffer: 4096},
	// GPrinter GP-5890X: 58 mm, 90 mm/s, tear bar, drawer port, QR and
	// Code128 in firmware.
	"gprinter-gp5890x": {Model: "GPrinter GP-5890X", PaperMM: 58, MaxPaper: 58, Dots: 384, Columns: 32,
		Charset: "GB18030", NativeQR: true, Code128: true, Cutter: false, Drawer: true, SpeedMM: 90, Buffer: 4096},
	// Epson TM-T82III (the Chinese-market TM-T82 line): 80 mm (58 mm by
	// memory switch), up to 250 mm/s, auto-cutter (partial cut), two-drawer
	// kick, GB18030 Hanzi font, native QR and Code128; 4 KB receive buffer.
	"epson-tm-t82iii": {Model: "Epson TM-T82III", PaperMM: 80, MaxPaper: 80, Dots: 576, Columns: 48,
		Charset: "GB18030", NativeQR: true, Code128: true, Cutter: true, Drawer: true, SpeedMM: 250, Buffer: 4096},
}

// Models lists the profile names Lookup knows, sorted.
func Models() []string {
	n := []string{"generic-58", "generic-80"}
	for k := range models {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Lookup returns the profile of a printer model for the paper loaded in it.
// An empty model means a generic printer for that paper. The paper must be
// 58 or 80 mm and no wider than the model takes; an 80 mm model with 58 mm
// paper lays out for 58 mm (384 dots, 32 columns), as the printer's memory
// switch for narrow paper makes it print.
func Lookup(model string, paperMM int) (Profile, error) {
	if paperMM != 58 && paperMM != 80 {
		return Profile{}, fmt.Errorf("paper width %d mm: must be 58 or 80", paperMM)
	}
	var p Profile
	switch model {
	case "":
		return ForPaper(paperMM), nil
	case "generic-58":
		p = Generic58()
	case "generic-80":
		p = Generic80()
	default:
		m, ok := models[model]
		if !ok {
			return Profile{}, fmt.Errorf("unknown printer model %q (known: %s)", model, strings.Join(Models(), ", "))
		}
		p = m
		p.Name = model
	}
	if paperMM > p.MaxPaper {
		return Profile{}, fmt.Errorf("printer model %s takes paper up to %d mm, not %d mm", model, p.MaxPaper, paperMM)
	}
	if paperMM != p.PaperMM {
		g := ForPaper(paperMM)
		p.PaperMM, p.Dots, p.Columns = g.PaperMM, g.Dots, g.Columns
	}
	return p, nil
}

// ForPaper returns the generic profile for a paper width in millimetres.
// Unknown widths get the 58 mm profile: text laid out for 32 columns is
// still readable on wider paper, while 48-column text on 58 mm paper is not.
func ForPaper(mm int) Profile {
	if mm == 80 {
		return Generic80()
	}
	return Generic58()
}

// columns returns a usable column count even for a zero or odd Profile.
func (p Profile) columns() int {
	if p.Columns > 0 {
		return p.Columns
	}
	return ForPaper(p.PaperMM).Columns
}

// dots returns a usable dot width even for a zero Profile.
func (p Profile) dots() int {
	if p.Dots > 0 {
		return p.Dots
	}
	return ForPaper(p.PaperMM).Dots
}

// MaxStripBytes bounds the image data of one GS v 0 command so that a whole
// strip and its 8-byte header fit in one chunk of the serial driver
// (drivers/serialport writes 256 bytes at a time): a printer that stops
// mid-image (paper out) then holds the job between two commands, where the
// driver may still ask it why. The cost is 8 bytes per 5 rows of 58 mm
// paper (3 %).
const MaxStripBytes = 248

// stripBytes is the most image data sent in one GS v 0 command: at most a
// quarter of the receive buffer and MaxStripBytes.
func (p Profile) stripBytes() int {
	b := p.Buffer
	if b <= 0 {
		b = 4096
	}
	return min(max(b/4, 64), MaxStripBytes)
}

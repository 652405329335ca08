package printer

import "strings"

// Status is what a printer reports through DLE EOT, reduced to what the
// agent acts on.
type Status struct {
	PaperOut  bool
	CoverOpen bool
	Offline   bool
}

// OK reports whether the printer can print.
func (s Status) OK() bool { return !s.PaperOut && !s.CoverOpen && !s.Offline }

// String names the problems, e.g. "paper out, cover open", or "ok".
func (s Status) String() string {
	var p []string
	if s.PaperOut {
		p = append(p, "paper out")
	}
	if s.CoverOpen {
		p = append(p, "cover open")
	}
	if s.Offline {
		p = append(p, "offline")
	}
	if len(p) == 0 {
		return "ok"
	}
	return strings.Join(p, ", ")
}

// Merge combines the answers to several DLE EOT queries.
func (s Status) Merge(o Status) Status {
	return Status{
		PaperOut:  s.PaperOut || o.PaperOut,
		CoverOpen: s.CoverOpen || o.CoverOpen,
		Offline:   s.Offline || o.Offline,
	}
}

// DecodeStatus interprets the byte b a printer answers to DLE EOT n
// (Epson ESC/POS real-time status transmission):
//
//	n=1 printer status:      bit 3 offline
//	n=2 offline cause:       bit 2 cover open, bit 5 stopped for paper end
//	n=3 error cause:         no bit is mapped (cutter and head errors show as offline in n=1)
//	n=4 roll paper sensor:   bits 5-6 (0x60) paper end; bits 2-3 (near end) are ignored
//
// The fixed bits (0, 1, 4, 7) are not checked because clone printers do not
// all set them; an n outside 1..4 decodes to the zero Status.
func DecodeStatus(n byte, b byte) Status {
	switch n {
	case 1:
		return Status{Offline: b&0x08 != 0}
	case 2:
		return Status{CoverOpen: b&0x04 != 0, PaperOut: b&0x20 != 0}
	case 4:
		return Status{PaperOut: b&0x60 != 0}
	}
	return Status{}
}

package serialtest

import (
	"errors"
	"io"
	"sync"

	"github.com/posagent/posagent/printer"
)

// Printer plays an ESC/POS receipt printer on the device end of a serial
// line (a Pair's Master), for tests and the dev kit: it answers DLE EOT
// status queries, "prints" what it receives while it has paper, holds what
// it receives while it has none, and says XOFF when its receive buffer is
// nearly full and XON when it has room again — as Epson-style printers do.
//
// Commands are recognised with printer.CommandLen, so a status query is
// answered only at a command boundary: inside an image's data the bytes
// 10 04 01 are data. The agent's driver only asks between commands.
type Printer struct {
	rw io.ReadWriter

	// Buffer is the receive buffer in bytes (default 4096) and Margin the
	// free space left when XOFF is sent (default 512). Set before Run.
	Buffer, Margin int

	mu        sync.Mutex
	chinese   bool
	in        []byte // received, not yet a whole command
	held      []byte // whole commands waiting for paper
	printed   []byte // what went onto paper
	paperLeft int    // bytes that still fit on the roll; <0: endless
	paperOut  bool
	coverOpen bool
	silent    bool // no answers: switched off or unplugged
	xoff      bool
	overflow  int // bytes received with the buffer full (lost on a real printer)
	queries   int
	changed   chan struct{}
}

// NewPrinter plays a printer on rw (usually Pair.Master) with endless paper.
func NewPrinter(rw io.ReadWriter) *Printer {
	return &Printer{rw: rw, paperLeft: -1, changed: make(chan struct{})}
}

// Run reads and answers until rw fails (the Pair is closed).
func (p *Printer) Run() error {
	buf := make([]byte, 4096)
	for {
		n, err := p.rw.Read(buf)
		if n > 0 {
			p.receive(buf[:n])
		}
		if err != nil {
			return err
		}
	}
}

func (p *Printer) buffer() int {
	if p.Buffer > 0 {
		return p.Buffer
	}
	return 4096
}

func (p *Printer) margin() int {
	if p.Margin > 0 {
		return p.Margin
	}
	return 512
}

func (p *Printer) receive(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.broadcastLocked()
	if p.silent {
		return // a printer that is off hears nothing
	}
	if used := len(p.held) + len(p.in); used+len(b) > p.buffer() {
		p.overflow += used + len(b) - p.buffer()
	}
	p.in = append(p.in, b...)
	for len(p.in) > 0 {
		n, err := printer.CommandLen(p.in, p.chinese)
		if errors.Is(err, printer.ErrTruncated) {
			break
		}
		if err != nil {
			n = 1 // unknown byte: printed as whatever the firmware makes of it
		}
		cmd := p.in[:n]
		switch {
		case n == 3 && cmd[0] == 0x10 && cmd[1] == 0x04:
			// Real-time status: answered at once, never buffered.
			p.queries++
			p.write([]byte{p.statusLocked(cmd[2])})
		default:
			if n == 2 && cmd[0] == 0x1c {
				p.chinese = cmd[1] == '&'
			} else if n == 2 && cmd[0] == 0x1b && cmd[1] == '@' {
				p.chinese = false
			}
			p.held = append(p.held, cmd...)
		}
		p.in = p.in[n:]
	}
	p.printLocked()
	if !p.xoff && len(p.held)+len(p.in) > p.buffer()-p.margin() {
		p.xoff = true
		p.write([]byte{0x13})
	}
}

// printLocked moves held commands onto paper while there is paper.
func (p *Printer) printLocked() {
	for len(p.held) > 0 && !p.paperOut && !p.coverOpen {
		n, err := printer.CommandLen(p.held, p.chinese)
		if err != nil {
			n = 1
		}
		if p.paperLeft >= 0 && n > p.paperLeft {
			p.paperOut = true
			return
		}
		if p.paperLeft > 0 {
			p.paperLeft -= n
		}
		p.printed = append(p.printed, p.held[:n]...)
		p.held = p.held[n:]
	}
	if p.xoff && len(p.held)+len(p.in) < p.buffer()/4 {
		p.xoff = false
		p.write([]byte{0x11})
	}
}

func (p *Printer) write(b []byte) { p.rw.Write(b) }

// statusLocked is the answer to DLE EOT n (Epson real-time status): the
// fixed bits 0x12, offline 0x08 in n=1, cover 0x04 and paper-stop 0x20 in
// n=2, paper end 0x60 in n=4.
func (p *Printer) statusLocked(n byte) byte {
	b := byte(0x12)
	switch n {
	case 1:
		b = 0x16
		if p.paperOut || p.coverOpen {
			b |= 0x08
		}
	case 2:
		if p.coverOpen {
			b |= 0x04
		}
		if p.paperOut {
			b |= 0x20
		}
	case 4:
		if p.paperOut {
			b |= 0x60
		}
	}
	return b
}

func (p *Printer) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// RunOutAfter makes the roll end after n more bytes are printed: the
// printer stops there, mid-job if a job is running, and holds the rest.
func (p *Printer) RunOutAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paperLeft = n
}

// Refill loads a new (endless) roll: the held data prints, then XON.
func (p *Printer) Refill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paperOut, p.paperLeft = false, -1
	p.printLocked()
	p.broadcastLocked()
}

// SetCover opens or closes the cover; nothing prints while it is open.
func (p *Printer) SetCover(open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.coverOpen = open
	p.printLocked()
	p.broadcastLocked()
}

// SetSilent switches the printer off (true: it neither answers nor
// prints, and what it held is lost) or back on.
func (p *Printer) SetSilent(off bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = off
	if off {
		p.held, p.in, p.xoff = nil, nil, false
	}
	p.broadcastLocked()
}

// PaperOut reports whether the roll has ended.
func (p *Printer) PaperOut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paperOut
}

// Printed returns a copy of everything that went onto paper.
func (p *Printer) Printed() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.printed...)
}

// Held is how many received bytes wait for paper.
func (p *Printer) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.held) + len(p.in)
}

// Overflow is how many bytes arrived while the buffer was full: a real
// printer loses them. A driver that honours XOFF keeps it at zero.
func (p *Printer) Overflow() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.overflow
}

// Queries is how many status queries were answered.
func (p *Printer) Queries() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queries
}

// Wait blocks until cond holds (checked after every change) or done closes,
// and reports whether cond held.
func (p *Printer) Wait(done <-chan struct{}, cond func(*Printer) bool) bool {
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if cond(p) {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return cond(p)
		}
	}
}

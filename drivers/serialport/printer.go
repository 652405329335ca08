package serialport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/posagent/posagent/printer"
)

// ErrOffline is returned (wrapped) by Printer.Status when the printer does
// not answer a status query in time: unplugged, powered off or wedged.
var ErrOffline = errors.New("printer did not answer status query")

// Flow-control bytes a printer sends when its input buffer fills (XOFF) and
// drains (XON). Neither can be a status byte: those always have bit 0 clear.
const (
	xon  = 0x11
	xoff = 0x13
)

// chunkSize is how much is written at a time: small enough that an XOFF or
// a cancelled job stops the output within a fraction of a second, and that
// what is already on its way when XOFF comes fits the margin printers keep
// (Epson sends XOFF with 128+ bytes of its 4 KB buffer still free... our
// margin is the raster strip limit in printer.Profile, a quarter of it).
const chunkSize = 256

// Printer sends ESC/POS jobs to a receipt printer on a serial line and reads
// its DLE EOT status answers.
//
// go.bug.st/serial has no hardware or software flow control, and the
// kernel would otherwise queue a whole job (seconds of output at 9600 baud)
// where no XOFF and no cancellation can stop it. So Write paces chunks to the
// baud rate, and a background reader watches for XOFF/XON and status bytes.
type Printer struct {
	w    io.Writer
	baud int

	sem    chan struct{} // one job or status query on the line at a time
	status chan byte     // status answers from the reader goroutine

	wmu sync.Mutex // one writer of bytes at a time: a job's chunk or a query

	mu       sync.Mutex
	xoff     bool
	resume   chan struct{} // closed when XON arrives after XOFF
	readErr  error         // why the reader goroutine stopped
	boundary bool          // the job in progress stopped between two commands
	changed  chan struct{} // closed (and replaced) when xoff or boundary change

	// Seams for tests.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// NewPrinter starts driving a printer on rw at baud; baud 0 disables pacing
// (for tests, and for USB printers that take bytes as fast as they come).
//
// It starts one goroutine reading rw, which ends when a Read fails. A Read
// blocked on a serial port ends only when the port is closed, so NewPrinter
// closes rw when ctx is cancelled if rw is an io.Closer; otherwise the
// caller closes it. Without a reader, Status always times out.
func NewPrinter(ctx context.Context, rw io.ReadWriter, baud int) *Printer {
	p := &Printer{
		w:        rw,
		baud:     baud,
		sem:      make(chan struct{}, 1),
		status:   make(chan byte, 16),
		resume:   make(chan struct{}),
		changed:  make(chan struct{}),
		boundary: true,
		now:      time.Now,
		sleep:    sleepCtx,
	}
	if c, ok := rw.(io.Closer); ok {
		context.AfterFunc(ctx, func() { c.Close() })
	}
	go p.read(rw)
	return p
}

func (p *Printer) read(r io.Reader) {
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			p.got(c)
		}
		if err != nil {
			p.mu.Lock()
			p.readErr = err
			if p.xoff {
				p.xoff = false // nothing will clear it now; let writes fail instead
				close(p.resume)
			}
			p.mu.Unlock()
			return
		}
	}
}

func (p *Printer) got(c byte) {
	switch c {
	case xoff:
		p.mu.Lock()
		if !p.xoff {
			p.xoff = true
			p.resume = make(chan struct{})
			p.broadcastLocked()
		}
		p.mu.Unlock()
	case xon:
		p.mu.Lock()
		if p.xoff {
			p.xoff = false
			close(p.resume)
			p.broadcastLocked()
		}
		p.mu.Unlock()
	default:
		select {
		case p.status <- c:
		default: // nobody asked (automatic status back): drop
		}
	}
}

// waitXON blocks while the printer has sent XOFF.
func (p *Printer) waitXON(ctx context.Context) error {
	p.mu.Lock()
	paused, resume := p.xoff, p.resume
	p.mu.Unlock()
	if !paused {
		return nil
	}
	select {
	case <-resume:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("printer paused (XOFF): %w", ctx.Err())
	}
}

// broadcastLocked wakes everyone waiting for the pause state to change.
func (p *Printer) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Printer) setBoundary(b bool) {
	p.mu.Lock()
	if p.boundary != b {
		p.boundary = b
		p.broadcastLocked()
	}
	p.mu.Unlock()
}

// Paused reports whether the printer has said XOFF and not yet XON: its
// buffer is full, usually because it cannot print (paper out, cover open).
func (p *Printer) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.xoff
}

// lockQuery takes the line for a status query: either no job is being
// written, or the job in progress is held by XOFF between two commands.
// DLE EOT is a real-time command, which ESC/POS printers execute on
// arrival even with a full receive buffer or an error — that is how the
// agent learns why a job stalled. Between commands it cannot be taken
// for a command's data.
func (p *Printer) lockQuery(ctx context.Context) (unlock func(), err error) {
	for {
		select {
		case p.sem <- struct{}{}:
			return p.unlock, nil
		default:
		}
		p.mu.Lock()
		paused, changed := p.xoff && p.boundary, p.changed
		p.mu.Unlock()
		if paused {
			p.wmu.Lock()
			// Checked again with the line held: a chunk that was going
			// out when XOFF came marked the job off its boundary before
			// it took the line (Write), so this sees it.
			p.mu.Lock()
			still := p.xoff && p.boundary
			p.mu.Unlock()
			if still {
				return p.wmu.Unlock, nil
			}
			p.wmu.Unlock()
			continue
		}
		select {
		case p.sem <- struct{}{}:
			return p.unlock, nil
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (p *Printer) lock(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Printer) unlock() { <-p.sem }

// Write sends one job, in chunks paced to the baud rate (10 bit times per
// byte for 8N1) and held while the printer says XOFF. Chunks end between
// ESC/POS commands where a command fits in one, so a job held by XOFF is
// usually held at a command boundary, where Status may still ask why. It
// returns when the last chunk is handed to the port, or with ctx's error
// when cancelled part-way, in which case part of the job may have printed.
func (p *Printer) Write(ctx context.Context, job []byte) error {
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	defer p.setBoundary(true)
	start := p.now()
	sent := 0
	var c chunker
	for sent < len(job) {
		if err := p.waitXON(ctx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		end, boundary := c.next(job, sent)
		// Off the boundary while bytes are on their way, before the line
		// is taken: a query held at the boundary (lockQuery) must not
		// follow a chunk that ends inside a command.
		p.setBoundary(false)
		p.wmu.Lock()
		n, err := p.w.Write(job[sent:end])
		p.wmu.Unlock()
		sent += n
		if err != nil {
			return fmt.Errorf("write to printer (%d of %d bytes sent): %w", sent, len(job), err)
		}
		p.setBoundary(boundary)
		if p.baud > 0 && sent < len(job) {
			due := time.Duration(sent) * 10 * time.Second / time.Duration(p.baud)
			if err := p.sleep(ctx, due-p.now().Sub(start)); err != nil {
				return err
			}
		}
	}
	return nil
}

// chunker cuts a job into chunks of at most chunkSize bytes, each ending at
// a command boundary unless one command is longer than a chunk (an image
// strip), which is then cut where it must be.
type chunker struct {
	chinese bool // FS & in force: bytes 0x81-0xFE start Hanzi
	left    int  // bytes of a long command still to send
}

// next returns where the chunk starting at from ends, and whether that is
// a command boundary.
func (c *chunker) next(job []byte, from int) (end int, boundary bool) {
	if c.left > 0 {
		n := min(c.left, chunkSize)
		c.left -= n
		return from + n, c.left == 0
	}
	end = from
	for end < len(job) {
		n, err := printer.CommandLen(job[end:], c.chinese)
		if err != nil {
			n = 1 // not ESC/POS we know (or cut short): pass it on byte by byte
		}
		if end+n-from > chunkSize {
			if end > from {
				return end, true
			}
			c.left = n - chunkSize
			return from + chunkSize, false
		}
		switch {
		case job[end] == 0x1c && n == 2:
			c.chinese = job[end+1] == '&'
		case job[end] == 0x1b && n == 2 && job[end+1] == '@':
			c.chinese = false
		}
		end += n
	}
	return end, true
}

// Status asks the printer for its state with DLE EOT 1 (online), 2 (cover)
// and 4 (paper), waiting up to timeout for each answer. A printer that does
// not answer is reported with an error wrapping ErrOffline. It waits for a
// job in progress to finish (a query in the middle of a command's data
// would be printed as data) unless the printer holds that job with XOFF
// at a command boundary: then it asks at once, to learn why.
func (p *Printer) Status(ctx context.Context, timeout time.Duration) (printer.Status, error) {
	unlock, err := p.lockQuery(ctx)
	if err != nil {
		return printer.Status{}, err
	}
	defer unlock()
	var st printer.Status
	for _, n := range []byte{1, 2, 4} {
		b, err := p.query(ctx, n, timeout)
		if err != nil {
			return st, err
		}
		st = st.Merge(printer.DecodeStatus(n, b))
	}
	return st, nil
}

func (p *Printer) query(ctx context.Context, n byte, timeout time.Duration) (byte, error) {
	p.mu.Lock()
	rerr := p.readErr
	p.mu.Unlock()
	if rerr != nil {
		return 0, fmt.Errorf("%w (DLE EOT %d): port read failed: %w", ErrOffline, n, rerr)
	}
	// Drop stale bytes, e.g. a late answer to a query that timed out.
	for len(p.status) > 0 {
		<-p.status
	}
	if _, err := p.w.Write([]byte{0x10, 0x04, n}); err != nil {
		return 0, fmt.Errorf("printer status query: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case b := <-p.status:
		return b, nil
	case <-t.C:
		return 0, fmt.Errorf("%w (DLE EOT %d) within %v", ErrOffline, n, timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

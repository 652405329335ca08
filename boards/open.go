package boards

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/drivers/audioout"
	"github.com/posagent/posagent/drivers/keys"
	"github.com/posagent/posagent/drivers/serialport"
	"github.com/posagent/posagent/printer"
)

// Hardware is what a board gives the agent. A nil field means the board
// (or its config) has no such device.
type Hardware struct {
	Audio   audioout.Output
	Printer *Printer
	Scans   <-chan string
	// Keys and LEDs are the board's GPIO keys and lights (gpio.go).
	Keys *keys.Keys
	LEDs *keys.LEDs

	closers []io.Closer
	scanner status // the scanner port's state, for OnScanner
}

// OnScanner has f told whether the scanner's port is open (true) or gone
// (false) each time that changes, starting with the state now if known. The
// agent passes its ScannerStatus; it is set after Open because the agent is
// built from what Open returns.
func (h *Hardware) OnScanner(f func(up bool)) { h.scanner.watch(f) }

// status is a device's last known state and who to tell of changes.
type status struct {
	mu    sync.Mutex
	known bool
	up    bool
	f     func(bool)
}

func (s *status) watch(f func(bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
	if s.known && f != nil {
		f(s.up)
	}
}

// set records up and tells the watcher if it changed. The watcher is called
// under the lock so that two changes reach it in order.
func (s *status) set(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known && s.up == up {
		return
	}
	s.known, s.up = true, up
	if s.f != nil {
		s.f(up)
	}
}

// Close releases the devices.
func (h *Hardware) Close() error {
	var errs []error
	for _, c := range h.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Open builds the drivers the config names for board b. Devices that are
// absent are skipped with a log line; a serial port that cannot be opened
// now is retried on use (a printer switched on later, a USB scanner plugged
// in after boot), never fatal.
func Open(ctx context.Context, cfg config.Config, b Board, log *slog.Logger) (*Hardware, error) {
	return open(ctx, cfg, b, log, hostPins)
}

// open is Open with the GPIO pins looked up through pins, so tests can hand
// it gpiotest pins without registering them in periph.io's global registry.
func open(ctx context.Context, cfg config.Config, b Board, log *slog.Logger, pins pinSource) (*Hardware, error) {
	h := &Hardware{}
	out := cfg.Audio.Out
	if out == "" {
		out = b.Audio
	}
	if out == "" {
		out = "null"
	}
	useSoundCard(out, cfg.Hardware.SoundCard, log)
	a, err := audioout.Open(out)
	if err != nil {
		return nil, fmt.Errorf("audio.out %q: %w", out, err)
	}
	h.Audio = a
	h.closers = append(h.closers, a)

	if cfg.Printer.Port == "" {
		log.Info("no printer: printer.port is empty")
	} else {
		h.Printer = NewPrinter(ctx, cfg.Printer.Port, cfg.Printer.Baud)
		h.closers = append(h.closers, h.Printer)
	}
	if cfg.Scanner.Port == "" {
		log.Info("no scanner: scanner.port is empty")
	} else {
		ch := make(chan string, 16)
		h.Scans = ch
		go readScanner(ctx, cfg.Scanner, ch, log, h.scanner.set)
	}
	if err := h.openGPIO(ctx, cfg.Hardware, log, pins); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Printer is a receipt printer on a serial port, opened on first use and
// reopened after an error, so a printer that was off or unplugged works
// again as soon as it is back. Status may be called while Print runs (the
// driver decides when a query may go out); the agent's print worker does
// so to learn why a job stalled.
type Printer struct {
	Port string
	Baud int

	ctx  context.Context
	mu   sync.Mutex // guards the fields below, never held while bytes flow
	port io.ReadWriteCloser
	drv  *serialport.Printer
	stop context.CancelFunc
}

// NewPrinter returns the printer on port at baud; nothing is opened until
// first use. It stops working when ctx is done.
func NewPrinter(ctx context.Context, port string, baud int) *Printer {
	return &Printer{Port: port, Baud: baud, ctx: ctx}
}

// StatusTimeout is how long the printer has to answer each DLE EOT query.
const StatusTimeout = time.Second

var errClosed = errors.New("printer closed")

// driver returns the open driver, opening the port if needed.
func (p *Printer) driver() (*serialport.Printer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil || p.ctx.Err() != nil {
		return nil, errClosed
	}
	if p.drv == nil {
		port, err := serialport.Open(p.Port, p.Baud)
		if err != nil {
			return nil, err
		}
		pctx, stop := context.WithCancel(p.ctx)
		p.port, p.stop, p.drv = port, stop, serialport.NewPrinter(pctx, port, p.Baud)
	}
	return p.drv, nil
}

// drop closes the port if drv is still the open driver: the next use
// opens it again.
func (p *Printer) drop(drv *serialport.Printer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drv == drv {
		p.closeLocked()
	}
}

// Print sends one job. On a write error the port is closed; the next job
// opens it again.
func (p *Printer) Print(ctx context.Context, job []byte) error {
	drv, err := p.driver()
	if err != nil {
		return fmt.Errorf("printer %s: %w", p.Port, err)
	}
	if err := drv.Write(ctx, job); err != nil {
		if ctx.Err() == nil {
			p.drop(drv)
		}
		return fmt.Errorf("printer %s: %w", p.Port, err)
	}
	return nil
}

// Status asks the printer for its state (DLE EOT 1, 2, 4). A printer that
// does not answer within StatusTimeout, or a port that cannot be opened,
// is an error wrapping serialport.ErrOffline or the open error.
func (p *Printer) Status(ctx context.Context) (printer.Status, error) {
	drv, err := p.driver()
	if err != nil {
		return printer.Status{}, fmt.Errorf("printer %s: %w", p.Port, err)
	}
	st, err := drv.Status(ctx, StatusTimeout)
	if err != nil {
		return st, fmt.Errorf("printer %s: %w", p.Port, err)
	}
	return st, nil
}

// Paused reports whether the printer holds the job in progress with XOFF.
func (p *Printer) Paused() bool {
	p.mu.Lock()
	drv := p.drv
	p.mu.Unlock()
	return drv != nil && drv.Paused()
}

// Close closes the port.
func (p *Printer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
	return nil
}

func (p *Printer) closeLocked() {
	if p.drv != nil {
		p.stop()
		p.port.Close()
		p.drv, p.port = nil, nil
	}
}

// ScanRetry is how long the scanner loop waits before reopening its port.
const ScanRetry = time.Second

// readScanner delivers valid scans on ch until ctx is done, reopening the
// port whenever it fails, and tells up whether the port is open: a scanner
// unplugged is reported offline, and ok again once it is back and open.
// Scan content may be a payment code, so nothing of it is logged.
func readScanner(ctx context.Context, s config.Serial, ch chan<- string, log *slog.Logger, up func(bool)) {
	defer close(ch)
	for ctx.Err() == nil {
		port, err := serialport.Open(s.Port, s.Baud)
		up(err == nil)
		if err == nil {
			err = serialport.ReadLines(ctx, port, 0, func(l serialport.Line) {
				if l.Err != nil {
					log.Warn("bad scan dropped", "err", l.Err, "len", len(l.Text))
					return
				}
				select {
				case ch <- l.Text:
				case <-ctx.Done():
				}
			})
			port.Close()
		}
		if ctx.Err() != nil {
			return
		}
		up(false)
		log.Warn("scanner unavailable, retrying", "port", s.Port, "err", err)
		select {
		case <-time.After(ScanRetry):
		case <-ctx.Done():
		}
	}
}

// Package serialtest makes pseudo-terminals that stand in for a scanner or
// printer on a serial port, for tests and the dev kit's sim board.
//
// The agent opens the slave side by path, through serialport.Open, exactly
// as it opens a real port; the test or dev kit plays the device on the
// master side.
//
// Invariants:
//   - a Pair's slave is in raw mode before OpenPair returns, and the Pair
//     keeps a slave descriptor open until Close, so the master sees no
//     hang-up while the agent has the port closed;
//   - a Pair's Master is on Go's poller: read deadlines work and Close
//     ends a Read blocked in another goroutine;
//   - Printer answers a DLE EOT at once, with paper out, cover open or
//     buffer full, but only where printer.CommandLen finds a command
//     boundary, and nothing at all while silent (SetSilent);
//   - Printer prints what it receives (status queries aside) in order, and
//     only while it has paper and its cover is shut; it sends XOFF once
//     the bytes it holds come within Margin of Buffer, and XON once they
//     fall below a quarter of it;
//   - the package does not import testing (TB stands in for it), so the
//     dev kit links it.
package serialtest

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Pair is a pseudo-terminal: Master is the device's end, SlavePath the port
// the agent opens. Master supports read deadlines, and closing it ends a
// Read blocked in another goroutine; calling its Fd method would lose both.
//
// Pair keeps a descriptor of the slave open until Close. Without it, the
// master sees a hang-up (reads fail with EIO) whenever the agent has the
// port closed, e.g. before it starts or while it restarts.
type Pair struct {
	Master    *os.File
	SlavePath string
	slave     *os.File
}

// OpenPair creates a pseudo-terminal whose slave is already in raw mode, so
// bytes written on the master before the agent opens the port are not
// echoed back or turned from CR into LF by the line discipline.
func OpenPair() (*Pair, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pseudo-terminal: %w", err)
	}
	if err := makeRaw(int(slave.Fd())); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("set %s raw: %w", slave.Name(), err)
	}
	m, err := pollable(master)
	if err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("pseudo-terminal master: %w", err)
	}
	return &Pair{Master: m, SlavePath: slave.Name(), slave: slave}, nil
}

// pollable returns f as a File on Go's poller. creack/pty leaves the master
// in blocking mode (its ioctls call Fd), where SetReadDeadline fails and
// Close does not end a blocked Read; the device side needs both to stop.
func pollable(f *os.File) (*os.File, error) {
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	f.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// Close closes both ends; the agent's open port then fails its reads.
func (p *Pair) Close() error {
	err := p.Master.Close()
	if serr := p.slave.Close(); err == nil {
		err = serr
	}
	return err
}

// ReleaseExclusive clears the exclusive mode (TIOCEXCL) that
// go.bug.st/serial sets on the port it opens. A real port loses it on its
// last close, but a pseudo-terminal lives on with its master, so after an
// agent is SIGKILLed without closing its port, a restarted agent that is
// not root gets "port busy". Crash tests call this between the kill and the
// restart.
func (p *Pair) ReleaseExclusive() error {
	return unix.IoctlSetInt(int(p.slave.Fd()), unix.TIOCNXCL, 0)
}

// Open creates a pseudo-terminal for a program that is not a test, such
// as the dev kit. The slave descriptor that keeps the master from seeing a
// hang-up lives until the process exits; use OpenPair to close it earlier.
func Open() (master *os.File, slavePath string, err error) {
	p, err := OpenPair()
	if err != nil {
		return nil, "", err
	}
	return p.Master, p.SlavePath, nil
}

// TB is what PTY and NewPair use of a test (testing.TB has it): the
// package is linked into the dev kit (posctl demo), which must not link
// package testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// PTY creates a pseudo-terminal closed when the test ends.
func PTY(t TB) (master *os.File, slavePath string) {
	t.Helper()
	p := NewPair(t)
	return p.Master, p.SlavePath
}

// NewPair is PTY returning the Pair, for tests that need ReleaseExclusive.
func NewPair(t TB) *Pair {
	t.Helper()
	p, err := OpenPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// makeRaw sets the terminal like cfmakeraw(3): no echo, no CR/LF
// translation on input or output, no signals, 8-bit bytes, reads return as
// soon as one byte is there.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

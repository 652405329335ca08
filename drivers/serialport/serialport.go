// Package serialport is the only code that touches serial ports: it opens
// them, frames scanner input into lines, and writes printer jobs paced to the
// baud rate while reading the printer's status answers.
//
// Everything except Open works on plain io.Reader/io.Writer values, as
// periph.io drivers take a conn.Conn: boards decide the paths, tests pass
// pipes, iotest readers or pseudo-terminals.
//
// Invariants:
//   - Open sets 8N1 raw mode with no flow control and sets no modem line;
//     a baud rate of 0 or less is refused;
//   - ReadLines delivers lines in order on the caller's goroutine; a Line
//     without Err is valid UTF-8 with no control byte and no terminator,
//     and no more than maxLen bytes of a line are kept (a longer one is
//     reported once, with ErrLineTooLong);
//   - a Printer writes one job at a time, and a status query (DLE EOT)
//     goes out in the middle of one only while the printer says XOFF, and
//     then only between two commands, never inside a command's data
//     (TestStatusNeverInsideACommand);
//   - a job goes in chunks of at most 256 bytes, paced to the baud rate,
//     and each waits while the printer says XOFF.
package serialport

import (
	"errors"
	"fmt"
	"io"

	"go.bug.st/serial"
)

// Open opens a serial port at baud, 8 data bits, no parity, one stop bit,
// in raw mode with no flow control (go.bug.st/serial turns RTS/CTS and
// XON/XOFF off; Printer honours XOFF itself).
//
// It works on pseudo-terminals too, which is how the sim board and tests
// stand in for hardware. It deliberately sets no modem lines (DTR/RTS):
// those ioctls fail on a pseudo-terminal and receipt printers and scanners
// do not need them.
//
// Closing the returned port makes a Read blocked in another goroutine
// return an error; that is how readers are stopped.
func Open(name string, baud int) (io.ReadWriteCloser, error) {
	if baud <= 0 {
		return nil, fmt.Errorf("open serial port %s: invalid baud rate %d", name, baud)
	}
	p, err := serial.Open(name, &serial.Mode{
		BaudRate: baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("open serial port %s at %d baud: %w", name, baud, portErr(err))
	}
	return p, nil
}

// portErr adds a hint to go.bug.st/serial's terse errors ("Serial port
// busy") saying what an installer should check.
func portErr(err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return fmt.Errorf("in use by another process: %w", err)
		case serial.PortNotFound:
			return fmt.Errorf("no such port: %w", err)
		case serial.PermissionDenied:
			return fmt.Errorf("permission denied (is the user in the dialout group?): %w", err)
		}
	}
	return err
}

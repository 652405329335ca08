package serialport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// DefaultMaxLine is the line limit ReadLines uses when given none. The
// longest thing a cashier scans is a signed configuration QR (a JWS of a
// few hundred bytes); payment codes are 18-24 digits.
const DefaultMaxLine = 4096

// Errors carried by Line.Err, for the caller to say "扫码内容无效" instead
// of acting on a garbled scan. Test them with errors.Is.
var (
	ErrLineTooLong = errors.New("scanned line too long")
	ErrInvalidLine = errors.New("scanned line has non-printable bytes or invalid UTF-8")
)

// Line is one scan. Exactly one of Text (a valid scan, without its line
// terminator) and Err is meaningful; for a bad scan Text holds what was read
// (up to the limit, possibly with control bytes) for logging with %q only.
type Line struct {
	Text string
	Err  error
}

// ReadLines reads scanner input from r and calls fn for every line, in order,
// from the calling goroutine. Scanners end a scan with CR, LF or CRLF, by
// model and setting: any of them ends a line, and since empty lines are
// skipped a CRLF yields one line even when CR and LF arrive in different
// reads. A line longer than maxLen (DefaultMaxLine if maxLen <= 0) is
// reported once with ErrLineTooLong without keeping more than maxLen bytes;
// a line with control bytes or invalid UTF-8 is reported with
// ErrInvalidLine. A line cut off by EOF is still delivered.
//
// ReadLines returns nil at EOF, ctx.Err() once ctx is cancelled, or the read
// error. A Read blocked on a serial port can only be ended by closing the
// port, so when r is an io.Closer ReadLines closes it as soon as ctx is
// cancelled.
func ReadLines(ctx context.Context, r io.Reader, maxLen int, fn func(Line)) error {
	if maxLen <= 0 {
		maxLen = DefaultMaxLine
	}
	if c, ok := r.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	f := framer{max: maxLen, fn: fn}
	buf := make([]byte, 512)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		if ctx.Err() != nil {
			return ctx.Err() // the data, if any, raced with shutdown: drop it
		}
		f.feed(buf[:n])
		if err != nil {
			if errors.Is(err, io.EOF) {
				f.end()
				return nil
			}
			return fmt.Errorf("read scanner: %w", err)
		}
	}
}

// framer splits a byte stream into Lines. It keeps no more than max bytes.
type framer struct {
	max  int
	fn   func(Line)
	buf  []byte
	n    int  // bytes in the current line, including dropped ones
	ctrl bool // the line has a control byte
}

func (f *framer) feed(p []byte) {
	for _, c := range p {
		if c == '\r' || c == '\n' {
			f.end()
			continue
		}
		f.n++
		if len(f.buf) >= f.max {
			continue
		}
		if c < 0x20 || c == 0x7f {
			f.ctrl = true
		}
		f.buf = append(f.buf, c)
	}
}

func (f *framer) end() {
	switch {
	case f.n == 0:
	case f.n > f.max:
		f.fn(Line{Text: string(f.buf), Err: fmt.Errorf("%w: %d bytes, limit %d", ErrLineTooLong, f.n, f.max)})
	case f.ctrl || !utf8.Valid(f.buf):
		f.fn(Line{Text: string(f.buf), Err: ErrInvalidLine})
	default:
		f.fn(Line{Text: string(f.buf)})
	}
	f.buf, f.n, f.ctrl = f.buf[:0], 0, false
}

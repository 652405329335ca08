package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// The dev kit's scanner takes what is typed in the kit's terminal, and what
// is written to the named pipe scanner in the kit's folder: posctl scan and
// posctl qr -scan write there from a second terminal.

// scannerPipe is the pipe's path in the kit's folder.
func scannerPipe(kitDir string) string { return filepath.Join(kitDir, "scanner") }

// lineWriter writes whole scanned lines to the agent's scanner port, one
// at a time (the terminal and the pipe both feed it).
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// scan sends one code as a scanner sends it: the text, then CR.
func (l *lineWriter) scan(code string) {
	if code = strings.TrimSpace(code); code == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write([]byte(code + "\r"))
}

// feed scans each line read from in.
func (l *lineWriter) feed(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<10) // a config QR is a few hundred bytes
	for sc.Scan() {
		l.scan(sc.Text())
	}
}

// openScannerPipe makes the kit's scanner pipe and feeds what is written to
// it to l until the returned close is called. It is opened read-write, so
// it stays open between writers and opening it never waits.
func openScannerPipe(path string, l *lineWriter) (func(), error) {
	os.Remove(path) // one left by a kit that was killed (the kit's lock says none runs)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("scanner pipe %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("scanner pipe %s: %w", path, err)
	}
	go l.feed(f)
	return func() { f.Close(); os.Remove(path) }, nil
}

// scanInKit writes codes to the scanner pipe of the kit running in kitDir.
func scanInKit(kitDir string, codes ...string) error {
	path := scannerPipe(kitDir)
	// Non-blocking: with no kit reading, this fails at once (ENXIO)
	// instead of waiting for a reader.
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, syscall.ENXIO), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no dev kit is running in %s (start it: make run, or posctl demo -dir %s)", kitDir, kitDir)
	case err != nil:
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return fmt.Errorf("%s is not the dev kit's scanner pipe", path)
	}
	for _, c := range codes {
		// One write per line: a pipe keeps writes up to 4096 bytes whole.
		if _, err := f.Write([]byte(strings.TrimSpace(c) + "\n")); err != nil {
			return fmt.Errorf("scanner pipe: %w", err)
		}
	}
	return nil
}

// cmdScan is posctl scan: codes typed into the dev kit's scanner, as if
// scanned at the device (a customer's payment code, an order number, a
// config QR's text).
func cmdScan(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kit := fs.String("kit", defaultKitDir, "the dev kit's folder (posctl demo -dir)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posctl scan [-kit DIR] CODE ...   (each CODE is scanned in the running dev kit)")
		fs.PrintDefaults()
	}
	codes, err := parseInterleaved(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(codes) == 0 {
		fs.Usage()
		return usageError("scan: no CODE")
	}
	for _, c := range codes {
		if strings.TrimSpace(c) == "" || strings.ContainsAny(c, "\r\n") || len(c) > 4000 {
			return usageError(fmt.Sprintf("scan: %q is no code (one line of at most 4000 bytes)", short(c, 40)))
		}
	}
	if err := scanInKit(*kit, codes...); err != nil {
		return err
	}
	for _, c := range codes {
		// Not the code itself: a payment code is a bearer secret.
		fmt.Fprintf(stdout, "scanned %d characters (…%s) in the dev kit at %s\n", len(c), c[max(0, len(c)-4):], *kit)
	}
	return nil
}

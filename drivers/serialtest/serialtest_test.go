package serialtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/posagent/posagent/drivers/serialport"
	"github.com/posagent/posagent/drivers/serialtest"
	"github.com/posagent/posagent/printer"
)

// TestScannerLine plays a scanner on the master: "123\r" must reach the
// agent's ReadLines as "123", also when sent before the agent opens the port.
func TestScannerLine(t *testing.T) {
	master, slave := serialtest.PTY(t)
	if _, err := master.Write([]byte("early\r")); err != nil {
		t.Fatal(err)
	}
	port, err := serialport.Open(slave, 9600)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()

	ctx, cancel := context.WithCancel(t.Context())
	lines := make(chan serialport.Line, 4)
	done := make(chan error, 1)
	go func() { done <- serialport.ReadLines(ctx, port, 64, func(l serialport.Line) { lines <- l }) }()

	if _, err := master.Write([]byte("123\r")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"early", "123"} {
		select {
		case l := <-lines:
			if l.Err != nil || l.Text != want {
				t.Fatalf("line %+v, want %q", l, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no line %q", want)
		}
	}
	// Nothing echoed back to the scanner.
	master.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := master.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("master read %d bytes, %v: echo?", n, err)
	}
	master.SetReadDeadline(time.Time{})

	cancel() // closes the port, which unblocks the Read
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ReadLines: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLines did not stop")
	}
}

// TestPrinterBytes sends a job with every byte value through the agent's
// port; the printer side must get it unchanged (no CR/LF translation).
func TestPrinterBytes(t *testing.T) {
	master, slave := serialtest.PTY(t)
	port, err := serialport.Open(slave, 115200)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := serialport.NewPrinter(ctx, port, 0)

	job := printer.Encode("<CB>收款凭证</CB>\r\n￥128.50<QR>D1</QR>", printer.Generic58())
	for i := range 256 {
		job = append(job, byte(i))
	}
	job = append(job, 0x0a, 0x0d, 0x00, 0xff, 0x0d, 0x0a)

	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(job))
		_, err := io.ReadFull(master, b)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	if err := p.Write(ctx, job); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, job) {
			t.Errorf("printer got\n% X\nwant\n% X", b, job)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("printer got nothing")
	}
}

// TestPrinterStatusOverPTY plays a printer that is out of paper.
func TestPrinterStatusOverPTY(t *testing.T) {
	master, slave := serialtest.PTY(t)
	port, err := serialport.Open(slave, 9600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := serialport.NewPrinter(ctx, port, 9600)
	go func() {
		q := make([]byte, 3)
		for {
			if _, err := io.ReadFull(master, q); err != nil {
				return
			}
			answer := map[byte]byte{1: 0x16, 2: 0x32, 4: 0x72}[q[2]]
			master.Write([]byte{answer})
		}
	}()
	st, err := p.Status(ctx, 10*time.Second) // generous: the machine may be busy with other tests
	if err != nil {
		t.Fatal(err)
	}
	if want := (printer.Status{PaperOut: true}); st != want {
		t.Errorf("status %+v, want %+v", st, want)
	}
}

// TestReopen checks the agent can close and reopen its port (a restart)
// while the device side stays up.
func TestReopen(t *testing.T) {
	master, slave := serialtest.PTY(t)
	for i := range 3 {
		port, err := serialport.Open(slave, 9600)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if _, err := port.Write([]byte{'a' + byte(i)}); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(master, b); err != nil || b[0] != 'a'+byte(i) {
			t.Fatalf("read %q, %v", b, err)
		}
		port.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := serialport.Open("/dev/does-not-exist", 9600); err == nil {
		t.Error("opened a missing port")
	} else {
		t.Log(err)
	}
	_, slave := serialtest.PTY(t)
	if _, err := serialport.Open(slave, 0); err == nil {
		t.Error("opened with baud 0")
	}
}

func TestOpenForDevKit(t *testing.T) {
	master, slave, err := serialtest.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if slave == "" {
		t.Fatal("no slave path")
	}
}

// TestMasterCloseUnblocksRead: the dev kit stops its printer reader by
// closing the master.
func TestMasterCloseUnblocksRead(t *testing.T) {
	master, _ := serialtest.PTY(t)
	done := make(chan error, 1)
	go func() {
		_, err := master.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	master.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Logf("read after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
}

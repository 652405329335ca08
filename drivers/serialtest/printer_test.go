package serialtest

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/posagent/posagent/printer"
)

// host is the agent's end of the line in these tests: the PTY slave.
func host(t *testing.T) (*Printer, *os.File) {
	p := NewPair(t)
	vp := NewPrinter(p.Master)
	vp.Buffer, vp.Margin = 1024, 256
	go vp.Run()
	f, err := os.OpenFile(p.SlavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return vp, f
}

func readByte(t *testing.T, f *os.File) byte {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	if _, err := f.Read(b); err != nil {
		t.Fatal(err)
	}
	return b[0]
}

func waitFor(t *testing.T, vp *Printer, cond func(*Printer) bool) {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(5*time.Second, func() { close(done) })
	defer timer.Stop()
	if !vp.Wait(done, cond) {
		t.Fatal("condition not met")
	}
}

func TestVirtualPrinter(t *testing.T) {
	vp, f := host(t)
	// Status of a ready printer.
	for n, want := range map[byte]byte{1: 0x16, 2: 0x12, 4: 0x12} {
		f.Write([]byte{0x10, 0x04, n})
		if got := readByte(t, f); got != want {
			t.Errorf("DLE EOT %d = %#x, want %#x", n, got, want)
		}
	}
	job := printer.Encode("hello", printer.Generic58())
	f.Write(job)
	waitFor(t, vp, func(v *Printer) bool { return len(v.Printed()) == len(job) })

	// Paper ends: what follows is held, XOFF comes when the buffer fills,
	// status says paper out, and a refill prints it all and sends XON.
	vp.RunOutAfter(0)
	big := printer.Encode(string(bytes.Repeat([]byte("x"), 900)), printer.Generic58())
	f.Write(big)
	if got := readByte(t, f); got != 0x13 {
		t.Fatalf("got %#x, want XOFF", got)
	}
	waitFor(t, vp, func(v *Printer) bool { return v.Held() == len(big) })
	f.Write([]byte{0x10, 0x04, 4})
	if got := readByte(t, f); printer.DecodeStatus(4, got) != (printer.Status{PaperOut: true}) {
		t.Errorf("paper status %#x", got)
	}
	vp.Refill()
	if got := readByte(t, f); got != 0x11 {
		t.Fatalf("got %#x, want XON", got)
	}
	if got := vp.Printed(); !bytes.Equal(got, append(job, big...)) || vp.Overflow() != 0 {
		t.Fatalf("printed %d bytes, overflow %d", len(got), vp.Overflow())
	}

	// Cover open: offline cause in n=2.
	vp.SetCover(true)
	f.Write([]byte{0x10, 0x04, 2})
	if got := readByte(t, f); !printer.DecodeStatus(2, got).CoverOpen {
		t.Errorf("cover status %#x", got)
	}
	vp.SetCover(false)

	// Switched off: no answer, nothing printed.
	vp.SetSilent(true)
	before := len(vp.Printed())
	f.Write([]byte{0x10, 0x04, 1})
	f.Write(job)
	f.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := f.Read(make([]byte, 1)); n != 0 {
		t.Error("a switched-off printer answered")
	}
	if len(vp.Printed()) != before {
		t.Error("a switched-off printer printed")
	}
	if vp.Queries() != 5 {
		t.Errorf("%d queries answered, want 5", vp.Queries())
	}
}

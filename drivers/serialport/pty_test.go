package serialport

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/posagent/posagent/drivers/serialtest"
	"github.com/posagent/posagent/printer"
)

// A 20 KB logo sent to a printer (4 KB buffer) whose roll ends 1 KB into
// it: the printer says XOFF, Write stops between commands without
// overrunning the buffer, Status asks why while Write is held and hears
// "paper out", and after the refill the rest goes out: the paper has the
// whole job once.
func TestPrinterLargeImageOverPTYNeverOverflows(t *testing.T) {
	pair := serialtest.NewPair(t)
	vp := serialtest.NewPrinter(pair.Master)
	go vp.Run()
	port, err := Open(pair.SlavePath, 230400)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	p := NewPrinter(ctx, port, 230400)

	logo := printer.NewBitmap(384, 420)
	for y := 0; y < logo.H; y++ {
		for x := (y % 7); x < logo.W; x += 3 {
			logo.Set(x, y)
		}
	}
	job := printer.EncodeWith("<LOGO>after the logo", printer.Generic58(), printer.Options{Logo: logo})
	if len(job) < 20000 {
		t.Fatalf("job is only %d bytes", len(job))
	}
	vp.RunOutAfter(1000)
	done := make(chan error, 1)
	go func() { done <- p.Write(ctx, job) }()

	stop := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(stop) })
	if !vp.Wait(stop, func(v *serialtest.Printer) bool { return v.PaperOut() && v.Held() > 2048 }) {
		t.Fatal("printer never ran out of paper")
	}
	for deadline := time.Now().Add(10 * time.Second); !p.Paused(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("driver never saw XOFF")
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := p.Status(qctx, time.Second)
	if err != nil || !st.PaperOut {
		t.Fatalf("status while held: %+v, %v", st, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Write returned while the printer held it: %v", err)
	default:
	}
	vp.Refill()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stop2 := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(stop2) })
	vp.Wait(stop2, func(v *serialtest.Printer) bool { return len(v.Printed()) >= len(job) })
	if got := vp.Printed(); !bytes.Equal(got, job) {
		t.Fatalf("printed %d bytes, sent %d; equal prefix: %v", len(got), len(job), bytes.HasPrefix(job, got))
	}
	if n := vp.Overflow(); n != 0 {
		t.Fatalf("buffer overrun by %d bytes", n)
	}
	if vp.Queries() != 3 {
		t.Errorf("%d status queries, want 3", vp.Queries())
	}
}

// TestChunkerBoundaries: chunks end between commands unless a command is
// longer than a chunk, and together they are the job.
func TestChunkerBoundaries(t *testing.T) {
	logo := printer.NewBitmap(384, 30) // one 1440-byte raster command
	job := printer.EncodeWith("中文 text<LOGO><QR>abc</QR>", printer.Generic58(), printer.Options{Logo: logo})
	var c chunker
	var got []byte
	for from := 0; from < len(job); {
		end, boundary := c.next(job, from)
		if end <= from || end-from > chunkSize {
			t.Fatalf("chunk %d..%d", from, end)
		}
		if boundary {
			// What was sent so far decodes whole.
			if _, err := printer.Decode(job[:end]); err != nil {
				t.Fatalf("boundary at %d is inside a command: %v", end, err)
			}
		}
		got = append(got, job[from:end]...)
		from = end
	}
	if !bytes.Equal(got, job) {
		t.Fatal("chunks differ from the job")
	}
}

package serialport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/printer"

	"github.com/posagent/posagent/internal/testkit"
)

// fakePort is a printer on the other end of a line: what the host writes is
// kept and shown to answer; what the device says is written to dev.
type fakePort struct {
	io.Reader
	dev *io.PipeWriter

	mu      sync.Mutex
	written bytes.Buffer
	writes  []int                 // size of each Write
	answer  func(p []byte) []byte // device's reply to a write, if any
	// hold, when set, keeps Write number n (from 1) from returning, its
	// bytes taken, until hold(n)'s channel is closed: a slow line.
	hold func(n int) <-chan struct{}
}

func newFakePort() *fakePort {
	pr, pw := io.Pipe()
	return &fakePort{Reader: pr, dev: pw}
}

func (f *fakePort) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.written.Write(p)
	f.writes = append(f.writes, len(p))
	answer, n, hold := f.answer, len(f.writes), f.hold
	f.mu.Unlock()
	if hold != nil {
		if ch := hold(n); ch != nil {
			<-ch
		}
	}
	if answer != nil {
		if r := answer(p); r != nil {
			go f.dev.Write(r)
		}
	}
	return len(p), nil
}

func (f *fakePort) Close() error { return f.dev.Close() }

func (f *fakePort) bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.written.Bytes())
}

func TestPrinterWritePaced(t *testing.T) {
	ctx := t.Context()
	port := newFakePort()
	p := NewPrinter(ctx, port, 9600)
	var clock time.Duration
	var slept []time.Duration
	base := time.Unix(0, 0)
	p.now = func() time.Time { return base.Add(clock) }
	p.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		clock += d
		return nil
	}
	job := bytes.Repeat([]byte{0x1b, '@', 0x0a, 0x0d, 0x00, 0xff, 'x'}, 150) // 1050 bytes
	if err := p.Write(ctx, job); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(port.bytes(), job) {
		t.Fatal("job changed on the way")
	}
	// Chunks of at most 256 bytes, cut between commands; a sleep after each
	// but the last brings the clock to the wire time of what was sent.
	port.mu.Lock()
	writes := port.writes
	port.mu.Unlock()
	if len(slept) != len(writes)-1 || len(writes) < 5 {
		t.Fatalf("%d writes, slept %v", len(writes), slept)
	}
	for _, n := range writes {
		if n > chunkSize {
			t.Errorf("chunk of %d bytes", n)
		}
	}
	last := writes[len(writes)-1]
	if want := time.Duration(len(job)-last) * 10 * time.Second / 9600; clock != want {
		t.Errorf("paced to %v, want %v", clock, want)
	}
}

func TestPrinterWriteUnpaced(t *testing.T) {
	port := newFakePort()
	p := NewPrinter(t.Context(), port, 0)
	p.sleep = func(context.Context, time.Duration) error { t.Error("slept with pacing off"); return nil }
	job := bytes.Repeat([]byte("abc"), 1000)
	if err := p.Write(t.Context(), job); err != nil || !bytes.Equal(port.bytes(), job) {
		t.Fatalf("err %v", err)
	}
}

func TestPrinterXOFF(t *testing.T) {
	port := newFakePort()
	p := NewPrinter(t.Context(), port, 0)
	port.dev.Write([]byte{xoff})
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.xoff })

	done := make(chan error, 1)
	go func() { done <- p.Write(t.Context(), []byte("job")) }()
	select {
	case err := <-done:
		t.Fatalf("Write returned during XOFF: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if len(port.bytes()) != 0 {
		t.Fatal("wrote during XOFF")
	}
	port.dev.Write([]byte{xon})
	if err := <-done; err != nil || string(port.bytes()) != "job" {
		t.Fatalf("after XON: %v, %q", err, port.bytes())
	}

	// Cancelled while paused.
	port.dev.Write([]byte{xoff})
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.xoff })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := p.Write(ctx, []byte("more")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v", err)
	}
}

func TestPrinterStatus(t *testing.T) {
	port := newFakePort()
	answers := map[byte]byte{1: 0x16, 2: 0x12, 4: 0x72} // online, cover shut, paper end
	port.answer = func(w []byte) []byte {
		if len(w) == 3 && w[0] == 0x10 && w[1] == 0x04 {
			return []byte{answers[w[2]]}
		}
		return nil
	}
	p := NewPrinter(t.Context(), port, 9600)
	st, err := p.Status(t.Context(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := (printer.Status{PaperOut: true}); st != want {
		t.Errorf("status %+v, want %+v", st, want)
	}
	if got := port.bytes(); !bytes.Equal(got, []byte{0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 4}) {
		t.Errorf("queries % X", got)
	}
}

// A status query never lands inside a command's data: with a command longer
// than a chunk (an image strip) cut across two chunks, an XOFF that comes
// while its first part is on the line finds the job mid-command, so the
// query waits for the job to reach a boundary (here its end, after XON)
// instead of going out between the two parts, where the printer would take
// DLE EOT for pixels.
func TestStatusNeverInsideACommand(t *testing.T) {
	port := newFakePort()
	second := make(chan struct{})
	entered := make(chan struct{})
	port.hold = func(n int) <-chan struct{} {
		if n == 2 {
			close(entered)
			return second
		}
		return nil
	}
	port.answer = func(w []byte) []byte {
		if len(w) == 3 && w[0] == 0x10 && w[1] == 0x04 {
			return []byte{0x12}
		}
		return nil
	}
	p := NewPrinter(t.Context(), port, 0)
	strip := append([]byte{0x1d, 'v', '0', 0, 40, 0, 10, 0}, bytes.Repeat([]byte{0xaa}, 400)...) // GS v 0: 40 × 10 bytes
	job := append([]byte{0x1b, '@'}, strip...)
	wrote := make(chan error, 1)
	go func() { wrote <- p.Write(t.Context(), job) }()
	<-entered // the strip's first 256 bytes are on the line
	port.dev.Write([]byte{xoff})
	waitFor(t, p.Paused)
	asked := make(chan error, 1)
	go func() { _, err := p.Status(t.Context(), time.Second); asked <- err }()
	time.Sleep(20 * time.Millisecond) // the query, were it to go now, would be waiting for the line
	close(second)
	select {
	case err := <-asked:
		t.Fatalf("status asked mid-command: %v; line % X", err, port.bytes()[len(job)-152:])
	case <-time.After(50 * time.Millisecond):
	}
	port.dev.Write([]byte{xon})
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if err := <-asked; err != nil {
		t.Fatal(err)
	}
	got := port.bytes()
	if !bytes.Equal(got[:len(job)], job) || !bytes.Equal(got[len(job):], []byte{0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 4}) {
		t.Fatalf("line: the job then the queries expected, got % X", got[len(job)-4:])
	}
}

func TestPrinterStatusTimeout(t *testing.T) {
	port := newFakePort()
	p := NewPrinter(t.Context(), port, 9600)
	start := time.Now()
	_, err := p.Status(t.Context(), 30*time.Millisecond)
	if !errors.Is(err, ErrOffline) {
		t.Fatalf("err %v, want ErrOffline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}

	// Once the port is closed, Status fails at once.
	port.Close()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.readErr != nil })
	if _, err := p.Status(t.Context(), time.Hour); !errors.Is(err, ErrOffline) {
		t.Fatalf("err %v, want ErrOffline", err)
	}
}

func TestPrinterClosesPortOnCancel(t *testing.T) {
	port := newFakePort()
	ctx, cancel := context.WithCancel(t.Context())
	p := NewPrinter(ctx, port, 0)
	cancel()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.readErr != nil })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.WaitUntil(t, 5*time.Second, "the condition", cond)
}

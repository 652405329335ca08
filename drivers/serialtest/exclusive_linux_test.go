package serialtest

import (
	"testing"

	"github.com/posagent/posagent/drivers/serialport"
	"golang.org/x/sys/unix"
)

func exclusive(t *testing.T, p *Pair) bool {
	t.Helper()
	v, err := unix.IoctlGetInt(int(p.slave.Fd()), unix.TIOCGEXCL)
	if err != nil {
		t.Skipf("TIOCGEXCL: %v", err)
	}
	return v != 0
}

// TestReleaseExclusive simulates an agent killed with its port open: the
// port stays exclusive until ReleaseExclusive.
func TestReleaseExclusive(t *testing.T) {
	p := NewPair(t)
	port, err := serialport.Open(p.SlavePath, 9600)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	if !exclusive(t, p) {
		t.Fatal("serial.Open did not set TIOCEXCL; ReleaseExclusive is not needed")
	}
	if err := p.ReleaseExclusive(); err != nil {
		t.Fatal(err)
	}
	if exclusive(t, p) {
		t.Error("still exclusive")
	}
}

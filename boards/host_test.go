//go:build linux

package boards

import (
	"runtime"
	"slices"
	"testing"

	"periph.io/x/conn/v3/driver/driverreg"
)

// TestHostDrivers: the GPIO drivers registered are the ones the board
// profiles and docs/porting.md name (host_linux.go, host_socs.go), on ARM
// (make test-arm runs this under qemu) as on the build machine, and none of
// the boards no profile names, which periph.io's host.Init would add.
func TestHostDrivers(t *testing.T) {
	st, err := driverreg.Init()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range st.Loaded {
		names = append(names, d.String())
	}
	for _, f := range append(st.Skipped, st.Failed...) {
		names = append(names, f.D.String())
	}
	want := []string{"ioctl-gpio", "sysfs-gpio"}
	if runtime.GOARCH == "arm" || runtime.GOARCH == "arm64" {
		want = append(want, "allwinner-gpio", "bcm283x-gpio", "rpi")
	}
	for _, n := range want {
		if !slices.Contains(names, n) {
			t.Errorf("%s not registered; registered: %v", n, names)
		}
	}
	for _, n := range []string{"beaglebone", "chip", "odroid-c1", "pine64", "am335x"} {
		if slices.Contains(names, n) {
			t.Errorf("%s registered: no board profile names it", n)
		}
	}
	t.Logf("%s: %v", runtime.GOARCH, names)
}

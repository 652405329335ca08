package boards

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ports on a fake /dev and /sys: USB ports under their by-id names with
// their USB ids, a built-in UART listed, the 8250 placeholders (type 0)
// and non-serial ttys left out.
func TestPorts(t *testing.T) {
	root := t.TempDir()
	mk := func(path, content string) {
		p := filepath.Join(root, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, path string) {
		p := filepath.Join(root, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"ttyUSB0", "ttyACM0", "ttyS0", "ttyS1", "ttyAMA0", "tty1", "console"} {
		mk("dev/"+d, "")
	}
	link("../../ttyUSB0", "dev/serial/by-id/usb-1a86_USB_Serial-if00-port0")
	mk("sys/devices/usb1/1-1/idVendor", "1a86\n")
	mk("sys/devices/usb1/1-1/idProduct", "7523\n")
	mk("sys/devices/usb1/1-1/product", "USB Serial\n")
	os.MkdirAll(filepath.Join(root, "sys/devices/usb1/1-1/1-1:1.0/ttyUSB0"), 0o755)
	link("../../../devices/usb1/1-1/1-1:1.0", "sys/class/tty/ttyUSB0/device")
	mk("sys/class/tty/ttyS0/type", "0\n") // placeholder
	mk("sys/class/tty/ttyS1/type", "4\n") // a 16550A

	got := Ports(root)
	var paths []string
	for _, p := range got {
		paths = append(paths, p.Path+" "+p.Kind+" "+p.USB)
	}
	want := []string{
		"/dev/ttyACM0 acm ",
		"/dev/ttyAMA0 uart ",
		"/dev/ttyS1 uart ",
		"/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0 usb 1a86:7523 USB Serial",
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ports:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	var out bytes.Buffer
	PrintPorts(&out, got)
	if !strings.Contains(out.String(), "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0\tusb\t/dev/ttyUSB0\t1a86:7523 USB Serial") {
		t.Errorf("printed:\n%s", out.String())
	}
	out.Reset()
	PrintPorts(&out, Ports(t.TempDir()))
	if !strings.Contains(out.String(), "no serial ports") {
		t.Errorf("empty: %s", out.String())
	}
}

package boards

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DevRoot is the root Ports reads the real system under.
const DevRoot = "/"

// Port is a serial port that may have a scanner or printer on it.
type Port struct {
	// Path is what to put in scanner.port or printer.port: the stable
	// /dev/serial/by-id link for a USB adapter when there is one (it
	// survives replugging into another socket), else the /dev node.
	Path string
	// Dev is the /dev node the port is now.
	Dev string
	// Kind says what it is: usb (ttyUSB: a USB-serial adapter), acm
	// (ttyACM: a USB CDC device, as most USB scanners are), uart (a built-in
	// UART: ttyS, ttyAMA, ttymxc, …).
	Kind string
	// USB is "vid:pid product" for USB ports, from sysfs.
	USB string
}

// ttyPatterns are the device names that may be serial ports a POS device
// uses. Virtual consoles (tty0..63) and pseudo-terminals are not.
var ttyPatterns = []struct{ glob, kind string }{
	{"ttyUSB*", "usb"}, {"ttyACM*", "acm"},
	{"ttyS*", "uart"}, {"ttyAMA*", "uart"}, {"ttymxc*", "uart"}, {"ttySAC*", "uart"}, {"ttyHS*", "uart"},
}

// Ports lists the candidate serial ports under root (DevRoot, or a fake
// tree in tests): the /dev nodes above, with a ttyS that the kernel reports
// as of unknown type (the 8250 driver's placeholders on PCs, ttyS0-31 with
// no UART behind them) left out, and each USB port under its
// /dev/serial/by-id name when udev made one. It never opens a port: opening
// a printer's port may reset it, and a port in use is busy.
func Ports(root string) []Port {
	byID := map[string]string{} // /dev node → by-id link
	links, _ := filepath.Glob(filepath.Join(root, "dev/serial/by-id/*"))
	for _, l := range links {
		target, err := filepath.EvalSymlinks(l)
		if err == nil {
			byID[target] = "/" + strings.TrimPrefix(l, filepath.Clean(root)+"/")
		}
	}
	var ports []Port
	for _, p := range ttyPatterns {
		devs, _ := filepath.Glob(filepath.Join(root, "dev", p.glob))
		for _, dev := range devs {
			name := filepath.Base(dev)
			sys := filepath.Join(root, "sys/class/tty", name)
			if p.kind == "uart" && strings.TrimSpace(readFile(filepath.Join(sys, "type"))) == "0" {
				continue
			}
			port := Port{Dev: "/dev/" + name, Kind: p.kind}
			port.Path = port.Dev
			if l, ok := byID[dev]; ok {
				port.Path = l
			}
			if p.kind != "uart" {
				port.USB = usbInfo(filepath.Join(sys, "device"))
			}
			ports = append(ports, port)
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Dev < ports[j].Dev })
	return ports
}

// usbInfo walks up from a tty's sysfs device (the USB interface) to the USB
// device that has idVendor, a few levels at most.
func usbInfo(dev string) string {
	d, err := filepath.EvalSymlinks(dev)
	if err != nil {
		return ""
	}
	for range 4 {
		vid := strings.TrimSpace(readFile(filepath.Join(d, "idVendor")))
		if vid != "" {
			pid := strings.TrimSpace(readFile(filepath.Join(d, "idProduct")))
			s := vid + ":" + pid
			if prod := strings.TrimSpace(readFile(filepath.Join(d, "product"))); prod != "" {
				s += " " + prod
			}
			return s
		}
		d = filepath.Dir(d)
	}
	return ""
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// PrintPorts writes ports as posagent -ports shows them, one a line.
func PrintPorts(w io.Writer, ports []Port) {
	if len(ports) == 0 {
		fmt.Fprintln(w, "no serial ports found (USB scanner or printer unplugged? see dmesg)")
		return
	}
	for _, p := range ports {
		line := fmt.Sprintf("%s\t%s", p.Path, p.Kind)
		if p.Path != p.Dev {
			line += "\t" + p.Dev
		}
		if p.USB != "" {
			line += "\t" + p.USB
		}
		fmt.Fprintln(w, line)
	}
}

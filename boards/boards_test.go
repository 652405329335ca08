package boards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/drivers/serialtest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// identity is the part of a config no board supplies.
const identity = `"device_id":"dev-1","mqtt":{"url":"tcp://127.0.0.1:1883"},"auth_key":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="`

func TestProfiles(t *testing.T) {
	names := Names()
	for _, want := range []string{"rpi", "sim", "smartpos", "speaker"} {
		if _, err := Lookup(want); err != nil {
			t.Errorf("no board %s: %v", want, err)
		}
	}
	if _, err := Lookup("nokia"); err == nil || !strings.Contains(err.Error(), "rpi") {
		t.Errorf("unknown board: %v", err)
	}
	var list bytes.Buffer
	List(&list)
	for _, n := range names {
		// Every profile, applied under a minimal config, is valid.
		c, b, err := ParseConfig([]byte(`{"board":"` + n + `",` + identity + `}`))
		if err != nil {
			t.Errorf("board %s: %v", n, err)
			continue
		}
		if b.Name != n || c.Board != n {
			t.Errorf("board %s: got %s/%s", n, b.Name, c.Board)
		}
		if !strings.Contains(list.String(), n+"\t") {
			t.Errorf("-board list lacks %s", n)
		}
	}
	for _, pin := range []string{"GPIO17", "/dev/ttyACM0", "Headphones", "/dev/ttyS2"} {
		if !strings.Contains(list.String(), pin) {
			t.Errorf("-board list does not name %s", pin)
		}
	}
}

// A board's values fill what the file leaves out; every key the file sets
// wins, GPIO pins included; sim changes nothing of config.Default.
func TestConfigOverridesBoard(t *testing.T) {
	c, _, err := ParseConfig([]byte(`{"board":"rpi",` + identity + `,
		"printer":{"port":"/dev/serial/by-id/usb-printer","paper_mm":80},
		"audio":{"out":"null"},
		"hw":{"led_status":"","key_function":"GPIO5","sound_card":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	rpi, _ := Lookup("rpi")
	want := config.Default()
	rpi.Apply(&want)
	want.DeviceID, want.MQTT.URL, want.AuthKey = c.DeviceID, c.MQTT.URL, c.AuthKey
	want.Board = "rpi"
	want.Printer.Port, want.Printer.PaperMM = "/dev/serial/by-id/usb-printer", 80
	want.Audio.Out = "null"
	want.Hardware.LEDStatus, want.Hardware.KeyFunction, want.Hardware.SoundCard = "", "GPIO5", "1"
	if got, w := mustJSON(t, c), mustJSON(t, want); got != w {
		t.Errorf("config\n got %s\nwant %s", got, w)
	}
	if c.Scanner.Port != "/dev/ttyACM0" || c.Printer.Baud != 9600 || c.Hardware.KeyVolumeUp != "GPIO17" {
		t.Errorf("board defaults not applied: %+v %+v", c.Scanner, c.Hardware)
	}

	sim, _, err := ParseConfig([]byte(`{` + identity + `}`))
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	if sim.Scanner != def.Scanner || sim.Printer != def.Printer || sim.Audio != def.Audio || sim.Hardware != def.Hardware {
		t.Errorf("sim board changed the defaults: %+v", sim)
	}
}

func TestConfigErrors(t *testing.T) {
	for in, key := range map[string]string{
		`{"board":"nokia",` + identity + `}`:                         "board",
		`{"board":"rpi","hw":{"led_colour":"red"},` + identity + `}`: "led_colour",
		`{"board":"rpi",` + identity + `,"printer":{"paper_mm":70}}`: "printer.paper_mm",
	} {
		_, _, err := ParseConfig([]byte(in))
		var ke *config.KeyError
		if !errors.As(err, &ke) || !strings.Contains(ke.Key, key) {
			t.Errorf("%s: %v, want a key error naming %s", in, err, key)
		}
	}
	if _, _, err := LoadConfig(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("missing file accepted")
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// boards spells the agent's key and LED names itself (it sits below device);
// they must be the same strings.
func TestNamesAgreeWithDevice(t *testing.T) {
	for mine, theirs := range map[string]string{
		KeyVolumeUp: device.KeyVolumeUp, KeyVolumeDown: device.KeyVolumeDown, KeyFunction: device.KeyFunction,
		LEDNetwork: device.LEDNetwork, LEDStatus: device.LEDStatus,
	} {
		if mine != theirs {
			t.Errorf("boards %q, device %q", mine, theirs)
		}
	}
}

// testPins is a pinSource over gpiotest pins, counting host initialisations.
type testPins struct {
	pins  map[string]*gpiotest.Pin
	inits int
}

func (p *testPins) source() pinSource {
	return pinSource{
		init: func() error { p.inits++; return nil },
		byName: func(n string) gpio.PinIO {
			if pin, ok := p.pins[n]; ok {
				return pin
			}
			return nil
		},
	}
}

// Open wires the pins the board and config name: present ones become keys
// and LEDs that work, absent ones are skipped, and a board with no pins
// never initialises the host's GPIO.
func TestOpenGPIO(t *testing.T) {
	tp := &testPins{pins: map[string]*gpiotest.Pin{}}
	for _, n := range []string{"GPIO17", "GPIO27", "GPIO22", "GPIO23"} { // no GPIO24: status LED absent
		tp.pins[n] = &gpiotest.Pin{N: n, EdgesChan: make(chan gpio.Level, 4)}
	}
	c, b, err := ParseConfig([]byte(`{"board":"rpi",` + identity + `,"audio":{"out":"null"},"scanner":{"port":""},"printer":{"port":""}}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hw, err := open(ctx, c, b, quiet(), tp.source())
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	if tp.inits != 1 || hw.Keys == nil || hw.LEDs == nil {
		t.Fatalf("inits %d keys %v leds %v", tp.inits, hw.Keys, hw.LEDs)
	}
	if got := strings.Join(hw.Keys.Names(), ","); got != "volume_up,volume_down,function" {
		t.Errorf("keys %s", got)
	}
	if got := hw.LEDs.Names(); len(got) != 1 || got[0] != LEDNetwork {
		t.Errorf("LEDs %v, want the network one only", got)
	}
	hw.LEDs.SetLED(LEDNetwork, "on")
	if tp.pins["GPIO23"].Read() != gpio.High {
		t.Error("network LED pin not driven")
	}
	presses := make(chan string, 4)
	go hw.Keys.RunKeys(ctx, func(k string, long bool) { presses <- k })
	fn := tp.pins["GPIO22"]
	pull := func() gpio.Pull { fn.Lock(); defer fn.Unlock(); return fn.P }
	for pull() != gpio.PullUp { // Run has set the pins up
		time.Sleep(time.Millisecond)
	}
	fn.EdgesChan <- gpio.Low
	time.Sleep(100 * time.Millisecond)
	fn.EdgesChan <- gpio.High
	select {
	case k := <-presses:
		if k != KeyFunction {
			t.Errorf("press of %s", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no press from the function key")
	}

	none := &testPins{}
	c2, b2, _ := ParseConfig([]byte(`{` + identity + `,"audio":{"out":"null"}}`))
	hw2, err := open(ctx, c2, b2, quiet(), none.source())
	if err != nil {
		t.Fatal(err)
	}
	defer hw2.Close()
	if none.inits != 0 || hw2.Keys != nil || hw2.LEDs != nil {
		t.Errorf("sim board: inits %d keys %v leds %v", none.inits, hw2.Keys, hw2.LEDs)
	}
}

// port is a serial device that can be unplugged and plugged back: a
// pseudo-terminal behind a symlink, as /dev/serial/by-id names a USB adapter.
type port struct {
	t    *testing.T
	path string
	pair *serialtest.Pair
}

func newPort(t *testing.T) *port {
	p := &port{t: t, path: filepath.Join(t.TempDir(), "ttyUSB0")}
	p.plug()
	return p
}

func (p *port) plug() {
	p.pair = serialtest.NewPair(p.t)
	if err := os.Symlink(p.pair.SlavePath, p.path); err != nil {
		p.t.Fatal(err)
	}
}

func (p *port) unplug() {
	os.Remove(p.path)
	p.pair.Close()
}

// A scanner that disappears is reported offline and read again, without a
// restart, once it is back; OnScanner set late is told the state at once.
func TestScannerUnpluggedAndBack(t *testing.T) {
	sc := newPort(t)
	c := config.Default()
	c.Audio.Out = "null"
	c.Scanner = config.Serial{Port: sc.path, Baud: 9600}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b, _ := Lookup("sim")
	hw, err := Open(ctx, c, b, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	scan := func(code string) {
		t.Helper()
		sc.pair.Master.Write([]byte(code + "\r"))
		select {
		case got := <-hw.Scans:
			if got != code {
				t.Fatalf("scanned %q, want %q", got, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("scan %s not delivered", code)
		}
	}
	scan("134567890123456789") // the port is open once a scan comes through
	states := make(chan bool, 8)
	hw.OnScanner(func(up bool) { states <- up })
	want := func(up bool) {
		t.Helper()
		select {
		case got := <-states:
			if got != up {
				t.Fatalf("scanner up=%v, want %v", got, up)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("scanner up=%v never reported", up)
		}
	}
	want(true)
	sc.unplug()
	want(false)
	sc.plug()
	want(true)
	scan("284567890123456789")
}

// A printer that disappears fails its job, and prints again once it is
// back, on the same Printer.
func TestPrinterUnpluggedAndBack(t *testing.T) {
	pr := newPort(t)
	p := NewPrinter(t.Context(), pr.path, 115200)
	defer p.Close()
	dev := serialtest.NewPrinter(pr.pair.Master)
	go dev.Run()
	if err := p.Print(t.Context(), []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	pr.unplug()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var err error
	for err == nil && ctx.Err() == nil { // the first write may land in the closing pty's buffer
		err = p.Print(ctx, []byte("lost\n"))
	}
	if err == nil {
		t.Fatal("printing to an unplugged printer succeeded")
	}
	pr.plug()
	dev = serialtest.NewPrinter(pr.pair.Master)
	go dev.Run()
	if err := p.Print(t.Context(), []byte("two\n")); err != nil {
		t.Fatalf("printer back: %v", err)
	}
	done := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(done) })
	if !dev.Wait(done, func(d *serialtest.Printer) bool { return bytes.Contains(d.Printed(), []byte("two")) }) {
		t.Fatal("job not printed after replug")
	}
}

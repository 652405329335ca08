// Package boards holds board profiles: which ports, paper, audio and pins a
// device model has. A board only supplies defaults (Apply), the config
// file is decoded over them, and Open builds the drivers the result names.
//
// Invariants:
//   - Apply only fills what the board names: a zero field of the board
//     leaves the config's value, and nothing is cleared (KeysActiveLow is
//     only ever set);
//   - ParseConfig and LoadConfig give config.Default, then the board, then
//     every key of the file over both, validated; a file over
//     config.MaxFileSize or naming an unknown board is refused;
//   - what a board or its config lacks is skipped with a log line, never
//     an error, as is a GPIO pin the host does not have; Open fails only
//     for an audio.out that cannot be opened or LED pins that exist but
//     cannot be set up;
//   - a serial port that cannot be opened is never fatal: the printer is
//     opened on first use and again after a write error, the scanner's
//     port ScanRetry after each failure until ctx is done;
//   - Ports never opens a port, and nothing of a scan's content is logged.
package boards

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/posagent/posagent/config"
)

// Board is one hardware profile. Its zero fields leave the config's own
// defaults alone, so a board says only what differs on that model.
type Board struct {
	Name        string
	Description string
	// Arch is the build the board runs (make build-arm: armv7, make
	// build-arm64: arm64; any for the sim board).
	Arch string
	// Scanner and Printer are the default ports ("" none), baud rates and,
	// for the printer, paper width and status mode.
	Scanner config.Serial
	Printer config.Printer
	// Audio is the default audio.out of the board.
	Audio string
	// Hardware names the sound card and the GPIO pins of keys and LEDs.
	Hardware config.Hardware
}

// known are the profiles. Paths under /dev/serial/by-id would be better for
// USB adapters but are unique per adapter; ttyUSB/ttyACM names are what an
// installer overrides after looking at posagent -ports.
var known = map[string]Board{
	"sim": {
		Name:        "sim",
		Description: "no hardware of its own: scanner and printer are the serial ports the config names (pseudo-terminals in tests and the dev kit), audio as configured, keys through the local API",
		Arch:        "any",
	},
	"rpi": {
		Name:        "rpi",
		Description: "Raspberry Pi 3/4/5 or Zero 2 W (Raspberry Pi OS): USB scanner (CDC-ACM) and USB-serial receipt printer, speaker on the headphone jack, three keys and two LEDs on the header",
		Arch:        "arm64 (armv7 on 32-bit OS)",
		Scanner:     config.Serial{Port: "/dev/ttyACM0", Baud: 9600},
		Printer:     config.Printer{Port: "/dev/ttyUSB0", Baud: 9600, PaperMM: 58, Status: "query"},
		Audio:       "alsa",
		Hardware: config.Hardware{
			SoundCard:   "Headphones",
			KeyVolumeUp: "GPIO17", KeyVolumeDown: "GPIO27", KeyFunction: "GPIO22", KeysActiveLow: true,
			LEDNetwork: "GPIO23", LEDStatus: "GPIO24",
		},
	},
	"speaker": {
		Name:        "speaker",
		Description: "generic armv7 Linux cloud speaker (云喇叭, Allwinner/Rockchip class module): no scanner or printer, codec speaker on card 0, volume keys and function key, network and status LEDs on sysfs GPIO numbers",
		Arch:        "armv7",
		Printer:     config.Printer{Status: "none"},
		Audio:       "alsa",
		Hardware: config.Hardware{
			SoundCard:   "0",
			KeyVolumeUp: "GPIO3", KeyVolumeDown: "GPIO6", KeyFunction: "GPIO7", KeysActiveLow: true,
			LEDNetwork: "GPIO10", LEDStatus: "GPIO11",
		},
	},
	"smartpos": {
		Name:        "smartpos",
		Description: "Linux smart POS terminal (arm64): built-in scanner on UART1, built-in 58 mm thermal printer on UART2, speaker on card 0, function key and status LED",
		Arch:        "arm64",
		Scanner:     config.Serial{Port: "/dev/ttyS1", Baud: 115200},
		Printer:     config.Printer{Port: "/dev/ttyS2", Baud: 115200, PaperMM: 58, Status: "query"},
		Audio:       "alsa",
		Hardware: config.Hardware{
			SoundCard:   "0",
			KeyFunction: "GPIO35", KeysActiveLow: true,
			LEDStatus: "GPIO36",
		},
	},
}

// Lookup returns the named board, or an error listing the known ones.
func Lookup(name string) (Board, error) {
	b, ok := known[name]
	if !ok {
		return Board{}, fmt.Errorf("unknown board %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the known boards, sorted.
func Names() []string {
	var n []string
	for k := range known {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Apply writes the board's defaults into c. Call it on config.Default()
// before decoding the config file over it, so every key the file sets wins
// and every key it leaves out takes the board's value (LoadConfig does
// this).
func (b Board) Apply(c *config.Config) {
	if b.Scanner.Port != "" {
		c.Scanner.Port = b.Scanner.Port
	}
	if b.Scanner.Baud != 0 {
		c.Scanner.Baud = b.Scanner.Baud
	}
	p := b.Printer
	if p.Port != "" {
		c.Printer.Port = p.Port
	}
	if p.Baud != 0 {
		c.Printer.Baud = p.Baud
	}
	if p.PaperMM != 0 {
		c.Printer.PaperMM = p.PaperMM
	}
	if p.Status != "" {
		c.Printer.Status = p.Status
	}
	if p.Model != "" {
		c.Printer.Model = p.Model
	}
	if b.Audio != "" {
		c.Audio.Out = b.Audio
	}
	h := b.Hardware
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&c.Hardware.SoundCard, h.SoundCard},
		{&c.Hardware.KeyVolumeUp, h.KeyVolumeUp},
		{&c.Hardware.KeyVolumeDown, h.KeyVolumeDown},
		{&c.Hardware.KeyFunction, h.KeyFunction},
		{&c.Hardware.LEDNetwork, h.LEDNetwork},
		{&c.Hardware.LEDStatus, h.LEDStatus},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if h.KeysActiveLow {
		c.Hardware.KeysActiveLow = true
	}
}

// List prints every board with what it names, for posagent -board list.
func List(w io.Writer) {
	for _, n := range Names() {
		b := known[n]
		fmt.Fprintf(w, "%s\t%s\n", b.Name, b.Description)
		fmt.Fprintf(w, "\tarch:     %s\n", b.Arch)
		fmt.Fprintf(w, "\tscanner:  %s\n", serialDesc(b.Scanner.Port, b.Scanner.Baud))
		pr := serialDesc(b.Printer.Port, b.Printer.Baud)
		if b.Printer.Port != "" {
			pr += fmt.Sprintf(", %d mm, status %s", b.Printer.PaperMM, b.Printer.Status)
		}
		fmt.Fprintf(w, "\tprinter:  %s\n", pr)
		audio := or(b.Audio, "from config")
		if b.Hardware.SoundCard != "" {
			audio += ", card " + b.Hardware.SoundCard
		}
		fmt.Fprintf(w, "\taudio:    %s\n", audio)
		h := b.Hardware
		keys := "none"
		if h.KeyVolumeUp+h.KeyVolumeDown+h.KeyFunction != "" {
			keys = fmt.Sprintf("volume up %s, volume down %s, function %s", or(h.KeyVolumeUp, "-"), or(h.KeyVolumeDown, "-"), or(h.KeyFunction, "-"))
			if h.KeysActiveLow {
				keys += " (active low)"
			}
		}
		fmt.Fprintf(w, "\tkeys:     %s\n", keys)
		leds := "none"
		if h.LEDNetwork+h.LEDStatus != "" {
			leds = fmt.Sprintf("network %s, status %s", or(h.LEDNetwork, "-"), or(h.LEDStatus, "-"))
		}
		fmt.Fprintf(w, "\tleds:     %s\n", leds)
	}
}

func serialDesc(port string, baud int) string {
	if port == "" {
		return "from config (none unless set)"
	}
	return fmt.Sprintf("%s at %d baud", port, baud)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// LoadConfig reads the config file at path with the defaults of the board it
// names applied first: config.Default(), then Board.Apply, then the file's
// keys over both, then Validate. The board is looked up from the file (or
// config.Default's "sim"), so an unknown board is an error naming the key.
func LoadConfig(path string) (config.Config, Board, error) {
	data, err := readConfig(path)
	if err != nil {
		return config.Config{}, Board{}, err
	}
	return ParseConfig(data)
}

// ParseConfig is LoadConfig on the file's bytes.
func ParseConfig(data []byte) (config.Config, Board, error) {
	// Decode once to learn the board: the same strict decoder, so a type
	// error or unknown key is reported as the config package reports it.
	probe := config.Default()
	if err := config.Decode(data, &probe); err != nil {
		return config.Config{}, Board{}, err
	}
	b, err := Lookup(probe.Board)
	if err != nil {
		return config.Config{}, Board{}, &config.KeyError{Key: "board", Msg: err.Error()}
	}
	c := config.Default()
	b.Apply(&c)
	if err := config.Decode(data, &c); err != nil {
		return config.Config{}, Board{}, err
	}
	return c, b, c.Validate()
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > config.MaxFileSize {
		return nil, fmt.Errorf("config is larger than %d bytes", config.MaxFileSize)
	}
	return data, nil
}

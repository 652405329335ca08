// Package keys reads the keys and drives the LEDs of a board through
// periph.io pins. Like periph.io's own drivers it takes gpio.PinIn and
// gpio.PinOut values and never opens a device path: boards looks the pins up
// (driverreg.Init, gpioreg.ByName), tests pass gpiotest pins.
//
// What a press is (debouncing, short and long presses) is decided by Press,
// a state machine that is given levels and times and starts nothing, so it
// is tested with tables and an injected clock; Keys is the goroutine per pin
// that feeds it.
//
// Invariants:
//   - a level counts only once it has held for Debounce: bounce and
//     glitches shorter than that make no event;
//   - a press makes one event: Down as it goes down for a key without a
//     long press; otherwise either Short on release or Long, once, while
//     still held LongPress after it went down, never both;
//   - a key already held when Run starts makes no event for that hold;
//   - each key's events reach f in order, from that key's goroutine; a pin
//     that cannot be set up fails Run before any goroutine starts;
//   - NewLEDs starts every LED off and Run turns them all off as it
//     returns; the blinking ones blink in step, and Set of an LED the board
//     lacks is ignored.
package keys

import "time"

// Kind is what a key did.
type Kind uint8

const (
	// Down: a key with no long press went down (after debouncing). Volume
	// keys act here, so they answer as soon as they are pressed.
	Down Kind = iota + 1
	// Short: a key with a long press was released before LongPress.
	Short
	// Long: a key with a long press has been held for LongPress; it fires
	// once, while the key is still held, so the user knows to let go.
	Long
)

func (k Kind) String() string {
	switch k {
	case Down:
		return "down"
	case Short:
		return "short"
	case Long:
		return "long"
	}
	return "none"
}

// Default timings. Contact bounce of tactile switches settles within 5-20
// ms; 30 ms is not felt as lag. 1.5 s is long enough not to be hit by a
// slow short press.
const (
	DefaultDebounce  = 30 * time.Millisecond
	DefaultLongPress = 1500 * time.Millisecond
)

// Press turns a key's raw levels into presses. A level change counts only
// once the level has held for Debounce, so contact bounce and glitches
// shorter than that are ignored. The zero value is a key that is up, with no
// debouncing and no long press; set the fields before the first Sample.
type Press struct {
	Debounce time.Duration
	// LongPress is how long a hold is a long press; 0 means the key has no
	// long press and reports Down instead of Short/Long.
	LongPress time.Duration

	raw      bool      // the last level sampled
	rawSince time.Time // when raw last changed
	down     bool      // the debounced level
	downAt   time.Time // when the debounced press began
	longDone bool      // Long fired for this press
}

// Sample gives the key's level (pressed or not) at now and returns what
// happened, 0 for nothing. Call it on every edge and again at Next, with
// times that never go back.
func (p *Press) Sample(pressed bool, now time.Time) Kind {
	if pressed != p.raw {
		p.raw, p.rawSince = pressed, now
	}
	if p.raw != p.down && now.Sub(p.rawSince) >= p.Debounce {
		p.down = p.raw
		if p.down {
			// The press began when the level went down, not when the
			// debounce ended: a long press is timed from the finger.
			p.downAt, p.longDone = p.rawSince, false
			if p.LongPress == 0 {
				return Down
			}
		} else if p.LongPress > 0 && !p.longDone {
			return Short
		}
	}
	if p.down && p.LongPress > 0 && !p.longDone && now.Sub(p.downAt) >= p.LongPress {
		p.longDone = true
		return Long
	}
	return 0
}

// Next returns when Sample must be called again if no edge comes first (a
// pending debounce to confirm, a long press to time), or false if only an
// edge can change anything.
func (p *Press) Next() (time.Time, bool) {
	if p.raw != p.down {
		return p.rawSince.Add(p.Debounce), true
	}
	if p.down && p.LongPress > 0 && !p.longDone {
		return p.downAt.Add(p.LongPress), true
	}
	return time.Time{}, false
}

// settle takes level as the key's debounced state at now without reporting
// anything: a key already held when reading starts is no press, short or
// long.
func (p *Press) settle(pressed bool, now time.Time) {
	p.raw, p.rawSince, p.down, p.downAt, p.longDone = pressed, now, pressed, now, true
}

// Pressed reports the debounced level.
func (p *Press) Pressed() bool { return p.down }

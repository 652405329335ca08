package keys

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Mode is what an LED shows.
type Mode uint8

const (
	Off Mode = iota
	On
	// Blink toggles every BlinkPeriod/2: "trying" (network) or "needs
	// attention" (status).
	Blink
)

// ParseMode reads device's LED mode names: off, on, blink.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "off":
		return Off, nil
	case "on":
		return On, nil
	case "blink":
		return Blink, nil
	}
	return Off, fmt.Errorf("keys: unknown LED mode %q", s)
}

// BlinkPeriod is one on-off cycle of a blinking LED: 1 Hz is read as
// "busy", not as a fault strobe.
const BlinkPeriod = time.Second

// LEDs drives a set of LEDs by name. Set is cheap and never blocks on the
// pins' timing; Run makes the blinking ones blink. Every LED is lit by a
// high level (wire an active-low LED through its own inverting transistor
// or describe it as such in a later field if a board needs it).
type LEDs struct {
	mu    sync.Mutex
	pins  map[string]gpio.PinOut
	modes map[string]Mode
	phase bool // the blinking LEDs' current half period: lit or not
	wake  chan struct{}
}

// NewLEDs returns LEDs on pins by name, all off.
func NewLEDs(pins map[string]gpio.PinOut) (*LEDs, error) {
	l := &LEDs{pins: map[string]gpio.PinOut{}, modes: map[string]Mode{}, wake: make(chan struct{}, 1)}
	for name, p := range pins {
		if err := p.Out(gpio.Low); err != nil {
			return nil, fmt.Errorf("LED %s on %s: %w", name, p, err)
		}
		l.pins[name], l.modes[name] = p, Off
	}
	return l, nil
}

// Names lists the LEDs' names.
func (l *LEDs) Names() []string {
	var n []string
	for name := range l.pins {
		n = append(n, name)
	}
	return n
}

// Set shows mode on the named LED; an LED the board does not have is
// ignored (a board without a network LED is not an error).
func (l *LEDs) Set(name string, mode Mode) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pins[name]
	if !ok || l.modes[name] == mode {
		return
	}
	l.modes[name] = mode
	switch mode {
	case Off:
		p.Out(gpio.Low)
	case On:
		p.Out(gpio.High)
	case Blink:
		p.Out(gpio.Level(l.phase))
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// SetLED is Set with the mode by name, as device.LEDs wants it. An unknown
// mode turns the LED off.
func (l *LEDs) SetLED(name, mode string) {
	m, _ := ParseMode(mode)
	l.Set(name, m)
}

// Mode returns the named LED's mode.
func (l *LEDs) Mode(name string) Mode {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.modes[name]
}

// Run blinks the LEDs in Blink mode until ctx is done, then turns every LED
// off. While none blinks it sleeps until Set wakes it.
func (l *LEDs) Run(ctx context.Context) {
	defer l.allOff()
	t := time.NewTicker(BlinkPeriod / 2)
	defer t.Stop()
	for {
		if !l.blinking() {
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
				t.Reset(BlinkPeriod / 2)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.toggle()
		case <-l.wake:
		}
	}
}

func (l *LEDs) blinking() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.modes {
		if m == Blink {
			return true
		}
	}
	return false
}

// toggle flips the blinking LEDs together, so two blinking LEDs are in step.
func (l *LEDs) toggle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = !l.phase
	for name, m := range l.modes {
		if m == Blink {
			l.pins[name].Out(gpio.Level(l.phase))
		}
	}
}

func (l *LEDs) allOff() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, p := range l.pins {
		p.Out(gpio.Low)
		l.modes[name] = Off
	}
}

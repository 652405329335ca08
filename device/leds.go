package device

import "github.com/posagent/posagent/device/printq"

// LEDs is the board's indicator lights (drivers/keys through boards). Set
// must not block: it is called with the agent's state as it changes.
type LEDs interface {
	SetLED(name, mode string)
}

// The LEDs a board may have, and their modes.
const (
	// LEDNetwork: on while the link to the platform is up, blinking while
	// it is down (the agent keeps trying).
	LEDNetwork = "network"
	// LEDStatus: on while every device the board has works, blinking when
	// one needs a person (printer offline or out of paper, scanner
	// unplugged).
	LEDStatus = "status"

	LEDOff   = "off"
	LEDOn    = "on"
	LEDBlink = "blink"
)

// ledModes is what the LEDs show for state s with the link up or not.
func ledModes(s State, up bool) (network, status string) {
	network = LEDBlink
	if up {
		network = LEDOn
	}
	status = LEDOn
	if (s.Printer != printq.OK && s.Printer != "none") || (s.Scanner != "ok" && s.Scanner != "none") {
		status = LEDBlink
	}
	return network, status
}

// showLEDs drives the LEDs from a state being published; publishState calls
// it, so every link or device change reaches them. Only changes are sent.
func (a *Agent) showLEDs(s State) {
	if a.panel.leds == nil {
		return
	}
	network, status := ledModes(s, a.link.Connected())
	a.panel.ledMu.Lock()
	defer a.panel.ledMu.Unlock()
	if a.panel.ledMode == nil {
		a.panel.ledMode = map[string]string{}
	}
	for name, mode := range map[string]string{LEDNetwork: network, LEDStatus: status} {
		if a.panel.ledMode[name] != mode {
			a.panel.ledMode[name] = mode
			a.panel.leds.SetLED(name, mode)
		}
	}
}

// Scanner states in State.Scanner (protocol §1).
const (
	ScannerOK      = "ok"
	ScannerOffline = "offline"
)

// ScannerStatus is told by the board whether the scanner's port is open
// (up) or gone (unplugged, powered off); the board reopens it by itself.
// It is published in the retained state and shown on the status LED.
func (a *Agent) ScannerStatus(up bool) {
	st := ScannerOffline
	if up {
		st = ScannerOK
	}
	a.mu.Lock()
	same := a.state.Scanner == st
	a.mu.Unlock()
	if !same {
		a.log.Info("scanner", "status", st)
		a.updateState(func(s *State) { s.Scanner = st })
	}
}

package boards

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/drivers/keys"
)

// Key and LED names as the agent knows them (device.KeyVolumeUp, …,
// device.LEDNetwork). Spelled here rather than imported: boards sits below
// device (cmd → device; boards → drivers), and a test in cmd/posagent
// checks the two agree.
const (
	KeyVolumeUp   = "volume_up"
	KeyVolumeDown = "volume_down"
	KeyFunction   = "function"
	LEDNetwork    = "network"
	LEDStatus     = "status"
)

// pinSource finds a GPIO pin by its periph.io name; nil for none. init is
// called once, before the first lookup, only when the board names a pin.
type pinSource struct {
	init   func() error
	byName func(name string) gpio.PinIO
}

// hostPins is the real hardware: periph.io's host drivers (sysfs, the GPIO
// character device, the SoC's registers where it has them), then its
// registry of pin names.
var hostPins = pinSource{
	init: func() error {
		_, err := driverreg.Init()
		return err
	},
	byName: gpioreg.ByName,
}

// openGPIO opens the keys and LEDs hw names. A pin the host does not have is
// skipped with a reason, like any device a board lacks; a pin that exists
// but cannot be set up is an error, since the config names it explicitly.
func (h *Hardware) openGPIO(ctx context.Context, hw config.Hardware, log *slog.Logger, pins pinSource) error {
	keyPins := []struct{ name, pin string }{
		{KeyVolumeUp, hw.KeyVolumeUp}, {KeyVolumeDown, hw.KeyVolumeDown}, {KeyFunction, hw.KeyFunction},
	}
	ledPins := []struct{ name, pin string }{{LEDNetwork, hw.LEDNetwork}, {LEDStatus, hw.LEDStatus}}
	named := false
	for _, p := range append(keyPins, ledPins...) {
		named = named || p.pin != ""
	}
	if !named {
		log.Info("no keys or LEDs: the board and config name no GPIO pins")
		return nil
	}
	if err := pins.init(); err != nil {
		log.Warn("no keys or LEDs: GPIO unavailable", "err", err)
		return nil
	}
	var ks []keys.Key
	for _, p := range keyPins {
		if p.pin == "" {
			continue
		}
		pin := pins.byName(p.pin)
		if pin == nil {
			log.Warn("key skipped: no such GPIO pin", "key", p.name, "pin", p.pin)
			continue
		}
		k := keys.Key{Name: p.name, Pin: pin, ActiveLow: hw.KeysActiveLow}
		if p.name == KeyFunction {
			k.LongPress = keys.DefaultLongPress
		}
		ks = append(ks, k)
	}
	if len(ks) > 0 {
		h.Keys = keys.New(ks...)
	}
	leds := map[string]gpio.PinOut{}
	for _, p := range ledPins {
		if p.pin == "" {
			continue
		}
		pin := pins.byName(p.pin)
		if pin == nil {
			log.Warn("LED skipped: no such GPIO pin", "led", p.name, "pin", p.pin)
			continue
		}
		leds[p.name] = pin
	}
	if len(leds) > 0 {
		l, err := keys.NewLEDs(leds)
		if err != nil {
			return err
		}
		h.LEDs = l
		go l.Run(ctx)
	}
	log.Info("GPIO", "keys", len(ks), "leds", len(leds))
	return nil
}

// useSoundCard points ALSA's default device at the board's card by setting
// ALSA_CARD, which alsa.conf's default PCM reads, before oto opens it (oto
// always opens "default"). A card already chosen in the environment (the
// systemd unit, an installer's shell) wins, as the config's keys win over
// the board's.
func useSoundCard(out, card string, log *slog.Logger) {
	if out != "alsa" || card == "" {
		return
	}
	if v, ok := os.LookupEnv("ALSA_CARD"); ok {
		log.Info("sound card from the environment", "ALSA_CARD", v)
		return
	}
	if err := os.Setenv("ALSA_CARD", card); err != nil {
		log.Warn("sound card not set", "card", card, "err", fmt.Sprint(err))
	}
}

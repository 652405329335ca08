package device

import (
	"context"
	"strings"
	"sync"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/journal"
)

// KeyPad is the board's keys (drivers/keys through boards). It calls press
// for each debounced press until ctx is done: key is one of the Key names
// below, long is true for a held function key.
type KeyPad interface {
	RunKeys(ctx context.Context, press func(key string, long bool)) error
}

// The keys a board may have. Names, not numbers, so the driver needs no
// import of this package and a board profile reads as what it wires.
const (
	KeyVolumeUp   = "volume_up"
	KeyVolumeDown = "volume_down"
	// KeyFunction: short press repeats the last announcement (a customer
	// did not hear the amount); long press says the network, printer and
	// config status (an installer checking a device with no screen).
	KeyFunction = "function"
)

// panel is the agent's side of the keys and LEDs (leds.go).
type panel struct {
	keys KeyPad
	leds LEDs

	mu      sync.Mutex // serialises key actions: two keys, one volume
	ledMu   sync.Mutex // guards ledMode; apart from mu, since a key action publishes state
	ledMode map[string]string
}

// keyLoop runs the key pad until ctx is done.
func (a *Agent) keyLoop(ctx context.Context) {
	if a.panel.keys == nil {
		return
	}
	if err := a.panel.keys.RunKeys(ctx, a.Key); err != nil && ctx.Err() == nil {
		a.log.Error("keys stopped", "err", err)
	}
}

// Key acts on one press: a beep for every press, then what the key does.
// It is what the key pad calls, and what a local API or test may call.
func (a *Agent) Key(key string, long bool) {
	a.panel.mu.Lock()
	defer a.panel.mu.Unlock()
	a.KeyBeep()
	switch key {
	case KeyVolumeUp:
		a.stepVolume(+1)
	case KeyVolumeDown:
		a.stepVolume(-1)
	case KeyFunction:
		if long {
			a.sayStatus()
		} else {
			a.repeatLast()
		}
	default:
		a.log.Warn("unknown key", "key", key)
	}
}

// stepVolume moves the volume one step along the same path as
// device.volume: journaled, in the retained state, applied and said.
func (a *Agent) stepVolume(d int) {
	level := min(max(a.State().Volume+d, 0), 10)
	err := a.j.Update(func(tx *journal.Tx) error { return tx.Put(journal.Meta, metaVolume, level) })
	if err != nil {
		a.log.Error("volume not saved", "err", err)
		return
	}
	a.updateState(func(s *State) { s.Volume = level })
	a.volumeChanged(level)
}

// repeatLast says the latest announcement again, as a status prompt: it is
// not a new payment, so it is neither journaled as owed nor deduplicated,
// and nothing is said when nothing has been announced yet.
func (a *Agent) repeatLast() {
	if text := a.lastSaid(); text != "" {
		a.prompt("repeat", text)
	}
}

// lastSaid is the text of the most recent announcement said, without the
// 补播 mark it may have had (the repeat is asked for now; it is not late).
func (a *Agent) lastSaid() string {
	var last speechRecord
	a.j.View(func(tx *journal.Tx) error {
		var id string
		if ok, err := tx.Get(journal.Meta, metaLastSaid, &id); err != nil || !ok {
			return err
		}
		_, err := tx.Get(journal.Speech, id, &last)
		return err
	})
	return last.Text
}

// StatusWords is what a long press of the function key says: the network,
// the printer when it needs paper, whether a configuration has been
// applied, and the volume — 网络已连接，配置成功，音量六.
func (a *Agent) StatusWords() string {
	s := a.State()
	words := []string{audio.PhraseNetDown}
	if a.link.Connected() {
		words[0] = audio.PhraseNetUp
	}
	if s.Printer == printq.PaperOut {
		words = append(words, audio.PhrasePaperOut)
	}
	if s.Cfg > 0 {
		words = append(words, audio.PhraseConfigOK)
	}
	words = append(words, audio.VolumeWords(s.Volume))
	return strings.Join(words, "，")
}

func (a *Agent) sayStatus() { a.prompt("status", a.StatusWords()) }

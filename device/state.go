package device

import (
	"encoding/json"

	"github.com/posagent/posagent/journal"
)

// State is the retained status document (protocol §1).
type State struct {
	Online  bool   `json:"online"`
	FW      string `json:"fw"`
	Board   string `json:"board"`
	Cfg     int    `json:"cfg"`
	Printer string `json:"printer"`
	Scanner string `json:"scanner"`
	Audio   string `json:"audio"`
	Volume  int    `json:"volume"`
	Shift   *Shift `json:"shift"`
	Outbox  int    `json:"outbox"`
	TS      int64  `json:"ts"`
	// Pay is the payment in progress, for the display: what the device
	// says and shows (请出示付款码 …). An extension; absent when idle.
	Pay *PayState `json:"pay,omitempty"`
	// Key is "replaced" when the device key is not the one the journal
	// was made with (device_key.pem lost): the platform, which pins the
	// first key, refuses the new one's money requests until an installer
	// re-binds the device. An extension; absent otherwise.
	Key string `json:"key,omitempty"`
	// Storage is "lost" (for 48 h after the journal was lost and a new one
	// begun) or "full" (journal writes failing for space); absent when the
	// journal is well. An extension.
	Storage string `json:"storage,omitempty"`
}

// PayState is the payment in progress in State.
type PayState struct {
	OutTradeNo string `json:"out_trade_no"`
	State      string `json:"state"`
	Amount     int64  `json:"amount"`
	Message    string `json:"message"`
}

// Shift is the open shift in State.
type Shift struct {
	Staff     string `json:"staff"`                // staff id
	StaffName string `json:"staff_name,omitempty"` // their name, as the cashier reads it
	Since     int64  `json:"since"`
}

// State returns the current status.
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state
	s.TS = a.now().Unix()
	s.Storage = a.storageState()
	if n, err := a.j.OutboxLen(); err == nil {
		s.Outbox = n
	}
	return s
}

// updateState changes the status under its lock and publishes it.
func (a *Agent) updateState(f func(*State)) {
	a.mu.Lock()
	f(&a.state)
	a.mu.Unlock()
	a.publishState()
}

func (a *Agent) publishState() {
	s := a.State()
	b, err := json.Marshal(s)
	if err == nil {
		a.link.SetState(b)
	}
	a.showLEDs(s)
	a.publishLocal("state", a.localState(s))
}

// localState is s as the local API gives it: online is whether the link to
// the platform is up now. (The retained document on the broker says
// online:true while the device is on line; the broker's last will replaces
// it with online:false when the device drops off, which a caller on the
// device itself never sees.)
func (a *Agent) localState(s State) State {
	s.Online = a.link != nil && a.link.Connected()
	return s
}

const metaVolume = "volume"

func (a *Agent) storedVolume() (int, bool) {
	var v int
	var ok bool
	a.j.View(func(tx *journal.Tx) error {
		var err error
		ok, err = tx.Get(journal.Meta, metaVolume, &v)
		return err
	})
	return v, ok
}

// kickState asks for the state to be published soon, from the
// housekeeping goroutine: callable inside a journal transaction, where
// publishing (which reads the journal) must not happen, and coalescing
// bursts of changes into one message.
func (a *Agent) kickState() {
	select {
	case a.stateKick <- struct{}{}:
	default:
	}
}

package device

import (
	"encoding/json"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/wire"
)

// State is the device's status as device.state and GET /v1/state say it
// (wire.DeviceState); PayState its payment in progress, Shift its open
// shift.
type (
	State    = wire.DeviceState
	PayState = wire.DevicePay
	Shift    = wire.DeviceShift
)

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

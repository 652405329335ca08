package device

import (
	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/notify"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// MaxAmount is the largest amount accepted, in fen (999,999,999.99 yuan).
const MaxAmount = orders.MaxAmount

// validID accepts the ids that come from outside and become journal keys
// and file names (wire.ValidID).
func validID(s string) bool { return wire.ValidID(s) }

// newNotify wires notify.payment's worker (device/notify) to the agent,
// once its speech and print queue exist.
func newNotify(a *Agent) *notify.Worker {
	var sp notify.Speaker
	if a.speech != nil {
		sp = a.speech
	}
	return notify.New(notify.Host{
		Journal: a.j, Now: a.now, Log: a.log, Events: a.events(),
		Fault: a.storageFault,
		Unreadable: func(bucket, key string, err error) {
			a.badRecords.Add(1)
			a.log.Warn("journal record unreadable: skipped", "bucket", bucket, "key", clip(key, 64), "err", err)
		},
		Said:    func(tx *journal.Tx, r audio.Record) error { return putSpeech(tx, r) },
		Receipt: a.receiptOf,
	}, sp, a.pq, a.audioOptions())
}

func (a *Agent) acceptNotify(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.NotifyPayment
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "notify.payment: %v", err)
	}
	if err := notify.Check(&b); err != nil {
		return a.badRequest(tx, m, "notify.payment: %v", err)
	}
	dup, run, err := a.nf.Accept(tx, m.ID, b)
	if err != nil || dup == nil {
		return nil, run, err
	}
	ans, err := a.emit(tx, wire.TypeNotifyDone, m.ID, *dup)
	return &ans, nil, err
}

// audioOptions are the reading rules of the device's language.
func (a *Agent) audioOptions() audio.Options {
	_, opt, _ := audio.VoiceFor(a.cfg.Audio.Language)
	return opt
}

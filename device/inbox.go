package device

import (
	"errors"

	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/mqtt"
)

// acceptAnswer is the accept step of the platform's answers to the device's
// own requests (pay.status, refund.status, deposit.status, order.found): it
// decodes m's body and, after the commit, hands it to run. An answer that
// does not decode or fails ok is logged and ignored, with no event: nothing
// waits on it, and the flow that asked asks again.
func acceptAnswer[T any](a *Agent, m mqtt.Message, ok func(T) bool, run func(T)) (*mqtt.Message, func(), error) {
	var v T
	if err := decodeBody(m.Body, &v); err != nil || !ok(v) {
		a.log.Warn(m.Type+" unreadable, ignored", "jti", m.ID, "err", err)
		return nil, nil, nil
	}
	return nil, func() { run(v) }, nil
}

// deliver hands an answer to the running flow keyed key, or logs why not:
// none runs (the answer to a flow already finished, or to an earlier copy
// of its request), or its inbox is full. Either way the flow asks again.
func deliver[T any](a *Agent, inboxes interface{ Deliver(string, T) error }, key string, v T, what string) {
	switch err := inboxes.Deliver(key, v); {
	case errors.Is(err, exchange.ErrNotRunning):
		a.log.Info(what+" for a flow not running, ignored", "key", key)
	case err != nil:
		a.log.Warn(what+" dropped: inbox full (the flow asks again)", "key", key)
	}
}

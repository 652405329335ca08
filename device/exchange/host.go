package exchange

import (
	"log/slog"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// Host is what a money flow (device/refund, device/deposit) needs of the
// device that runs it; the agent fills one per flow.
type Host struct {
	Journal  *journal.Journal
	Requests *Requests
	Pay      config.Pay
	Now      func() time.Time
	Log      *slog.Logger
	// Number makes a new record number (orders.FreshNumber draws again
	// while it is taken).
	Number func() string
	Events
	// Owe journals, in tx, the announcement and receipt of a flow that
	// succeeded.
	Owe func(tx *journal.Tx, c orders.Completion) error
	// Completed is told of a flow that succeeded once it has ended (its
	// completion was owed in the commit).
	Completed func(no string)
}

// Events is how a flow tells the platform: through the outbox, in the
// commit that records what the event says. Every flow's Host has it.
type Events struct {
	// Emit enqueues event typ in tx's outbox, with ref (the command it
	// answers, or ""), and returns it; Answered records it, in tx, as the
	// answer of command jti (what a redelivery of the command gets);
	// Flush wakes the link after a commit that emitted.
	Emit     func(tx *journal.Tx, typ, ref string, body any) (mqtt.Message, error)
	Answered func(tx *journal.Tx, jti string, ans mqtt.Message) error
	Flush    func()
}

package exchange

import (
	"log/slog"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
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
	// Emit enqueues an event in tx's outbox; Kick wakes the link after
	// a commit that did.
	Emit func(tx *journal.Tx, typ string, body any) error
	Kick func()
	// Owe journals, in tx, the announcement and receipt of a flow that
	// succeeded.
	Owe func(tx *journal.Tx, c orders.Completion) error
	// Completed is told of a flow that succeeded once it has ended (its
	// completion was owed in the commit).
	Completed func(no string)
}

package device

import (
	"context"

	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/refund"
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// Refunds run in device/refund; the agent gives them its journal, its
// requests, its outbox, its notifications and its voice, checks who may
// refund, and routes refund.status to them.

// refundStatus is refund.status's body (package wire).
type refundStatus = wire.RefundStatus

// flowHost is what the money flows need of the agent; their numbers start
// with prefix.
func (a *Agent) flowHost(prefix string) exchange.Host {
	return exchange.Host{
		Journal: a.j, Requests: a.reqs, Pay: a.cfg.Pay, Now: a.now, Log: a.log,
		Number: a.numberGen(prefix), Events: a.events(),
		Owe:       a.owe,
		Completed: a.completeOrder,
	}
}

// newRefunds wires the refund flow to the agent.
func (a *Agent) newRefunds() *refund.Runner {
	return &refund.Runner{Host: a.flowHost("R"),
		Changed: func(r Refund) { a.publishLocal("refund", r) },
		Say:     a.payPrompt,
	}
}

// StartRefund journals a refund of amount fen of a paid payment by staff and
// starts it. The staff member, proved by their PIN before anything else is
// looked at, must be on shift with the refund right, or be a manager (who
// may refund off shift).
func (a *Agent) StartRefund(outTradeNo string, amount int64, staffID, pin string) (Refund, error) {
	var r Refund
	s, err := a.authStaff(staffID, pin)
	if err != nil {
		return r, err
	}
	err = a.j.Update(func(tx *journal.Tx) error {
		if err := staff.MayRefund(tx, s); err != nil {
			return err
		}
		r, err = a.refunds.Create(tx, outTradeNo, amount, staffID)
		return err
	})
	if err != nil {
		return r, err
	}
	a.link.Kick()
	a.goRefund(a.runCtx, r.OutRefundNo)
	return r, nil
}

// goRefund runs the refund no on a goroutine of the agent's.
func (a *Agent) goRefund(ctx context.Context, no string) {
	run := a.refunds.Open(no)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("refund stopped", "out_refund_no", no, "err", err)
		}
	}()
}

func (a *Agent) acceptRefundStatus(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	req, known := a.reqs.Of(m.Ref)
	ok := func(st refundStatus) bool { return st.OutRefundNo != "" || known }
	return acceptAnswer(a, m, ok, func(st refundStatus) {
		if st.OutRefundNo == "" {
			st.OutRefundNo = req.Key
		}
		deliver(a, a.refunds, st.OutRefundNo, st, wire.TypeRefundStatus)
	})
}

// resumeRefunds restarts every refund not final.
func (a *Agent) resumeRefunds(ctx context.Context) error {
	open, err := orders.OpenKeys[Refund](a.j, journal.Refunds)
	for _, no := range open {
		a.goRefund(ctx, no)
	}
	return err
}

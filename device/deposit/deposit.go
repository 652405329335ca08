// Package deposit runs the final step of a deposit (押金). A payment
// started with deposit:true freezes the money through the same closed loop
// as a payment (its orders.Payment is PAID once frozen). It then ends in
// exactly one final step, each PS256-signed and idempotent by
// out_request_no: consume (take 0 < amount ≤ frozen, release the rest) or
// unfreeze (release all; only before any consume).
//
// Invariants:
//   - a deposit's money leaves once: one operation at a time, and none
//     once the deposit is consumed or released;
//   - one operation, one out_request_no, for every retry: the platform
//     does it at most once;
//   - a success moves the deposit (consumed or released) and owes its
//     announcement and receipt in the same commit;
//   - a deposit the provider released by itself (WeChat after 30 days) is
//     shown released, never left FROZEN forever (CheckOld, Released).
package deposit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// Runner starts and runs deposit operations. Its fields are what they
// need of the device (Host: Number makes operation numbers); set them all
// before the first Create or Open.
type Runner struct {
	exchange.Host
	// Changed is told, after the commit, of a deposit that changed, with
	// its operations.
	Changed func(p orders.Payment, ops []orders.DepositOp)

	inboxes exchange.Inboxes[wire.DepositStatus]
}

// Create checks a consume or unfreeze of the frozen deposit no by staffID
// and journals it in tx, PENDING; after the commit the caller starts it
// (Open). may checks staffID's rights once the deposit is read: money
// going back takes the refund right (refundRight: an unfreeze, or a
// consume of less than the deposit, whose rest goes back in the same
// step).
func (u *Runner) Create(tx *journal.Tx, no, op string, amount int64, staffID string, may func(refundRight bool) error) (orders.DepositOp, error) {
	var d orders.DepositOp
	p, ok, err := orders.Get(tx, no)
	if err != nil {
		return d, err
	}
	if !ok || !p.Deposit {
		return d, orders.ErrNotFound
	}
	if err := may(op == "unfreeze" || amount < p.Amount); err != nil {
		return d, err
	}
	if p.State != orders.Paid || p.DepositState != orders.DepositFrozen {
		return d, orders.Say("该押金不在冻结中，不能消费或解冻", fmt.Errorf("%w: the deposit is %s, not frozen", orders.ErrConflict, cmp.Or(p.DepositState, p.State)))
	}
	ops, err := orders.OpsOf(tx, no)
	if err != nil {
		return d, err
	}
	for _, o := range ops {
		if o.State == orders.OpPending {
			return d, orders.Say("该押金有操作正在进行，请稍候", fmt.Errorf("%w: %s %s is still in progress", orders.ErrConflict, o.Op, o.OutRequestNo))
		}
	}
	switch op {
	case "consume":
		if amount <= 0 || amount > p.Amount {
			return d, orders.Say("消费金额须在 ￥0.01 至 ￥"+printer.FormatAmount(p.Amount)+"（押金）之间，其余退还", fmt.Errorf("%w: a consume must be 1..%d fen (the deposit); the rest is released", orders.ErrInvalid, p.Amount))
		}
	case "unfreeze":
		amount = 0
	default:
		return d, fmt.Errorf("%w: unknown deposit operation %q", orders.ErrInvalid, op)
	}
	rno, err := orders.FreshNumber(tx, journal.Deposits, u.Number)
	if err != nil {
		return d, err
	}
	now := u.Now().UnixMilli()
	d = orders.DepositOp{OutRequestNo: rno, OutTradeNo: no, Op: op, Amount: amount,
		StaffID: staffID, Wallet: p.Wallet, State: orders.OpPending, CreatedAt: now, UpdatedAt: now}
	return d, u.save(tx, d, p)
}

// save writes d with its indexes and enqueues deposit.result in the same
// commit.
func (u *Runner) save(tx *journal.Tx, d orders.DepositOp, p orders.Payment) error {
	d.UpdatedAt = u.Now().UnixMilli()
	if err := orders.PutOp(tx, d); err != nil {
		return err
	}
	body := wire.DepositResult{OutTradeNo: d.OutTradeNo, OutRequestNo: d.OutRequestNo, Op: d.Op,
		State: d.State, Consumed: d.Consumed, Released: d.Released, ErrCode: d.ErrCode, ErrMsg: d.ErrMsg}
	if _, err := u.Emit(tx, wire.TypeDepositResult, "", body); err != nil {
		return err
	}
	ops, err := orders.OpsOf(tx, d.OutTradeNo)
	if err != nil {
		return err
	}
	tx.OnCommit(func() { u.Changed(p, ops) })
	return nil
}

// Open opens operation no's inbox and returns what runs it to its end;
// the caller runs that on a goroutine of its own. The inbox opens before
// the run starts, so an answer to its first request finds it.
func (u *Runner) Open(no string) func(ctx context.Context) error {
	inbox := u.inboxes.Open(no)
	return func(ctx context.Context) error {
		defer u.inboxes.Close(no)
		return u.run(ctx, no, inbox)
	}
}

// Deliver hands an answer to the running operation no
// (exchange.ErrNotRunning, exchange.ErrFull).
func (u *Runner) Deliver(no string, st wire.DepositStatus) error { return u.inboxes.Deliver(no, st) }

// Running reports whether operation no is running.
func (u *Runner) Running(no string) bool { return u.inboxes.Running(no) }

// run sends the operation until it is answered SUCCESS or FAIL. With no
// answer it asks deposit.query; a NOTFOUND (the request never arrived)
// sends the operation again: same out_request_no, so the platform does it
// at most once.
func (u *Runner) run(ctx context.Context, no string, inbox <-chan wire.DepositStatus) error {
	defer u.Requests.Forget(no)
	f := &flow{u: u, no: no}
	if err := u.Journal.View(func(tx *journal.Tx) error { _, err := tx.Get(journal.Deposits, no, &f.d); return err }); err != nil {
		return err
	}
	f.send = "deposit." + f.d.Op
	if f.d.State == orders.OpPending {
		if err := exchange.Run(ctx, f, inbox, nil); err != nil {
			return err
		}
	}
	if f.d.State == orders.OpSuccess {
		u.Completed(f.d.OutRequestNo)
	} else {
		u.Log.Warn("deposit operation failed", "out_request_no", no, "err_code", f.d.ErrCode)
	}
	return nil
}

// flow is one deposit operation's steps (exchange.Flow): d as last
// journaled, send the request to send next (deposit.consume,
// deposit.unfreeze or deposit.query).
type flow struct {
	u    *Runner
	no   string
	d    orders.DepositOp
	send string
}

// Send sends the next request; the wait is the backoff of its tries.
func (f *flow) Send() (time.Duration, error) {
	d := f.d
	body := wire.DepositRequest{OutTradeNo: d.OutTradeNo, OutRequestNo: d.OutRequestNo, Amount: d.Amount, StaffID: d.StaffID}
	if err := f.u.Requests.Send(f.send, f.no, body); err != nil && !errors.Is(err, mqtt.ErrOffline) {
		f.u.Log.Warn("deposit request not sent", "out_request_no", f.no, "err", err)
	}
	return exchange.Backoff(d.Tries+1, config.MS(f.u.Pay.PollIntervalMS)), nil
}

// Answer journals an answer; one that leaves the operation pending waits
// out the wait (paced).
func (f *flow) Answer(st wire.DepositStatus) (exchange.Next, error) { return f.apply(&st) }

// Tick: after an answer, the paced request goes; with none, deposit.query
// asks what became of the operation.
func (f *flow) Tick(answered bool) (exchange.Next, error) {
	if answered {
		return exchange.Send, nil
	}
	return f.apply(nil)
}

// apply journals one answer (nil: none came in time). A success moves the
// deposit (consumed or released) and owes its announcement and receipt in
// the same commit.
func (f *flow) apply(st *wire.DepositStatus) (exchange.Next, error) {
	u, no := f.u, f.no
	err := u.Journal.Update(func(tx *journal.Tx) error {
		d := f.d
		if _, err := tx.Get(journal.Deposits, no, &d); err != nil {
			return err
		}
		p, _, err := orders.Get(tx, d.OutTradeNo)
		if err != nil {
			return err
		}
		d.Tries++
		f.d = d
		switch {
		case st == nil:
			f.send = wire.TypeDepositQuery // no answer: ask what became of it
			return tx.Put(journal.Deposits, no, d)
		case st.State == "NOTFOUND":
			f.send = "deposit." + d.Op // never arrived: send it again
			return tx.Put(journal.Deposits, no, d)
		case st.State == orders.OpSuccess:
			d.State, d.Consumed, d.Released = orders.OpSuccess, st.Consumed, st.Released
			p.DepositState, p.Consumed, p.Released = orders.DepositReleased, st.Consumed, st.Released
			kind, amt := "unfreeze", st.Released
			if d.Op == "consume" {
				p.DepositState, kind, amt = orders.DepositConsumed, "consume", st.Consumed
			}
			if err := orders.Put(tx, p); err != nil {
				return err
			}
			if err := u.Owe(tx, orders.Completion{OrderID: d.OutRequestNo, Kind: kind, Amount: amt, Wallet: p.Wallet,
				OutTradeNo: d.OutTradeNo, Desc: p.Desc, StaffID: d.StaffID, TransactionID: p.TransactionID}); err != nil {
				return err
			}
		case st.State == orders.OpFail:
			if st.ErrCode == "ORDER_FINISHED" && st.DepositState != "" {
				// Another operation finished it (e.g. from another
				// till): the deposit's state is the provider's.
				p.DepositState, p.Consumed, p.Released = st.DepositState, st.Consumed, st.Released
				if err := orders.Put(tx, p); err != nil {
					return err
				}
			}
			d.State, d.ErrCode, d.ErrMsg = orders.OpFail, st.ErrCode, st.ErrMsg
		default:
			return tx.Put(journal.Deposits, no, d)
		}
		f.d = d
		return u.save(tx, d, p)
	})
	if err != nil {
		return exchange.Done, err
	}
	u.Flush()
	switch {
	case f.d.State != orders.OpPending:
		return exchange.Done, nil
	case st != nil:
		return exchange.Wait, nil
	}
	return exchange.Send, nil
}

// CheckOld asks the platform about every deposit still frozen here after
// the provider's auto-release age (pay.deposit_release_after_ms; WeChat
// releases a deposit left 30 days, docs/provider-codes.md): one the
// provider released is shown released (Released), never left FROZEN
// forever.
func (u *Runner) CheckOld() {
	cutoff := u.Now().Add(-config.MS(u.Pay.DepositReleaseAfterMS))
	var nos []string
	err := u.Journal.View(func(tx *journal.Tx) error {
		return orders.EachOpen(tx, func(p orders.Payment) error {
			if p.Deposit && p.State == orders.Paid && cmp.Or(p.DepositState, orders.DepositFrozen) == orders.DepositFrozen &&
				time.UnixMilli(cmp.Or(p.ConfirmedAt, p.CreatedAt)).Before(cutoff) {
				nos = append(nos, p.OutTradeNo)
			}
			return nil
		})
	})
	if err != nil {
		u.Log.Error("old deposits not read", "err", err)
		return
	}
	for _, no := range nos {
		if err := u.Requests.Send(wire.TypeDepositQuery, no, wire.OrderRef{OutTradeNo: no}); err != nil && !errors.Is(err, mqtt.ErrOffline) {
			u.Log.Warn("deposit.query not sent", "out_trade_no", no, "err", err)
		}
	}
}

// Released records a deposit the provider released by itself, from the
// answer to CheckOld's query. Any other state of a deposit frozen here
// changes nothing: its own operations (consume, unfreeze) settle it.
func (u *Runner) Released(st wire.DepositStatus) {
	if st.DepositState != orders.DepositReleased {
		return
	}
	var p orders.Payment
	err := u.Journal.Update(func(tx *journal.Tx) error {
		var ok bool
		var err error
		p, ok, err = orders.Get(tx, st.OutTradeNo)
		if err != nil || !ok || !p.Deposit || p.DepositState != orders.DepositFrozen {
			return err
		}
		ops, err := orders.OpsOf(tx, st.OutTradeNo)
		if err != nil {
			return err
		}
		for _, o := range ops {
			if o.State == orders.OpPending {
				return nil // its operation's answer decides
			}
		}
		p.DepositState, p.Released, p.ReleasedAt = orders.DepositReleased, p.Amount, u.Now().UnixMilli()
		if st.Released > 0 {
			p.Released = st.Released
		}
		if err := orders.Put(tx, p); err != nil {
			return err
		}
		tx.OnCommit(func() { u.Changed(p, ops) })
		return nil
	})
	if err != nil {
		u.Log.Error("deposit release not recorded", "out_trade_no", st.OutTradeNo, "err", err)
		return
	}
	if p.ReleasedAt > 0 {
		u.Log.Info("deposit released by the provider", "out_trade_no", st.OutTradeNo, "released", p.Released)
	}
}

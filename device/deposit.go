package device

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// Deposits (押金): a payment started with deposit:true freezes the money
// through the same closed loop as a payment (its Payment is PAID once
// frozen). It then ends in exactly one final step, each PS256-signed and
// idempotent by out_request_no: consume (take 0 < amount ≤ frozen, release
// the rest) or unfreeze (release all; only before any consume).

// depositStatus is deposit.status's body (package wire).
type depositStatus = wire.DepositStatus

// DepositView is a deposit as the cashier app sees it.
type DepositView struct {
	OutTradeNo string      `json:"out_trade_no"`
	Amount     int64       `json:"amount"` // frozen
	State      string      `json:"state"`  // FROZEN, CONSUMED, RELEASED, or the payment's state while freezing
	Consumed   int64       `json:"consumed"`
	Released   int64       `json:"released"`
	Wallet     string      `json:"wallet"`
	CreatedAt  int64       `json:"created_at"`
	Ops        []DepositOp `json:"ops,omitempty"`
}

func depositView(p Payment, ops []DepositOp) DepositView {
	st := p.DepositState
	if st == "" {
		st = p.State
	}
	return DepositView{OutTradeNo: p.OutTradeNo, Amount: p.Amount, State: st, Consumed: p.Consumed,
		Released: p.Released, Wallet: p.Wallet, CreatedAt: p.CreatedAt, Ops: ops}
}

// Deposits lists the frozen deposits, newest first: they are open, all of
// them read from the open index.
func (a *Agent) Deposits() ([]DepositView, error) {
	var out []DepositView
	err := a.j.View(func(tx *journal.Tx) error {
		return orders.EachOpen(tx, func(p Payment) error {
			if dv := depositView(p, nil); p.Deposit && dv.State == DepositFrozen {
				out = append(out, dv)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt > out[j].CreatedAt })
	return out, err
}

// DepositsPage reads one page of every deposit (or those in state, when
// not empty), newest first, from the deposits' time index before the key
// start ("" from the newest): at most limit index entries are read, so a
// page filtered by state may hold fewer than limit. next, when not empty,
// is where the following page starts.
func (a *Agent) DepositsPage(state, start string, limit int) (out []DepositView, next string, err error) {
	out = []DepositView{}
	n, prev := 0, ""
	err = a.j.View(func(tx *journal.Tx) error {
		return tx.SeekLast(journal.DepositsByTime, start, func(k string, _ []byte) (bool, error) {
			if n == limit {
				next = hex.EncodeToString([]byte(prev))
				return false, nil
			}
			n++
			prev = k
			var p Payment
			ok, err := tx.Get(journal.Orders, k[8:], &p)
			if err != nil {
				a.log.Warn("journal record unreadable: skipped", "bucket", journal.Orders, "key", clip(k[8:], 64), "err", err)
				return true, nil
			}
			if dv := depositView(p, nil); ok && p.Deposit && (state == "" || dv.State == state) {
				out = append(out, dv)
			}
			return true, nil
		})
	})
	return out, next, err
}

// Deposit returns one deposit with its operations.
func (a *Agent) Deposit(no string) (DepositView, error) {
	var dv DepositView
	err := a.j.View(func(tx *journal.Tx) error {
		var p Payment
		ok, err := tx.Get(journal.Orders, no, &p)
		if err != nil {
			return err
		}
		if !ok || !p.Deposit {
			return ErrNotFound
		}
		ops, err := orders.OpsOf(tx, no)
		dv = depositView(p, ops)
		return err
	})
	return dv, err
}

// StartDepositOp journals a consume or unfreeze of a frozen deposit and
// starts it, for the staff member proved by their PIN. Money going back
// takes the refund right (domain: staff who return deposits need it): an
// unfreeze, and a consume of less than the deposit (the rest goes back in
// the same step); consuming all of it takes the staff on shift or the
// manager.
func (a *Agent) StartDepositOp(no, op string, amount int64, staffID, pin string) (DepositOp, error) {
	var d DepositOp
	s, err := a.authStaff(staffID, pin)
	if err != nil {
		return d, err
	}
	err = a.j.Update(func(tx *journal.Tx) error {
		var p Payment
		ok, err := tx.Get(journal.Orders, no, &p)
		if err != nil {
			return err
		}
		if !ok || !p.Deposit {
			return ErrNotFound
		}
		if op == "unfreeze" || amount < p.Amount {
			err = a.mayRefund(tx, s)
		} else {
			err = a.onShift(tx, s)
		}
		if err != nil {
			return err
		}
		if p.State != Paid || p.DepositState != DepositFrozen {
			return say("该押金不在冻结中，不能消费或解冻", fmt.Errorf("%w: the deposit is %s, not frozen", ErrConflict, firstNonEmpty(p.DepositState, p.State)))
		}
		ops, err := orders.OpsOf(tx, no)
		if err != nil {
			return err
		}
		for _, o := range ops {
			if o.State == OpPending {
				return say("该押金有操作正在进行，请稍候", fmt.Errorf("%w: %s %s is still in progress", ErrConflict, o.Op, o.OutRequestNo))
			}
		}
		switch op {
		case "consume":
			if amount <= 0 || amount > p.Amount {
				return say("消费金额须在 ￥0.01 至 ￥"+printer.FormatAmount(p.Amount)+"（押金）之间，其余退还", fmt.Errorf("%w: a consume must be 1..%d fen (the deposit); the rest is released", ErrInvalid, p.Amount))
			}
		case "unfreeze":
			amount = 0
		default:
			return fmt.Errorf("%w: unknown deposit operation %q", ErrInvalid, op)
		}
		rno, err := orders.FreshNumber(tx, journal.Deposits, a.numberGen("Q"))
		if err != nil {
			return err
		}
		now := a.now().UnixMilli()
		d = DepositOp{OutRequestNo: rno, OutTradeNo: no, Op: op, Amount: amount,
			StaffID: staffID, Wallet: p.Wallet, State: OpPending, CreatedAt: now, UpdatedAt: now}
		return a.saveDepositOp(tx, d, p)
	})
	if err != nil {
		return d, err
	}
	a.link.Kick()
	a.startOp(d.OutRequestNo)
	return d, nil
}

// startOp runs the deposit operation no; its inbox opens before the
// goroutine starts, so an answer to its first request finds it.
func (a *Agent) startOp(no string) {
	inbox := a.depositInbox.Open(no)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.depositInbox.Close(no)
		if err := a.runDepositOp(a.runCtx, no, inbox); err != nil && a.runCtx.Err() == nil {
			a.log.Error("deposit operation stopped", "out_request_no", no, "err", err)
		}
	}()
}

func (a *Agent) saveDepositOp(tx *journal.Tx, d DepositOp, p Payment) error {
	d.UpdatedAt = a.now().UnixMilli()
	if err := tx.Put(journal.Deposits, d.OutRequestNo, d); err != nil {
		return err
	}
	if err := tx.PutKey(journal.DepositsByOrder, d.OutTradeNo+"/"+d.OutRequestNo); err != nil {
		return err
	}
	if err := orders.FileOpDone(tx, d); err != nil {
		return err
	}
	body := wire.DepositResult{OutTradeNo: d.OutTradeNo, OutRequestNo: d.OutRequestNo, Op: d.Op,
		State: d.State, Consumed: d.Consumed, Released: d.Released, ErrCode: d.ErrCode, ErrMsg: d.ErrMsg}
	if _, err := a.emit(tx, wire.TypeDepositResult, "", body); err != nil {
		return err
	}
	ops, err := orders.OpsOf(tx, d.OutTradeNo)
	if err != nil {
		return err
	}
	dv := depositView(p, ops)
	tx.OnCommit(func() { a.publishLocal("deposit", dv) })
	return nil
}

// runDepositOp sends the operation until it is answered SUCCESS or FAIL.
// With no answer it asks deposit.query; a NOTFOUND (the request never
// arrived) sends the operation again: same out_request_no, so the platform
// does it at most once.
func (a *Agent) runDepositOp(ctx context.Context, no string, inbox <-chan depositStatus) error {
	defer a.reqs.Forget(no)
	f := &depositFlow{a: a, no: no}
	if err := a.j.View(func(tx *journal.Tx) error { _, err := tx.Get(journal.Deposits, no, &f.d); return err }); err != nil {
		return err
	}
	f.send = "deposit." + f.d.Op
	if f.d.State == OpPending {
		if err := exchange.Run(ctx, f, inbox, nil); err != nil {
			return err
		}
	}
	if f.d.State == OpSuccess {
		a.completeOrder(f.d.OutRequestNo)
	} else {
		a.log.Warn("deposit operation failed", "out_request_no", no, "err_code", f.d.ErrCode)
	}
	return nil
}

// depositFlow is one deposit operation's steps (exchange.Flow): d as last
// journaled, send the request to send next (deposit.consume,
// deposit.unfreeze or deposit.query).
type depositFlow struct {
	a    *Agent
	no   string
	d    DepositOp
	send string
}

// Send sends the next request; the wait is the backoff of its tries.
func (f *depositFlow) Send() (time.Duration, error) {
	d := f.d
	body := wire.DepositRequest{OutTradeNo: d.OutTradeNo, OutRequestNo: d.OutRequestNo, Amount: d.Amount, StaffID: d.StaffID}
	if err := f.a.reqs.Send(f.send, f.no, body); err != nil && !errors.Is(err, mqtt.ErrOffline) {
		f.a.log.Warn("deposit request not sent", "out_request_no", f.no, "err", err)
	}
	return reverseBackoff(d.Tries+1, f.a.cfg.Pay), nil
}

// Answer journals an answer; one that leaves the operation pending waits
// out the wait (paced).
func (f *depositFlow) Answer(st depositStatus) (exchange.Next, error) { return f.apply(&st) }

// Tick: after an answer, the paced request goes; with none, deposit.query
// asks what became of the operation.
func (f *depositFlow) Tick(answered bool) (exchange.Next, error) {
	if answered {
		return exchange.Send, nil
	}
	return f.apply(nil)
}

// apply journals one answer (nil: none came in time). A success moves the
// deposit (consumed or released) and owes its announcement and receipt in
// the same commit.
func (f *depositFlow) apply(st *depositStatus) (exchange.Next, error) {
	a, no := f.a, f.no
	err := a.j.Update(func(tx *journal.Tx) error {
		d := f.d
		if _, err := tx.Get(journal.Deposits, no, &d); err != nil {
			return err
		}
		var p Payment
		if _, err := tx.Get(journal.Orders, d.OutTradeNo, &p); err != nil {
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
		case st.State == OpSuccess:
			d.State, d.Consumed, d.Released = OpSuccess, st.Consumed, st.Released
			p.DepositState, p.Consumed, p.Released = DepositReleased, st.Consumed, st.Released
			kind, amt := "unfreeze", st.Released
			if d.Op == "consume" {
				p.DepositState, kind, amt = DepositConsumed, "consume", st.Consumed
			}
			if err := orders.Put(tx, p); err != nil {
				return err
			}
			if err := a.owe(tx, orders.Completion{OrderID: d.OutRequestNo, Kind: kind, Amount: amt, Wallet: p.Wallet,
				OutTradeNo: d.OutTradeNo, Desc: p.Desc, StaffID: d.StaffID, TransactionID: p.TransactionID}); err != nil {
				return err
			}
		case st.State == OpFail:
			if st.ErrCode == "ORDER_FINISHED" && st.DepositState != "" {
				// Another operation finished it (e.g. from another
				// till): the deposit's state is the provider's.
				p.DepositState, p.Consumed, p.Released = st.DepositState, st.Consumed, st.Released
				if err := orders.Put(tx, p); err != nil {
					return err
				}
			}
			d.State, d.ErrCode, d.ErrMsg = OpFail, st.ErrCode, st.ErrMsg
		default:
			return tx.Put(journal.Deposits, no, d)
		}
		f.d = d
		return a.saveDepositOp(tx, d, p)
	})
	if err != nil {
		return exchange.Done, err
	}
	a.link.Kick()
	switch {
	case f.d.State != OpPending:
		return exchange.Done, nil
	case st != nil:
		return exchange.Wait, nil
	}
	return exchange.Send, nil
}

// acceptDepositStatus routes deposit.status: to its operation (by
// out_request_no, or the ref of the request it answers), or, with neither,
// as the answer to a deposit's state query (checkOldDeposits).
func (a *Agent) acceptDepositStatus(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	req, known := a.reqs.Of(m.Ref)
	ok := func(st depositStatus) bool { return st.OutRequestNo != "" || validID(st.OutTradeNo) || known }
	return acceptAnswer(a, m, ok, func(st depositStatus) {
		switch {
		case st.OutRequestNo != "":
		case known && a.opRunning(req.Key):
			st.OutRequestNo = req.Key
		default:
			if st.OutTradeNo == "" && known {
				st.OutTradeNo = req.Key
			}
			if known {
				a.reqs.Forget(req.Key) // a state query: answered, no flow waits on it
			}
			a.depositStateAnswered(st)
			return
		}
		deliver(a, &a.depositInbox, st.OutRequestNo, st, wire.TypeDepositStatus)
	})
}

func (a *Agent) opRunning(no string) bool { return a.depositInbox.Running(no) }

// checkOldDeposits asks the platform about every deposit still frozen
// here after the provider's auto-release age (pay.deposit_release_after_ms;
// WeChat releases a deposit left 30 days, docs/provider-codes.md): one the
// provider released is shown released, never left FROZEN forever.
func (a *Agent) checkOldDeposits() {
	cutoff := a.now().Add(-config.MS(a.cfg.Pay.DepositReleaseAfterMS))
	var nos []string
	err := a.j.View(func(tx *journal.Tx) error {
		return orders.EachOpen(tx, func(p Payment) error {
			if p.Deposit && p.State == Paid && firstNonEmpty(p.DepositState, DepositFrozen) == DepositFrozen &&
				time.UnixMilli(firstPositive(p.ConfirmedAt, p.CreatedAt)).Before(cutoff) {
				nos = append(nos, p.OutTradeNo)
			}
			return nil
		})
	})
	if err != nil {
		a.log.Error("old deposits not read", "err", err)
		return
	}
	for _, no := range nos {
		if err := a.reqs.Send(wire.TypeDepositQuery, no, wire.OrderRef{OutTradeNo: no}); err != nil && !errors.Is(err, mqtt.ErrOffline) {
			a.log.Warn("deposit.query not sent", "out_trade_no", no, "err", err)
		}
	}
}

// depositStateAnswered records a deposit the provider released by itself.
// Any other state of a deposit frozen here changes nothing: its own
// operations (consume, unfreeze) settle it.
func (a *Agent) depositStateAnswered(st depositStatus) {
	if st.DepositState != DepositReleased {
		return
	}
	var p Payment
	err := a.j.Update(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Orders, st.OutTradeNo, &p)
		if err != nil || !ok || !p.Deposit || p.DepositState != DepositFrozen {
			return err
		}
		ops, err := orders.OpsOf(tx, st.OutTradeNo)
		if err != nil {
			return err
		}
		for _, o := range ops {
			if o.State == OpPending {
				return nil // its operation's answer decides
			}
		}
		p.DepositState, p.Released, p.ReleasedAt = DepositReleased, p.Amount, a.now().UnixMilli()
		if st.Released > 0 {
			p.Released = st.Released
		}
		if err := orders.Put(tx, p); err != nil {
			return err
		}
		dv := depositView(p, ops)
		tx.OnCommit(func() { a.publishLocal("deposit", dv) })
		return nil
	})
	if err != nil {
		a.log.Error("deposit release not recorded", "out_trade_no", st.OutTradeNo, "err", err)
		return
	}
	if p.ReleasedAt > 0 {
		a.log.Info("deposit released by the provider", "out_trade_no", st.OutTradeNo, "released", p.Released)
	}
}

// resumeDepositOps restarts every pending operation.
func (a *Agent) resumeDepositOps() error {
	open, err := orders.OpenKeys[DepositOp](a.j, journal.Deposits)
	for _, no := range open {
		a.startOp(no)
	}
	return err
}

// modeAllows checks a new payment against the till's mode (store.mode).
func (a *Agent) modeAllows(deposit bool) error {
	switch {
	case deposit && a.cfg.Store.Mode == "pay":
		return say("本机只收款，不收押金", fmt.Errorf("%w: this till takes payments only (store.mode pay)", ErrDenied))
	case !deposit && a.cfg.Store.Mode == "deposit":
		return say("本机只收押金", fmt.Errorf("%w: this till takes deposits only (store.mode deposit)", ErrDenied))
	}
	return nil
}

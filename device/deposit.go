package device

import (
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/posagent/posagent/device/deposit"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// Deposit operations run in device/deposit; the agent checks who may do
// them, routes deposit.status to them and shows the deposits.

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
	WalletName string      `json:"wallet_name,omitempty"` // as the receipt names it
	CreatedAt  int64       `json:"created_at"`
	Ops        []DepositOp `json:"ops,omitempty"`
}

func depositView(p Payment, ops []DepositOp) DepositView {
	st := p.DepositState
	if st == "" {
		st = p.State
	}
	dv := DepositView{OutTradeNo: p.OutTradeNo, Amount: p.Amount, State: st, Consumed: p.Consumed,
		Released: p.Released, Wallet: p.Wallet, CreatedAt: p.CreatedAt, Ops: ops}
	if p.Wallet != "" {
		dv.WalletName = printer.WalletName(p.Wallet)
	}
	return dv
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
		d, err = a.deposits.Create(tx, no, op, amount, staffID, func(refundRight bool) error {
			if refundRight {
				return staff.MayRefund(tx, s)
			}
			return staff.OnShift(tx, s)
		})
		return err
	})
	if err != nil {
		return d, err
	}
	a.link.Kick()
	a.startOp(d.OutRequestNo)
	return d, nil
}

// newDeposits wires the deposit operations to the agent.
func (a *Agent) newDeposits() *deposit.Runner {
	return &deposit.Runner{Host: a.flowHost("Q"),
		Changed: func(p Payment, ops []DepositOp) { a.publishLocal("deposit", depositView(p, ops)) },
	}
}

// startOp runs the deposit operation no on a goroutine of the agent's.
func (a *Agent) startOp(no string) {
	run := a.deposits.Open(no)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := run(a.runCtx); err != nil && a.runCtx.Err() == nil {
			a.log.Error("deposit operation stopped", "out_request_no", no, "err", err)
		}
	}()
}

// acceptDepositStatus routes deposit.status: to its operation (by
// out_request_no, or the ref of the request it answers), or, with neither,
// as the answer to a deposit's state query (deposit.Runner.CheckOld).
func (a *Agent) acceptDepositStatus(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	req, known := a.reqs.Of(m.Ref)
	ok := func(st depositStatus) bool { return st.OutRequestNo != "" || validID(st.OutTradeNo) || known }
	return acceptAnswer(a, m, ok, func(st depositStatus) {
		switch {
		case st.OutRequestNo != "":
		case known && a.deposits.Running(req.Key):
			st.OutRequestNo = req.Key
		default:
			if st.OutTradeNo == "" && known {
				st.OutTradeNo = req.Key
			}
			if known {
				a.reqs.Forget(req.Key) // a state query: answered, no flow waits on it
			}
			a.deposits.Released(st)
			return
		}
		deliver(a, a.deposits, st.OutRequestNo, st, wire.TypeDepositStatus)
	})
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

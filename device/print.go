package device

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posagent/posagent/device/notify"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// newPrintQueue wires the print queue (device/printq) to the agent.
func newPrintQueue(a *Agent) *printq.Queue {
	q := printq.New(printq.Host{
		Journal: a.j, Now: a.now, Log: a.log, Events: a.events(),
		Fault:   a.storageFault,
		Changed: func(st string) { a.updateState(func(s *State) { s.Printer = st }) },
	}, a.printer, a.cfg.Printer)
	q.Keep = NotifyTTL
	return q
}

// PrintProfile is the printer profile receipts are laid out for.
func (a *Agent) PrintProfile() printer.Profile { return a.pq.Profile() }

// acceptPrintJob queues a print.job durably; its print.result answers it
// when the job is done. A job_id seen before is not printed again.
func (a *Agent) acceptPrintJob(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.PrintJob
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "print.job: %v", err)
	}
	if !validID(b.JobID) {
		return a.badRequest(tx, m, "print.job: job_id must be 1-64 printable ASCII characters")
	}
	if err := printq.CheckJob(b); err != nil {
		return a.badRequest(tx, m, "print.job: %v", err)
	}
	res, err := a.pq.Accept(tx, m.ID, b)
	if err != nil || res == nil {
		return nil, a.pq.Kick, err
	}
	ans, err := a.emit(tx, wire.TypePrintResult, m.ID, *res)
	return &ans, nil, err
}

// Reprint queues an explicit reprint of an order's receipt, marked 重打印,
// as a job of its own (the original job is not touched). It returns the
// new job's id. The local API's POST /v1/orders/{no}/reprint calls it.
func (a *Agent) Reprint(orderID string) (string, error) {
	if !a.pq.HasPrinter() {
		return "", errors.New("this device has no printer")
	}
	var id string
	err := a.j.Update(func(tx *journal.Tx) error {
		orig, ok, err := printq.Get(tx, printq.OrderPrefix+orderID)
		if err != nil {
			return err
		}
		if !ok || orig.Receipt == nil {
			n, found, err := notify.Get(tx, orderID)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("no receipt known for order %q", orderID)
			}
			r := a.receiptOf(n.Body, time.Unix(n.At, 0))
			orig.Receipt = &r
		}
		id, err = a.pq.AddReprint(tx, orderID, *orig.Receipt)
		return err
	})
	if err != nil {
		return "", err
	}
	a.pq.Kick()
	return id, nil
}

// receiptOf is the receipt of a notification. A refund's or deposit
// operation's receipt names the order it belongs to as 订单号 and its own
// number apart.
func (a *Agent) receiptOf(b wire.NotifyPayment, at time.Time) printer.Receipt {
	r := printer.Receipt{
		Kind: b.Kind, Store: a.cfg.Store.Name, Merchant: a.cfg.Store.Merchant, Device: a.cfg.DeviceID,
		OrderID: b.OrderID, Desc: b.Desc, Staff: b.Staff, TransactionID: b.TransactionID,
		Wallet: strings.ToLower(b.Wallet), Amount: b.Amount, Time: at,
	}
	if b.OutTradeNo != "" && b.OutTradeNo != b.OrderID {
		switch b.Kind {
		case printer.KindRefund:
			r.OrderID, r.RefundNo = b.OutTradeNo, b.OrderID
		case printer.KindConsume, printer.KindUnfreeze:
			r.OrderID, r.RequestNo = b.OutTradeNo, b.OrderID
		}
	}
	return r
}

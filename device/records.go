package device

import "github.com/posagent/posagent/device/orders"

// The money records and their states live in device/orders, where the
// flows that change them (device/refund, device/deposit) read them too;
// these names are the agent's API for them.
type (
	Payment   = orders.Payment
	Refund    = orders.Refund
	DepositOp = orders.DepositOp
)

// Payment states (orders.Paid …).
const (
	AwaitingCode = orders.AwaitingCode
	Submitted    = orders.Submitted
	Polling      = orders.Polling
	Reversing    = orders.Reversing
	Unknown      = orders.Unknown
	Attention    = orders.Attention
	Paid         = orders.Paid
	Failed       = orders.Failed
	Reversed     = orders.Reversed
	Cancelled    = orders.Cancelled
)

// Refund states (orders.RefundSuccess …).
const (
	RefundPending    = orders.RefundPending
	RefundProcessing = orders.RefundProcessing
	RefundSuccess    = orders.RefundSuccess
	RefundFail       = orders.RefundFail
	RefundAttention  = orders.RefundAttention
)

// Deposit states and deposit operation states (orders.DepositFrozen …).
const (
	DepositFrozen   = orders.DepositFrozen
	DepositConsumed = orders.DepositConsumed
	DepositReleased = orders.DepositReleased
	OpPending       = orders.OpPending
	OpSuccess       = orders.OpSuccess
	OpFail          = orders.OpFail
)

// Errors of starting and changing payments, refunds and deposits (the
// local API maps them to HTTP statuses).
var (
	ErrBusy     = orders.ErrBusy
	ErrNotFound = orders.ErrNotFound
	ErrInvalid  = orders.ErrInvalid
	ErrConflict = orders.ErrConflict
	ErrDenied   = orders.ErrDenied
)

// Terminal reports whether a payment in state s is finished.
func Terminal(s string) bool { return orders.Terminal(s) }

// Settled reports whether the device has stopped running a payment in
// state s: finished, or waiting for a person (ATTENTION).
func Settled(s string) bool { return orders.Settled(s) }

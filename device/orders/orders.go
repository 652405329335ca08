// Package orders holds the money records the journal keeps — payments
// (deposits among them), refunds and deposit operations — and the indexes
// filed beside them.
//
// Invariants:
//   - a record is written with its indexes in one transaction (Put,
//     PutRefund, PutOp): an index never names a record that was not
//     written, and a record is never missing from an index it belongs to;
//   - a number the device makes for a record (FreshNumber) is one its
//     bucket does not hold: two records never share a number, so a retry
//     of one never settles another;
//   - a payment record never holds the payment code: only its wallet and
//     last four digits.
//
// The flows that change the records live in their own packages
// (device/refund, device/deposit) and in device; this package only says
// what a record is and where it is filed.
package orders

// Payment states (protocol §3, pay.progress and pay.result), and
// ATTENTION, this agent's: the attempt cannot be settled by the device
// alone (an answer whose amount is not the order's, a reverse the provider
// can no longer make). It stops running, is said and shown, and is sent to
// the platform as pay.progress; a person settles it by 补单 (scanning its
// order number asks the platform again) or on the platform.
const (
	AwaitingCode = "AWAITING_CODE"
	Submitted    = "SUBMITTED"
	Polling      = "POLLING"
	Reversing    = "REVERSING"
	Unknown      = "UNKNOWN"
	Attention    = "ATTENTION"
	Paid         = "PAID"
	Failed       = "FAILED"
	Reversed     = "REVERSED"
	Cancelled    = "CANCELLED"
)

// Terminal reports whether a payment in state s is finished.
func Terminal(s string) bool {
	return s == Paid || s == Failed || s == Reversed || s == Cancelled
}

// Settled reports whether the device has stopped running a payment in
// state s: finished, or waiting for a person (ATTENTION).
func Settled(s string) bool { return Terminal(s) || s == Attention }

// Payment is one attempt, journaled under its out_trade_no before anything
// about it leaves the device. It never holds the payment code: only its
// wallet and last four digits once it was scanned.
type Payment struct {
	OutTradeNo string `json:"out_trade_no"`
	Amount     int64  `json:"amount"`
	Desc       string `json:"desc,omitempty"`
	Deposit    bool   `json:"deposit,omitempty"`
	Source     string `json:"source"`                // platform or api
	CollectRef string `json:"collect_ref,omitempty"` // jti of pay.collect, ref of pay.result
	TimeoutMS  int64  `json:"timeout_ms"`            // to scan a code

	State    string `json:"state"`
	Wallet   string `json:"wallet,omitempty"`
	CodeTail string `json:"code_tail,omitempty"`

	CreatedAt   int64 `json:"created_at"`   // Unix ms
	SubmittedAt int64 `json:"submitted_at"` // Unix ms; 0 before the code is scanned
	UpdatedAt   int64 `json:"updated_at"`

	// Answered is set by the first answer after submit: a payment with
	// no answer at all by the deadline is UNKNOWN, not reversed blind.
	Answered bool `json:"answered,omitempty"`
	// NeedReverse: unpaid past the deadline, PAYERROR, or cancelled.
	NeedReverse bool `json:"need_reverse,omitempty"`
	// NoReverse: the platform saw this out_trade_no with other content
	// (DUPLICATE_CONTENT); reversing could close someone else's payment.
	NoReverse    bool `json:"no_reverse,omitempty"`
	ReverseTries int  `json:"reverse_tries,omitempty"`
	// ReverseRefusals counts reverse answers that did not close the order
	// (recall included); at pay.reverse_max_tries it asks a person.
	ReverseRefusals int  `json:"reverse_refusals,omitempty"`
	CancelAsked     bool `json:"cancel_asked,omitempty"`
	// FailSaid: the decline's reason was said when it came; the reverse that
	// closes the order afterwards does not say it again.
	FailSaid bool `json:"fail_said,omitempty"`

	TransactionID string `json:"transaction_id,omitempty"`
	PaidAt        int64  `json:"paid_at,omitempty"`
	ErrCode       string `json:"err_code,omitempty"`
	ErrMsg        string `json:"err_msg,omitempty"`
	Refunded      int64  `json:"refunded,omitempty"` // fen refunded so far
	// ConfirmedAt is when the device learnt it was paid (Unix ms): the
	// payment belongs to the shift and the day of that instant, so one
	// UNKNOWN at a handover and paid later is in the next shift's books.
	ConfirmedAt int64  `json:"confirmed_at,omitempty"`
	Staff       string `json:"staff,omitempty"` // on shift when it started

	// A deposit's state once frozen (device/deposit), and its final step.
	DepositState string `json:"deposit_state,omitempty"`
	Consumed     int64  `json:"consumed,omitempty"`
	Released     int64  `json:"released,omitempty"`
	// ReleasedAt is when the device learnt that the provider released the
	// deposit by itself (WeChat after 30 days), Unix ms.
	ReleasedAt int64 `json:"released_at,omitempty"`
}

// DoNotTakeCash is true while the customer may have been charged: the
// cashier must not take cash for this order (protocol §4.6).
func (p Payment) DoNotTakeCash() bool {
	return p.State == Paid || (!Terminal(p.State) && p.SubmittedAt != 0)
}

// Refund states. A refund ends only on a definite answer: SUCCESS (money
// returned), FAIL with a code that says nothing was refunded, or ATTENTION
// (the provider accepted it but could not return the money — WeChat's
// CHANGE, 退款异常 — or its outcome stayed unknown past every retry): a
// person settles it on the merchant platform.
const (
	RefundPending    = "PENDING"    // journaled, request not answered yet
	RefundProcessing = "PROCESSING" // the provider is working on it
	RefundSuccess    = "SUCCESS"
	RefundFail       = "FAIL"
	RefundAttention  = "ATTENTION"
)

// RefundFinal reports whether a refund in state s has ended.
func RefundFinal(s string) bool {
	return s == RefundSuccess || s == RefundFail || s == RefundAttention
}

// Refund is one refund, journaled under its out_refund_no before the
// request leaves. The number is stable: every retry re-sends it, and the
// platform refunds at most once per number.
type Refund struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	Amount      int64  `json:"amount"`
	StaffID     string `json:"staff_id"`
	Wallet      string `json:"wallet,omitempty"`
	State       string `json:"state"`
	RefundID    string `json:"refund_id,omitempty"`
	ErrCode     string `json:"err_code,omitempty"`
	ErrMsg      string `json:"err_msg,omitempty"`
	Tries       int    `json:"tries,omitempty"`
	// Unclear counts answers that left the outcome unknown (SYSTEMERROR,
	// an unrecognised FAIL code); at pay.reverse_max_tries it asks a person.
	Unclear   int   `json:"unclear,omitempty"`
	CreatedAt int64 `json:"created_at"`
	UpdatedAt int64 `json:"updated_at"`
}

// Open: a refund not final is resumed at start (journal.Opener).
func (r Refund) Open() bool { return r.State == RefundPending || r.State == RefundProcessing }

// MaxAmount is the largest amount a record holds, in fen
// (999,999,999.99 yuan): what the platform and the cashier may ask for.
const MaxAmount = 99_999_999_999

// Deposit states of a frozen payment, in Payment.DepositState.
const (
	DepositFrozen   = "FROZEN"
	DepositConsumed = "CONSUMED"
	DepositReleased = "RELEASED"
)

// Deposit operation states.
const (
	OpPending = "PENDING"
	OpSuccess = "SUCCESS"
	OpFail    = "FAIL"
)

// DepositOp is one consume or unfreeze, journaled under its out_request_no
// before the request leaves.
type DepositOp struct {
	OutRequestNo string `json:"out_request_no"`
	OutTradeNo   string `json:"out_trade_no"`
	Op           string `json:"op"`     // consume or unfreeze
	Amount       int64  `json:"amount"` // consume: what to take
	StaffID      string `json:"staff_id"`
	Wallet       string `json:"wallet,omitempty"`
	State        string `json:"state"`
	ErrCode      string `json:"err_code,omitempty"`
	ErrMsg       string `json:"err_msg,omitempty"`
	Consumed     int64  `json:"consumed"`
	Released     int64  `json:"released"`
	Tries        int    `json:"tries,omitempty"`
	CreatedAt    int64  `json:"created_at"`
	UpdatedAt    int64  `json:"updated_at"`
}

// Open: a pending operation is resumed at start (journal.Opener).
func (d DepositOp) Open() bool { return d.State == OpPending }

// Completion is what a money flow owes once it succeeded: the announcement
// and receipt of OrderID (a payment's, refund's or deposit operation's
// number), journaled in the commit that records the success so it is done
// exactly once, after a crash too. Kind is notify.payment's (payment,
// refund, consume, unfreeze).
type Completion struct {
	OrderID       string
	Kind          string
	Amount        int64
	Wallet        string
	OutTradeNo    string // the order a refund or deposit operation belongs to
	Desc          string
	StaffID       string
	TransactionID string
}

// Package wire holds the JSON bodies of the money-flow messages (protocol
// §4; docs/protocol.md §8), shared by the device and the
// platform side so the two cannot drift apart. Amounts are integer fen.
package wire

// PaySubmit is the body of pay.submit.
type PaySubmit struct {
	OutTradeNo string `json:"out_trade_no"`
	AuthCode   string `json:"auth_code"`
	Amount     int64  `json:"amount"`
	Wallet     string `json:"wallet"`
	Deposit    bool   `json:"deposit"`
	Desc       string `json:"desc"`
}

// PayStatus is the body of pay.status, the answer to pay.submit, pay.query
// and pay.reverse.
type PayStatus struct {
	OutTradeNo    string `json:"out_trade_no"`
	Op            string `json:"op"`
	State         string `json:"state"`
	ErrCode       string `json:"err_code"`
	ErrMsg        string `json:"err_msg"`
	TransactionID string `json:"transaction_id"`
	PaidAt        int64  `json:"paid_at"`
	Wallet        string `json:"wallet"`
	Amount        int64  `json:"amount"`
	Recall        bool   `json:"recall"`
}

// OrderFound is the body of order.found, the answer to order.lookup.
type OrderFound struct {
	OutTradeNo    string `json:"out_trade_no"`
	State         string `json:"state"`
	ErrCode       string `json:"err_code"`
	Amount        int64  `json:"amount"`
	Wallet        string `json:"wallet"`
	TransactionID string `json:"transaction_id"`
	PaidAt        int64  `json:"paid_at"`
}

// RefundRequest is the body of refund.request.
type RefundRequest struct {
	OutTradeNo  string `json:"out_trade_no"`
	OutRefundNo string `json:"out_refund_no"`
	Amount      int64  `json:"amount"`
	StaffID     string `json:"staff_id"`
}

// RefundStatus is the body of refund.status.
type RefundStatus struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	State       string `json:"state"`
	ErrCode     string `json:"err_code"`
	ErrMsg      string `json:"err_msg"`
	RefundID    string `json:"refund_id"`
	Amount      int64  `json:"amount"`
}

// DepositRequest is the body of deposit.consume, deposit.unfreeze and
// deposit.query.
type DepositRequest struct {
	OutTradeNo   string `json:"out_trade_no"`
	OutRequestNo string `json:"out_request_no"`
	Amount       int64  `json:"amount"`
	StaffID      string `json:"staff_id"`
}

// DepositStatus is the body of deposit.status.
type DepositStatus struct {
	OutTradeNo   string `json:"out_trade_no"`
	OutRequestNo string `json:"out_request_no"`
	Op           string `json:"op"`    // consume, unfreeze or query
	State        string `json:"state"` // SUCCESS, FAIL or NOTFOUND
	DepositState string `json:"deposit_state"`
	ErrCode      string `json:"err_code"`
	ErrMsg       string `json:"err_msg"`
	Frozen       int64  `json:"frozen"`
	Consumed     int64  `json:"consumed"`
	Released     int64  `json:"released"`
}

// OrderRef is the body of the requests that name only an order: pay.query,
// pay.reverse, order.lookup, and deposit.query by order; and of the
// command pay.cancel.
type OrderRef struct {
	OutTradeNo string `json:"out_trade_no"`
}

// RefundQuery is the body of refund.query.
type RefundQuery struct {
	OutTradeNo  string `json:"out_trade_no"`
	OutRefundNo string `json:"out_refund_no"`
}

// The algorithms a message is signed with (the JWS "alg"): HS256 with the
// device's shared auth key, PS256 with the device's own RSA key.
const (
	HS256 = "HS256"
	PS256 = "PS256"
)

// PayResult is the body of pay.result, a payment's end.
type PayResult struct {
	OutTradeNo    string `json:"out_trade_no"`
	State         string `json:"state"`
	Amount        int64  `json:"amount"`
	Wallet        string `json:"wallet"`
	TransactionID string `json:"transaction_id"`
	ErrCode       string `json:"err_code"`
	ErrMsg        string `json:"err_msg"`
}

// PayProgress is the body of pay.progress, a payment's step; the error
// only with state ATTENTION.
type PayProgress struct {
	OutTradeNo string `json:"out_trade_no"`
	State      string `json:"state"`
	ErrCode    string `json:"err_code,omitempty"`
	ErrMsg     string `json:"err_msg,omitempty"`
}

// RefundResult is the body of refund.result.
type RefundResult struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	Amount      int64  `json:"amount"`
	State       string `json:"state"`
	RefundID    string `json:"refund_id"`
	ErrCode     string `json:"err_code"`
	ErrMsg      string `json:"err_msg"`
}

// DepositResult is the body of deposit.result, a deposit operation's end.
type DepositResult struct {
	OutTradeNo   string `json:"out_trade_no"`
	OutRequestNo string `json:"out_request_no"`
	Op           string `json:"op"`
	State        string `json:"state"`
	Consumed     int64  `json:"consumed"`
	Released     int64  `json:"released"`
	ErrCode      string `json:"err_code"`
	ErrMsg       string `json:"err_msg"`
}

// NotifyDone is the body of notify.done, the answer to notify.payment
// (docs/protocol.md §7.4): what the device did, and the words it said.
type NotifyDone struct {
	OrderID   string `json:"order_id"`
	Announced bool   `json:"announced"`
	Printed   bool   `json:"printed"`
	Duplicate bool   `json:"duplicate"`
	Said      string `json:"said"`
}

// PrintResult is the body of print.result (docs/protocol.md §7.7): the
// answer to print.job, and a receipt's or a job's fault while it waits.
type PrintResult struct {
	JobID     string `json:"job_id"`
	Status    string `json:"status"`
	OrderID   string `json:"order_id,omitempty"`
	Copies    int    `json:"copies,omitempty"`
	Printed   int    `json:"printed"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
}

// DeviceHello is the body of device.hello, sent first on every connect
// (docs/protocol.md §7.1). The platform pins PublicKey, which verifies the
// device's PS256 requests.
type DeviceHello struct {
	FW          string `json:"fw"`
	Board       string `json:"board"`
	Serial      string `json:"serial"`
	PublicKey   string `json:"public_key"`
	KeyReplaced bool   `json:"key_replaced,omitempty"`
	Storage     string `json:"storage,omitempty"`
	KeyProof    string `json:"key_proof,omitempty"`
}

// ShiftSummary is the body of shift.summary (docs/protocol.md §7.8), the
// handover summary of a shift, as the local API gives it too. Start and
// End are Unix seconds, as the contract has every time; StartMS and EndMS
// the same to the millisecond. Net and Wallets are extensions.
type ShiftSummary struct {
	Store     string `json:"store,omitempty"`
	Device    string `json:"device,omitempty"`
	StaffID   string `json:"staff_id"`
	StaffName string `json:"staff_name,omitempty"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
	StartMS   int64  `json:"start_ms"`
	EndMS     int64  `json:"end_ms"`

	PayCount             int   `json:"pay_count"`
	PayAmount            int64 `json:"pay_amount"`
	RefundCount          int   `json:"refund_count"`
	RefundAmount         int64 `json:"refund_amount"`
	DepositCount         int   `json:"deposit_count"`
	DepositAmount        int64 `json:"deposit_amount"`
	ConsumeCount         int   `json:"consume_count"`
	ConsumeAmount        int64 `json:"consume_amount"`
	UnfreezeCount        int   `json:"unfreeze_count"`
	UnfreezeAmount       int64 `json:"unfreeze_amount"`
	ConsumeReleasedCount int   `json:"consume_released_count"`
	ConsumeReleased      int64 `json:"consume_released"`

	ByWallet []WalletTotal `json:"by_wallet,omitempty"`
	Reprint  bool          `json:"reprint,omitempty"`
	Net      int64         `json:"net"`
	Wallets  []WalletTotal `json:"wallets"` // a copy of ByWallet; null when none
}

// WalletTotal is one wallet's income in a ShiftSummary.
type WalletTotal struct {
	Wallet     string `json:"wallet"`
	Count      int    `json:"count"`
	Amount     int64  `json:"amount"`
	WalletName string `json:"wallet_name,omitempty"` // an extension: as the receipt names it
}

// DeviceStorage is the body of device.storage (docs/protocol.md §7.3),
// sent once after the device started on a new journal because the old one
// was lost.
type DeviceStorage struct {
	State string       `json:"state"`
	Lost  *StorageLost `json:"lost,omitempty"`
}

// StorageLost is what device.storage says of the lost journal. At and
// RefuseBefore are Unix ms: commands issued at or before RefuseBefore are
// refused journal_lost.
type StorageLost struct {
	Cause        string `json:"cause"`
	Kept         string `json:"kept"`
	Reason       string `json:"reason"`
	At           int64  `json:"at"`
	RefuseBefore int64  `json:"refuse_before"`
}

// ShiftChanged is the body of shift.changed, the answer to shift.start (and
// news of a shift opened through the local API). Since is Unix seconds.
type ShiftChanged struct {
	Open      bool   `json:"open"`
	StaffID   string `json:"staff_id"`
	StaffName string `json:"staff_name"`
	Since     int64  `json:"since"`
}

// StaffRosterApplied is the body of staff.roster.applied: the roster's
// version, how many entries it had, and whether it was applied (false
// when it was older than the one kept).
type StaffRosterApplied struct {
	Version int64 `json:"version"`
	Staff   int   `json:"staff"`
	Applied bool  `json:"applied"`
}

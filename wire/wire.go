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

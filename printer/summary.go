package printer

import (
	"strconv"
	"strings"
	"time"
)

// WalletTotal is one wallet's line in a summary. Amount is in fen.
type WalletTotal struct {
	Wallet string `json:"wallet"`
	Count  int    `json:"count"`
	Amount int64  `json:"amount"`
	// WalletName is the wallet as the receipt names it (WalletName), for
	// a screen to show; the slip prints its own.
	WalletName string `json:"wallet_name,omitempty"`
}

// ShiftSummary is the handover slip (交接班) printed when a shift ends: what
// one staff member took between Start and End. Amounts are in fen. The shift
// flow fills it from the journal; this type only lays it out.
type ShiftSummary struct {
	Store     string    `json:"store,omitempty"`
	Device    string    `json:"device,omitempty"`
	StaffID   string    `json:"staff_id"`
	StaffName string    `json:"staff_name,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`

	PayCount       int   `json:"pay_count"`
	PayAmount      int64 `json:"pay_amount"`
	RefundCount    int   `json:"refund_count"`
	RefundAmount   int64 `json:"refund_amount"`
	DepositCount   int   `json:"deposit_count"`  // deposits frozen
	DepositAmount  int64 `json:"deposit_amount"` // frozen
	ConsumeCount   int   `json:"consume_count"`
	ConsumeAmount  int64 `json:"consume_amount"` // taken from deposits
	UnfreezeCount  int   `json:"unfreeze_count"`
	UnfreezeAmount int64 `json:"unfreeze_amount"` // released whole
	// ConsumeReleased is what the consumes gave back (the rest of each
	// deposit), in ConsumeReleasedCount of them.
	ConsumeReleasedCount int   `json:"consume_released_count"`
	ConsumeReleased      int64 `json:"consume_released"`

	ByWallet []WalletTotal `json:"by_wallet,omitempty"` // payments by wallet
	Reprint  bool          `json:"reprint,omitempty"`
}

// Net is what the shift took in: payments and deposit consumption less
// refunds. Frozen deposits are not income until consumed.
func (s ShiftSummary) Net() int64 { return s.PayAmount + s.ConsumeAmount - s.RefundAmount }

// Markup lays the handover slip out for columns.
func (s ShiftSummary) Markup(columns int) string {
	w := newSlip(columns)
	w.head(s.Store, "交接班汇总", s.Reprint)
	staff := s.StaffID
	if s.StaffName != "" {
		staff = s.StaffName + " (" + s.StaffID + ")"
	}
	w.pair("收银员", staff)
	w.pair("上班", when(s.Start))
	w.pair("下班", when(s.End))
	w.pair("终端", s.Device)
	w.rule()
	w.count("收款", s.PayCount, s.PayAmount)
	w.count("退款", s.RefundCount, s.RefundAmount)
	w.count("押金冻结", s.DepositCount, s.DepositAmount)
	w.count("押金消费", s.ConsumeCount, s.ConsumeAmount)
	w.count("押金解冻", s.UnfreezeCount, s.UnfreezeAmount)
	w.rule()
	w.bold("实收合计", yuan(s.Net()))
	w.wallets(s.ByWallet)
	w.rule()
	w.line("交班人签字:")
	w.line("")
	w.line("接班人签字:")
	return w.end()
}

// TransactionSummary is the transaction report (交易汇总) for a period:
// order amount, discounts, settled amount, refunds and what was received
// (settled − refunded). Amounts are in fen.
type TransactionSummary struct {
	Store  string    `json:"store,omitempty"`
	Device string    `json:"device,omitempty"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`

	Count       int   `json:"count"`        // paid orders
	Amount      int64 `json:"amount"`       // order amount (交易金额)
	Discount    int64 `json:"discount"`     // discounts (优惠金额)
	Settled     int64 `json:"settled"`      // settled amount (结算金额)
	RefundCount int   `json:"refund_count"` // refunds
	Refunded    int64 `json:"refunded"`     // settled amount refunded

	// Deposits, apart from income: frozen money is the guest's until a
	// consume takes part of it (counted in Count/Amount above); released
	// money (unfreeze, a consume's rest, the provider's auto-release) goes
	// back and is never income.
	FrozenCount    int   `json:"frozen_count"`
	FrozenAmount   int64 `json:"frozen_amount"`
	ConsumeCount   int   `json:"consume_count"`
	ConsumeAmount  int64 `json:"consume_amount"`
	ReleasedCount  int   `json:"released_count"`
	ReleasedAmount int64 `json:"released_amount"`

	ByWallet []WalletTotal `json:"by_wallet,omitempty"`
	Printed  time.Time     `json:"printed"`
	Reprint  bool          `json:"reprint,omitempty"`
}

// Received is the settled amount less refunds of it (实收).
func (s TransactionSummary) Received() int64 { return s.Settled - s.Refunded }

// Markup lays the report out for columns.
func (s TransactionSummary) Markup(columns int) string {
	w := newSlip(columns)
	w.head(s.Store, "交易汇总", s.Reprint)
	w.pair("开始", when(s.From))
	w.pair("结束", when(s.To))
	w.pair("终端", s.Device)
	w.rule()
	w.count("交易", s.Count, s.Amount)
	w.pair("优惠金额", yuan(s.Discount))
	w.pair("结算金额", yuan(s.Settled))
	w.count("退款", s.RefundCount, s.Refunded)
	w.rule()
	w.bold("实收金额", yuan(s.Received()))
	w.wallets(s.ByWallet)
	if s.FrozenCount+s.ConsumeCount+s.ReleasedCount > 0 {
		w.rule()
		w.count("押金冻结", s.FrozenCount, s.FrozenAmount)
		w.count("押金消费", s.ConsumeCount, s.ConsumeAmount)
		w.count("押金退还", s.ReleasedCount, s.ReleasedAmount)
	}
	w.rule()
	w.pair("打印时间", when(s.Printed))
	return w.end()
}

// slip builds the markup of a report: fields are made markup-safe, lines
// are label/value pairs across the paper.
type slip struct {
	b    strings.Builder
	cols int
}

func newSlip(columns int) *slip {
	if columns <= 0 {
		columns = Generic58().Columns
	}
	return &slip{cols: columns}
}

func (w *slip) line(s string) { w.b.WriteString(s + "<BR>") }
func (w *slip) rule()         { w.line(strings.Repeat("-", w.cols)) }

func (w *slip) head(store, title string, reprint bool) {
	w.b.WriteString("<LOGO>")
	if store != "" {
		w.line("<CB>" + field(store) + "</CB>")
	}
	w.line("<C><B>" + title + "</B></C>")
	if reprint {
		w.line("<C>** 重打印 **</C>")
	}
	w.rule()
}

func (w *slip) pair(label, value string) {
	if value != "" {
		w.line(Pair(label, field(value), w.cols))
	}
}

func (w *slip) bold(label, value string) {
	w.line("<B>" + Pair(label, field(value), w.cols) + "</B>")
}

// count prints "收款 12笔 ￥1,234.00" as label and value.
func (w *slip) count(label string, n int, fen int64) {
	w.line(Pair(label+" "+strconv.Itoa(n)+"笔", yuan(fen), w.cols))
}

func (w *slip) wallets(ws []WalletTotal) {
	if len(ws) == 0 {
		return
	}
	w.line("按支付方式:")
	for _, t := range ws {
		w.count("  "+WalletName(t.Wallet), t.Count, t.Amount)
	}
}

func (w *slip) end() string {
	w.b.WriteString("<CUT>")
	return w.b.String()
}

func yuan(fen int64) string { return "￥" + FormatAmount(fen) }

// when formats t in Beijing time, or "" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(shanghai()).Format("2006-01-02 15:04:05")
}

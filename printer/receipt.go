package printer

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// Receipt kinds.
const (
	KindPay      = "pay"
	KindRefund   = "refund"
	KindDeposit  = "deposit"
	KindConsume  = "consume"
	KindUnfreeze = "unfreeze"
)

// Receipt is the data of one payment receipt, as the journal holds it.
// Amounts are in fen.
type Receipt struct {
	Kind          string    `json:"kind"` // KindPay, KindRefund, KindDeposit, KindConsume, KindUnfreeze
	Store         string    `json:"store,omitempty"`
	Device        string    `json:"device,omitempty"`
	Merchant      string    `json:"merchant,omitempty"`       // the merchant's registered name (store.merchant)
	Staff         string    `json:"staff,omitempty"`          // the operator: their name, or id
	Desc          string    `json:"desc,omitempty"`           // what was sold (the payment's desc)
	OrderID       string    `json:"order_id"`                 // out_trade_no (for a refund: the order refunded)
	RefundNo      string    `json:"refund_no,omitempty"`      // out_refund_no of a refund
	RequestNo     string    `json:"request_no,omitempty"`     // out_request_no of a deposit consume/unfreeze
	Wallet        string    `json:"wallet,omitempty"`         // wechat, alipay, unionpay, bestpay, ecny
	TransactionID string    `json:"transaction_id,omitempty"` // the wallet provider's
	Amount        int64     `json:"amount"`                   // paid, refunded, frozen, consumed or released
	Frozen        int64     `json:"frozen,omitempty"`         // consume: the deposit it was taken from
	Time          time.Time `json:"time"`
	Reprint       bool      `json:"reprint,omitempty"`
	Copy, Copies  int       `json:"-"` // "第 Copy/Copies 联" when Copies > 1
}

var kindText = map[string]struct{ title, amount string }{
	KindPay:      {"收款凭证", "收款金额"},
	KindRefund:   {"退款凭证", "退款金额"},
	KindDeposit:  {"押金凭证", "押金金额"},
	KindConsume:  {"押金消费凭证", "消费金额"},
	KindUnfreeze: {"押金解冻凭证", "解冻金额"},
}

var walletNames = map[string]string{
	"wechat":   "微信",
	"alipay":   "支付宝",
	"unionpay": "云闪付",
	"bestpay":  "翼支付",
	"ecny":     "数字人民币",
}

// WalletName is the Chinese name of a wallet code as printed on receipts;
// unknown codes print as 其他 (other).
func WalletName(code string) string {
	if n, ok := walletNames[strings.ToLower(code)]; ok {
		return n
	}
	return "其他"
}

// FormatAmount formats fen as yuan with two decimals ("128.50", "-0.05"),
// with integer arithmetic only so no amount is ever rounded.
func FormatAmount(fen int64) string {
	neg := fen < 0
	u := uint64(fen)
	if neg {
		u = -u // two's complement: correct for math.MinInt64 too
	}
	s := strconv.FormatUint(u/100, 10) + "." + strconv.FormatUint(u%100/10, 10) + strconv.FormatUint(u%10, 10)
	if neg {
		return "-" + s
	}
	return s
}

// shanghai is China Standard Time. Receipts show Beijing time whatever zone
// the device is set to; a fixed +08:00 zone is used when the tz database
// is missing (common on embedded images) — China has no daylight saving.
var shanghai = sync.OnceValue(func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
})

// Markup renders the receipt as print markup for a printer of the given
// column width: store name large and centred, title, the payment lines as
// label/value pairs, and for deposits the order number as Code128 and QR
// so it can be scanned to consume or unfreeze. Field values cannot inject
// markup: "<" and ">" in them print as their fullwidth forms.
func (r Receipt) Markup(columns int) string {
	if columns <= 0 {
		columns = Generic58().Columns
	}
	kt, ok := kindText[r.Kind]
	if !ok {
		kt = kindText[KindPay]
	}
	var b strings.Builder
	line := func(s string) {
		b.WriteString(s)
		b.WriteString("<BR>")
	}
	pair := func(label, value string) {
		if value != "" {
			line(Pair(label, field(value), columns))
		}
	}
	rule := strings.Repeat("-", columns)

	b.WriteString("<LOGO>") // the configured logo, if any
	if r.Store != "" {
		line("<CB>" + field(r.Store) + "</CB>")
	}
	line("<C><B>" + kt.title + "</B></C>")
	if r.Reprint {
		line("<C>** 重打印 **</C>")
	}
	line(rule)
	pair("商户", r.Merchant)
	pair("商品", r.Desc)
	pair("支付方式", WalletName(r.Wallet))
	if r.Kind == KindConsume && r.Frozen > 0 {
		pair("押金金额", "￥"+FormatAmount(r.Frozen))
	}
	line("<B>" + Pair(kt.amount, "￥"+FormatAmount(r.Amount), columns) + "</B>")
	if r.Kind == KindConsume && r.Frozen >= r.Amount && r.Frozen > 0 {
		pair("退还金额", "￥"+FormatAmount(r.Frozen-r.Amount))
	}
	pair("订单号", r.OrderID)
	pair("退款单号", r.RefundNo)
	pair("押金单号", r.RequestNo)
	pair("交易单号", r.TransactionID)
	if !r.Time.IsZero() {
		pair("时间", r.Time.In(shanghai()).Format("2006-01-02 15:04:05"))
	}
	pair("收银员", r.Staff)
	pair("终端", r.Device)
	line(rule)
	if r.Kind == KindDeposit && r.OrderID != "" {
		line("<C>凭此码消费或退还押金</C>")
		b.WriteString("<BC128>" + r.OrderID + "</BC128><BR>") // a blank line between the codes
		b.WriteString("<QR>" + r.OrderID + "</QR>")
		line("")
	}
	if r.Copies > 1 {
		line("<C>第" + strconv.Itoa(r.Copy) + "联 / 共" + strconv.Itoa(r.Copies) + "联</C>")
	}
	line("<C>请妥善保管此凭证</C>")
	b.WriteString("<CUT>")
	return b.String()
}

// field makes an outside value safe to put in markup.
func field(s string) string { return markupSafe.Replace(oneLine(s)) }

// markupSafe puts the full-width brackets for the ASCII ones, which would
// open a tag. Made once: a Replacer builds its tables on first use, 6 KB
// and most of a receipt's layout time when made per field.
var markupSafe = strings.NewReplacer("<", "＜", ">", "＞")

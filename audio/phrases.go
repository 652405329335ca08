package audio

import (
	"errors"
	"fmt"
	"strings"
)

// Phrases the agent says outside amounts. Each is one clip of the default
// pack (voice/units.tsv), so it is said as a whole, not pieced together.
const (
	PhraseShowCode       = "请出示付款码"
	PhrasePaid           = "支付成功"
	PhrasePayFailed      = "支付失败"
	PhraseUnknown        = "结果待确认"
	PhraseRescan         = "请重新扫码"
	PhraseNetUp          = "网络已连接"
	PhraseNetDown        = "网络断开"
	PhraseConfigOK       = "配置成功"
	PhraseConfigFailed   = "配置失败"
	PhraseConfigRestored = "已恢复原配置"
	PhrasePaperOut       = "打印机缺纸"
	PhraseReplay         = "补播"
	PhraseVolume         = "音量"
	// PhraseAttention: a payment the device cannot settle alone (ATTENTION).
	PhraseAttention = "需人工处理"
	// 补单 answers for a scanned order number.
	PhraseOrderNotFound = "未找到订单"
	PhraseOrderRefunded = "订单已退款"
	PhraseDepositOrder  = "押金订单"
	// Refunds and deposit operations.
	PhraseRefundFailed = "退款失败"

	// The journal: lost or damaged (a new one was started), the disk
	// full, and space back.
	PhraseStorageFault = "存储故障"
	PhraseStorageFull  = "存储空间已满"
	PhraseStorageOK    = "存储已恢复"
)

// CodeUnrecognized is the err_code this agent gives a scanned code that is no
// wallet's payment code (protocol §4.2: refused with a spoken reason and no
// request); FailureReason says it as 无法识别付款码.
const CodeUnrecognized = "CODE_UNRECOGNIZED"

// failureReasons maps what a payment can fail with — the provider's err_code
// (WeChat Pay's upper-case codes, Alipay's ACQ.* codes), a pay.status state,
// a pay.result state — to the reason said after 支付失败. Several codes share
// one reason: the customer at the counter needs to know what to do (pay
// another way, show a fresh code, ask the shop), not which provider said it.
var failureReasons = map[string]string{
	"NOTENOUGH":                             "余额不足",
	"ACQ.BUYER_BALANCE_NOT_ENOUGH":          "余额不足",
	"ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH": "余额不足",
	"AUTHCODEEXPIRE":                        "付款码已过期",
	"AUTH_CODE_INVALID":                     "付款码无效",
	"AUTH_CODE_ERROR":                       "付款码无效",
	"ACQ.PAYMENT_AUTH_CODE_INVALID":         "付款码无效",
	CodeUnrecognized:                        "无法识别付款码",
	"SYSTEMERROR":                           "系统繁忙",
	"ACQ.SYSTEM_ERROR":                      "系统繁忙",
	"FREQUENCY_LIMITED":                     "系统繁忙",
	"BANKERROR":                             "银行系统异常",
	"CLOSED":                                "订单已关闭",
	"ORDERCLOSED":                           "订单已关闭",
	"ACQ.TRADE_HAS_CLOSE":                   "订单已关闭",
	"REVOKED":                               "订单已撤销",
	"REVERSED":                              "订单已撤销",
	"ORDERREVERSED":                         "订单已撤销",
	"ORDERPAID":                             "订单已支付",
	"ACQ.TRADE_HAS_SUCCESS":                 "订单已支付",
	"DUPLICATE_CONTENT":                     "订单号重复",
	"OUT_TRADE_NO_USED":                     "订单号重复",
	"ACQ.CONTEXT_INCONSISTENT":              "订单号重复",
	"USERPAYING":                            "支付超时",
	"TIMEOUT":                               "支付超时",
	"CANCELLED":                             "交易已取消",
}

// FailureReason returns the spoken reason for err_code (case and surrounding
// spaces ignored), or "" for a code with no reason worth saying (PAYERROR,
// or a code not known here): saying nothing beats guessing a wrong cause.
func FailureReason(errCode string) string {
	return failureReasons[strings.ToUpper(strings.TrimSpace(errCode))]
}

// PaymentFailed returns what a failed payment says: 支付失败, then after a
// pause its reason when FailureReason has one (支付失败，余额不足).
func PaymentFailed(errCode string) string {
	if r := FailureReason(errCode); r != "" {
		return PhrasePayFailed + "，" + r
	}
	return PhrasePayFailed
}

// configReasons maps why a configuration (QR or config.set) was refused, as
// package ota names it, to what is said after 配置失败: the installer at the
// device needs to know whether to make a new QR, use the right one, or call.
var configReasons = map[string]string{
	"expired":       "二维码已过期",
	"lifetime":      "二维码时间无效",
	"not_yet_valid": "二维码时间无效",
	"reused":        "二维码已使用",
	"malformed":     "二维码无效",
	"signature":     "二维码无效",
	"no_key":        "二维码无效",
	"other_device":  "非本机二维码",
	"bad_config":    "配置内容有误",
	"version":       "配置内容有误",
	"busy":          "设备忙",
}

// ConfigFailed returns what a refused configuration says: 配置失败, then
// its reason when there is one worth saying (配置失败，二维码已过期).
func ConfigFailed(reason string) string {
	if r := configReasons[reason]; r != "" {
		return PhraseConfigFailed + "，" + r
	}
	return PhraseConfigFailed
}

// VolumeWords returns what the device says after a volume change: 音量 and
// the level 0-10 (clamped), 音量六, 音量十.
func VolumeWords(level int) string {
	level = min(max(level, 0), 10)
	var b strings.Builder
	b.WriteString(PhraseVolume)
	writeInt(&b, uint64(level), true, false)
	return b.String()
}

// ErrNumber is wrapped by Normalize's errors.
var ErrNumber = errors.New("audio: number cannot be read")

// maxDigits bounds a number in text given to Normalize: 15 integer digits
// (999 万亿) is beyond any amount the agent accepts and keeps every reading
// inside uint64 and int64 fen.
const maxDigits = 15

// Normalize rewrites the ASCII numbers in text from the platform
// (device.speak) as Mandarin words, so a sender may write 收款12.5元:
//
//   - a number followed by 元 is an amount: at most two decimals, read as
//     AmountWords reads fen (12.5元 → 十二点五元, 10元 → 十元);
//   - another number with no leading zero is read as a number (音量6 → 音量六,
//     15 → 十五, 1.25 → 一点二五);
//   - one with a leading zero (an order or phone number, 007) is read digit
//     by digit.
//
// Everything else is left as it is, for the voice to accept or refuse. A
// number of more than 15 digits, or an amount with three decimals, is an
// error wrapping ErrNumber: misreading money is worse than refusing it.
func Normalize(text string) (string, error) {
	r := []rune(text)
	var b strings.Builder
	for i := 0; i < len(r); {
		if !isDigit(r[i]) {
			b.WriteRune(r[i])
			i++
			continue
		}
		start := i
		for i < len(r) && isDigit(r[i]) {
			i++
		}
		intPart := string(r[start:i])
		frac := ""
		if i+1 < len(r) && r[i] == '.' && isDigit(r[i+1]) {
			j := i + 1
			for j < len(r) && isDigit(r[j]) {
				j++
			}
			frac, i = string(r[i+1:j]), j
		}
		if len(intPart) > maxDigits || len(frac) > maxDigits {
			return "", fmt.Errorf("%w: %q has more than %d digits", ErrNumber, intPart, maxDigits)
		}
		if i < len(r) && r[i] == '元' {
			if len(frac) > 2 {
				return "", fmt.Errorf("%w: %s.%s元 has more than two decimals", ErrNumber, intPart, frac)
			}
			fen := parseDigits(intPart) * 100
			if len(frac) > 0 {
				fen += parseDigits((frac + "0")[:2])
			}
			b.WriteString(AmountWords(int64(fen), Options{}))
			i++ // AmountWords says the 元
			continue
		}
		if len(intPart) > 1 && intPart[0] == '0' {
			for _, c := range intPart {
				b.WriteString(digitWords[c-'0'])
			}
		} else {
			writeInt(&b, parseDigits(intPart), true, false)
		}
		if frac != "" {
			b.WriteString("点")
			for _, c := range frac {
				b.WriteString(digitWords[c-'0'])
			}
		}
	}
	return b.String(), nil
}

func isDigit(c rune) bool { return '0' <= c && c <= '9' }

// parseDigits reads at most maxDigits ASCII digits; it cannot overflow.
func parseDigits(s string) uint64 {
	var n uint64
	for _, c := range s {
		n = n*10 + uint64(c-'0')
	}
	return n
}

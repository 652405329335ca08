package wire

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// tables names every table with its lookup, so each check runs on all four.
var tables = []struct {
	name     string
	table    map[string]CodeInfo
	classify func(string) (CodeInfo, bool)
}{
	{"pay", PayCodes, ClassifyPay},
	{"reverse", ReverseCodes, ClassifyReverse},
	{"refund", RefundCodes, ClassifyRefund},
	{"deposit", DepositCodes, ClassifyDeposit},
}

// TestCodeFacts pins the classes the device's safety rests on: a wrong one
// here is a double charge, a lost payment or a reverse of someone else's.
func TestCodeFacts(t *testing.T) {
	type fact struct {
		classify func(string) (CodeInfo, bool)
		code     string
		class    CodeClass
		provider string
	}
	facts := []fact{
		// Another request owns the number: never PAID, never reverse.
		{ClassifyPay, "OUT_TRADE_NO_USED", ClassNumberUsed, ProviderWeChat},
		{ClassifyPay, "ACQ.CONTEXT_INCONSISTENT", ClassNumberUsed, ProviderAlipay},
		{ClassifyPay, "DUPLICATE_CONTENT", ClassNumberUsed, ProviderPlatform},
		{ClassifyPay, "BUYER_MISMATCH", ClassNumberUsed, ProviderWeChat},
		{ClassifyPay, "ACQ.TRADE_BUYER_NOT_MATCH", ClassNumberUsed, ProviderAlipay},
		{ClassifyReverse, "DUPLICATE_CONTENT", ClassNumberUsed, ProviderPlatform},
		{ClassifyRefund, "ACQ.DISCORDANT_REPEAT_REQUEST", ClassNumberUsed, ProviderAlipay},
		{ClassifyRefund, "REFUND_FEE_MISMATCH", ClassNumberUsed, ProviderWeChat},
		{ClassifyDeposit, "DUPLICATE_CONTENT", ClassNumberUsed, ProviderPlatform},
		// Already paid under this number: query, never a new charge.
		{ClassifyPay, "ORDERPAID", ClassOrderPaid, ProviderWeChat},
		{ClassifyPay, "ACQ.TRADE_HAS_SUCCESS", ClassOrderPaid, ProviderAlipay},
		{ClassifyDeposit, "ACQ.TRADE_HAS_SUCCESS", ClassOrderPaid, ProviderAlipay},
		// Outcome unknown: query.
		{ClassifyPay, "BANKERROR", ClassUnknown, ProviderWeChat},
		{ClassifyPay, "USERPAYING", ClassUnknown, ProviderWeChat},
		{ClassifyPay, "ACQ.SYSTEM_ERROR", ClassUnknown, ProviderAlipay},
		{ClassifyPay, "10003", ClassUnknown, ProviderAlipay},
		{ClassifyPay, "20000", ClassUnknown, ProviderAlipay},
		{ClassifyReverse, "ACQ.SYSTEM_ERROR", ClassUnknown, ProviderAlipay},
		{ClassifyRefund, "ACQ.SYSTEM_ERROR", ClassUnknown, ProviderAlipay},
		// Definite declines of a payment.
		{ClassifyPay, "TRADE_ERROR", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "AUTHCODEEXPIRE", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "NOTENOUGH", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "AUTH_CODE_INVALID", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "AUTH_CODE_ERROR", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "NOTSUPORTCARD", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "NOAUTH", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "ORDERCLOSED", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "ORDERREVERSED", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "PARAM_ERROR", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "INVALID_REQUEST", ClassDefinite, ProviderWeChat},
		{ClassifyPay, "ACCOUNTERROR", ClassDefinite, ProviderPlatform},
		{ClassifyPay, "ACQ.PAYMENT_AUTH_CODE_INVALID", ClassDefinite, ProviderAlipay},
		{ClassifyPay, "ACQ.BUYER_BALANCE_NOT_ENOUGH", ClassDefinite, ProviderAlipay},
		{ClassifyPay, "ACQ.TRADE_HAS_CLOSE", ClassDefinite, ProviderAlipay},
		// Not found.
		{ClassifyPay, "ORDERNOTEXIST", ClassNotFound, ProviderWeChat},
		{ClassifyPay, "ACQ.TRADE_NOT_EXIST", ClassNotFound, ProviderAlipay},
		{ClassifyRefund, "ORDERNOTEXIST", ClassNotFound, ProviderWeChat},
		{ClassifyRefund, "REFUNDNOTEXIST", ClassNotFound, ProviderWeChat},
		{ClassifyDeposit, "ORDERNOTEXIST", ClassNotFound, ProviderWeChat},
		// Reverses that can never succeed; the same code means a decline
		// after a payment (TRADE_ERROR above).
		{ClassifyReverse, "REVERSE_EXPIRE", ClassReverseFinal, ProviderWeChat},
		{ClassifyReverse, "TRADE_ERROR", ClassReverseFinal, ProviderWeChat},
		{ClassifyReverse, "ACQ.TRADE_CANCEL_TIME_OUT", ClassReverseFinal, ProviderAlipay},
		{ClassifyReverse, "ACQ.CANCEL_NOT_ALLOWED", ClassReverseFinal, ProviderAlipay},
		{ClassifyReverse, "ACQ.SELLER_BALANCE_NOT_ENOUGH", ClassRetry, ProviderAlipay},
		// Refunds: retry the same request, or a definite refusal.
		{ClassifyRefund, "BIZERR_NEED_RETRY", ClassRetry, ProviderWeChat},
		{ClassifyRefund, "FREQUENCY_LIMITED", ClassRetry, ProviderWeChat},
		{ClassifyRefund, "TRADE_OVERDUE", ClassDefinite, ProviderWeChat},
		{ClassifyRefund, "NOTENOUGH", ClassDefinite, ProviderWeChat},
		{ClassifyRefund, "REFUND_AMOUNT_EXCEEDED", ClassDefinite, ProviderPlatform},
		{ClassifyRefund, "TRADE_STATE_ERROR", ClassDefinite, ProviderPlatform},
		{ClassifyRefund, "ACQ.TRADE_NOT_ALLOW_REFUND", ClassDefinite, ProviderAlipay},
		{ClassifyRefund, "ACQ.SELLER_BALANCE_NOT_ENOUGH", ClassDefinite, ProviderAlipay},
		{ClassifyRefund, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", ClassDefinite, ProviderAlipay},
		{ClassifyRefund, "ACQ.REASON_TRADE_REFUND_FEE_ERR", ClassDefinite, ProviderAlipay},
		// Deposits.
		{ClassifyDeposit, "ORDER_FINISHED", ClassDefinite, ProviderPlatform},
		{ClassifyDeposit, "ORDER_NOT_FROZEN", ClassDefinite, ProviderPlatform},
		{ClassifyDeposit, "AMOUNT_EXCEEDED", ClassDefinite, ProviderPlatform},
		{ClassifyDeposit, "NOT_DEPOSIT", ClassDefinite, ProviderPlatform},
		{ClassifyDeposit, "ACQ.AUTH_ORDER_HAS_FINISHED", ClassDefinite, ProviderAlipay},
		{ClassifyDeposit, "ACQ.AUTH_AMOUNT_NOT_ENOUGH", ClassDefinite, ProviderAlipay},
	}
	for _, f := range facts {
		info, ok := f.classify(f.code)
		if !ok {
			t.Errorf("%s: not classified", f.code)
			continue
		}
		if info.Class != f.class || info.Provider != f.provider {
			t.Errorf("%s: %s/%s, want %s/%s", f.code, info.Class, info.Provider, f.class, f.provider)
		}
	}
}

// TestSystemErrorUnknownEverywhere: a system error never tells the outcome,
// whatever the request was.
func TestSystemErrorUnknownEverywhere(t *testing.T) {
	for _, tb := range tables {
		info, ok := tb.classify("SYSTEMERROR")
		if !ok || info.Class != ClassUnknown {
			t.Errorf("%s: SYSTEMERROR is %q (found %v), want %q", tb.name, info.Class, ok, ClassUnknown)
		}
	}
}

// TestClassifyExact: case is ignored, nothing else is.
func TestClassifyExact(t *testing.T) {
	for _, code := range []string{"acq.trade_has_success", "Acq.Trade_Has_Success"} {
		if info, ok := ClassifyPay(code); !ok || info.Class != ClassOrderPaid {
			t.Errorf("ClassifyPay(%q) = %v, %v", code, info, ok)
		}
	}
	if info, ok := ClassifyReverse("reverse_expire"); !ok || info.Class != ClassReverseFinal {
		t.Errorf("ClassifyReverse(reverse_expire) = %v, %v", info, ok)
	}
	for _, code := range []string{"", "NOPE", " SYSTEMERROR", "SYSTEMERROR ", "SYSTEM", "ACQ.", "ACQ.TRADE_HAS_SUCCESS_X"} {
		if info, ok := ClassifyPay(code); ok {
			t.Errorf("ClassifyPay(%q) = %v, want not found", code, info)
		}
	}
	// A code of one family is not guessed into another.
	if _, ok := ClassifyRefund("REVERSE_EXPIRE"); ok {
		t.Error("REVERSE_EXPIRE classified as a refund answer")
	}
	if _, ok := ClassifyPay("TRADE_OVERDUE"); ok {
		t.Error("TRADE_OVERDUE classified as a payment answer")
	}
}

// TestEntries checks every entry of every table: an upper-case key, a valid
// class, a known provider matching the key's form, a source, and a reason a
// cashier can hear — Chinese, no ASCII, at most 8 characters.
func TestEntries(t *testing.T) {
	providers := map[string]bool{ProviderWeChat: true, ProviderAlipay: true, ProviderPlatform: true}
	for _, tb := range tables {
		if len(tb.table) == 0 {
			t.Errorf("%s: empty table", tb.name)
		}
		for code, info := range tb.table {
			where := tb.name + " " + code
			if code == "" || code != strings.ToUpper(code) || strings.TrimSpace(code) != code {
				t.Errorf("%s: key must be upper case, no spaces", where)
			}
			if !info.Class.Valid() {
				t.Errorf("%s: invalid class %q", where, info.Class)
			}
			if !providers[info.Provider] {
				t.Errorf("%s: unknown provider %q", where, info.Provider)
			}
			if (strings.HasPrefix(code, "ACQ.") || strings.HasPrefix(code, "AQC.")) && info.Provider != ProviderAlipay {
				t.Errorf("%s: an ACQ code is Alipay's, not %q", where, info.Provider)
			}
			if strings.TrimSpace(info.Source) == "" {
				t.Errorf("%s: no source", where)
			}
			if info.Reason == "" {
				t.Errorf("%s (%s): no reason", where, info.Class)
				continue
			}
			if n := utf8.RuneCountInString(info.Reason); n > 8 {
				t.Errorf("%s: reason %q has %d characters, more than 8", where, info.Reason, n)
			}
			for _, r := range info.Reason {
				if r < utf8.RuneSelf {
					t.Errorf("%s: reason %q holds ASCII %q", where, info.Reason, r)
					break
				}
				if !unicode.Is(unicode.Han, r) {
					t.Errorf("%s: reason %q holds %q, not a Chinese character", where, info.Reason, r)
					break
				}
			}
		}
	}
}

// TestEveryClassUsed: each class is reachable from some table, so none is
// dead vocabulary in the device's state machine.
func TestEveryClassUsed(t *testing.T) {
	seen := map[CodeClass]bool{}
	for _, tb := range tables {
		for _, info := range tb.table {
			seen[info.Class] = true
		}
	}
	for _, c := range []CodeClass{ClassDefinite, ClassUnknown, ClassOrderPaid, ClassNumberUsed,
		ClassRetry, ClassReverseFinal, ClassNotFound} {
		if !seen[c] {
			t.Errorf("class %q used by no code", c)
		}
	}
	if CodeClass("maybe").Valid() {
		t.Error(`"maybe" is not a class`)
	}
}

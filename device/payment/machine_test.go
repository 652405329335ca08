package payment

import (
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/wire"
)

func TestClassifyCode(t *testing.T) {
	tests := []struct{ code, wallet string }{
		{"134567890123456789", "wechat"},
		{"104567890123456789", "wechat"},
		{"154567890123456789", "wechat"},
		{"164567890123456789", ""}, // 16 is not a WeChat prefix
		{"13456789012345678", ""},  // 17 digits
		{"1345678901234567890", ""},
		{"2812345678901234", "alipay"}, // 16 digits
		{"281234567890123456", "alipay"},
		{"301234567890123456789012", "alipay"}, // 24 digits
		{"3012345678901234567890123", ""},      // 25 digits
		{"251234567890123456", "alipay"},
		{"241234567890123456", ""},
		{"311234567890123456", ""},
		{"6212345678901234567", "unionpay"},
		{"621234567890123456", ""},
		{"511234567890123456", "bestpay"},
		{"0112345678901234567", "ecny"},
		{"0212345678901234567", ""},
		{"13456789012345678a", ""},
		{"", ""},
		{"P20261123101010123456", ""},
	}
	for _, tc := range tests {
		if got := ClassifyCode(tc.code); got != tc.wallet {
			t.Errorf("ClassifyCode(%q) = %q, want %q", tc.code, got, tc.wallet)
		}
	}
}

var pc = config.Pay{PollIntervalMS: 5000, PollTimeoutMS: 45000, ReverseAfterMS: 15000, CollectTimeoutMS: 60000, ReverseMaxTries: 10, RefundPollMS: 5000, DepositReleaseAfterMS: 2592000000}

func TestApplyStatus(t *testing.T) {
	polling := orders.Payment{State: orders.Polling, SubmittedAt: 1}
	tests := []struct {
		name  string
		p     orders.Payment
		st    wire.PayStatus
		past  bool
		state string
		next  next
		check func(orders.Payment) bool
	}{
		{"success pays", polling, wire.PayStatus{State: "SUCCESS", TransactionID: "T1"}, false, orders.Paid, finished, func(p orders.Payment) bool { return p.TransactionID == "T1" }},
		{"refund state means it was paid", polling, wire.PayStatus{State: "REFUND"}, false, orders.Paid, finished, nil},
		{"userpaying polls", polling, wire.PayStatus{State: "USERPAYING"}, false, orders.Polling, idle, func(p orders.Payment) bool { return !p.NeedReverse }},
		{"userpaying past deadline reverses", polling, wire.PayStatus{State: "USERPAYING"}, true, orders.Polling, idle, func(p orders.Payment) bool { return p.NeedReverse }},
		{"systemerror polls", polling, wire.PayStatus{State: "UNKNOWN", ErrCode: "SYSTEMERROR"}, false, orders.Polling, idle, nil},
		{"bankerror polls", polling, wire.PayStatus{State: "UNKNOWN", ErrCode: "BANKERROR"}, false, orders.Polling, idle, nil},
		{"payerror reverses", polling, wire.PayStatus{State: "PAYERROR"}, false, orders.Polling, idle, func(p orders.Payment) bool { return p.NeedReverse }},
		{"notenough with PAYERROR is closed by reverse", polling, wire.PayStatus{State: "PAYERROR", ErrCode: "NOTENOUGH"}, false, orders.Polling, idle, func(p orders.Payment) bool { return p.ErrCode == "NOTENOUGH" && p.NeedReverse }},
		{"notenough FAILED fails at once", polling, wire.PayStatus{State: "FAILED", ErrCode: "NOTENOUGH"}, false, orders.Failed, finished, func(p orders.Payment) bool { return p.ErrCode == "NOTENOUGH" && !p.NeedReverse }},
		{"alipay balance decline fails at once", polling, wire.PayStatus{State: "FAILED", ErrCode: "ACQ.BUYER_BALANCE_NOT_ENOUGH"}, false, orders.Failed, finished, nil},
		{"alipay auth code decline fails at once", polling, wire.PayStatus{State: "FAILED", ErrCode: "ACQ.PAYMENT_AUTH_CODE_INVALID"}, false, orders.Failed, finished, nil},
		{"trade_error is a decline", polling, wire.PayStatus{State: "PAYERROR", ErrCode: "TRADE_ERROR"}, false, orders.Polling, idle, func(p orders.Payment) bool { return p.NeedReverse }},
		{"unknown code with FAILED is closed by reverse", polling, wire.PayStatus{State: "FAILED", ErrCode: "SOME_NEW_CODE"}, false, orders.Polling, idle, func(p orders.Payment) bool { return p.NeedReverse }},
		{"alipay system error polls", polling, wire.PayStatus{State: "UNKNOWN", ErrCode: "ACQ.SYSTEM_ERROR"}, false, orders.Polling, idle, func(p orders.Payment) bool { return !p.NeedReverse }},
		{"alipay already paid queries", polling, wire.PayStatus{State: "UNKNOWN", ErrCode: "ACQ.TRADE_HAS_SUCCESS"}, false, orders.Polling, query, nil},
		{"authcodeexpire fails", polling, wire.PayStatus{State: "FAILED", ErrCode: "AUTHCODEEXPIRE"}, false, orders.Failed, finished, nil},
		{"auth_code_invalid fails", polling, wire.PayStatus{State: "FAILED", ErrCode: "AUTH_CODE_INVALID"}, false, orders.Failed, finished, nil},
		{"closed fails", polling, wire.PayStatus{State: "CLOSED"}, false, orders.Failed, finished, nil},
		{"orderpaid queries, never charges", polling, wire.PayStatus{State: "UNKNOWN", ErrCode: "ORDERPAID"}, false, orders.Polling, query, nil},
		{"duplicate_content never reverses", polling, wire.PayStatus{State: "UNKNOWN", ErrCode: "DUPLICATE_CONTENT"}, true, orders.Failed, finished, func(p orders.Payment) bool { return p.NoReverse && !p.NeedReverse }},
		{"duplicate_content with the other order's SUCCESS is not paid", polling, wire.PayStatus{State: "SUCCESS", ErrCode: "DUPLICATE_CONTENT", TransactionID: "T0"}, false, orders.Failed, finished, func(p orders.Payment) bool { return p.TransactionID == "" && !p.NeedReverse }},
		{"wechat out_trade_no_used is not paid", polling, wire.PayStatus{State: "SUCCESS", ErrCode: "OUT_TRADE_NO_USED"}, false, orders.Failed, finished, func(p orders.Payment) bool { return p.NoReverse }},
		{"alipay context_inconsistent is not paid", polling, wire.PayStatus{State: "SUCCESS", ErrCode: "ACQ.CONTEXT_INCONSISTENT"}, false, orders.Failed, finished, func(p orders.Payment) bool { return p.NoReverse }},
		{"duplicate while reversing is not paid either", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "SUCCESS", ErrCode: "DUPLICATE_CONTENT"}, true, orders.Failed, finished, nil},
		{"paid with another amount asks a person", orders.Payment{State: orders.Polling, Amount: 100}, wire.PayStatus{State: "SUCCESS", Amount: 10000}, false, orders.Attention, finished, func(p orders.Payment) bool { return p.ErrCode == "AMOUNT_MISMATCH" && p.TransactionID == "" }},
		{"paid with the same amount pays", orders.Payment{State: orders.Polling, Amount: 100}, wire.PayStatus{State: "SUCCESS", Amount: 100}, false, orders.Paid, finished, nil},
		{"no reverse after duplicate even past deadline", orders.Payment{State: orders.Polling, NoReverse: true}, wire.PayStatus{State: "USERPAYING"}, true, orders.Polling, idle, func(p orders.Payment) bool { return !p.NeedReverse }},
		{"order not found is closed by reverse", polling, wire.PayStatus{State: "NOTPAY", ErrCode: "ORDERNOTEXIST"}, false, orders.Polling, idle, func(p orders.Payment) bool { return p.NeedReverse }},
		{"reversed by the platform", polling, wire.PayStatus{State: "REVOKED"}, false, orders.Reversed, finished, nil},
		{"reversing ignores a late query success", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "query", State: "SUCCESS"}, true, orders.Reversing, idle, nil},
		{"reverse done", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "REVOKED"}, true, orders.Reversed, finished, nil},
		{"reverse recall retries after the backoff", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "USERPAYING", Recall: true}, true, orders.Reversing, idle, func(p orders.Payment) bool { return p.ReverseRefusals == 1 }},
		{"revoked ends a reverse whatever it answers", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "query", State: "REVOKED"}, true, orders.Reversed, finished, nil},
		{"revoked without op ends a reverse", orders.Payment{State: orders.Reversing}, wire.PayStatus{State: "REVOKED"}, true, orders.Reversed, finished, nil},
		{"reverse_expire asks a person", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "SUCCESS", ErrCode: "REVERSE_EXPIRE"}, true, orders.Attention, finished, func(p orders.Payment) bool { return p.ErrCode == "REVERSE_EXPIRE" }},
		{"alipay cancel timeout asks a person", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "SUCCESS", ErrCode: "ACQ.TRADE_CANCEL_TIME_OUT"}, true, orders.Attention, finished, nil},
		{"a reverse refused too often asks a person", orders.Payment{State: orders.Reversing, ReverseRefusals: 9}, wire.PayStatus{Op: "reverse", State: "UNKNOWN", ErrCode: "SYSTEMERROR"}, true, orders.Attention, finished, func(p orders.Payment) bool { return p.ReverseRefusals == 10 }},
		{"reverse answered paid (not reversible)", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "SUCCESS", TransactionID: "T9"}, true, orders.Paid, finished, nil},
		{"reverse of unknown order closes it", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "NOTPAY", ErrCode: "ORDERNOTEXIST"}, true, orders.Reversed, finished, nil},
		{"unclear reverse answer retries after the backoff", orders.Payment{State: orders.Reversing}, wire.PayStatus{Op: "reverse", State: "UNKNOWN", ErrCode: "SYSTEMERROR"}, true, orders.Reversing, idle, func(p orders.Payment) bool { return p.ReverseRefusals == 1 }},
		{"attention stays", orders.Payment{State: orders.Attention}, wire.PayStatus{State: "SUCCESS"}, true, orders.Attention, finished, nil},
		{"terminal stays", orders.Payment{State: orders.Paid}, wire.PayStatus{State: "REVOKED"}, true, orders.Paid, finished, nil},
		{"unknown becomes polling on an answer", orders.Payment{State: orders.Unknown}, wire.PayStatus{State: "USERPAYING"}, true, orders.Polling, idle, func(p orders.Payment) bool { return p.NeedReverse && p.Answered }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, n := applyStatus(tc.p, tc.st, tc.past, pc)
			if p.State != tc.state || n != tc.next {
				t.Fatalf("got %s/%d, want %s/%d", p.State, n, tc.state, tc.next)
			}
			if tc.check != nil && !tc.check(p) {
				t.Fatalf("payment %+v", p)
			}
		})
	}
}

func TestTick(t *testing.T) {
	sub := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return sub.Add(d) }
	base := orders.Payment{State: orders.Polling, SubmittedAt: sub.UnixMilli(), Answered: true}
	tests := []struct {
		name  string
		p     orders.Payment
		now   time.Time
		state string
		next  next
	}{
		{"polls before the deadline", base, at(10 * time.Second), orders.Polling, query},
		{"reverses at the deadline", base, at(45 * time.Second), orders.Reversing, reverse},
		{"payerror waits for reverse_after", orders.Payment{State: orders.Polling, SubmittedAt: sub.UnixMilli(), NeedReverse: true}, at(14 * time.Second), orders.Polling, query},
		{"payerror reverses after reverse_after", orders.Payment{State: orders.Polling, SubmittedAt: sub.UnixMilli(), NeedReverse: true}, at(15 * time.Second), orders.Reversing, reverse},
		{"no answer at all by the deadline is unknown", orders.Payment{State: orders.Submitted, SubmittedAt: sub.UnixMilli()}, at(46 * time.Second), orders.Unknown, query},
		{"attention is settled", orders.Payment{State: orders.Attention, SubmittedAt: sub.UnixMilli()}, at(time.Hour), orders.Attention, finished},
		{"duplicate content past the deadline is unknown, never reversed", orders.Payment{State: orders.Polling, SubmittedAt: sub.UnixMilli(), NoReverse: true, NeedReverse: true, Answered: true}, at(50 * time.Second), orders.Unknown, query},
		{"reversing keeps reversing", orders.Payment{State: orders.Reversing, SubmittedAt: sub.UnixMilli()}, at(time.Hour), orders.Reversing, reverse},
		{"cancelled with no answer waits for reverse_after", orders.Payment{State: orders.Submitted, SubmittedAt: sub.UnixMilli(), NeedReverse: true}, at(time.Second), orders.Submitted, query},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, n := tick(tc.p, tc.now, pc)
			if p.State != tc.state || n != tc.next {
				t.Fatalf("got %s/%d, want %s/%d", p.State, n, tc.state, tc.next)
			}
		})
	}
}

func TestReverseBackoff(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := reverseBackoff(i+1, pc); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
}

func TestOutTradeNo(t *testing.T) {
	no := NewOutTradeNo(time.Date(2026, 11, 23, 2, 3, 4, 0, time.UTC))
	if len(no) != 21 || no[:15] != "P20261123100304" || !wire.ValidID(no) || ClassifyCode(no) != "" {
		t.Fatalf("out_trade_no %q", no)
	}
}

func FuzzClassifyCode(f *testing.F) {
	f.Add("134567890123456789")
	f.Add("2812345678901234")
	f.Fuzz(func(t *testing.T, code string) {
		if w := ClassifyCode(code); w != "" && (len(code) < 16 || len(code) > 24) {
			t.Fatalf("%q classified %s", code, w)
		}
	})
}

package device

import (
	"testing"
	"time"

	"github.com/posagent/posagent/config"
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
	polling := Payment{State: Polling, SubmittedAt: 1}
	tests := []struct {
		name  string
		p     Payment
		st    payStatus
		past  bool
		state string
		next  next
		check func(Payment) bool
	}{
		{"success pays", polling, payStatus{State: "SUCCESS", TransactionID: "T1"}, false, Paid, finished, func(p Payment) bool { return p.TransactionID == "T1" }},
		{"refund state means it was paid", polling, payStatus{State: "REFUND"}, false, Paid, finished, nil},
		{"userpaying polls", polling, payStatus{State: "USERPAYING"}, false, Polling, idle, func(p Payment) bool { return !p.NeedReverse }},
		{"userpaying past deadline reverses", polling, payStatus{State: "USERPAYING"}, true, Polling, idle, func(p Payment) bool { return p.NeedReverse }},
		{"systemerror polls", polling, payStatus{State: "UNKNOWN", ErrCode: "SYSTEMERROR"}, false, Polling, idle, nil},
		{"bankerror polls", polling, payStatus{State: "UNKNOWN", ErrCode: "BANKERROR"}, false, Polling, idle, nil},
		{"payerror reverses", polling, payStatus{State: "PAYERROR"}, false, Polling, idle, func(p Payment) bool { return p.NeedReverse }},
		{"notenough with PAYERROR is closed by reverse", polling, payStatus{State: "PAYERROR", ErrCode: "NOTENOUGH"}, false, Polling, idle, func(p Payment) bool { return p.ErrCode == "NOTENOUGH" && p.NeedReverse }},
		{"notenough FAILED fails at once", polling, payStatus{State: "FAILED", ErrCode: "NOTENOUGH"}, false, Failed, finished, func(p Payment) bool { return p.ErrCode == "NOTENOUGH" && !p.NeedReverse }},
		{"alipay balance decline fails at once", polling, payStatus{State: "FAILED", ErrCode: "ACQ.BUYER_BALANCE_NOT_ENOUGH"}, false, Failed, finished, nil},
		{"alipay auth code decline fails at once", polling, payStatus{State: "FAILED", ErrCode: "ACQ.PAYMENT_AUTH_CODE_INVALID"}, false, Failed, finished, nil},
		{"trade_error is a decline", polling, payStatus{State: "PAYERROR", ErrCode: "TRADE_ERROR"}, false, Polling, idle, func(p Payment) bool { return p.NeedReverse }},
		{"unknown code with FAILED is closed by reverse", polling, payStatus{State: "FAILED", ErrCode: "SOME_NEW_CODE"}, false, Polling, idle, func(p Payment) bool { return p.NeedReverse }},
		{"alipay system error polls", polling, payStatus{State: "UNKNOWN", ErrCode: "ACQ.SYSTEM_ERROR"}, false, Polling, idle, func(p Payment) bool { return !p.NeedReverse }},
		{"alipay already paid queries", polling, payStatus{State: "UNKNOWN", ErrCode: "ACQ.TRADE_HAS_SUCCESS"}, false, Polling, query, nil},
		{"authcodeexpire fails", polling, payStatus{State: "FAILED", ErrCode: "AUTHCODEEXPIRE"}, false, Failed, finished, nil},
		{"auth_code_invalid fails", polling, payStatus{State: "FAILED", ErrCode: "AUTH_CODE_INVALID"}, false, Failed, finished, nil},
		{"closed fails", polling, payStatus{State: "CLOSED"}, false, Failed, finished, nil},
		{"orderpaid queries, never charges", polling, payStatus{State: "UNKNOWN", ErrCode: "ORDERPAID"}, false, Polling, query, nil},
		{"duplicate_content never reverses", polling, payStatus{State: "UNKNOWN", ErrCode: "DUPLICATE_CONTENT"}, true, Failed, finished, func(p Payment) bool { return p.NoReverse && !p.NeedReverse }},
		{"duplicate_content with the other order's SUCCESS is not paid", polling, payStatus{State: "SUCCESS", ErrCode: "DUPLICATE_CONTENT", TransactionID: "T0"}, false, Failed, finished, func(p Payment) bool { return p.TransactionID == "" && !p.NeedReverse }},
		{"wechat out_trade_no_used is not paid", polling, payStatus{State: "SUCCESS", ErrCode: "OUT_TRADE_NO_USED"}, false, Failed, finished, func(p Payment) bool { return p.NoReverse }},
		{"alipay context_inconsistent is not paid", polling, payStatus{State: "SUCCESS", ErrCode: "ACQ.CONTEXT_INCONSISTENT"}, false, Failed, finished, func(p Payment) bool { return p.NoReverse }},
		{"duplicate while reversing is not paid either", Payment{State: Reversing}, payStatus{Op: "reverse", State: "SUCCESS", ErrCode: "DUPLICATE_CONTENT"}, true, Failed, finished, nil},
		{"paid with another amount asks a person", Payment{State: Polling, Amount: 100}, payStatus{State: "SUCCESS", Amount: 10000}, false, Attention, finished, func(p Payment) bool { return p.ErrCode == "AMOUNT_MISMATCH" && p.TransactionID == "" }},
		{"paid with the same amount pays", Payment{State: Polling, Amount: 100}, payStatus{State: "SUCCESS", Amount: 100}, false, Paid, finished, nil},
		{"no reverse after duplicate even past deadline", Payment{State: Polling, NoReverse: true}, payStatus{State: "USERPAYING"}, true, Polling, idle, func(p Payment) bool { return !p.NeedReverse }},
		{"order not found is closed by reverse", polling, payStatus{State: "NOTPAY", ErrCode: "ORDERNOTEXIST"}, false, Polling, idle, func(p Payment) bool { return p.NeedReverse }},
		{"reversed by the platform", polling, payStatus{State: "REVOKED"}, false, Reversed, finished, nil},
		{"reversing ignores a late query success", Payment{State: Reversing}, payStatus{Op: "query", State: "SUCCESS"}, true, Reversing, idle, nil},
		{"reverse done", Payment{State: Reversing}, payStatus{Op: "reverse", State: "REVOKED"}, true, Reversed, finished, nil},
		{"reverse recall retries after the backoff", Payment{State: Reversing}, payStatus{Op: "reverse", State: "USERPAYING", Recall: true}, true, Reversing, idle, func(p Payment) bool { return p.ReverseRefusals == 1 }},
		{"revoked ends a reverse whatever it answers", Payment{State: Reversing}, payStatus{Op: "query", State: "REVOKED"}, true, Reversed, finished, nil},
		{"revoked without op ends a reverse", Payment{State: Reversing}, payStatus{State: "REVOKED"}, true, Reversed, finished, nil},
		{"reverse_expire asks a person", Payment{State: Reversing}, payStatus{Op: "reverse", State: "SUCCESS", ErrCode: "REVERSE_EXPIRE"}, true, Attention, finished, func(p Payment) bool { return p.ErrCode == "REVERSE_EXPIRE" }},
		{"alipay cancel timeout asks a person", Payment{State: Reversing}, payStatus{Op: "reverse", State: "SUCCESS", ErrCode: "ACQ.TRADE_CANCEL_TIME_OUT"}, true, Attention, finished, nil},
		{"a reverse refused too often asks a person", Payment{State: Reversing, ReverseRefusals: 9}, payStatus{Op: "reverse", State: "UNKNOWN", ErrCode: "SYSTEMERROR"}, true, Attention, finished, func(p Payment) bool { return p.ReverseRefusals == 10 }},
		{"reverse answered paid (not reversible)", Payment{State: Reversing}, payStatus{Op: "reverse", State: "SUCCESS", TransactionID: "T9"}, true, Paid, finished, nil},
		{"reverse of unknown order closes it", Payment{State: Reversing}, payStatus{Op: "reverse", State: "NOTPAY", ErrCode: "ORDERNOTEXIST"}, true, Reversed, finished, nil},
		{"unclear reverse answer retries after the backoff", Payment{State: Reversing}, payStatus{Op: "reverse", State: "UNKNOWN", ErrCode: "SYSTEMERROR"}, true, Reversing, idle, func(p Payment) bool { return p.ReverseRefusals == 1 }},
		{"attention stays", Payment{State: Attention}, payStatus{State: "SUCCESS"}, true, Attention, finished, nil},
		{"terminal stays", Payment{State: Paid}, payStatus{State: "REVOKED"}, true, Paid, finished, nil},
		{"unknown becomes polling on an answer", Payment{State: Unknown}, payStatus{State: "USERPAYING"}, true, Polling, idle, func(p Payment) bool { return p.NeedReverse && p.Answered }},
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
	base := Payment{State: Polling, SubmittedAt: sub.UnixMilli(), Answered: true}
	tests := []struct {
		name  string
		p     Payment
		now   time.Time
		state string
		next  next
	}{
		{"polls before the deadline", base, at(10 * time.Second), Polling, query},
		{"reverses at the deadline", base, at(45 * time.Second), Reversing, reverse},
		{"payerror waits for reverse_after", Payment{State: Polling, SubmittedAt: sub.UnixMilli(), NeedReverse: true}, at(14 * time.Second), Polling, query},
		{"payerror reverses after reverse_after", Payment{State: Polling, SubmittedAt: sub.UnixMilli(), NeedReverse: true}, at(15 * time.Second), Reversing, reverse},
		{"no answer at all by the deadline is unknown", Payment{State: Submitted, SubmittedAt: sub.UnixMilli()}, at(46 * time.Second), Unknown, query},
		{"attention is settled", Payment{State: Attention, SubmittedAt: sub.UnixMilli()}, at(time.Hour), Attention, finished},
		{"duplicate content past the deadline is unknown, never reversed", Payment{State: Polling, SubmittedAt: sub.UnixMilli(), NoReverse: true, NeedReverse: true, Answered: true}, at(50 * time.Second), Unknown, query},
		{"reversing keeps reversing", Payment{State: Reversing, SubmittedAt: sub.UnixMilli()}, at(time.Hour), Reversing, reverse},
		{"cancelled with no answer waits for reverse_after", Payment{State: Submitted, SubmittedAt: sub.UnixMilli(), NeedReverse: true}, at(time.Second), Submitted, query},
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
	if len(no) != 21 || no[:15] != "P20261123100304" || !validID(no) || ClassifyCode(no) != "" {
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

package device

import (
	"strings"
	"testing"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/wire"
)

// TestApplyRefundStatus: a refund ends only on a definite answer, and every
// retry keeps its out_refund_no (applyRefundStatus never makes a new one).
func TestApplyRefundStatus(t *testing.T) {
	pending := Refund{OutRefundNo: "R1", State: RefundPending}
	processing := Refund{OutRefundNo: "R1", State: RefundProcessing}
	tests := []struct {
		name  string
		r     Refund
		st    *refundStatus
		sent  string
		state string
		next  string
	}{
		{"success ends", pending, &refundStatus{State: "SUCCESS", RefundID: "X"}, "refund.request", RefundSuccess, ""},
		{"processing is queried", pending, &refundStatus{State: "PROCESSING"}, "refund.request", RefundProcessing, "refund.query"},
		{"processing then success", processing, &refundStatus{State: "SUCCESS"}, "refund.query", RefundSuccess, ""},
		{"no answer to the request is queried", pending, nil, "refund.request", RefundPending, "refund.query"},
		{"no answer to the query sends the request again", pending, nil, "refund.query", RefundPending, "refund.request"},
		{"no answer while processing queries on", processing, nil, "refund.query", RefundProcessing, "refund.query"},
		{"systemerror is unknown: queried", pending, &refundStatus{State: "FAIL", ErrCode: "SYSTEMERROR"}, "refund.request", RefundPending, "refund.query"},
		{"an unknown FAIL code is unknown", pending, &refundStatus{State: "FAIL", ErrCode: "SOMETHING_NEW"}, "refund.request", RefundPending, "refund.query"},
		{"bizerr_need_retry retries", pending, &refundStatus{State: "FAIL", ErrCode: "BIZERR_NEED_RETRY"}, "refund.query", RefundPending, "refund.request"},
		{"amount exceeded is definite", pending, &refundStatus{State: "FAIL", ErrCode: "REFUND_AMOUNT_EXCEEDED"}, "refund.request", RefundFail, ""},
		{"trade_overdue is definite", pending, &refundStatus{State: "FAIL", ErrCode: "TRADE_OVERDUE"}, "refund.request", RefundFail, ""},
		{"alipay not allowed is definite", pending, &refundStatus{State: "FAIL", ErrCode: "ACQ.TRADE_NOT_ALLOW_REFUND"}, "refund.request", RefundFail, ""},
		{"query of a refund never received sends it again", pending, &refundStatus{State: "NOTFOUND", ErrCode: "REFUNDNOTEXIST"}, "refund.query", RefundPending, "refund.request"},
		{"refundclose is not refunded", processing, &refundStatus{State: "CLOSED"}, "refund.query", RefundFail, ""},
		{"abnormal asks a person", processing, &refundStatus{State: "ABNORMAL"}, "refund.query", RefundAttention, ""},
		{"unknown too often asks a person", Refund{State: RefundPending, Unclear: 9}, &refundStatus{State: "FAIL", ErrCode: "SYSTEMERROR"}, "refund.request", RefundAttention, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, next := applyRefundStatus(tc.r, tc.st, tc.sent, pc)
			if r.State != tc.state || next != tc.next {
				t.Fatalf("got %s, next %q; want %s, next %q", r.State, next, tc.state, tc.next)
			}
			if r.OutRefundNo != tc.r.OutRefundNo {
				t.Fatalf("out_refund_no changed to %q", r.OutRefundNo)
			}
		})
	}
}

// Every reason of the providers' code tables can be said by the default
// voice pack: a decline is said with its reason, never cut short.
func TestProviderReasonsSayable(t *testing.T) {
	v := audio.DefaultVoice()
	for name, table := range map[string]map[string]wire.CodeInfo{"pay": wire.PayCodes, "reverse": wire.ReverseCodes, "refund": wire.RefundCodes, "deposit": wire.DepositCodes} {
		for code, info := range table {
			if info.Reason == "" {
				continue
			}
			if _, err := v.Render(info.Reason); err != nil {
				t.Errorf("%s %s: %q not sayable: %v", name, code, info.Reason, err)
			}
		}
	}
	for _, w := range []string{failedWords("ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR"), failedWords("NOTENOUGH"), refundFailedWords("TRADE_OVERDUE")} {
		if _, err := v.Render(w); err != nil || !strings.Contains(w, "，") {
			t.Errorf("%q: %v", w, err)
		}
	}
}

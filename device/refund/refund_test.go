package refund

import (
	"testing"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/wire"
)

// pc is the production payment timings and limits.
var pc = config.Pay{PollIntervalMS: 5000, PollTimeoutMS: 45000, ReverseAfterMS: 15000, ReverseMaxTries: 10, RefundPollMS: 5000}

// TestApply: a refund ends only on a definite answer, and every
// retry keeps its out_refund_no (Apply never makes a new one).
func TestApply(t *testing.T) {
	pending := orders.Refund{OutRefundNo: "R1", State: orders.RefundPending}
	processing := orders.Refund{OutRefundNo: "R1", State: orders.RefundProcessing}
	tests := []struct {
		name  string
		r     orders.Refund
		st    *wire.RefundStatus
		sent  string
		state string
		next  string
	}{
		{"success ends", pending, &wire.RefundStatus{State: "SUCCESS", RefundID: "X"}, "refund.request", orders.RefundSuccess, ""},
		{"processing is queried", pending, &wire.RefundStatus{State: "PROCESSING"}, "refund.request", orders.RefundProcessing, "refund.query"},
		{"processing then success", processing, &wire.RefundStatus{State: "SUCCESS"}, "refund.query", orders.RefundSuccess, ""},
		{"no answer to the request is queried", pending, nil, "refund.request", orders.RefundPending, "refund.query"},
		{"no answer to the query sends the request again", pending, nil, "refund.query", orders.RefundPending, "refund.request"},
		{"no answer while processing queries on", processing, nil, "refund.query", orders.RefundProcessing, "refund.query"},
		{"systemerror is unknown: queried", pending, &wire.RefundStatus{State: "FAIL", ErrCode: "SYSTEMERROR"}, "refund.request", orders.RefundPending, "refund.query"},
		{"an unknown FAIL code is unknown", pending, &wire.RefundStatus{State: "FAIL", ErrCode: "SOMETHING_NEW"}, "refund.request", orders.RefundPending, "refund.query"},
		{"bizerr_need_retry retries", pending, &wire.RefundStatus{State: "FAIL", ErrCode: "BIZERR_NEED_RETRY"}, "refund.query", orders.RefundPending, "refund.request"},
		{"amount exceeded is definite", pending, &wire.RefundStatus{State: "FAIL", ErrCode: "REFUND_AMOUNT_EXCEEDED"}, "refund.request", orders.RefundFail, ""},
		{"trade_overdue is definite", pending, &wire.RefundStatus{State: "FAIL", ErrCode: "TRADE_OVERDUE"}, "refund.request", orders.RefundFail, ""},
		{"alipay not allowed is definite", pending, &wire.RefundStatus{State: "FAIL", ErrCode: "ACQ.TRADE_NOT_ALLOW_REFUND"}, "refund.request", orders.RefundFail, ""},
		{"query of a refund never received sends it again", pending, &wire.RefundStatus{State: "NOTFOUND", ErrCode: "REFUNDNOTEXIST"}, "refund.query", orders.RefundPending, "refund.request"},
		{"refundclose is not refunded", processing, &wire.RefundStatus{State: "CLOSED"}, "refund.query", orders.RefundFail, ""},
		{"abnormal asks a person", processing, &wire.RefundStatus{State: "ABNORMAL"}, "refund.query", orders.RefundAttention, ""},
		{"unknown too often asks a person", orders.Refund{State: orders.RefundPending, Unclear: 9}, &wire.RefundStatus{State: "FAIL", ErrCode: "SYSTEMERROR"}, "refund.request", orders.RefundAttention, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, next := Apply(tc.r, tc.st, tc.sent, pc)
			if r.State != tc.state || next != tc.next {
				t.Fatalf("got %s, next %q; want %s, next %q", r.State, next, tc.state, tc.next)
			}
			if r.OutRefundNo != tc.r.OutRefundNo {
				t.Fatalf("out_refund_no changed to %q", r.OutRefundNo)
			}
		})
	}
}

package device

import (
	"strings"
	"testing"
	"time"
)

// The platform's answers to the device's own requests are ignored, with a
// log line and no event, when they do not decode or name no flow; the
// agent goes on working.
func TestUnreadableAnswersIgnored(t *testing.T) {
	r := newRig(t)
	r.logs = &lockedBuffer{}
	r.start()
	for _, tc := range []struct {
		typ  string
		body any
	}{
		{"pay.status", "not an object"},
		{"pay.status", map[string]any{"out_trade_no": ""}},
		{"pay.status", map[string]any{"out_trade_no": 12}},
		{"refund.status", map[string]any{"state": "SUCCESS"}},
		{"refund.status", []int{1}},
		{"deposit.status", map[string]any{"out_request_no": ""}},
		{"order.found", map[string]any{"out_trade_no": "has space"}},
		{"order.found", map[string]any{"out_trade_no": strings.Repeat("x", 65)}},
	} {
		r.send(tc.typ, tc.body)
	}
	r.noEvent(500 * time.Millisecond)
	// Commands are handled in order: once this is answered, all the
	// answers before it have been handled.
	ans := r.answer(r.send("notify.payment", map[string]any{"order_id": "after-bad-answers", "amount": 1}).ID, 10*time.Second)
	if ans.Type != "notify.done" {
		t.Fatalf("answer %s", ans.Type)
	}
	for _, typ := range []string{"pay.status", "refund.status", "deposit.status", "order.found"} {
		if n := strings.Count(r.logs.String(), typ+" unreadable, ignored"); n == 0 {
			t.Errorf("%s: no log line for an unreadable answer\n%s", typ, r.logs)
		}
	}
	if n := strings.Count(r.logs.String(), "unreadable, ignored"); n != 8 {
		t.Errorf("%d answers logged as unreadable, want 8", n)
	}
}

package wire

import "testing"

// The money-out requests, and only they, need the device's own key.
func TestMoneyOut(t *testing.T) {
	for typ, want := range map[string]bool{
		"pay.reverse": true, "refund.request": true, "deposit.consume": true, "deposit.unfreeze": true,
		"pay.submit": false, "pay.query": false, "order.lookup": false, "refund.query": false, "deposit.query": false,
		"notify.done": false, // an event, not a request
	} {
		if got := MoneyOut(typ); got != want {
			t.Errorf("MoneyOut(%s) = %v, want %v", typ, got, want)
		}
	}
	for typ, alg := range DeviceRequests {
		if alg != HS256 && alg != PS256 {
			t.Errorf("%s signed %q", typ, alg)
		}
	}
}

package device

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/posagent/posagent/printer"
)

// TestSummaryJSONKeepsEveryField: shift.summary carries every field of the
// printed slip with the same value (times as Unix seconds), so a field
// added to printer.ShiftSummary cannot be left out of the wire.
func TestSummaryJSONKeepsEveryField(t *testing.T) {
	var s printer.ShiftSummary
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Bool:
			f.SetBool(true)
		}
	}
	s.Start, s.End = time.UnixMilli(1_700_000_000_123), time.UnixMilli(1_700_003_600_456)
	s.ByWallet = []printer.WalletTotal{{Wallet: "wechat", Count: 2, Amount: 300}}
	var slip, sent map[string]any
	b, _ := json.Marshal(s)
	json.Unmarshal(b, &slip)
	b, _ = json.Marshal(summaryJSON(s))
	json.Unmarshal(b, &sent)
	for k, want := range slip {
		switch k {
		case "start":
			want = float64(s.Start.Unix())
		case "end":
			want = float64(s.End.Unix())
		}
		if !reflect.DeepEqual(sent[k], want) {
			t.Errorf("%s: sent %v, slip has %v", k, sent[k], want)
		}
	}
	if sent["start_ms"] != float64(1_700_000_000_123) || sent["net"] != float64(s.Net()) || !reflect.DeepEqual(sent["wallets"], slip["by_wallet"]) {
		t.Errorf("extensions: %v %v %v", sent["start_ms"], sent["net"], sent["wallets"])
	}
}

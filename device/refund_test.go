package device

import (
	"strings"
	"testing"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/payment"
	"github.com/posagent/posagent/device/refund"
	"github.com/posagent/posagent/wire"
)

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
	for _, w := range []string{payment.FailedWords("ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR"), payment.FailedWords("NOTENOUGH"), refund.FailedWords("TRADE_OVERDUE")} {
		if _, err := v.Render(w); err != nil || !strings.Contains(w, "，") {
			t.Errorf("%q: %v", w, err)
		}
	}
}

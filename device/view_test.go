package device

import "testing"

// TestViewTellsTheScreen: a view carries the rules a screen would
// otherwise re-derive — whether the device still runs the payment, whether
// to warn against taking cash, the wallet's name — so the console only
// renders them.
func TestViewTellsTheScreen(t *testing.T) {
	tests := []struct {
		p       Payment
		settled bool
		cash    bool
		name    string
	}{
		{Payment{State: AwaitingCode}, false, false, ""},
		{Payment{State: Submitted, SubmittedAt: 1, Wallet: "wechat"}, false, true, "微信"},
		{Payment{State: Polling, SubmittedAt: 1, Wallet: "alipay"}, false, true, "支付宝"},
		{Payment{State: Reversing, SubmittedAt: 1}, false, true, ""},
		{Payment{State: Unknown, SubmittedAt: 1}, false, true, ""},
		{Payment{State: Attention, SubmittedAt: 1}, true, true, ""},
		{Payment{State: Paid, SubmittedAt: 1, Wallet: "unionpay"}, true, false, "云闪付"},
		{Payment{State: Failed, SubmittedAt: 1, Wallet: "somepay"}, true, false, "其他"},
		{Payment{State: Reversed, SubmittedAt: 1}, true, false, ""},
		{Payment{State: Cancelled}, true, false, ""},
	}
	for _, tc := range tests {
		v := PaymentView(tc.p)
		if v.Settled != tc.settled || v.CashWarning != tc.cash || v.WalletName != tc.name {
			t.Errorf("%s: settled %v, cash warning %v, wallet %q; want %v, %v, %q",
				tc.p.State, v.Settled, v.CashWarning, v.WalletName, tc.settled, tc.cash, tc.name)
		}
	}
	if dv := depositView(Payment{Deposit: true, State: Paid, DepositState: DepositFrozen, Wallet: "wechat"}, nil); dv.WalletName != "微信" {
		t.Errorf("deposit wallet %q", dv.WalletName)
	}
}

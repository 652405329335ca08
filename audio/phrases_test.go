package audio

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFailureReason(t *testing.T) {
	for code, want := range map[string]string{
		"NOTENOUGH":                     "余额不足",
		"notenough":                     "余额不足",
		" AUTHCODEEXPIRE ":              "付款码已过期",
		"AUTH_CODE_INVALID":             "付款码无效",
		"ACQ.PAYMENT_AUTH_CODE_INVALID": "付款码无效",
		"SYSTEMERROR":                   "系统繁忙",
		"BANKERROR":                     "银行系统异常",
		"CLOSED":                        "订单已关闭",
		"ACQ.TRADE_HAS_CLOSE":           "订单已关闭",
		"REVOKED":                       "订单已撤销",
		"ORDERREVERSED":                 "订单已撤销",
		"ORDERPAID":                     "订单已支付",
		"DUPLICATE_CONTENT":             "订单号重复",
		"USERPAYING":                    "支付超时",
		"CANCELLED":                     "交易已取消",
		CodeUnrecognized:                "无法识别付款码",
		"PAYERROR":                      "",
		"":                              "",
		"SOMETHING_NEW":                 "",
	} {
		if got := FailureReason(code); got != want {
			t.Errorf("FailureReason(%q) = %q, want %q", code, got, want)
		}
	}
	if got := PaymentFailed("NOTENOUGH"); got != "支付失败，余额不足" {
		t.Errorf("PaymentFailed = %q", got)
	}
	if got := PaymentFailed("PAYERROR"); got != "支付失败" {
		t.Errorf("PaymentFailed(no reason) = %q", got)
	}
}

// TestEveryPhraseIsSayable: each phrase and reason the agent may say renders
// with the default pack as one clip (not pieced from characters it lacks).
func TestEveryPhraseIsSayable(t *testing.T) {
	v := DefaultVoice()
	phrases := []string{PhraseShowCode, PhrasePaid, PhrasePayFailed, PhraseUnknown, PhraseRescan, PhraseNetUp,
		PhraseNetDown, PhraseConfigOK, PhraseConfigFailed, PhraseConfigRestored, PhrasePaperOut, PhraseReplay, PhraseVolume}
	for _, r := range failureReasons {
		phrases = append(phrases, r)
	}
	for _, p := range phrases {
		if units, err := v.Split(p); err != nil || len(units) != 1 {
			t.Errorf("%s: units %v, %v; want one clip", p, units, err)
		}
	}
	for code := range failureReasons {
		if _, err := v.Render(PaymentFailed(code)); err != nil {
			t.Errorf("%s: %v", code, err)
		}
	}
}

func TestVolumeWords(t *testing.T) {
	want := []string{"音量零", "音量一", "音量二", "音量三", "音量四", "音量五", "音量六", "音量七", "音量八", "音量九", "音量十"}
	for l, w := range want {
		if got := VolumeWords(l); got != w {
			t.Errorf("VolumeWords(%d) = %s, want %s", l, got, w)
		}
		if units, err := DefaultVoice().Split(w); err != nil || units[0] != "音量" {
			t.Errorf("%s: %v %v", w, units, err)
		}
	}
	if VolumeWords(-1) != "音量零" || VolumeWords(11) != "音量十" {
		t.Error("levels not clamped")
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"收款12.5元":      "收款十二点五元",
		"收款12.50元":     "收款十二点五元",
		"收款0.05元":      "收款零点零五元",
		"退款100元":       "退款一百元",
		"1001元":        "一千零一元",
		"100100元":      "十万零一百元",
		"音量6":          "音量六",
		"15":           "十五",
		"1.25":         "一点二五",
		"007":          "零零七",
		"支付成功":         "支付成功",
		"":             "",
		"1元2元":         "一元二元",
		"5.":           "五.",
		".5":           ".五",
		"支付失败，余额不足":    "支付失败，余额不足",
		"12345678901元": "一百二十三亿四千五百六十七万八千九百零一元",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"1.234元", "1234567890123456", "0.0000000000000001"} {
		if got, err := Normalize(in); !errors.Is(err, ErrNumber) {
			t.Errorf("Normalize(%q) = %q, %v; want ErrNumber", in, got, err)
		}
	}
}

// FuzzNormalize: device.speak's text comes from outside. Normalize never
// panics, leaves no ASCII digit behind, keeps the rest of the text, and an
// amount alone (digits, optional decimals, 元) reads back to its value.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"收款12.5元", "音量6", "007", "1.234元", "12345678901元", "a1b2", "元元", "9999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrNumber) {
				t.Fatalf("Normalize(%q): %v", s, err)
			}
			return
		}
		if strings.ContainsAny(got, "0123456789") {
			t.Fatalf("Normalize(%q) = %q keeps digits", s, got)
		}
		if utf8.ValidString(s) {
			strip := func(r rune) rune {
				if r >= '0' && r <= '9' || r == '.' || r == '元' || strings.ContainsRune("零一二三四五六七八九十百千万亿点", r) {
					return -1
				}
				return r
			}
			if a, b := strings.Map(strip, s), strings.Map(strip, got); a != b {
				t.Fatalf("Normalize(%q) = %q changed the other text: %q vs %q", s, got, a, b)
			}
		}
		var fen int64
		if n, ok := plainAmount(s); ok {
			fen = n
			back, err := ParseWords(got)
			if err != nil || back != fen {
				t.Fatalf("Normalize(%q) = %q reads back as %d, %v; want %d", s, got, back, err, fen)
			}
		}
	})
}

// plainAmount parses "123", "123.4" or "123.45" followed by 元, as fen.
func plainAmount(s string) (int64, bool) {
	body, ok := strings.CutSuffix(s, "元")
	if !ok || body == "" {
		return 0, false
	}
	intPart, frac, _ := strings.Cut(body, ".")
	if intPart == "" || len(intPart) > maxDigits || len(frac) > 2 || (strings.Contains(body, ".") && frac == "") {
		return 0, false
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	fen := int64(parseDigits(intPart)) * 100
	if frac != "" {
		fen += int64(parseDigits((frac + "0")[:2]))
	}
	return fen, true
}

// Every reason a configuration is refused for is said in words the pack has.
func TestConfigFailed(t *testing.T) {
	v := DefaultVoice()
	for reason, want := range configReasons {
		got := ConfigFailed(reason)
		if got != PhraseConfigFailed+"，"+want {
			t.Errorf("%s: %q", reason, got)
		}
		if _, err := v.Render(got); err != nil {
			t.Errorf("%s: %q cannot be said: %v", reason, got, err)
		}
	}
	if ConfigFailed("connect") != PhraseConfigFailed {
		t.Errorf("an unknown reason must say 配置失败 alone")
	}
}

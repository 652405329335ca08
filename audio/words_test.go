package audio

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestAmountWords(t *testing.T) {
	dec, jiao := Options{}, Options{Jiao: true}
	liang, jiaoLiang := Options{Liang: true}, Options{Jiao: true, Liang: true}
	for _, c := range []struct {
		fen  int64
		opt  Options
		want string
	}{
		// 点 mode.
		{0, dec, "零元"},
		{1, dec, "零点零一元"},
		{5, dec, "零点零五元"},
		{10, dec, "零点一元"},
		{50, dec, "零点五元"},
		{99, dec, "零点九九元"},
		{100, dec, "一元"},
		{101, dec, "一点零一元"},
		{110, dec, "一点一元"},
		{200, dec, "二元"},
		{1000, dec, "十元"},
		{1001, dec, "十点零一元"},
		{1500, dec, "十五元"},
		{2000, dec, "二十元"},
		{10000, dec, "一百元"},
		{10005, dec, "一百点零五元"},
		{10100, dec, "一百零一元"},
		{11000, dec, "一百一十元"},
		{12850, dec, "一百二十八点五元"},
		{12855, dec, "一百二十八点五五元"},
		{12805, dec, "一百二十八点零五元"},
		{100000, dec, "一千元"},
		{100100, dec, "一千零一元"},
		{100900, dec, "一千零九元"},
		{101000, dec, "一千零一十元"},
		{110000, dec, "一千一百元"},
		{999999, dec, "九千九百九十九点九九元"},
		{1000000, dec, "一万元"},
		{1000100, dec, "一万零一元"},
		{1001000, dec, "一万零一十元"},
		{1010000, dec, "一万零一百元"},
		{1100000, dec, "一万一千元"},
		{2000000, dec, "二万元"},
		{10000000, dec, "十万元"},
		{10010000, dec, "十万零一百元"},
		{11000000, dec, "十一万元"},
		{12345600, dec, "十二万三千四百五十六元"},
		{100000000, dec, "一百万元"},
		{100000100, dec, "一百万零一元"},
		{1000000000, dec, "一千万元"},
		{1000000100, dec, "一千万零一元"},
		{10000000000, dec, "一亿元"},
		{10000000100, dec, "一亿零一元"},
		{10001000000, dec, "一亿零一万元"},
		{10010000000, dec, "一亿零一十万元"},
		{11000000000, dec, "一亿一千万元"},
		{100000000000, dec, "十亿元"},
		{123456789000, dec, "十二亿三千四百五十六万七千八百九十元"},
		{99999999999, dec, "九亿九千九百九十九万九千九百九十九点九九元"},
		{100000000000000, dec, "一万亿元"},
		{100050000000000, dec, "一万零五亿元"},
		{-12850, dec, "一百二十八点五元"},
		{-50, dec, "零点五元"},
		{math.MinInt64, dec, "九亿二千二百三十三万七千二百零三亿六千八百五十四万七千七百五十八点零八元"},
		// 元角分 mode.
		{0, jiao, "零元"},
		{1, jiao, "一分"},
		{5, jiao, "五分"},
		{10, jiao, "一角"},
		{50, jiao, "五角"},
		{55, jiao, "五角五分"},
		{100, jiao, "一元"},
		{105, jiao, "一元零五分"},
		{110, jiao, "一元一角"},
		{1000, jiao, "十元"},
		{1005, jiao, "十元零五分"},
		{12800, jiao, "一百二十八元"},
		{12850, jiao, "一百二十八元五角"},
		{12855, jiao, "一百二十八元五角五分"},
		{12805, jiao, "一百二十八元零五分"},
		{100100, jiao, "一千零一元"},
		{10000000, jiao, "十万元"},
		{10000000001, jiao, "一亿元零一分"},
		{-12855, jiao, "一百二十八元五角五分"},
		// 两.
		{200, liang, "二元"},
		{220, liang, "二点二元"},
		{2200, liang, "二十二元"},
		{20000, liang, "两百元"},
		{22000, liang, "两百二十元"},
		{200000, liang, "两千元"},
		{220000, liang, "两千二百元"},
		{120000, liang, "一千二百元"},
		{2000000, liang, "两万元"},
		{1000200, liang, "一万零二元"},
		{1020000, liang, "一万零两百元"},
		{22220000, liang, "二十二万两千二百元"},
		{200000000, liang, "两百万元"},
		{20000000000, liang, "两亿元"},
		{2000000, jiaoLiang, "两万元"},
		{22, jiaoLiang, "二角二分"},
		{20022, jiaoLiang, "两百元二角二分"},
	} {
		if got := AmountWords(c.fen, c.opt); got != c.want {
			t.Errorf("AmountWords(%d, %+v) = %s, want %s", c.fen, c.opt, got, c.want)
		}
		want := c.fen
		if want < 0 && want != math.MinInt64 {
			want = -want
		}
		if got, err := ParseWords(c.want); want != math.MinInt64 && (err != nil || got != want) {
			t.Errorf("ParseWords(%s) = %d, %v; want %d", c.want, got, err, want)
		}
	}
}

func TestAnnouncement(t *testing.T) {
	for _, c := range []struct {
		kind, wallet string
		fen          int64
		want         string
	}{
		{"pay", "wechat", 12850, "微信收款一百二十八点五元"},
		{"pay", "alipay", 100, "支付宝收款一元"},
		{"pay", "unionpay", 1000, "云闪付收款十元"},
		{"pay", "bestpay", 5, "翼支付收款零点零五元"},
		{"pay", "ecny", 12850, "数字人民币收款一百二十八点五元"},
		{"pay", "WeChat", 1, "微信收款零点零一元"},
		{"pay", "", 100, "收款一元"},
		{"pay", "paypal", 100, "收款一元"},
		{"refund", "wechat", -12850, "退款一百二十八点五元"},
		{"deposit", "alipay", 50000, "押金冻结五百元"},
		{"consume", "", 4500, "押金消费四十五元"},
		{"unfreeze", "", 5500, "押金解冻五十五元"},
		{"mystery", "wechat", 100, "一元"},
	} {
		if got := Announcement(c.kind, c.wallet, c.fen, Options{}); got != c.want {
			t.Errorf("Announcement(%q, %q, %d) = %s, want %s", c.kind, c.wallet, c.fen, got, c.want)
		}
	}
	if got := Announcement("pay", "wechat", 12855, Options{Jiao: true}); got != "微信收款一百二十八元五角五分" {
		t.Errorf("Jiao announcement = %s", got)
	}
}

func TestParseWordsRejects(t *testing.T) {
	for _, s := range []string{
		"", "元", "点五元", "一百五元", "一二元", "十十元", "百元", "零零元", "一千零元",
		"五点元", "五点一二三元", "一百", "abc", "五角五", "零角", "一元零", "一元零五角",
		"一百零十元", "一千零一百元", "亿元", "一万零元",
		"九十九亿亿亿元", // overflows int64 fen
	} {
		if fen, err := ParseWords(s); err == nil {
			t.Errorf("ParseWords(%q) = %d, want an error", s, fen)
		} else if !errors.Is(err, ErrNotAmount) {
			t.Errorf("ParseWords(%q) error %v does not wrap ErrNotAmount", s, err)
		}
	}
}

// roundTrip checks the reading of fen in every mode parses back to |fen| and
// only uses units the default voice can say.
func roundTrip(t *testing.T, fen int64) {
	t.Helper()
	want := fen
	if want < 0 {
		want = -want
	}
	v := DefaultVoice()
	for _, opt := range []Options{{}, {Jiao: true}, {Liang: true}, {Jiao: true, Liang: true}, {Yue: true}, {Yue: true, Jiao: true}} {
		s := AmountWords(fen, opt)
		got, err := ParseWords(s)
		if err != nil || got != want {
			t.Fatalf("AmountWords(%d, %+v) = %s; parses to %d, %v", fen, opt, s, got, err)
		}
		if _, err := v.Split(s); err != nil {
			t.Fatalf("AmountWords(%d, %+v) = %s: %v", fen, opt, s, err)
		}
	}
}

// TestRoundTripRandom runs the fuzz property over many amounts in the range
// a cash register sees (0 to 999,999,999.99 yuan) on every plain go test.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		roundTrip(t, r.Int64N(100_000_000_000))
		// Small amounts and ones with many zeros are where the rules are.
		roundTrip(t, r.Int64N(100_000))
		roundTrip(t, r.Int64N(10)*int64(math.Pow10(r.IntN(12)))+r.Int64N(3)*int64(math.Pow10(r.IntN(12))))
	}
}

// Cantonese reading rules (Options.Yue): 两 for exactly two before 元, 角
// or 分 and for a leading 2 of 百, 千, 万, 亿; 二 inside a larger number and
// after 点.
func TestAmountWordsYue(t *testing.T) {
	for _, c := range []struct {
		fen  int64
		jiao bool
		want string
	}{
		{200, false, "两元"},
		{1200, false, "十二元"},
		{2000, false, "二十元"},
		{2200, false, "二十二元"},
		{20000, false, "两百元"},
		{222200, false, "两千二百二十二元"},
		{2000000, false, "两万元"},
		{2220000, false, "两万两千二百元"}, // each group's leading 2 of 千 or 百
		{220, false, "二点二元"},
		{202, false, "二点零二元"},
		{12850, false, "一百二十八点五元"},
		{20, true, "两角"},
		{2, true, "两分"},
		{222, true, "两元两角两分"},
		{1222, true, "十二元两角两分"},
	} {
		if got := AmountWords(c.fen, Options{Yue: true, Jiao: c.jiao}); got != c.want {
			t.Errorf("Yue %d (jiao %v) = %s, want %s", c.fen, c.jiao, got, c.want)
		}
	}
}

func FuzzAmountWords(f *testing.F) {
	for _, fen := range []int64{0, 1, 50, 1000, 10005, 12850, 100100, 10010000, 2000000,
		10000000100, 10001000000, 99999999999, math.MaxInt64, -12850} {
		f.Add(fen)
	}
	f.Fuzz(func(t *testing.T, fen int64) {
		if fen == math.MinInt64 {
			return // its magnitude is not an int64, so ParseWords cannot return it
		}
		roundTrip(t, fen)
	})
}

// FuzzParseWords: any text either fails or parses to an amount whose own
// reading parses to the same amount; never a panic.
func FuzzParseWords(f *testing.F) {
	for _, s := range []string{"零元", "一百二十八点五元", "一百二十八元零五分", "两万元", "一亿零一万元", "五角", "十十元"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := ParseWords(s)
		if err != nil {
			return
		}
		if fen < 0 {
			t.Fatalf("ParseWords(%q) = %d", s, fen)
		}
		if back, err := ParseWords(AmountWords(fen, Options{})); err != nil || back != fen {
			t.Fatalf("ParseWords(%q) = %d, whose reading parses to %d, %v", s, fen, back, err)
		}
	})
}

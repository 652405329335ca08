// Package audio turns what the agent has to say into samples: an amount in fen
// becomes Mandarin words (AmountWords, Announcement), the words become a
// sequence of recorded clips from a voice pack (Voice.Render), and Scale applies
// the device volume. Player is the playback queue: one goroutine (its Run)
// owns the output and decides what is said next, saying each announcement
// once by a stable id kept in a Store. Beyond that queue it is pure: it
// opens no devices; drivers/audioout carries the samples to a speaker
// through the Output interface declared here.
//
// Invariants:
//   - AmountWords reads every int64 (its sign dropped) in units the
//     built-in voice can say, and ParseWords reads that back to its
//     magnitude (math.MinInt64 aside, whose magnitude is no int64);
//   - Render is all or nothing: a text with a character the voice cannot
//     say is an error and no samples, never part of an amount;
//   - only Run calls the Output, one request at a time and never cut off
//     for another: key beeps first, then announcements in the order
//     queued, then the latest status prompt (an older one queued ends
//     Dropped);
//   - with a Store, an announcement (not Kept) is saved as owed before
//     Enqueue returns, marked Started before it plays and Done after it:
//     one Done is not said again (Duplicate), one Started before a restart
//     is said as 补播, and one whose start cannot be saved is not said;
//   - requests for one announcement ID queued or playing at once share one
//     Ticket, so it is said once.
package audio

import (
	"errors"
	"fmt"
	"strings"
)

// Options chooses how an amount is read.
type Options struct {
	// Jiao reads the fraction as 角 and 分 (一百二十八元五角五分) instead of
	// decimal digits after 点 (一百二十八点五五元).
	Jiao bool
	// Liang says 两 instead of 二 where spoken Mandarin does: for a 2 that
	// leads its four-digit group in the 百 or 千 place (两百, 两千二百) and for
	// a group that is exactly 2 before 万 or 亿 (两万, 两亿). A 2 before 十,
	// in the units place (二元, 二十二万) or after 点 stays 二.
	Liang bool
	// Yue reads as Cantonese speakers do (粤语): Liang's 两 for a leading
	// 2 (兩百, 兩千, 兩萬), and 两 too for a 2 that is the whole count
	// before 元, 角 or 分 (兩蚊: "leung man", two dollars), since
	// Cantonese says 兩 for exactly two of anything and 二 only inside a
	// larger number (十二, 二十) or after 点. Sources:
	// learningcantonese.blogspot.com/2005/11/two-is-not-always-yih.html;
	// chinese-lessons.com/cantonese/grammarL7Measures.htm ("when the
	// number yih 二 would be the specifier, it is always replaced by
	// leuhng 兩").
	Yue bool
}

// two is the reading of a count n before a measure (元, 角, 分).
func two(n uint64, opt Options) string {
	if n == 2 && opt.Yue {
		return "两"
	}
	return digitWords[n]
}

var digitWords = [10]string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"}

// AmountWords returns the Mandarin reading of an amount of fen, in yuan:
// 12850 → 一百二十八点五元, 0 → 零元, 50 → 零点五元; with opt.Jiao
// 12850 → 一百二十八元五角 and 50 → 五角. A whole amount has no fraction
// (1000 → 十元). The sign is dropped: a refund is announced by its phrase
// (退款), not by a minus. Every int64 has a reading.
func AmountWords(fen int64, opt Options) string {
	// uint64 magnitude: -math.MinInt64 does not fit an int64.
	mag := uint64(fen)
	if fen < 0 {
		mag = uint64(-fen)
	}
	yuan, frac := mag/100, mag%100
	jiao, fen1 := frac/10, frac%10

	if opt.Yue {
		opt.Liang = true
	}
	var b strings.Builder
	if !opt.Jiao {
		if yuan == 2 && frac == 0 {
			return two(2, opt) + "元"
		}
		writeInt(&b, yuan, true, opt.Liang)
		if frac != 0 {
			b.WriteString("点")
			b.WriteString(digitWords[jiao])
			if fen1 != 0 {
				b.WriteString(digitWords[fen1])
			}
		}
		b.WriteString("元")
		return b.String()
	}

	if yuan != 0 || frac == 0 {
		if yuan == 2 {
			b.WriteString(two(2, opt))
		} else {
			writeInt(&b, yuan, true, opt.Liang)
		}
		b.WriteString("元")
	}
	if jiao != 0 {
		b.WriteString(two(jiao, opt))
		b.WriteString("角")
	} else if fen1 != 0 && yuan != 0 {
		// 一百二十八元零五分: the 零 marks the missing 角.
		b.WriteString("零")
	}
	if fen1 != 0 {
		b.WriteString(two(fen1, opt))
		b.WriteString("分")
	}
	return b.String()
}

// writeInt writes the reading of n. first says n starts the whole reading,
// the only place where 一十 is shortened to 十 (十元, 十万; but 一百一十).
// Numbers are read in groups of four digits, 亿 above 万 above the rest, and
// the part above 亿 is itself read recursively (一万亿 = 10^12), so any
// uint64 has a reading with the units of the voice pack.
func writeInt(b *strings.Builder, n uint64, first, liang bool) {
	if n == 0 {
		b.WriteString("零")
		return
	}
	const wan, yi = 10000, 100000000
	if n >= yi {
		high, low := n/yi, n%yi
		if liang && high == 2 {
			b.WriteString("两")
		} else {
			writeInt(b, high, first, liang)
		}
		b.WriteString("亿")
		writeRest(b, low, yi, liang)
		return
	}
	if n >= wan {
		high, low := n/wan, n%wan
		if liang && high == 2 {
			b.WriteString("两")
		} else {
			writeGroup(b, high, first, liang)
		}
		b.WriteString("万")
		writeRest(b, low, wan, liang)
		return
	}
	writeGroup(b, n, first, liang)
}

// writeRest writes what follows 亿 or 万: nothing for 0, and a 零 before it
// when its leading digit is missing (一千零一, 十万零一百, 一亿零一万).
func writeRest(b *strings.Builder, low, unit uint64, liang bool) {
	if low == 0 {
		return
	}
	if low < unit/10 {
		b.WriteString("零")
	}
	writeInt(b, low, false, liang)
}

// writeGroup writes 1 ≤ n ≤ 9999 with one 零 for each run of inner zeros
// (一千零一, 一千零一十) and none for trailing zeros (一千一百).
func writeGroup(b *strings.Builder, n uint64, first, liang bool) {
	units := [4]string{"千", "百", "十", ""}
	d := [4]uint64{n / 1000, n / 100 % 10, n / 10 % 10, n % 10}
	started, zero := false, false
	for i, v := range d {
		if v == 0 {
			if started {
				zero = true
			}
			continue
		}
		if zero {
			b.WriteString("零")
			zero = false
		}
		switch {
		case i == 2 && v == 1 && !started && first:
			// 十, 十五, 十万: no 一 at the very start.
		case v == 2 && liang && !started && i < 2:
			b.WriteString("两")
		default:
			b.WriteString(digitWords[v])
		}
		b.WriteString(units[i])
		started = true
	}
}

// ErrNotAmount is wrapped by ParseWords errors.
var ErrNotAmount = errors.New("audio: not an amount reading")

// ParseWords parses a reading made by AmountWords, in either mode and with or
// without Liang, back to fen. It accepts the forms AmountWords produces (and
// some equivalent ones, such as 一十 for 十); it exists to prove the readings
// unambiguous, and for tools that show what a device said.
func ParseWords(s string) (int64, error) {
	fail := func(why string) (int64, error) {
		return 0, fmt.Errorf("%w: %q: %s", ErrNotAmount, s, why)
	}
	r := []rune(s)
	if len(r) == 0 {
		return fail("empty")
	}
	const maxFen = 1<<63 - 1

	// Decimal mode: <int>[点d[d]]元.
	if r[len(r)-1] == '元' {
		body := r[:len(r)-1]
		intPart, fracPart := body, []rune(nil)
		for i, c := range body {
			if c == '点' {
				intPart, fracPart = body[:i], body[i+1:]
				if len(fracPart) == 0 || len(fracPart) > 2 {
					return fail("one or two digits must follow 点")
				}
				break
			}
		}
		yuan, err := parseInt(intPart)
		if err != nil {
			return fail(err.Error())
		}
		var frac int64
		for i, c := range fracPart {
			d, ok := digitValue(c)
			if !ok {
				return fail(fmt.Sprintf("%q is not a digit", c))
			}
			if i == 0 {
				frac = 10 * d
			} else {
				frac += d
			}
		}
		if yuan > (maxFen-frac)/100 {
			return fail("too large")
		}
		return yuan*100 + frac, nil
	}

	// 元角分 mode: [<int>元][零][d角][d分].
	var yuan, jiao, fen int64
	rest := r
	for i, c := range r {
		if c == '元' {
			y, err := parseInt(r[:i])
			if err != nil {
				return fail(err.Error())
			}
			yuan, rest = y, r[i+1:]
			break
		}
	}
	if len(rest) > 0 && rest[0] == '零' && len(rest) == 3 && rest[2] == '分' {
		rest = rest[1:]
	}
	if len(rest) >= 2 && rest[1] == '角' {
		d, ok := digitValue(rest[0])
		if !ok || d == 0 {
			return fail("bad 角")
		}
		jiao, rest = d, rest[2:]
	}
	if len(rest) == 2 && rest[1] == '分' {
		d, ok := digitValue(rest[0])
		if !ok || d == 0 {
			return fail("bad 分")
		}
		fen, rest = d, nil
	}
	if len(rest) != 0 {
		return fail(fmt.Sprintf("unexpected %q", string(rest)))
	}
	if yuan == 0 && jiao == 0 && fen == 0 {
		return fail("no amount")
	}
	if yuan > (maxFen-jiao*10-fen)/100 {
		return fail("too large")
	}
	return yuan*100 + jiao*10 + fen, nil
}

func digitValue(c rune) (int64, bool) {
	if c == '两' {
		return 2, true
	}
	for i, w := range digitWords {
		if []rune(w)[0] == c {
			return int64(i), true
		}
	}
	return 0, false
}

// parseInt parses an integer reading: the part above the last 亿 recursively,
// then the part above 万, then a four-digit group; 零 may separate them.
func parseInt(r []rune) (int64, error) {
	if len(r) == 0 {
		return 0, errors.New("missing number")
	}
	if len(r) == 1 && r[0] == '零' {
		return 0, nil
	}
	for _, big := range []struct {
		c rune
		v int64
	}{{'亿', 1e8}, {'万', 1e4}} {
		last := -1
		for i, c := range r {
			if c == big.c {
				last = i
			}
		}
		if last < 0 {
			continue
		}
		high, err := parseInt(r[:last])
		if err != nil {
			return 0, err
		}
		if high == 0 || high > (1<<63-1)/big.v/10 {
			return 0, fmt.Errorf("bad count of %c", big.c)
		}
		low := r[last+1:]
		if len(low) > 0 && low[0] == '零' {
			low = low[1:]
			if len(low) == 0 {
				return 0, errors.New("trailing 零")
			}
		}
		var lowV int64
		if len(low) > 0 {
			if lowV, err = parseInt(low); err != nil {
				return 0, err
			}
			if lowV == 0 || lowV >= big.v {
				return 0, fmt.Errorf("bad part below %c", big.c)
			}
		}
		return high*big.v + lowV, nil
	}
	return parseGroup(r)
}

// parseGroup parses 1..9999 written with 千百十 and inner 零s.
func parseGroup(r []rune) (int64, error) {
	var total int64
	limit := int64(10000) // the next unit must be below the previous one
	var digit int64 = -1
	zero := false // a 零 since the last unit
	for i, c := range r {
		switch c {
		case '千', '百', '十':
			v := map[rune]int64{'千': 1000, '百': 100, '十': 10}[c]
			if v >= limit {
				return 0, fmt.Errorf("%c out of order", c)
			}
			d := digit
			if d < 0 {
				if c != '十' || i != 0 {
					return 0, fmt.Errorf("%c without a digit", c)
				}
				d = 1
			}
			if d == 0 {
				return 0, fmt.Errorf("零 before %c", c)
			}
			if limit != 10000 && zero != (limit/v > 10) {
				return 0, fmt.Errorf("零 before %c does not match the missing places", c)
			}
			total += d * v
			limit, digit, zero = v, -1, false
		case '零':
			if digit >= 0 || zero || i == 0 || i == len(r)-1 {
				return 0, errors.New("misplaced 零")
			}
			zero = true
		default:
			d, ok := digitValue(c)
			if !ok {
				return 0, fmt.Errorf("%q is not part of a number", c)
			}
			if digit >= 0 {
				return 0, errors.New("two digits in a row")
			}
			digit = d
		}
	}
	if digit >= 0 {
		// A last digit right after 百 or 千 would be the colloquial 一百五
		// (150), which AmountWords never says; insist on 一百零五 for 105.
		if limit != 10000 && zero != (limit > 10) {
			return 0, errors.New("零 before the units digit does not match the missing places")
		}
		total += digit
	}
	if total == 0 {
		return 0, errors.New("zero group")
	}
	return total, nil
}

// Wallet prefixes spoken before the amount of a payment, by the wallet name in
// notify.payment.
var walletPhrases = map[string]string{
	"wechat":   "微信收款",
	"alipay":   "支付宝收款",
	"unionpay": "云闪付收款",
	"bestpay":  "翼支付收款",
	"ecny":     "数字人民币收款", // e-CNY, as the speakers of the banks' own apps say it
}

// Announcement returns the words said for a money event of the given kind
// (pay, refund, deposit, consume, unfreeze, as in notify.payment): the phrase
// then the amount, e.g. 微信收款一百二十八点五元. A payment from an unknown or
// empty wallet says 收款. An unknown kind says the amount alone rather than a
// phrase that could be wrong.
func Announcement(kind, wallet string, fen int64, opt Options) string {
	var phrase string
	switch strings.ToLower(kind) {
	case "pay":
		phrase = walletPhrases[strings.ToLower(wallet)]
		if phrase == "" {
			phrase = "收款"
		}
	case "refund":
		phrase = "退款"
	case "deposit":
		phrase = "押金冻结"
	case "consume":
		phrase = "押金消费"
	case "unfreeze":
		phrase = "押金解冻"
	}
	return phrase + AmountWords(fen, opt)
}

package printer

// Code128 as GS k 73 data. The code sets are chosen by the rule
// github.com/boombuler/barcode/code128 uses (the raster fallback and the
// renderer draw with it): set C from where four digits follow (two while
// already in C), set B otherwise. So the printer's own barcode, the raster
// one and the rendered one are the same symbols; set C halves the width of
// the digits of an order number (P + 20 digits: 167 modules instead of
// 266, so 2-dot modules fit 58 mm paper where set B needed 1-dot ones).

// code128Quiet is the quiet zone each side, in modules (ISO/IEC 15417 §4.4.3:
// at least 10 X).
const code128Quiet = 10

// code128Data returns payload as GS k 73 data ("{B", "{C" switches, "{{"
// for a literal '{', set C digit pairs as byte values 0-99) and its number
// of symbols (start, data, switches, check; not the stop). ok is false for
// a payload sets B and C cannot hold (not printable ASCII).
func code128Data(payload string) (data []byte, symbols int, ok bool) {
	set := byte(0)
	digits := func(i, n int) bool {
		if i+n > len(payload) {
			return false
		}
		for k := i; k < i+n; k++ {
			if payload[k] < '0' || payload[k] > '9' {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(payload); {
		c := payload[i]
		if c < 0x20 || c > 0x7e {
			return nil, 0, false
		}
		need := 4
		if set == 'C' {
			need = 2
		}
		if digits(i, need) {
			if set != 'C' {
				data, set = append(data, '{', 'C'), 'C'
				symbols++ // start C, or code C
			}
			data = append(data, (payload[i]-'0')*10+payload[i+1]-'0')
			symbols++
			i += 2
			continue
		}
		if set != 'B' {
			data, set = append(data, '{', 'B'), 'B'
			symbols++
		}
		if c == '{' {
			data = append(data, '{') // '{' starts a code-set switch; "{{" is a literal
		}
		data = append(data, c)
		symbols++
		i++
	}
	return data, symbols + 1, len(payload) > 0 // + the check symbol
}

// code128Modules is the width in modules of a Code128 of that many
// symbols: 11 each, and the stop pattern's 13.
func code128Modules(symbols int) int { return 11*symbols + 13 }

// Code128DataModules is the printed width, in modules, of GS k 73 data as
// a printer reads it: one symbol per start or code-set switch ("{A", "{B",
// "{C"), per character of sets A and B ("{{" is one) and per digit pair
// of set C, then the check symbol and the stop. It is how a test holds a
// rendered barcode against what the printer was sent.
func Code128DataModules(data []byte) int {
	symbols := 1 // check
	for i := 0; i < len(data); i++ {
		if data[i] == '{' && i+1 < len(data) {
			i++ // a switch, or "{{": one symbol either way
		}
		symbols++
	}
	return code128Modules(symbols)
}

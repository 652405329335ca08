package wire

import "unicode"

// ValidID accepts the ids that come from outside and become journal keys
// and file names (order_id, out_trade_no, job_id, …): 1-64 printable ASCII
// characters, no spaces.
func ValidID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return false
		}
	}
	return true
}

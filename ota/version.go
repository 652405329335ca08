package ota

import (
	"strconv"
	"strings"
)

// CompareVersions orders two firmware versions written as release numbers
// ("1.4.0", "v2.0", "0.1.0-dev"): -1, 0 or 1, and ok false when either is
// not such a number. A pre-release ("1.4.0-rc1") comes before its release;
// two pre-releases of one release compare as text. Firmware moves forward
// only, so the device must be able to tell which of two versions is newer.
func CompareVersions(a, b string) (int, bool) {
	an, apre, ok1 := parseVersion(a)
	bn, bpre, ok2 := parseVersion(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	for i := 0; i < max(len(an), len(bn)); i++ {
		var x, y uint64
		if i < len(an) {
			x = an[i]
		}
		if i < len(bn) {
			y = bn[i]
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
	}
	switch {
	case apre == bpre:
		return 0, true
	case apre == "":
		return 1, true
	case bpre == "":
		return -1, true
	case apre < bpre:
		return -1, true
	}
	return 1, true
}

func parseVersion(v string) (nums []uint64, pre string, ok bool) {
	v = strings.TrimPrefix(v, "v")
	core, pre, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if core == "" || len(parts) > 4 {
		return nil, "", false
	}
	for _, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || p == "" || (len(p) > 1 && p[0] == '0') {
			return nil, "", false
		}
		nums = append(nums, n)
	}
	return nums, pre, true
}

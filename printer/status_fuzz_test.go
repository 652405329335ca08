package printer

import "testing"

// FuzzDecodeStatus feeds every status byte a printer (or a noisy line) can
// send, for every DLE EOT n: DecodeStatus is total, reads only the bits it
// documents, and an n outside 1, 2, 4 decodes to ok.
func FuzzDecodeStatus(f *testing.F) {
	for _, s := range [][2]byte{{1, 0x12}, {1, 0x1a}, {2, 0x12}, {2, 0x36}, {3, 0x12}, {4, 0x12}, {4, 0x7e}, {0, 0xff}, {9, 0x08}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, n, b byte) {
		st := DecodeStatus(n, b)
		masks := map[byte]byte{1: 0x08, 2: 0x24, 4: 0x60}
		mask, known := masks[n]
		if !known && st != (Status{}) {
			t.Fatalf("DecodeStatus(%d, %#x) = %+v for an n it does not read", n, b, st)
		}
		if got := DecodeStatus(n, b&mask); got != st {
			t.Fatalf("DecodeStatus(%d, %#x) = %+v depends on undocumented bits (%+v)", n, b, st, got)
		}
		if st.OK() != (st.String() == "ok") || st.Merge(st) != st || st.Merge(Status{}) != st {
			t.Fatalf("inconsistent status %+v %q", st, st)
		}
	})
}

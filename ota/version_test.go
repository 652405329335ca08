package ota

import "testing"

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1.4.0", "1.4.0", 0, true},
		{"1.4.0", "1.4", 0, true},
		{"1.4.1", "1.4.0", 1, true},
		{"1.10.0", "1.9.9", 1, true},
		{"2.0.0", "10.0.0", -1, true},
		{"v2.0.0", "2.0.0", 0, true},
		{"0.1.0-dev", "0.1.0", -1, true},
		{"2.0.0", "0.1.0-dev", 1, true},
		{"1.0.0-rc1", "1.0.0-rc2", -1, true},
		{"eba8df1", "1.0.0", 0, false},
		{"1.0.0", "", 0, false},
		{"1.01.0", "1.1.0", 0, false},
		{"1.2.3.4.5", "1.0", 0, false},
		{"1..2", "1.2", 0, false},
	}
	for _, tc := range tests {
		got, ok := CompareVersions(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	f.Add("1.4.0", "1.4.1-rc1")
	f.Fuzz(func(t *testing.T, a, b string) {
		x, ok1 := CompareVersions(a, b)
		y, ok2 := CompareVersions(b, a)
		if ok1 != ok2 || x != -y {
			t.Fatalf("%q vs %q: %d/%v, reversed %d/%v", a, b, x, ok1, y, ok2)
		}
	})
}

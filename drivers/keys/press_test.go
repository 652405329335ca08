package keys

import (
	"slices"
	"testing"
	"time"
)

// step is one Sample: the level at a time (ms from the start).
type step struct {
	ms      int
	pressed bool
}

func TestPress(t *testing.T) {
	const deb, long = 30, 1500
	tests := []struct {
		name  string
		long  time.Duration
		steps []step
		want  []Kind
	}{
		{"clean short press", long, []step{{0, true}, {30, true}, {400, false}, {430, false}}, []Kind{Short}},
		{"bounce on press and release is one press", long, []step{
			{0, true}, {3, false}, {5, true}, {9, false}, {12, true}, {42, true},
			{300, false}, {302, true}, {305, false}, {335, false},
		}, []Kind{Short}},
		{"glitch shorter than debounce is nothing", long, []step{{0, true}, {10, false}, {100, false}, {2000, false}}, nil},
		{"release before debounce ends is nothing", long, []step{{0, true}, {29, false}, {60, false}}, nil},
		{"long press fires once while held", long, []step{
			{0, true}, {30, true}, {1499, true}, {1500, true}, {1600, true}, {3000, false}, {3030, false},
		}, []Kind{Long}},
		{"long press timed from the finger, not the debounce", long, []step{{0, true}, {30, true}, {1500, true}}, []Kind{Long}},
		{"first sample late: long at once", long, []step{{0, true}, {2000, true}}, []Kind{Long}},
		{"two short presses", long, []step{
			{0, true}, {30, true}, {100, false}, {130, false}, {200, true}, {230, true}, {300, false}, {330, false},
		}, []Kind{Short, Short}},
		{"key without long press reports down at once", 0, []step{
			{0, true}, {30, true}, {5000, true}, {5001, false}, {5031, false}, {6000, true}, {6030, true},
		}, []Kind{Down, Down}},
		{"key without long press ignores bounce", 0, []step{{0, true}, {2, false}, {4, true}, {20, false}, {25, true}, {55, true}}, []Kind{Down}},
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Press{Debounce: deb * time.Millisecond, LongPress: tc.long * time.Millisecond}
			var got []Kind
			for _, s := range tc.steps {
				if k := p.Sample(s.pressed, t0.Add(time.Duration(s.ms)*time.Millisecond)); k != 0 {
					got = append(got, k)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Next says when to sample again so a press is confirmed and a long press
// fires without an edge to wake the reader.
func TestPressNext(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	p := Press{Debounce: 30 * time.Millisecond, LongPress: time.Second}
	if _, ok := p.Next(); ok {
		t.Fatal("idle key has a deadline")
	}
	p.Sample(true, at(0))
	n, ok := p.Next()
	if !ok || !n.Equal(at(30)) {
		t.Fatalf("after the edge: Next %v %v, want the debounce end", n, ok)
	}
	if k := p.Sample(true, n); k != 0 || !p.Pressed() {
		t.Fatalf("at the debounce end: %v, pressed %v", k, p.Pressed())
	}
	if n, ok := p.Next(); !ok || !n.Equal(at(1000)) {
		t.Fatalf("held: Next %v %v, want the long-press time", n, ok)
	}
	if k := p.Sample(true, at(1000)); k != Long {
		t.Fatalf("at the long-press time: %v", k)
	}
	if _, ok := p.Next(); ok {
		t.Fatal("deadline after the long press fired")
	}
}

// A key held when reading starts (or wired the other way round) is not
// pressed until it is released and pressed again.
func TestSettle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Press{Debounce: 30 * time.Millisecond, LongPress: time.Second}
	p.settle(true, t0)
	if k := p.Sample(true, t0.Add(5*time.Second)); k != 0 {
		t.Fatalf("held at start reported %v", k)
	}
	if k := p.Sample(false, t0.Add(6*time.Second)); k != 0 {
		t.Fatal(k)
	}
	if k := p.Sample(false, t0.Add(6*time.Second+30*time.Millisecond)); k != 0 {
		t.Fatalf("release of the held key reported %v", k)
	}
	p.Sample(true, t0.Add(7*time.Second))
	p.Sample(true, t0.Add(7*time.Second+30*time.Millisecond))
	if k := p.Sample(false, t0.Add(7*time.Second+100*time.Millisecond)); k != 0 {
		t.Fatal(k)
	}
	if k := p.Sample(false, t0.Add(7*time.Second+130*time.Millisecond)); k != Short {
		t.Fatalf("a new press after the held one: %v, want short", k)
	}
}

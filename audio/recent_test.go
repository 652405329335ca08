package audio

import (
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
)

func TestRecentClips(t *testing.T) {
	pcm := func(n int) []int16 { return make([]int16, n) }
	type step struct {
		put  string // "" for a get
		n    int
		get  string
		kept []string // the units kept afterwards
	}
	for _, tc := range []struct {
		name  string
		max   int
		steps []step
	}{
		{"fits", 10, []step{
			{put: "a", n: 4, kept: []string{"a"}},
			{put: "b", n: 6, kept: []string{"a", "b"}},
		}},
		{"least recently said goes first", 10, []step{
			{put: "a", n: 4}, {put: "b", n: 4},
			{get: "a"}, // a is now the more recent
			{put: "c", n: 4, kept: []string{"a", "c"}},
		}},
		{"as many go as it takes", 10, []step{
			{put: "a", n: 3}, {put: "b", n: 3}, {put: "c", n: 3},
			{put: "d", n: 9, kept: []string{"d"}},
		}},
		{"longer than the bound: not kept", 10, []step{
			{put: "a", n: 5},
			{put: "big", n: 11, kept: []string{"a"}},
		}},
		{"put twice: kept once", 10, []step{
			{put: "a", n: 5}, {put: "a", n: 5, kept: []string{"a"}},
			{put: "b", n: 5, kept: []string{"a", "b"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecentClips(tc.max)
			for i, s := range tc.steps {
				if s.put != "" {
					r.put(s.put, pcm(s.n))
				} else {
					r.get(s.get)
				}
				if s.kept == nil {
					continue
				}
				var got []string
				want := 0
				for _, u := range []string{"a", "b", "c", "d", "big"} {
					if p := r.get(u); p != nil {
						got = append(got, u)
						want += len(p)
					}
				}
				if !slices.Equal(got, s.kept) {
					t.Fatalf("step %d: kept %v, want %v", i, got, s.kept)
				}
				if held, clips := r.kept(); held != want || clips != len(s.kept) || held > tc.max {
					t.Fatalf("step %d: holds %d samples in %d clips, want %d in %d (at most %d)", i, held, clips, want, len(s.kept), tc.max)
				}
			}
		})
	}
}

// TestRenderFromRecentClips renders through a fresh voice: first from
// the pack, then from the clips kept, then with a bound too small for
// the announcement so that clips are dropped as it is said. Every render
// is the reference (the clips as Clip decodes them, joined) at its
// volume, sample for sample.
func TestRenderFromRecentClips(t *testing.T) {
	v := freshVoice(t)
	text := Announcement("pay", "wechat", 12850, Options{})
	units, err := v.Split(text)
	if err != nil {
		t.Fatal(err)
	}
	var ref []int16
	for i, u := range units {
		ref = append(ref, make([]int16, gapBefore(units, i))...)
		if u != "" {
			ref = append(ref, v.Clip(u)...)
		}
	}
	check := func(what string, level int) {
		t.Helper()
		got, err := v.renderAt(text, level)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, Scale(ref, level)) {
			t.Fatalf("%s, level %d: not the clips joined at that volume", what, level)
		}
	}
	if held, _ := v.recent.kept(); held != 0 {
		t.Fatalf("a voice just loaded keeps %d samples", held)
	}
	check("from the pack", 7)
	distinct := map[string]bool{}
	for _, u := range units {
		distinct[u] = u != ""
	}
	delete(distinct, "")
	held, clips := v.recent.kept()
	if clips != len(distinct) {
		t.Fatalf("after one announcement %d clips are kept, want its %d", clips, len(distinct))
	}
	for l := 0; l <= 10; l++ {
		check("from the clips kept", l)
	}
	if now, _ := v.recent.kept(); now != held {
		t.Fatalf("saying it again changed what is kept: %d samples, then %d", held, now)
	}
	v.recent = newRecentClips(held / 3)
	for range 3 {
		check("from a bound a third of its size", 10)
		if now, _ := v.recent.kept(); now > held/3 {
			t.Fatalf("holds %d samples over its bound %d", now, held/3)
		}
	}
}

// Renders running at once (the player's render ahead beside its playing
// one) share the clips kept: with a bound that keeps dropping them, every
// render is still its reference, sample for sample (go test -race checks
// the sharing too).
func TestRenderFromRecentClipsConcurrently(t *testing.T) {
	v := freshVoice(t)
	texts := []string{
		Announcement("pay", "wechat", 12850, Options{}),
		Announcement("refund", "alipay", 99_999_999_999, Options{}),
		Announcement("pay", "unionpay", 5, Options{}),
	}
	want := make([][]int16, len(texts))
	for i, text := range texts {
		var err error
		if want[i], err = v.renderAt(text, 7); err != nil {
			t.Fatal(err)
		}
	}
	v.recent = newRecentClips(60_000) // less than two announcements' clips
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for k := range 20 {
				i := (g + k) % len(texts)
				got, err := v.renderAt(texts[i], 7)
				if err != nil || !slices.Equal(got, want[i]) {
					errs <- fmt.Sprintf("goroutine %d, render %d of %q: %v", g, k, texts[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if held, _ := v.recent.kept(); held > 60_000 {
		t.Fatalf("holds %d samples over its bound", held)
	}
}

// freshVoice is the built-in Mandarin pack loaded anew: a Voice of the
// test's own, its kept clips empty and not shared with DefaultVoice.
func freshVoice(tb testing.TB) *Voice {
	tb.Helper()
	sub, err := fs.Sub(defaultPack, "voice/default")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := LoadVoice(sub)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

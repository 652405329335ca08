package audio

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/drivers/audioout"
)

// gatedWAV is the Player's output in these tests: the real WAV directory
// output, in front of which each Play first reports its name and then waits
// for the test to let it through, so the test decides when the speaker is
// busy and sees the order things are said in.
type gatedWAV struct {
	w      *audioout.WAVDir
	gate   chan struct{} // one receive per Play; nil: no gate
	mu     sync.Mutex
	played []string
	fail   error // returned instead of playing, when set
	began  chan string
	// callers are the callerKey values of the contexts Play was given, in
	// order; byRun says of each Play whether Run called it (its stack).
	callers []string
	byRun   []bool
}

// callerKey marks a caller's context (gatedWAV.callers).
type callerKey struct{}

func newGatedWAV(t *testing.T, gated bool) *gatedWAV {
	w, err := audioout.OpenWAVDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedWAV{w: w, began: make(chan string, 100)}
	if gated {
		g.gate = make(chan struct{})
	}
	return g
}

func (g *gatedWAV) Play(ctx context.Context, name string, pcm []int16) error {
	c, _ := ctx.Value(callerKey{}).(string)
	stack := make([]byte, 8<<10)
	stack = stack[:runtime.Stack(stack, false)]
	g.mu.Lock()
	g.callers = append(g.callers, c)
	g.byRun = append(g.byRun, bytes.Contains(stack, []byte("audio.(*Player).Run(")))
	g.mu.Unlock()
	g.began <- name
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.mu.Lock()
	err := g.fail
	g.mu.Unlock()
	if err != nil {
		return err
	}
	if err := g.w.Play(ctx, name, pcm); err != nil {
		return err
	}
	g.mu.Lock()
	g.played = append(g.played, name)
	g.mu.Unlock()
	return nil
}

func (g *gatedWAV) names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.played)
}

// wav returns the samples of the file written for name.
func (g *gatedWAV) wav(t *testing.T, name string) []int16 {
	t.Helper()
	b, err := os.ReadFile(g.w.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := decodeWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// memStore is a Store in memory; it stands in for the journal, whose own
// implementation (device.speechStore) is tested with bbolt in device.
type memStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

func newMemStore() *memStore { return &memStore{recs: map[string]Record{}} }

func (s *memStore) Load(id string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	return r, ok, nil
}

func (s *memStore) Save(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[r.ID] = r
	return nil
}

func (s *memStore) Owed() ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var owed []Record
	for _, r := range s.recs {
		if !r.Done {
			owed = append(owed, r)
		}
	}
	slices.SortFunc(owed, func(a, b Record) int { return a.Since.Compare(b.Since) })
	return owed, nil
}

// clock is an injected clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startPlayer(t *testing.T, o PlayerOptions) (*Player, func()) {
	t.Helper()
	p := NewPlayer(o)
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return p, stop
}

func enqueue(t *testing.T, p *Player, r Request) Ticket {
	t.Helper()
	tk, err := p.Enqueue(r)
	if err != nil {
		t.Fatalf("Enqueue(%+v): %v", r, err)
	}
	return tk
}

func wait(t *testing.T, tk Ticket) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := tk.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestPlayerClasses: while the speaker is busy with a payment, a key press
// goes ahead of everything queued, payments keep their order and are all
// said, and of two status prompts only the latest is said.
func TestPlayerClasses(t *testing.T) {
	out := newGatedWAV(t, true)
	p, _ := startPlayer(t, PlayerOptions{Out: out, Volume: 10})
	first := enqueue(t, p, Request{ID: "o1", Class: Announce, Text: "微信收款一元"})
	if got := <-out.began; got != "o1" {
		t.Fatalf("began %s", got)
	}
	// The speaker is busy with o1; queue behind it.
	pays := []Ticket{
		enqueue(t, p, Request{ID: "o2", Class: Announce, Text: "支付宝收款二元"}),
		enqueue(t, p, Request{ID: "o3", Class: Announce, Text: "收款三元"}),
	}
	stale := enqueue(t, p, Request{Name: "net", Class: Status, Text: PhraseNetDown})
	latest := enqueue(t, p, Request{Name: "net", Class: Status, Text: PhraseNetUp})
	pays = append(pays, enqueue(t, p, Request{ID: "o4", Class: Announce, Text: "退款四元"}))
	key := enqueue(t, p, Request{Class: Key})

	if r := wait(t, stale); !r.Dropped || r.Said != "" {
		t.Errorf("stale status prompt: %+v, want dropped", r)
	}
	for range 6 {
		out.gate <- struct{}{}
	}
	if r := wait(t, first); r.Said != "微信收款一元" || r.Replay || r.Duplicate {
		t.Errorf("o1: %+v", r)
	}
	for i, tk := range pays {
		if r := wait(t, tk); r.Said == "" {
			t.Errorf("payment %d: %+v", i+2, r)
		}
	}
	if r := wait(t, latest); r.Said != PhraseNetUp {
		t.Errorf("latest status: %+v", r)
	}
	if r := wait(t, key); r.Said != "" {
		t.Errorf("key: %+v", r)
	}
	want := []string{"o1", "key", "o2", "o3", "o4", "net"}
	if got := out.names(); !slices.Equal(got, want) {
		t.Errorf("played %v, want %v", got, want)
	}
	// What was played is the announcement rendered by the voice, whole.
	pcm, _ := DefaultVoice().Render("支付宝收款二元")
	if got := out.wav(t, "o2"); !slices.Equal(got, pcm) {
		t.Errorf("o2.wav: %d samples, not the rendered %d", len(got), len(pcm))
	}
	if got := out.wav(t, "key"); !slices.Equal(got, DefaultVoice().Beep()) {
		t.Error("key.wav is not the beep")
	}
}

// TestPlayerSaysOnce: the same id asked for again — at once, from many
// goroutines, later, or by a new Player on the same store after a restart —
// is said one time; the others get the words said then.
func TestPlayerSaysOnce(t *testing.T) {
	out := newGatedWAV(t, false)
	store := newMemStore()
	p, stop := startPlayer(t, PlayerOptions{Out: out, Store: store})
	var wg sync.WaitGroup
	results := make([]Result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.Say(context.Background(), Request{ID: "notify/o-1", Name: "o-1", Class: Announce, Text: "微信收款十元"})
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Said != "微信收款十元" {
			t.Errorf("caller %d: %+v", i, r)
		}
	}
	r, err := p.Say(context.Background(), Request{ID: "notify/o-1", Class: Announce, Text: "微信收款十元"})
	if err != nil || !r.Duplicate || r.Said != "微信收款十元" {
		t.Errorf("later: %+v, %v", r, err)
	}
	stop()

	p2, _ := startPlayer(t, PlayerOptions{Out: out, Store: store})
	r, err = p2.Say(context.Background(), Request{ID: "notify/o-1", Class: Announce, Text: "微信收款十元"})
	if err != nil || !r.Duplicate {
		t.Errorf("after restart: %+v, %v", r, err)
	}
	if got := out.names(); !slices.Equal(got, []string{"o-1"}) {
		t.Errorf("played %v, want o-1 once", got)
	}
	if rec, _, _ := store.Load("notify/o-1"); !rec.Done || rec.Said != "微信收款十元" {
		t.Errorf("store: %+v", rec)
	}
}

// TestPlayerResumesOwed: announcements owed when the process died are said
// after the restart, oldest first, once; one more than a minute old is said
// as 补播 (and its file is .replay), a younger one plainly — the rule uses
// the injected clock, not the wall clock.
func TestPlayerResumesOwed(t *testing.T) {
	clk := &clock{t: time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)}
	store := newMemStore()
	out := newGatedWAV(t, true)

	// First life: o-old is being said when the process dies; o-new waits.
	p, stop := startPlayer(t, PlayerOptions{Out: out, Store: store, Clock: clk.now, Volume: 10})
	old := enqueue(t, p, Request{ID: "old", Name: "o-old", Class: Announce, Text: "微信收款一元"})
	enqueue(t, p, Request{ID: "new", Name: "o-new", Class: Announce, Text: "收款二元", Since: clk.now().Add(30 * time.Second)})
	<-out.began
	stop()
	if _, err := old.Wait(context.Background()); err == nil {
		t.Error("cut-off announcement reported said")
	}
	if owed, _ := store.Owed(); len(owed) != 2 {
		t.Fatalf("owed %+v, want both", owed)
	}

	// Restart 61 s later: o-old is 61 s old (补播), o-new 31 s (plain).
	clk.add(61 * time.Second)
	out.gate = nil
	p2, _ := startPlayer(t, PlayerOptions{Out: out, Store: store, Clock: clk.now, Volume: 10})
	// The flow that owed o-old asks again after the restart: it gets the
	// resumed one, said once.
	r, err := p2.Say(context.Background(), Request{ID: "old", Name: "o-old", Class: Announce, Text: "微信收款一元"})
	if err != nil || !(r.Replay || r.Duplicate) || r.Said != "补播微信收款一元" { // Duplicate: said before this asked
		t.Errorf("old: %+v, %v", r, err)
	}
	r, err = p2.Say(context.Background(), Request{ID: "new", Class: Announce, Text: "收款二元"})
	if err != nil || r.Replay || r.Said != "收款二元" {
		t.Errorf("new: %+v, %v", r, err)
	}
	if got := out.names(); !slices.Equal(got, []string{"o-old.replay", "o-new"}) {
		t.Errorf("played %v", got)
	}
	replay, _ := DefaultVoice().Render("补播微信收款一元")
	if got := out.wav(t, "o-old.replay"); !slices.Equal(got, replay) {
		t.Error("o-old.replay.wav is not 补播 + the announcement")
	}
	if owed, _ := store.Owed(); len(owed) != 0 {
		t.Errorf("still owed: %+v", owed)
	}
}

// TestPlayerBegunIsReplay: an announcement whose playing had begun when
// the process died may have been heard in full, so after even a quick
// restart it is said as 补播, never as if it were a second payment; the one
// that had not begun is said plainly.
func TestPlayerBegunIsReplay(t *testing.T) {
	clk := &clock{t: time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)}
	store := newMemStore()
	out := newGatedWAV(t, true)
	p, stop := startPlayer(t, PlayerOptions{Out: out, Store: store, Clock: clk.now, Volume: 10})
	enqueue(t, p, Request{ID: "begun", Name: "o-begun", Class: Announce, Text: "微信收款一元"})
	// A second later, so the restart's oldest-first order is defined.
	enqueue(t, p, Request{ID: "waiting", Name: "o-waiting", Class: Announce, Text: "收款二元", Since: clk.now().Add(time.Second)})
	<-out.began
	stop()
	if rec, _, _ := store.Load("begun"); !rec.Started || rec.Done {
		t.Fatalf("begun: %+v, want started and owed", rec)
	}
	if rec, _, _ := store.Load("waiting"); rec.Started || rec.Done {
		t.Fatalf("waiting: %+v, want owed, not started", rec)
	}

	clk.add(5 * time.Second)
	out.gate = nil
	p2, _ := startPlayer(t, PlayerOptions{Out: out, Store: store, Clock: clk.now, Volume: 10})
	for _, c := range []struct {
		id, text, said string
		replay         bool
	}{{"begun", "微信收款一元", "补播微信收款一元", true}, {"waiting", "收款二元", "收款二元", false}} {
		// Resumed at the start, it may be said before this asks: then the
		// answer is the record's (Duplicate), with what was said.
		r, err := p2.Say(context.Background(), Request{ID: c.id, Class: Announce, Text: c.text})
		if err != nil || (r.Replay != c.replay && !r.Duplicate) || r.Said != c.said {
			t.Errorf("%s: %+v, %v; want said %s", c.id, r, err, c.said)
		}
	}
	if got := out.names(); !slices.Equal(got, []string{"o-begun.replay", "o-waiting"}) {
		t.Errorf("played %v", got)
	}
}

// TestPlayerVolume: the level set is applied to what plays next.
func TestPlayerVolume(t *testing.T) {
	out := newGatedWAV(t, false)
	p, _ := startPlayer(t, PlayerOptions{Out: out, Volume: 6})
	pcm, _ := DefaultVoice().Render(VolumeWords(3))
	p.SetVolume(3)
	if r := wait(t, enqueue(t, p, Request{Name: "v3", Class: Status, Text: VolumeWords(3)})); r.Said != "音量三" {
		t.Errorf("said %q", r.Said)
	}
	if got := out.wav(t, "v3"); !slices.Equal(got, Scale(pcm, 3)) {
		t.Error("v3.wav is not the prompt at level 3")
	}
	p.SetVolume(0)
	wait(t, enqueue(t, p, Request{Name: "v0", Class: Status, Text: VolumeWords(0)}))
	for _, s := range out.wav(t, "v0") {
		if s != 0 {
			t.Fatal("level 0 is not silent")
		}
	}
	p.SetVolume(42)
	if p.Volume() != 10 {
		t.Errorf("volume 42 clamped to %d", p.Volume())
	}
}

// TestPlayerRefusesAndFails: unsayable text is refused before anything is
// owed; an output failure is final for that id (the flow reports it not
// said) and does not stop the queue.
func TestPlayerRefusesAndFails(t *testing.T) {
	out := newGatedWAV(t, false)
	store := newMemStore()
	p, _ := startPlayer(t, PlayerOptions{Out: out, Store: store})
	if _, err := p.Enqueue(Request{ID: "x", Class: Announce, Text: "微信收款x元"}); !errors.Is(err, ErrUnknownUnit) {
		t.Errorf("unsayable: %v", err)
	}
	if _, ok, _ := store.Load("x"); ok {
		t.Error("refused text was owed")
	}
	for _, r := range []Request{{Class: Announce, Text: "一元"}, {ID: "e", Class: Announce}, {Class: Status}, {Class: 9, Text: "一"}} {
		if _, err := p.Enqueue(r); err == nil {
			t.Errorf("Enqueue(%+v) accepted", r)
		}
	}
	boom := errors.New("device gone")
	out.mu.Lock()
	out.fail = boom
	out.mu.Unlock()
	if _, err := p.Say(context.Background(), Request{ID: "f", Class: Announce, Text: "一元"}); !errors.Is(err, boom) {
		t.Errorf("failed play: %v", err)
	}
	if rec, _, _ := store.Load("f"); !rec.Done || rec.Err == "" || rec.Said != "" {
		t.Errorf("failed record %+v", rec)
	}
	if _, err := p.Say(context.Background(), Request{ID: "f", Class: Announce, Text: "一元"}); err == nil {
		t.Error("a failed id reported said when asked again")
	}
	out.mu.Lock()
	out.fail = nil
	out.mu.Unlock()
	if r, err := p.Say(context.Background(), Request{ID: "g", Class: Announce, Text: "二元"}); err != nil || r.Said != "二元" {
		t.Errorf("after a failure: %+v, %v", r, err)
	}
}

// TestPlayerStopped: what is queued when Run ends fails with ErrStopped
// (never hangs), and nothing is accepted afterwards.
func TestPlayerStopped(t *testing.T) {
	out := newGatedWAV(t, true)
	p, stop := startPlayer(t, PlayerOptions{Out: out})
	enqueue(t, p, Request{ID: "a", Class: Announce, Text: "一元"})
	<-out.began
	queued := enqueue(t, p, Request{ID: "b", Class: Announce, Text: "二元"})
	stop()
	if _, err := queued.Wait(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("queued at stop: %v", err)
	}
	if _, err := p.Enqueue(Request{ID: "c", Class: Announce, Text: "三元"}); !errors.Is(err, ErrStopped) {
		t.Errorf("after stop: %v", err)
	}
}

// The gated output is the real WAV writer behind a gate: check the files it
// leaves are what audioout writes.
func TestGatedWAVWritesFiles(t *testing.T) {
	out := newGatedWAV(t, false)
	if err := out.Play(context.Background(), "n", []int16{1, 2}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out.w.Path("n"))
	if !bytes.Equal(b, audioout.EncodeWAV([]int16{1, 2})) {
		t.Error("not the WAV")
	}
}

// failingStore cannot write (a full disk) until healed.
type failingStore struct {
	*memStore
	full     atomic.Bool
	failDone atomic.Bool // only the records of announcements said
}

func (s *failingStore) Save(r Record) error {
	if s.full.Load() || (r.Done && s.failDone.Load()) {
		return errors.New("write journal.db: no space left on device")
	}
	return s.memStore.Save(r)
}

// An announcement whose start cannot be recorded is not said (said and
// not recorded, its retry would say it twice: a second 收款); once the
// store writes again it is said, once.
func TestPlayerSaysNothingItCannotRecord(t *testing.T) {
	out := newGatedWAV(t, false)
	store := &failingStore{memStore: newMemStore()}
	store.full.Store(true)
	p, _ := startPlayer(t, PlayerOptions{Out: out, Store: store})
	if _, err := p.Say(context.Background(), Request{ID: "notify/f-1", Name: "f-1", Class: Announce, Text: "微信收款十元"}); err == nil {
		t.Fatal("said with a store that cannot write")
	}
	if got := out.names(); len(got) != 0 {
		t.Fatalf("played %v with a full store", got)
	}
	store.full.Store(false)
	r, err := p.Say(context.Background(), Request{ID: "notify/f-1", Name: "f-1", Class: Announce, Text: "微信收款十元"})
	if err != nil || r.Said != "微信收款十元" {
		t.Fatalf("after healing: %+v %v", r, err)
	}
	if got := out.names(); len(got) != 1 {
		t.Fatalf("played %v, want f-1 once", got)
	}

	// Said in full, its record refused: asked again, it is recorded then,
	// not said a second time (nor as 补播).
	store.failDone.Store(true)
	if _, err := p.Say(context.Background(), Request{ID: "notify/f-2", Name: "f-2", Class: Announce, Text: "微信收款五元"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Say(context.Background(), Request{ID: "notify/f-2", Name: "f-2", Class: Announce, Text: "微信收款五元"}); err == nil {
		t.Fatal("recorded with a store that still refuses")
	}
	store.failDone.Store(false)
	r, err = p.Say(context.Background(), Request{ID: "notify/f-2", Name: "f-2", Class: Announce, Text: "微信收款五元"})
	if err != nil || r.Said != "微信收款五元" || !r.Duplicate {
		t.Fatalf("after healing: %+v %v", r, err)
	}
	if got := out.names(); len(got) != 2 {
		t.Fatalf("played %v, want f-1 and f-2 once each", got)
	}
	if rec, ok, _ := store.Load("notify/f-2"); !ok || !rec.Done || rec.Said != "微信收款五元" {
		t.Fatalf("the record of f-2: %+v", rec)
	}
}

// A Kept announcement is the caller's to record: the Player saves nothing
// for it, takes Again from the request alone, says it once however often
// it is queued while waiting, and does not say again one a Store recorded
// as said (by a build that kept it there).
func TestPlayerKept(t *testing.T) {
	store := newMemStore()
	out := newGatedWAV(t, true)
	p, stop := startPlayer(t, PlayerOptions{Out: out, Store: store})
	defer stop()
	t1 := enqueue(t, p, Request{ID: "notify/k-1", Name: "k-1", Class: Announce, Text: "微信收款十元", Kept: true})
	t2 := enqueue(t, p, Request{ID: "notify/k-1", Name: "k-1", Class: Announce, Text: "微信收款十元", Kept: true})
	close(out.gate)
	if r1, r2 := wait(t, t1), wait(t, t2); r1.Said != "微信收款十元" || r2.Said != r1.Said {
		t.Fatalf("said %q and %q", r1.Said, r2.Said)
	}
	if got := out.names(); len(got) != 1 {
		t.Fatalf("played %v, want once", got)
	}
	if _, ok, _ := store.Load("notify/k-1"); ok {
		t.Fatal("the Player saved a Kept announcement")
	}
	r := wait(t, enqueue(t, p, Request{ID: "notify/k-2", Name: "k-2", Class: Announce, Text: "微信收款五元", Kept: true, Again: true}))
	if !r.Replay || r.Said != PhraseReplay+"微信收款五元" {
		t.Fatalf("Again: %+v", r)
	}
	store.Save(Record{ID: "notify/k-3", Text: "微信收款一元", Done: true, Said: "微信收款一元"})
	if r := wait(t, enqueue(t, p, Request{ID: "notify/k-3", Class: Announce, Text: "微信收款一元", Kept: true})); !r.Duplicate || len(out.names()) != 2 {
		t.Fatalf("recorded as said: %+v, played %v", r, out.names())
	}
}

// A Kept announcement that finds the speaker idle and nothing queued is
// said on its caller's goroutine, without waiting for Run (sayHere), and
// under Run's context, as Run would say it. It is still one request among
// the others: what is queued while it plays waits for it (a key press
// first, then announcements in order), it is said once however often it
// is asked for meanwhile, its caller giving up does not cut it off, and
// Run's end does (not said). Asked for before Run has begun, it is queued
// for Run.
func TestPlayerSaysKeptHere(t *testing.T) {
	out := newGatedWAV(t, true)
	early := NewPlayer(PlayerOptions{Out: out})
	say := func(p *Player, ctx context.Context, id, text string) <-chan Result {
		ch := make(chan Result, 1)
		go func() {
			res, err := p.Say(ctx, Request{ID: "notify/" + id, Name: id, Class: Announce, Text: text, Kept: true})
			if err != nil {
				res.Said = "error: " + err.Error()
			}
			ch <- res
		}()
		return ch
	}
	// begun says id and waits until it is playing.
	begun := func(ctx context.Context, id, text string) <-chan Result {
		t.Helper()
		ch := say(early, ctx, id, text)
		if got := <-out.began; got != id {
			t.Fatalf("began %s, want %s", got, id)
		}
		return ch
	}
	queuedFor := func(p *Player, n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			p.mu.Lock()
			got := len(p.announce)
			p.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d announcements queued, want %d", got, n)
			}
		}
	}
	// Before Run: queued, said by Run.
	caller := context.WithValue(context.Background(), callerKey{}, "caller")
	before := say(early, caller, "k-0", "微信收款一元")
	queuedFor(early, 1)
	ctx, stopEarly := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() { early.Run(ctx); close(ended) }()
	<-out.began
	out.gate <- struct{}{}
	if r := <-before; r.Said != "微信收款一元" {
		t.Fatalf("k-0: %+v", r)
	}

	// Run idle: said by the caller. The caller's context is marked, Run's
	// is not: the announcement must play under Run's.
	first := begun(caller, "k-1", "微信收款十元")
	again := say(early, caller, "k-1", "微信收款十元")
	key := enqueue(t, early, Request{Class: Key})
	second := say(early, caller, "k-2", "微信收款五元")
	queuedFor(early, 1)
	third := enqueue(t, early, Request{ID: "o-3", Class: Announce, Text: "收款三元"})
	select {
	case got := <-out.began:
		t.Fatalf("%s began while k-1 was being said", got)
	case <-time.After(50 * time.Millisecond):
	}
	close(out.gate)
	r1, r2 := <-first, <-again
	if r1.Said != "微信收款十元" || r2 != r1 {
		t.Fatalf("k-1 said %+v, asked again %+v", r1, r2)
	}
	if r := <-second; r.Said != "微信收款五元" {
		t.Fatalf("k-2: %+v", r)
	}
	wait(t, key)
	wait(t, third)
	if got, want := out.names(), []string{"k-0", "k-1", "key", "k-2", "o-3"}; !slices.Equal(got, want) {
		t.Fatalf("played %v, want %v", got, want)
	}
	out.mu.Lock()
	callers, byRun := slices.Clone(out.callers), slices.Clone(out.byRun)
	out.mu.Unlock()
	if want := []string{"", "", "", "", ""}; !slices.Equal(callers, want) {
		t.Fatalf("said under the contexts of %q, want Run's every time", callers)
	}
	if want := []bool{true, false, true, true, true}; !slices.Equal(byRun, want) {
		t.Fatalf("said by Run: %v, want %v (k-1 by its caller)", byRun, want)
	}
	for range 3 {
		<-out.began // key, k-2, o-3
	}

	// The caller giving up does not cut it off; Run's end does.
	out.gate = make(chan struct{})
	gaveUp, cancel := context.WithCancel(caller)
	kept := begun(gaveUp, "k-4", "微信收款四元")
	cancel()
	out.gate <- struct{}{}
	if r := <-kept; r.Said != "微信收款四元" {
		t.Fatalf("k-4, its caller gone: %+v", r)
	}
	cut := begun(caller, "k-5", "微信收款六元")
	stopEarly()
	select {
	case r := <-cut:
		if r.Said != "error: "+context.Canceled.Error() {
			t.Fatalf("k-5, Run ended: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("k-5 still being said after Run ended")
	}
	<-ended
	if got := out.names(); !slices.Equal(got[5:], []string{"k-4"}) {
		t.Fatalf("played %v", got)
	}
}

// A render made ahead (Prepare) is what is played, once: the samples are
// those a render at play time gives, a second request for the same words
// renders afresh, and at most maxPrepared renders are kept however many
// are asked for.
func TestPlayerPrepared(t *testing.T) {
	out := newGatedWAV(t, false)
	p, _ := startPlayer(t, PlayerOptions{Out: out, Volume: 6})
	text := Announcement("pay", "wechat", 12850, Options{})
	want, err := DefaultVoice().Render(text)
	if err != nil {
		t.Fatal(err)
	}
	p.Prepare(text)
	p.Prepare(text) // once
	if n := len(p.prepared); n != 1 {
		t.Fatalf("%d renders kept for one text", n)
	}
	wait(t, enqueue(t, p, Request{ID: "o1", Class: Announce, Text: text, Kept: true}))
	if got := out.wav(t, "o1"); !slices.Equal(got, Scale(want, 6)) {
		t.Fatal("the prepared render played is not the words at level 6")
	}
	if n := len(p.prepared); n != 0 {
		t.Fatalf("the render was kept after it was used (%d)", n)
	}
	wait(t, enqueue(t, p, Request{ID: "o2", Class: Announce, Text: text, Kept: true}))
	if got := out.wav(t, "o2"); !slices.Equal(got, Scale(want, 6)) {
		t.Fatal("the same words rendered afresh differ")
	}
	// The volume turned between Prepare and the play: said at the new one.
	p.Prepare(text)
	p.SetVolume(3)
	wait(t, enqueue(t, p, Request{ID: "o3", Class: Announce, Text: text, Kept: true}))
	if got := out.wav(t, "o3"); !slices.Equal(got, Scale(want, 3)) {
		t.Fatal("a render prepared at level 6 played after the volume went to 3")
	}
	for i := range 3 * maxPrepared {
		p.Prepare(AmountWords(int64(100+i), Options{}))
	}
	if n := len(p.prepared); n != maxPrepared || p.prepared[0].text != AmountWords(100, Options{}) {
		t.Fatalf("%d renders kept (first %q): at most %d, the first asked for kept", n, p.prepared[0].text, maxPrepared)
	}
}

// Renders prepared for words never said (a duplicate, a notification said
// as 补播) do not keep the next ones from being prepared: past ReplayAfter
// they are dropped.
func TestPlayerPreparedGoStale(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	p := NewPlayer(PlayerOptions{Out: newGatedWAV(t, false), Clock: c.now})
	for i := range maxPrepared {
		p.Prepare(AmountWords(int64(100+i), Options{}))
	}
	p.Prepare(AmountWords(7, Options{}))
	if n := len(p.prepared); n != maxPrepared {
		t.Fatalf("%d renders", n)
	}
	c.add(ReplayAfter + time.Second)
	p.Prepare(AmountWords(7, Options{}))
	if n := len(p.prepared); n != 1 || p.prepared[0].text != AmountWords(7, Options{}) {
		t.Fatalf("after ReplayAfter: %d renders kept", n)
	}
}

// arrays is an Output that notes the array under each pcm it is given and
// checks the samples against the render each name should be.
type arrays struct {
	mu    sync.Mutex
	want  map[string][]int16
	first []*int16
	wrong []string
}

func (a *arrays) Play(_ context.Context, name string, pcm []int16) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.first = append(a.first, &pcm[0])
	if !slices.Equal(pcm, a.want[name]) {
		a.wrong = append(a.wrong, name)
	}
	return nil
}

// The samples of an announcement played go to a later render (recycle):
// the player hands the output arrays it has handed it before, and each
// announcement rendered into one is its own, sample for sample, whatever
// the one before left there (a longer one's samples where this one's gaps
// are).
func TestPlayerRecyclesRenders(t *testing.T) {
	texts := []string{
		Announcement("refund", "alipay", 99_999_999_999, Options{}),
		Announcement("pay", "wechat", 12850, Options{}) + "，" + Announcement("pay", "unionpay", 5, Options{}),
	}
	out := &arrays{want: map[string][]int16{}}
	for i, text := range texts {
		plain, err := DefaultVoice().Render(text)
		if err != nil {
			t.Fatal(err)
		}
		out.want[strconv.Itoa(i)] = Scale(plain, 7)
	}
	p, stop := startPlayer(t, PlayerOptions{Out: out, Volume: 7})
	defer stop()
	const plays = 40
	for i := range plays {
		r := Request{ID: "notify/r-" + strconv.Itoa(i), Name: strconv.Itoa(i % 2), Class: Announce, Text: texts[i%2]}
		if _, err := p.Say(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if len(out.first) != plays || len(out.wrong) > 0 {
		t.Fatalf("%d plays, %d not their own render: %v", len(out.first), len(out.wrong), out.wrong)
	}
	arrays := map[*int16]bool{}
	for _, a := range out.first {
		arrays[a] = true
	}
	// sync.Pool drops some (a collection; under the race detector, a
	// quarter of what is put, and a P's own slot is not shared): 2 arrays
	// in plain runs, 8-24 under -race (60 runs). One array per play would
	// be a pool that never gives one back.
	if len(arrays) > plays*3/4 {
		t.Fatalf("%d plays were given %d arrays: renders are not recycled", plays, len(arrays))
	}
	t.Logf("%d plays, %d arrays", plays, len(arrays))
}

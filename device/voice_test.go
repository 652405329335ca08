package device

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/notify"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/drivers/audioout"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// testClock is the agent's injected clock, moved by the test.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// stuckOut is a speaker that starts playing an announcement and never
// finishes, until the agent is stopped: the process dies with the
// announcement in the air. Prompts (the network one at connect) play at once.
type stuckOut struct{ began chan string }

func (s stuckOut) Play(ctx context.Context, id string, _ []int16) error {
	if id == "network" {
		return nil
	}
	s.began <- id
	<-ctx.Done()
	return ctx.Err()
}

func (r *rig) wavOut() *audioout.WAVDir {
	w, err := audioout.OpenWAVDir(r.wavDir)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

// readWAV waits for name.wav (a command with no answer gives nothing else
// to wait for) and returns its samples.
func (r *rig) readWAV(name string) []int16 {
	r.t.Helper()
	path := filepath.Join(r.wavDir, name+".wav")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			pcm := make([]int16, (len(b)-44)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[44+2*i:]))
			}
			return pcm
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s.wav never written; have %v", name, r.wavs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func rendered(t testing.TB, text string, level int) []int16 {
	t.Helper()
	pcm, err := audio.DefaultVoice().Render(text)
	if err != nil {
		t.Fatal(err)
	}
	return audio.Scale(pcm, level)
}

// An announcement owed when the process died is said after the restart,
// once. One whose playing had begun may have been heard, so it is said
// marked 补播 (in notify.done's said and the file name) however quick the
// restart; one still waiting its turn is said plainly after a quick
// restart and marked 补播 when the notice is more than a minute old.
func TestOwedAnnouncementAfterRestart(t *testing.T) {
	const plain, replay = "微信收款一百二十八点五元", "补播微信收款一百二十八点五元"
	const plain2, replay2 = "支付宝收款三元", "补播支付宝收款三元"
	for _, tc := range []struct {
		name          string
		after         time.Duration
		begun, queued string // what each says after the restart
		queuedWAV     string
	}{
		{"quick restart", 10 * time.Second, replay, plain2, "o-queued"},
		{"a minute later", 90 * time.Second, replay, replay2, "o-queued.replay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			clk := &testClock{}
			stuck := stuckOut{began: make(chan string, 1)}
			r.startWith(stuck, clk.now)
			begun := r.send("notify.payment", map[string]any{"order_id": "o-owed", "amount": 12850, "wallet": "wechat"})
			if id := <-stuck.began; id != "o-owed" {
				t.Fatalf("playing %s", id)
			}
			queued := r.send("notify.payment", map[string]any{"order_id": "o-queued", "amount": 300, "wallet": "alipay"})
			waitTrue(t, 15*time.Second, func() bool { _, err := r.agent.nf.Load("o-queued"); return err == nil })
			r.stop() // dies mid-announcement, one waiting

			clk.advance(tc.after)
			r.startWith(r.wavOut(), clk.now)
			for _, c := range []struct{ jti, said string }{{begun.ID, tc.begun}, {queued.ID, tc.queued}} {
				d := body[wire.NotifyDone](t, r.answer(c.jti, 15*time.Second))
				if !d.Announced || d.Said != c.said {
					t.Fatalf("notify.done %+v, want said %s", d, c.said)
				}
			}
			want := []string{"o-owed.replay.wav", tc.queuedWAV + ".wav"}
			slices.Sort(want)
			if got := r.wavs(); !slices.Equal(got, want) {
				t.Fatalf("wavs %v, want %v", got, want)
			}
			if !slices.Equal(r.readWAV("o-owed.replay"), rendered(t, tc.begun, r.cfg.Audio.Volume)) {
				t.Error("the WAV is not the announcement rendered at the volume")
			}
			// Once: another restart says nothing more.
			r.stop()
			r.startWith(r.wavOut(), clk.now)
			r.noEvent(300 * time.Millisecond)
			if got := r.wavs(); len(got) != 2 {
				t.Fatalf("wavs after a second restart %v", got)
			}
		})
	}
}

// Said but not yet reported when the process died: after the restart the
// notification is answered with the words said then, and not said again.
func TestSaidBeforeCrashNotSaidAgain(t *testing.T) {
	r := newRig(t)
	j, err := journal.Open(r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-5 * time.Second)
	jti := mqtt.NewID()
	err = j.Update(func(tx *journal.Tx) error {
		rec := notify.Record{At: since.Unix(), Seq: 1, Jti: jti, AnnounceStarted: true,
			Body: wire.NotifyPayment{OrderID: "o-said", Amount: 100, Wallet: "wechat", Kind: "pay"}}
		if err := tx.Put(journal.Notify, "o-said", rec); err != nil {
			return err
		}
		return putSpeech(tx, audio.Record{ID: "notify/o-said", Name: "o-said", Text: "微信收款一元", Since: since, Done: true, Said: "微信收款一元"})
	})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.start()
	d := body[wire.NotifyDone](t, r.answer(jti, 10*time.Second))
	if !d.Announced || d.Said != "微信收款一元" {
		t.Fatalf("notify.done %+v", d)
	}
	if w := r.wavs(); len(w) != 0 {
		t.Fatalf("said again: %v", w)
	}
}

// device.volume: persisted, applied to what plays next, and said (音量N)
// at the new level; after a restart the journal's level still applies.
func TestVolumeAppliedAndSaid(t *testing.T) {
	r := newRig(t)
	r.start()
	ans := r.answer(r.send("device.volume", map[string]any{"level": 3}).ID, 15*time.Second)
	if s := body[State](t, ans); s.Volume != 3 {
		t.Fatalf("state %s", ans.Body)
	}
	if !slices.Equal(r.readWAV("volume"), rendered(t, "音量三", 3)) {
		t.Error("volume.wav is not 音量三 at level 3")
	}
	r.answer(r.send("notify.payment", map[string]any{"order_id": "o-v3", "amount": 500, "wallet": "alipay"}).ID, 10*time.Second)
	if !slices.Equal(r.readWAV("o-v3"), rendered(t, "支付宝收款五元", 3)) {
		t.Error("announcement not at level 3")
	}
	r.stop()
	r.start()
	r.answer(r.send("notify.payment", map[string]any{"order_id": "o-v3b", "amount": 500, "wallet": "alipay"}).ID, 10*time.Second)
	if !slices.Equal(r.readWAV("o-v3b"), rendered(t, "支付宝收款五元", 3)) {
		t.Error("after restart: announcement not at the journal's level 3")
	}
}

// device.speak says what the pack can say (ASCII amounts read as words),
// once per command; anything else is a bad_request naming the character.
func TestSpeak(t *testing.T) {
	r := newRig(t)
	r.start()
	now := time.Now()
	m := mqtt.Message{ID: mqtt.NewID(), Type: "device.speak", Dev: devID, IssuedAt: now, ExpiresAt: now.Add(time.Minute),
		Body: []byte(`{"text":"收款12.5元，支付成功"}`)}
	tok, err := r.plat.Sign(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.plat.Publish(devID, tok); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.readWAV("speak-"+m.ID), rendered(t, "收款十二点五元，支付成功", r.cfg.Audio.Volume)) {
		t.Error("speak WAV is not the text rendered")
	}
	// Redelivered: not said again (and, as device.speak has no answer, nothing sent).
	os.Remove(filepath.Join(r.wavDir, "speak-"+m.ID+".wav"))
	if err := r.plat.Publish(devID, tok); err != nil {
		t.Fatal(err)
	}
	r.noEvent(300 * time.Millisecond)
	if w := r.wavs(); len(w) != 0 {
		t.Fatalf("redelivered speak said again: %v", w)
	}

	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"text": "你好"}, `'你'`},
		{map[string]any{"text": "收款x元"}, `'x'`},
		{map[string]any{"text": "收款1.234元"}, "two decimals"},
		{map[string]any{"text": ""}, "required"},
		{map[string]any{}, "required"},
		{map[string]any{"text": strings.Repeat("一", MaxSpeakRunes+1)}, "at most"},
		{map[string]any{"text": "一", "voice": "x"}, "unknown field"},
	} {
		cmd := r.send("device.speak", tc.body)
		ans := r.answer(cmd.ID, 15*time.Second)
		eb := body[errorBody](t, ans)
		if ans.Type != "error" || eb.Code != CodeBadRequest || !strings.Contains(eb.Message, tc.want) {
			t.Errorf("%v: answer %s %s, want bad_request naming %s", tc.body, ans.Type, ans.Body, tc.want)
		}
	}
	if w := r.wavs(); len(w) != 0 {
		t.Fatalf("refused text said: %v", w)
	}
}

// speechStore over bbolt: records survive reopening, Owed lists the unsaid
// ones oldest first, and the agent's prune drops them after NotifyTTL.
func TestSpeechStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := speechStore{j}
	t0 := time.Date(2025, 11, 1, 9, 0, 0, 0, time.UTC)
	for _, rec := range []audio.Record{
		{ID: "b", Text: "二元", Since: t0.Add(2 * time.Second)},
		{ID: "a", Text: "一元", Since: t0.Add(time.Second)},
		{ID: "c", Text: "三元", Since: t0, Done: true, Said: "三元"},
	} {
		if err := s.Save(rec); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	if j, err = journal.Open(path); err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	s = speechStore{j}
	owed, err := s.Owed()
	if err != nil || len(owed) != 2 || owed[0].ID != "a" || owed[1].ID != "b" {
		t.Fatalf("owed %+v, %v", owed, err)
	}
	if rec, ok, err := s.Load("c"); !ok || err != nil || !rec.Done || rec.Said != "三元" || !rec.Since.Equal(t0) {
		t.Fatalf("Load(c) = %+v, %v, %v", rec, ok, err)
	}
	if n, err := j.Prune(journal.Speech, t0.Add(2*time.Second)); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want a and c", n, err)
	}
}

// audio.language yue: the device speaks Cantonese — the words by the
// Cantonese reading rules (两元), the samples the Cantonese pack's.
func TestCantoneseAnnouncement(t *testing.T) {
	r := newRig(t)
	r.cfg.Audio.Language = "yue"
	r.start()
	ans := r.answer(r.send("notify.payment", map[string]any{"order_id": "yue-1", "amount": 200, "wallet": "ecny"}).ID, 10*time.Second)
	var done struct {
		Said string `json:"said"`
	}
	json.Unmarshal(ans.Body, &done)
	if done.Said != "数字人民币收款两元" {
		t.Fatalf("said %q, want 数字人民币收款两元", done.Said)
	}
	yue, _, _ := audio.VoiceFor(audio.Cantonese)
	pcm, err := yue.Render(done.Said)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.readWAV("yue-1"); !slices.Equal(got, audio.Scale(pcm, r.cfg.Audio.Volume)) {
		t.Fatalf("the WAV (%d samples) is not the Cantonese pack's rendering (%d)", len(got), len(pcm))
	}
}

// A burst larger than any channel (1,500 notify.payment at once, as a
// reconnect flushes held commands): every one announced, in arrival
// order, none left to a timer.
func TestNotifyBurstKeepsOrder(t *testing.T) {
	r := newRig(t)
	r.logs = &lockedBuffer{}
	// The speaker holds the first announcement until every command is in:
	// the backlog is as large as the burst.
	spk := &heldSpeaker{release: make(chan struct{})}
	r.startWith(spk, nil)
	const n = 1500
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("burst-%04d", i)
		r.send("notify.payment", map[string]any{"order_id": ids[i], "amount": 100 + i, "wallet": "wechat"})
	}
	// All journaled and owed: the first one held at the speaker.
	owed := func() (c int) {
		r.agent.j.View(func(tx *journal.Tx) error {
			return tx.OpenKeys(journal.Notify, func(string) error { c++; return nil })
		})
		return c
	}
	waitTrue(t, 30*time.Second, func() bool { return owed() >= n })
	close(spk.release)
	announced := func() []string {
		var out []string
		for _, l := range strings.Split(r.logs.String(), "\n") {
			if strings.Contains(l, "msg=announced ") {
				if _, rest, ok := strings.Cut(l, "order_id="); ok {
					id, _, _ := strings.Cut(rest, " ")
					out = append(out, id)
				}
			}
		}
		return out
	}
	// Well inside notify.Sweep: nothing may wait for the timer.
	waitTrue(t, 25*time.Second, func() bool { return len(announced()) >= n })
	got := announced()
	late := 0
	for i, id := range got {
		if id != ids[i] {
			late++
		}
	}
	if len(got) != n || late > 0 {
		t.Fatalf("%d announced, %d out of arrival order (first: %v)", len(got), late, got[:min(5, len(got))])
	}
}

// heldSpeaker plays nothing until release is closed.
type heldSpeaker struct{ release chan struct{} }

func (h *heldSpeaker) Play(ctx context.Context, _ string, _ []int16) error {
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (h *heldSpeaker) Close() error { return nil }

// The receipt prints while its announcement plays: with the speaker still
// busy with the words, the job is already at the printer; both are done
// once (notify.done says so).
func TestReceiptPrintsWhileAnnouncing(t *testing.T) {
	r := newRig(t)
	spk := &heldSpeaker{release: make(chan struct{})}
	r.startWith(spk, nil)
	m := r.send("notify.payment", map[string]any{"order_id": "both-1", "amount": 12850, "wallet": "wechat", "print": true})
	waitTrue(t, 10*time.Second, func() bool { return r.printer.count() == 1 })
	close(spk.release)
	ans := r.answer(m.ID, 10*time.Second)
	var done wire.NotifyDone
	json.Unmarshal(ans.Body, &done)
	if !done.Announced || !done.Printed || r.printer.count() != 1 {
		t.Fatalf("notify.done %+v, %d jobs printed", done, r.printer.count())
	}
}

// A notification with a receipt is journaled in two commits: the one that
// takes the command (with its print job and both begun marks: the printer
// and the speaker were idle) and the one that answers it (said, printed,
// done, notify.done). The receipt, printed while the words play, waits in
// memory for that final commit; the function key then repeats it.
func TestNotifyCostsTwoCommits(t *testing.T) {
	r := newRig(t)
	spk := &heldSpeaker{release: make(chan struct{})}
	r.startWith(spk, nil)
	j := r.agent.j
	waitTrue(t, 5*time.Second, func() bool { n, _ := j.OutboxLen(); return n == 0 })
	j.FlushAcks()
	c0 := j.Commits()
	m := r.send("notify.payment", map[string]any{"order_id": "two-1", "amount": 12850, "wallet": "wechat", "print": true})
	waitTrue(t, 10*time.Second, func() bool { return r.printer.count() == 1 })
	var n notify.Record
	var job printq.Job
	j.View(func(tx *journal.Tx) error {
		tx.Get(journal.Notify, "two-1", &n)
		tx.Get(journal.Print, printq.OrderPrefix+"two-1", &job)
		return nil
	})
	if got := j.Commits() - c0; got != 1 || !n.AnnounceStarted || !n.PrintStarted || !job.Started || job.Done {
		t.Fatalf("while the words play: %d commits, notification %+v, job started %v done %v", got, n, job.Started, job.Done)
	}
	close(spk.release)
	ans := r.answer(m.ID, 10*time.Second)
	var done wire.NotifyDone
	json.Unmarshal(ans.Body, &done)
	j.View(func(tx *journal.Tx) error {
		tx.Get(journal.Notify, "two-1", &n)
		tx.Get(journal.Print, printq.OrderPrefix+"two-1", &job)
		return nil
	})
	if got := j.Commits() - c0; got != 2 || !done.Announced || !done.Printed || !n.Done || !job.Done || job.Reprint {
		t.Fatalf("answered: %d commits, %+v, job done %v reprint %v", got, done, job.Done, job.Reprint)
	}
	if r.agent.lastSaid() != done.Said {
		t.Fatalf("the function key would repeat %q, not %q", r.agent.lastSaid(), done.Said)
	}
}

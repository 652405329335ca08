package device

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
)

// A journal lost to a power cut (left zero bytes long) is not taken for a
// first start: the file is kept aside; the device says 存储故障 once, tells
// the platform (device.storage, state, hello) and refuses every command
// issued before the new journal — a replayed notify.payment is not
// announced a second time — while new commands run.
func TestLostJournalRefusesOldCommands(t *testing.T) {
	r := newRig(t)
	r.logs = &lockedBuffer{}
	r.start()
	now := time.Now()
	m := mqtt.Message{ID: mqtt.NewID(), Type: "notify.payment", Dev: devID, IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
		Body: json.RawMessage(`{"order_id":"LOST-1","amount":12850,"wallet":"wechat"}`)}
	tok, err := r.plat.Sign(m)
	if err != nil {
		t.Fatal(err)
	}
	r.plat.Publish(devID, tok)
	if ans := r.answer(m.ID, 15*time.Second); ans.Type != "notify.done" {
		t.Fatalf("first delivery: %s %s", ans.Type, ans.Body)
	}
	waitTrue(t, 10*time.Second, func() bool { return r.announced("LOST-1") })
	r.stop()

	if err := os.Truncate(r.dbPath, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the new journal begins after the command's iat
	r.start()
	ev := r.waitFor("device.storage", 15*time.Second)
	var st struct {
		State string `json:"state"`
		Lost  struct {
			Cause, Kept string
			At          int64
		} `json:"lost"`
	}
	json.Unmarshal(ev.Body, &st)
	if st.State != StorageLost || st.Lost.Cause != "damaged" || st.Lost.At <= now.UnixMilli() {
		t.Fatalf("device.storage %s", ev.Body)
	}
	if fi, err := os.Stat(st.Lost.Kept); err != nil || fi.Size() != 0 {
		t.Fatalf("the damaged file is not kept aside as it was: %v %v", fi, err)
	}
	if s := r.agent.State(); s.Storage != StorageLost {
		t.Fatalf("state storage %q", s.Storage)
	}
	if h := r.agent.hello(); !strings.Contains(string(h.Body), `"storage":"lost"`) {
		t.Fatalf("hello %s", h.Body)
	}

	// The replay: refused, and not said again.
	r.plat.Publish(devID, tok)
	ans := r.answer(m.ID, 15*time.Second)
	if b := body[errorBody](t, ans); ans.Type != "error" || b.Code != CodeJournalLost {
		t.Fatalf("the replayed command: %s %s", ans.Type, ans.Body)
	}
	// A command from after the loss (iat is whole seconds) runs.
	time.Sleep(time.Until(time.UnixMilli(st.Lost.At).Truncate(time.Second).Add(time.Second)))
	n := r.send("notify.payment", map[string]any{"order_id": "LOST-2", "amount": 100, "wallet": "alipay"})
	if ans := r.answer(n.ID, 15*time.Second); ans.Type != "notify.done" {
		t.Fatalf("a new command: %s %s", ans.Type, ans.Body)
	}
	waitTrue(t, 10*time.Second, func() bool { return r.announced("LOST-2") })
	if c := strings.Count(r.logs.String(), "msg=announced order_id=LOST-1 "); c != 1 {
		t.Fatalf("LOST-1 announced %d times", c)
	}
	if got := strings.Count(r.logs.String(), "text=存储故障"); got != 1 {
		t.Fatalf("存储故障 said %d times", got)
	}

	// A clean restart: still lost (old commands may still arrive), not
	// reported nor said again.
	r.stop()
	r.start()
	r.noEventOf("device.storage", 500*time.Millisecond)
	if s := r.agent.State(); s.Storage != StorageLost {
		t.Fatalf("after a restart, state storage %q", s.Storage)
	}
	if got := strings.Count(r.logs.String(), "text=存储故障"); got != 1 {
		t.Fatalf("存储故障 said %d times after a restart", got)
	}
}

// A record whose JSON is damaged is skipped by the scans with a warning
// naming it — never silently — and the others are still listed.
func TestDamagedRecordWarned(t *testing.T) {
	r := newPayRig(t)
	r.withSim(platform.Faults{})
	r.start()
	v := r.pay(1000, "134567890123450077", 10*time.Second, nil)
	r.stop()
	j, err := journal.Open(r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	j.Update(func(tx *journal.Tx) error {
		// An order as the flows file it, then its value torn.
		if err := orders.Put(tx, Payment{OutTradeNo: "P-TORN", Amount: 1, State: Paid, CreatedAt: time.Now().UnixMilli()}); err != nil {
			return err
		}
		return tx.PutRaw(journal.Orders, "P-TORN", []byte(`{"out_trade_no":"P-TORN","amou`))
	})
	j.Close()
	r.start()
	var views []View
	r.api("GET", "/v1/orders", nil, &views)
	if len(views) != 1 || views[0].OutTradeNo != v.OutTradeNo {
		t.Fatalf("orders %+v", views)
	}
	if !strings.Contains(r.logs.String(), "journal record unreadable: skipped") || !strings.Contains(r.logs.String(), "key=P-TORN") {
		t.Fatalf("no warning for the damaged record (%d bytes of log):\n%s", len(r.logs.String()), r.logs.String())
	}
}

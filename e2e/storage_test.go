package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"

	"github.com/posagent/posagent/internal/testkit"
)

// The real binary, killed and its journal then damaged as storage damages
// it — emptied by a power cut, truncated, overwritten with garbage, gone,
// its log damaged:
// it starts every time (no fault dump, no panic, no restart loop), keeps
// the bad file aside, reports device.storage, refuses the replay of a
// command it may have run (a second 收款 would be a fake payment), runs new
// commands, and posagent -salvage gets the old records back.
func TestDamagedJournalBlackBox(t *testing.T) {
	for _, c := range []struct {
		name string
		harm func(path string)
	}{
		{"emptied", func(p string) { os.Truncate(p, 0) }},
		{"truncated", func(p string) {
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()/3)
		}},
		{"garbage", func(p string) {
			b, _ := os.ReadFile(p)
			for i := 4096 * 2; i < len(b); i++ {
				b[i] ^= byte(0x5A + i)
			}
			os.WriteFile(p, b, 0o600)
		}},
		{"gone", func(p string) { os.Remove(p) }},
		// The log holds the last commits: one damaged in its first
		// record, with intact records after it, has lost them.
		{"log damaged", func(p string) {
			f, _ := os.OpenFile(p+journal.LogSuffix, os.O_RDWR, 0)
			f.WriteAt([]byte{0xA5, 0x5A}, 30)
			f.Close()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := startAgent(t, e.bin, e.cfgPath)
			e.waitHello(10 * time.Second)
			ans := collect(ctx, e.events)
			var toks []string
			var ids []string
			for i := 0; i < 20; i++ {
				now := time.Now()
				m := mqtt.Message{ID: mqtt.NewID(), Type: "notify.payment", Dev: e.cfg.DeviceID, IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
					Body: json.RawMessage(fmt.Sprintf(`{"order_id":"J%02d","amount":%d,"wallet":"wechat"}`, i, 1000+i))}
				tok, err := e.plat.Sign(m)
				if err != nil {
					t.Fatal(err)
				}
				e.plat.Publish(e.cfg.DeviceID, tok)
				toks, ids = append(toks, tok), append(ids, m.ID)
			}
			waitUntil(t, 15*time.Second, "every notification answered", func() bool {
				for _, id := range ids {
					if len(ans.get(id)) == 0 {
						return false
					}
				}
				return true
			})
			p.kill()
			path := filepath.Join(e.cfg.DataDir, journal.FileName)
			c.harm(path)

			p = startAgent(t, e.bin, e.cfgPath)
			defer func() { p.kill() }()
			var storage map[string]any
			waitUntil(t, 15*time.Second, "device.storage", func() bool {
				for _, m := range ans.all() {
					if m.Type == "device.storage" {
						json.Unmarshal(m.Body, &storage)
						return true
					}
				}
				return false
			})
			lost, _ := storage["lost"].(map[string]any)
			if storage["state"] != "lost" || lost == nil {
				t.Fatalf("device.storage %v", storage)
			}
			if log := p.log.String(); strings.Contains(log, "SIGBUS") || strings.Contains(log, "fatal error") || strings.Contains(log, "goroutine ") || strings.Contains(log, "[signal") {
				t.Fatalf("a fault dump in the log:\n%s", log)
			}
			// The replays: refused, never announced again.
			for _, tok := range toks {
				e.plat.Publish(e.cfg.DeviceID, tok)
			}
			waitUntil(t, 15*time.Second, "every replay refused", func() bool {
				for _, id := range ids {
					if !hasCode(ans.get(id), "journal_lost") {
						return false
					}
				}
				return true
			})
			time.Sleep(time.Until(time.UnixMilli(int64(lost["at"].(float64))).Truncate(time.Second).Add(time.Second)))
			fresh := mqtt.NewID()
			now := time.Now()
			tok, err := e.plat.Sign(mqtt.Message{ID: fresh, Type: "notify.payment", Dev: e.cfg.DeviceID, IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
				Body: json.RawMessage(`{"order_id":"J-NEW","amount":500,"wallet":"alipay"}`)})
			if err != nil {
				t.Fatal(err)
			}
			e.plat.Publish(e.cfg.DeviceID, tok)
			waitUntil(t, 15*time.Second, "the new notification", func() bool { return len(ans.get(fresh)) > 0 && ans.get(fresh)[0].Type == "notify.done" })
			p.kill()
			said, _ := wavCounts(e.wavDir)
			for i := range ids {
				if id := fmt.Sprintf("J%02d", i); said[id] > 1 {
					t.Errorf("%s announced %d times", id, said[id])
				}
			}
			if said["J-NEW"] != 1 {
				t.Errorf("J-NEW announced %d times", said["J-NEW"])
			}
			kept, _ := lost["kept"].(string)
			if c.name == "gone" {
				if kept != "" {
					t.Fatalf("kept %q for a journal that is gone", kept)
				}
				return
			}
			// posagent -salvage on what was kept.
			dst := filepath.Join(t.TempDir(), "salvaged.db")
			var out, errb bytes.Buffer
			if code := runBin(e.bin, &out, &errb, "-salvage", kept, "-to", dst); code != 0 {
				t.Fatalf("salvage: exit %d %s", code, errb.String())
			}
			t.Logf("%s: %s", c.name, strings.TrimSpace(out.String()))
			if !strings.Contains(out.String(), "salvaged ") {
				t.Fatalf("salvage said %q", out.String())
			}
		})
	}
}

// A journal that cannot be made (the data dir is a file) is exit 3, with
// the reason, not the crash code.
func TestStorageErrorExitThree(t *testing.T) {
	e := newEnv(t)
	os.RemoveAll(e.cfg.DataDir)
	os.WriteFile(e.cfg.DataDir, []byte("not a directory"), 0o600)
	var out, errb bytes.Buffer
	code := runBin(e.bin, &out, &errb, "-config", e.cfgPath)
	if code != 3 || !strings.Contains(errb.String(), "data_dir") && !strings.Contains(errb.String(), "journal") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// eventLog keeps every verified event of a device.
type eventLog struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func collect(ctx context.Context, events <-chan platform.Event) *eventLog {
	l := &eventLog{}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-events:
				if ev.Err == nil && ev.State == nil {
					l.mu.Lock()
					l.msgs = append(l.msgs, ev.Message)
					l.mu.Unlock()
				}
			}
		}
	}()
	return l
}

func (l *eventLog) all() []mqtt.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]mqtt.Message(nil), l.msgs...)
}

// get is the answers to jti.
func (l *eventLog) get(jti string) []mqtt.Message {
	var out []mqtt.Message
	for _, m := range l.all() {
		if m.Ref == jti {
			out = append(out, m)
		}
	}
	return out
}

func hasCode(ms []mqtt.Message, code string) bool {
	for _, m := range ms {
		var b struct{ Code string }
		if m.Type == "error" && json.Unmarshal(m.Body, &b) == nil && b.Code == code {
			return true
		}
	}
	return false
}

var waitUntil = testkit.WaitUntil

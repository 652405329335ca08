package firmware

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/ota"
	"github.com/posagent/posagent/wire"
)

type rig struct {
	u         *Updater
	j         *journal.Journal
	slots     ota.Slots
	connected atomic.Bool
	mu        sync.Mutex
	results   []wire.OTAResult
	answered  []string
	execs     []string // path and reason of each exec asked
	execAt    []time.Time
}

// newRig is new firmware 2.0.0 started from slot b on trial (the update
// U1 from 1.0.0 switched to it), at the production health timeout (120 s).
func newRig(t *testing.T, running string) *rig {
	dir := t.TempDir()
	c := config.Default()
	c.DeviceID, c.DataDir, c.MQTT.URL = "dev-1", dir, "tcp://127.0.0.1:1883"
	c.AuthKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	c.OTA.Dir = filepath.Join(dir, "slots")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(dir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	r := &rig{j: j, slots: ota.Slots{Dir: c.OTA.Dir}}
	bin := r.slots.Binary("b")
	if err := os.MkdirAll(filepath.Dir(bin), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.slots.Save(ota.Boot{Active: "b", State: ota.StateTrial, Version: "2.0.0", Ref: "U1", Base: "/usr/bin/posagent"}); err != nil {
		t.Fatal(err)
	}
	job := Job{Ref: "U1", Manifest: ota.Manifest{Version: "2.0.0"}, State: stateSwitching, Slot: "b", From: "1.0.0"}
	if err := j.Update(func(tx *journal.Tx) error { return tx.Put(journal.Meta, metaJob, job) }); err != nil {
		t.Fatal(err)
	}
	r.u = &Updater{Host: Host{
		Journal: j, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Events: exchange.Events{
			Emit: func(tx *journal.Tx, typ, ref string, body any) (mqtt.Message, error) {
				if res, ok := body.(wire.OTAResult); ok {
					tx.OnCommit(func() { r.mu.Lock(); r.results = append(r.results, res); r.mu.Unlock() })
				}
				return mqtt.Message{Type: typ, Ref: ref}, nil
			},
			Answered: func(tx *journal.Tx, jti string, _ mqtt.Message) error {
				tx.OnCommit(func() { r.mu.Lock(); r.answered = append(r.answered, jti); r.mu.Unlock() })
				return nil
			},
			Flush: func() {},
		},
		Connected: r.connected.Load,
		Idle:      func(context.Context) bool { return true },
		Binary:    func() string { return bin },
		Args:      func() []string { return []string{"-config", "/etc/posagent.json"} },
		Exec: func(path string, args []string, reason string) {
			r.mu.Lock()
			r.execs = append(r.execs, path+" "+reason)
			r.execAt = append(r.execAt, time.Now())
			r.mu.Unlock()
		},
	}, Version: running, Config: c}
	return r
}

func (r *rig) snapshot() ([]wire.OTAResult, []string, []string, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.OTAResult(nil), r.results...), append([]string(nil), r.answered...), append([]string(nil), r.execs...), append([]time.Time(nil), r.execAt...)
}

func (r *rig) jobLeft(t *testing.T) bool {
	t.Helper()
	var ok bool
	r.j.View(func(tx *journal.Tx) error {
		var err error
		var job Job
		ok, err = tx.Get(journal.Meta, metaJob, &job)
		return err
	})
	return ok
}

// New firmware that never connects is rolled back by itself when
// ota.health_timeout_ms (120 s) has passed, not sooner: the boot pointer
// goes back to the previous slot, ota.result rolled_back answers the
// update once, and the base binary is exec'd.
func TestUnhealthyFirmwareRolledBackAtTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "2.0.0")
		start := time.Now()
		r.u.Resume(context.Background())
		results, answered, execs, at := r.snapshot()
		if len(results) != 1 || results[0].Status != "rolled_back" || results[0].Reason != ota.FailHealth || results[0].From != "1.0.0" || results[0].Running != "2.0.0" {
			t.Fatalf("results %+v", results)
		}
		if len(answered) != 1 || answered[0] != "U1" {
			t.Fatalf("answered %v", answered)
		}
		if len(execs) != 1 || execs[0] != "/usr/bin/posagent rollback" || at[0].Sub(start) != 120*time.Second {
			t.Fatalf("execs %v at %v, want the base at 120s", execs, at[0].Sub(start))
		}
		b, err := r.slots.Load()
		if err != nil || b.Active != "" || b.RolledBack != ota.FailHealth {
			t.Fatalf("boot pointer %+v %v", b, err)
		}
		if r.jobLeft(t) {
			t.Fatal("the job outlived its answer")
		}
	})
}

// Connected within the timeout, the new firmware is committed (State ok)
// at the first look after the link came up, and ota.result ok answers the
// update; nothing is exec'd.
func TestHealthyFirmwareCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "2.0.0")
		time.AfterFunc(30*time.Second, func() { r.connected.Store(true) })
		r.u.Resume(context.Background())
		results, answered, execs, _ := r.snapshot()
		if len(results) != 1 || results[0].Status != "ok" || len(answered) != 1 || len(execs) != 0 {
			t.Fatalf("results %+v answered %v execs %v", results, answered, execs)
		}
		if b, _ := r.slots.Load(); b.State != ota.StateOK || b.Active != "b" {
			t.Fatalf("boot pointer %+v", b)
		}
	})
}

// A build that is not the version the update announced fails its
// self-test: rolled back at once, connected or not.
func TestWrongBuildRolledBackAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "1.9.9")
		r.connected.Store(true)
		start := time.Now()
		r.u.Resume(context.Background())
		results, _, execs, at := r.snapshot()
		if len(results) != 1 || results[0].Status != "rolled_back" || !strings.Contains(results[0].Message, "self-test") {
			t.Fatalf("results %+v", results)
		}
		if len(execs) != 1 || at[0] != start {
			t.Fatalf("execs %v at %v", execs, at)
		}
	})
}

// ota.update is checked before anything is downloaded: an unsigned
// manifest, a plain-http URL and a second update while one runs are
// answered at once, and only a good one becomes the job.
func TestAcceptChecksFirst(t *testing.T) {
	r := newRig(t, "1.0.0")
	r.j.Update(func(tx *journal.Tx) error { return tx.Delete(journal.Meta, metaJob) })
	for _, tc := range []struct {
		b    wire.OTAUpdate
		want string
	}{
		{wire.OTAUpdate{Version: "2.0.0", URL: "https://fw.example/p", Size: 10, SHA256: strings.Repeat("a", 64), Sig: "bad"}, "failed"},
		{wire.OTAUpdate{Version: "1.0.0", URL: "https://fw.example/p", Size: 10, SHA256: strings.Repeat("a", 64)}, "failed"},
	} {
		var res *wire.OTAResult
		var job *Job
		err := r.j.Update(func(tx *journal.Tx) error {
			var err error
			res, job, err = r.u.Accept(tx, "U2", tc.b)
			return err
		})
		if err != nil || job != nil || res == nil || res.Status != tc.want || res.Running != "1.0.0" {
			t.Errorf("%+v: %+v %+v %v, want %s", tc.b, res, job, err, tc.want)
		}
	}
	if r.jobLeft(t) {
		t.Fatal("a refused update became the job")
	}
}

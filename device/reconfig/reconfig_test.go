package reconfig

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/ota"
	"github.com/posagent/posagent/wire"
)

type rig struct {
	t         *Trial
	j         *journal.Journal
	connected atomic.Bool
	mu        sync.Mutex
	restarts  []time.Time
	events    []string // type ref
	answered  []string
	owed      []audio.Record
	said      []string
}

// newRig is an agent running config.set C1's patch (version 2) under
// trial, with the production apply timeout (30 s).
func newRig(t *testing.T) *rig {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	r := &rig{j: j}
	file := fileConfig(t)
	err = j.Update(func(tx *journal.Tx) error {
		return Stage(tx, file, json.RawMessage(`{"audio":{"volume":3}}`), 2, ota.Trial{Source: wire.TypeConfigSet, Ref: "C1", Since: time.Now().Unix()})
	})
	if err != nil {
		t.Fatal(err)
	}
	r.t = &Trial{Host: Host{
		Journal: j, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
		Events: exchange.Events{
			Emit: func(tx *journal.Tx, typ, ref string, body any) (mqtt.Message, error) {
				tx.OnCommit(func() { r.mu.Lock(); r.events = append(r.events, typ+" "+ref); r.mu.Unlock() })
				return mqtt.Message{Type: typ, Ref: ref}, nil
			},
			Answered: func(tx *journal.Tx, jti string, _ mqtt.Message) error {
				tx.OnCommit(func() { r.mu.Lock(); r.answered = append(r.answered, jti); r.mu.Unlock() })
				return nil
			},
			Flush: func() {},
		},
		Connected: r.connected.Load,
		Restart:   func(string) { r.mu.Lock(); r.restarts = append(r.restarts, time.Now()); r.mu.Unlock() },
		Owe: func(tx *journal.Tx, rec audio.Record) error {
			tx.OnCommit(func() { r.mu.Lock(); r.owed = append(r.owed, rec); r.mu.Unlock() })
			return nil
		},
		Say: func(rec audio.Record) { r.mu.Lock(); r.said = append(r.said, rec.Text); r.mu.Unlock() },
	}, Timeout: 30 * time.Second, Broker: "tls://mqtt.example:8883"}
	return r
}

// fileConfig is a valid config file's configuration.
func fileConfig(t *testing.T) config.Config {
	c := config.Default()
	c.DeviceID, c.DataDir, c.MQTT.URL = "dev-1", t.TempDir(), "tcp://127.0.0.1:1883"
	c.AuthKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *rig) applied(t *testing.T) ota.Applied {
	t.Helper()
	ap, err := Load(r.j)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// A trial that does not connect is rolled back at the apply timeout (30
// s), not sooner, and the agent restarted with the previous config; the
// next agent tells it once: 配置失败，已恢复原配置 said, config.rejected
// {restored} answers config.set, and a second report tells nothing.
func TestTrialNotConnectedRolledBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		start := time.Now()
		r.t.Watch(context.Background())
		if len(r.restarts) != 1 || r.restarts[0].Sub(start) != 30*time.Second {
			t.Fatalf("restarts %v after %v", len(r.restarts), r.restarts)
		}
		ap := r.applied(t)
		if ap.Trial != nil || ap.Version != 0 || ap.Report == nil || ap.Report.OK || ap.Report.Reason != ota.ReasonConnect || ap.Report.Msg != "no connection to tls://mqtt.example:8883 within 30s" {
			t.Fatalf("applied %+v report %+v", ap, ap.Report)
		}
		if len(r.events) != 0 {
			t.Fatalf("told before the restart: %v", r.events)
		}
		r.t.Report() // the next agent
		r.t.Report()
		if len(r.events) != 1 || r.events[0] != wire.TypeConfigRejected+" C1" || len(r.answered) != 1 {
			t.Fatalf("events %v answered %v", r.events, r.answered)
		}
		if len(r.said) != 1 || r.said[0] != audio.PhraseConfigFailed+"，"+audio.PhraseConfigRestored || len(r.owed) != 1 {
			t.Fatalf("said %q owed %d", r.said, len(r.owed))
		}
		if r.applied(t).Report != nil {
			t.Fatal("the outcome is still owed after it was told")
		}
	})
}

// Connected within the timeout, the trial is committed at the first look
// after the link came up and told at once: 配置成功, config.applied.
func TestTrialConnectedCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		time.AfterFunc(10*time.Second, func() { r.connected.Store(true) })
		start := time.Now()
		r.t.Watch(context.Background())
		if d := time.Since(start); d < 10*time.Second || d > 10*time.Second+50*time.Millisecond {
			t.Fatalf("committed after %v, want at the first poll after 10s", d)
		}
		if len(r.restarts) != 0 || len(r.events) != 1 || r.events[0] != wire.TypeConfigApplied+" C1" || len(r.said) != 1 || r.said[0] != audio.PhraseConfigOK {
			t.Fatalf("restarts %d events %v said %q", len(r.restarts), r.events, r.said)
		}
		if ap := r.applied(t); ap.Version != 2 || ap.Trial != nil || ap.Report != nil {
			t.Fatalf("applied %+v", ap)
		}
	})
}

// A patch that does not fit the config file is refused before it is
// tried, and a second trial while one runs is refused: nothing staged.
func TestStageRefusesFirst(t *testing.T) {
	r := newRig(t)
	err := r.j.Update(func(tx *journal.Tx) error {
		return Stage(tx, fileConfig(t), json.RawMessage(`{"audio":{"volume":3}}`), 3, ota.Trial{Source: "qr", Ref: "Q2"})
	})
	if err == nil {
		t.Fatal("a second trial staged while one runs")
	}
	if err := Rollback(r.j, ota.ReasonBadConfig, "test"); err != nil {
		t.Fatal(err)
	}
	err = r.j.Update(func(tx *journal.Tx) error {
		return Stage(tx, fileConfig(t), json.RawMessage(`{"printer":{"paper_mm":57}}`), 3, ota.Trial{Source: "qr", Ref: "Q3"})
	})
	if ota.ReasonOf(err) != ota.ReasonBadConfig {
		t.Fatalf("a patch that does not fit: %v", err)
	}
	if ap := r.applied(t); ap.Trial != nil || ap.Version != 0 {
		t.Fatalf("staged: %+v", ap)
	}
}

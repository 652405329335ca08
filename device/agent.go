// Package device is the agent: the only package that knows the flows. It
// receives verified commands from the link, journals them before they are
// acknowledged, runs them, and answers through the durable outbox. It talks
// to hardware through the small interfaces below.
package device

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/deposit"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/firmware"
	"github.com/posagent/posagent/device/notify"
	"github.com/posagent/posagent/device/payment"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/device/refund"
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// Version is the firmware version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// AudioOut plays 16 kHz mono samples. id is stable per announcement (an
// order id) so an output that keeps files names them by it. pcm is the
// output's only until Play returns (audio.Output).
type AudioOut interface {
	Play(ctx context.Context, id string, pcm []int16) error
}

// Printer prints one job of ESC/POS bytes.
type Printer interface {
	Print(ctx context.Context, job []byte) error
}

// Link is the agent's connection to the platform.
type Link interface {
	Run(ctx context.Context) error
	// Send publishes a request now, not through the outbox.
	Send(m mqtt.Message) error
	Kick()
	SetState(state []byte)
	Connected() bool
	// Redeliver has the broker send again the commands left
	// unacknowledged (onCommand said false).
	Redeliver()
}

// Clock tells the time; tests inject one.
type Clock func() time.Time

// Agent runs the flows of one device.
type Agent struct {
	cfg     config.Config
	j       *journal.Journal
	key     *rsa.PrivateKey
	auth    []byte
	now     Clock
	log     *slog.Logger
	link    Link
	audio   AudioOut // nil: no audio
	voice   *audio.Voice
	speech  *audio.Player // the playback queue, owner of audio; nil with no audio (voice.go)
	printer Printer       // nil: no printer
	scans   <-chan string
	panel   panel // keys and LEDs (keys.go, leds.go)

	nf *notify.Worker // notify.payment's worker (device/notify, wired in notify.go)
	pq *printq.Queue  // the print queue and its worker (device/printq, wired in print.go)

	stateKick chan struct{} // see kickState

	// onConnected, if set before Run, is told of each link change (tests).
	onConnected func(up bool)

	// ctl is set by RunSupervised: how a new config or firmware restarts
	// the agent (package device/supervisor); nil for an agent run alone.
	ctl Control
	fw  *firmware.Updater // ota.update (device/firmware, wired in ota.go); nil unless supervised

	runCtx context.Context // Run's context, for flows started by commands
	wg     sync.WaitGroup  // flows' goroutines
	// pays, refunds and deposits run the payments, the refunds and the
	// deposit operations (packages device/payment, device/refund,
	// device/deposit).
	pays     *payment.Runner
	refunds  *refund.Runner
	deposits *deposit.Runner
	// reqs sends the money flows' requests and knows them by jti, so an
	// answer that names only its ref (protocol §2) finds its flow.
	reqs *exchange.Requests
	// unconfirmed are the payments UNKNOWN or ATTENTION (noteUnconfirmed):
	// a new sale needs the cashier's word while there is one.
	unconfirmed map[string]openPayment
	payMu       sync.Mutex // guards unconfirmed
	// streams counts the open GET /v1/events streams (MaxEventStreams).
	streams atomic.Int64
	subsMu  sync.Mutex
	subs    map[chan LocalEvent]struct{} // local API event streams

	// token is the local API's bearer token, kept in tokenFile
	// (apiauth.go); apiRefused counts the requests the guard turned away.
	token      string
	tokenFile  string
	apiRefused atomic.Int64
	pins       staff.Guard // staff PIN checks (device/staff, roster.go)

	// lost is the journal's record of the one it replaced (storage.go);
	// full is set while journal writes fail for space.
	lost *journal.Lost
	full atomic.Bool
	// unacked are the commands not acknowledged for a full journal
	// (storage.go).
	unackedMu    sync.Mutex
	unacked      [][]byte
	unackedBytes int
	// fullSaid is when 存储空间已满 was last said (under mu).
	fullSaid time.Time
	// badRecords counts journal records that did not decode.
	badRecords atomic.Int64

	mu      sync.Mutex
	state   State
	apiAddr string
}

// Options are the parts an Agent is built from.
type Options struct {
	Config  config.Config
	Journal *journal.Journal
	Key     *rsa.PrivateKey // the device key (LoadOrCreateKey)
	// Audio is the speaker; nil when the board has none.
	Audio AudioOut
	// Voice renders text to samples; nil uses the embedded default pack.
	Voice   *audio.Voice
	Printer Printer
	// Scans delivers scanner lines; nil when there is no scanner.
	Scans <-chan string
	// Keys and LEDs are the board's; nil when it has none (keys.go).
	Keys  KeyPad
	LEDs  LEDs
	Clock Clock
	Log   *slog.Logger
	// NewLink builds the link; nil uses mqtt.NewLink with the config.
	NewLink func(mqtt.LinkConfig, *journal.Journal, mqtt.Handlers) (Link, error)
}

// New builds an agent; nothing runs until Run.
func New(o Options) (*Agent, error) {
	if o.Journal == nil || o.Key == nil {
		return nil, errors.New("device: journal and key are required")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	a := &Agent{
		cfg: o.Config, j: o.Journal, key: o.Key, auth: o.Config.AuthKeyBytes(),
		now: o.Clock, log: o.Log, audio: o.Audio, voice: o.Voice, printer: o.Printer, scans: o.Scans,
		unconfirmed: map[string]openPayment{}, stateKick: make(chan struct{}, 1), subs: map[chan LocalEvent]struct{}{},
	}
	a.pins.Tries, a.pins.Lock, a.pins.Log = o.Config.API.PINTries, config.MS(o.Config.API.PINLockMS), o.Log
	a.pq = newPrintQueue(a)
	a.panel = panel{keys: o.Keys, leds: o.LEDs}
	a.state = State{Online: true, FW: Version, Board: o.Config.Board,
		Printer: "none", Scanner: "none", Audio: "none", Volume: o.Config.Audio.Volume}
	if o.Printer != nil {
		a.state.Printer = "ok"
	}
	if o.Scans != nil {
		a.state.Scanner = "ok"
	}
	if a.voice == nil {
		v, _, err := audio.VoiceFor(o.Config.Audio.Language)
		if err != nil {
			return nil, err
		}
		a.voice = v
	}
	if o.Audio != nil {
		a.state.Audio = "ok"
	}
	if v, ok := a.storedVolume(); ok {
		a.state.Volume = v
	}
	a.loadShift()
	lost, err := o.Journal.LostRecord()
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	a.lost = lost
	if o.Config.API.Listen != "" {
		a.tokenFile = tokenPath(o.Config.DataDir, o.Config.API.TokenFile)
		tok, err := LoadOrCreateToken(a.tokenFile, a.log)
		if err != nil {
			return nil, err
		}
		a.token = tok
	}
	if err := a.checkKey(); err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	a.initSpeech()
	a.nf = newNotify(a)
	newLink := o.NewLink
	if newLink == nil {
		newLink = func(c mqtt.LinkConfig, j *journal.Journal, h mqtt.Handlers) (Link, error) {
			return mqtt.NewLink(c, j, h)
		}
	}
	lc := mqtt.LinkConfig{
		URL: o.Config.MQTT.URL, Username: o.Config.MQTT.Username, Password: o.Config.MQTT.Password,
		CAFile: o.Config.MQTT.CAFile, Prefix: o.Config.MQTT.Prefix, DeviceID: o.Config.DeviceID,
		Keepalive:  config.MS(o.Config.MQTT.KeepaliveMS),
		BackoffMin: config.MS(o.Config.MQTT.ReconnectMinMS),
		BackoffMax: config.MS(o.Config.MQTT.ReconnectMaxMS),
		Keys:       mqtt.Keys{Auth: a.auth, Device: o.Key},
		Log:        o.Log, Now: o.Clock,
	}
	link, err := newLink(lc, o.Journal, mqtt.Handlers{
		Command:  a.onCommand,
		Commands: a.onCommands,
		Hello:    a.hello,
		Connected: func(up bool) {
			a.publishState()
			// A cloud speaker says when it is (back) on line and when it
			// lost the network: the shop owner knows announcements stop.
			if up {
				a.pays.WakeAll()
				a.deposits.CheckOld()
				a.prompt("network", audio.PhraseNetUp)
			} else {
				a.prompt("network", audio.PhraseNetDown)
			}
			if a.onConnected != nil {
				a.onConnected(up)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	a.link = link
	a.reqs = exchange.NewRequests(link, a.cfg.DeviceID, func() time.Time { return a.now() })
	a.pays = a.newPayments()
	a.refunds = a.newRefunds()
	a.deposits = a.newDeposits()
	return a, nil
}

// Run resumes what the journal says is owed, then runs until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	a.runCtx = ctx
	defer a.wg.Wait()
	a.prune()
	if err := a.buildIndexes(); err != nil {
		return err
	}
	if err := a.resumeSpeech(); err != nil {
		return fmt.Errorf("resume announcements: %w", err)
	}
	a.nf.Kick() // the notifications owed, in arrival order
	if err := a.resumePayments(ctx); err != nil {
		return fmt.Errorf("resume payments: %w", err)
	}
	if err := a.resumeRefunds(ctx); err != nil {
		return fmt.Errorf("resume refunds: %w", err)
	}
	if err := a.resumeDepositOps(); err != nil {
		return fmt.Errorf("resume deposits: %w", err)
	}
	a.reportLost()
	a.publishState()
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(a.runSpeech)
	run(a.nf.Run)
	run(a.pq.Run)
	run(a.scanLoop)
	run(a.keyLoop)
	run(a.housekeeping)
	if a.cfg.API.Listen != "" {
		ready := make(chan string, 1)
		run(func(ctx context.Context) {
			if err := a.serveAPI(ctx, ready); err != nil {
				a.log.Error("local API stopped", "err", err)
			}
		})
		if addr, ok := <-ready; ok {
			a.mu.Lock()
			a.apiAddr = addr
			a.mu.Unlock()
			a.log.Info("local API listening", "addr", addr)
		}
	}
	err := a.link.Run(ctx)
	wg.Wait()
	return err
}

// prune drops seen ids after 48 h and done notifications after 7 days.
func (a *Agent) prune() {
	now := a.now()
	if n, err := a.j.Prune(journal.Seen, now.Add(-SeenTTL)); err != nil {
		a.log.Error("prune seen ids", "err", err)
	} else if n > 0 {
		a.log.Info("pruned seen command ids", "count", n)
	}
	if n, err := a.j.Prune(journal.Notify, now.Add(-NotifyTTL)); err != nil {
		a.log.Error("prune notifications", "err", err)
	} else if n > 0 {
		a.log.Info("pruned notifications", "count", n)
	}
}

// Retention of dedupe records (protocol §2 and §3).
const (
	SeenTTL   = 48 * time.Hour
	NotifyTTL = 7 * 24 * time.Hour
)

func (a *Agent) housekeeping(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	a.retireNow()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.prune()
			a.retireNow()
			a.deposits.CheckOld()
			a.publishState()
		case <-a.stateKick:
			a.publishState()
		}
	}
}

// scanLoop takes scanner lines. A line may be a payment code (a bearer
// secret): it is never logged.
func (a *Agent) scanLoop(ctx context.Context) {
	if a.scans == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-a.scans:
			if !ok {
				return
			}
			a.onScan(line)
		}
	}
}

// events is how the flows send events (exchange.Events): emit, finish and
// a wake of the link, which the print queue is built before (hence the
// check).
func (a *Agent) events() exchange.Events {
	return exchange.Events{Emit: a.emit, Answered: finish, Flush: func() {
		if a.link != nil {
			a.link.Kick()
		}
	}}
}

// emit queues an event in the outbox within tx.
func (a *Agent) emit(tx *journal.Tx, typ, ref string, body any) (mqtt.Message, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return mqtt.Message{}, err
	}
	m := mqtt.Message{ID: mqtt.NewID(), Type: typ, Ref: ref, Dev: a.cfg.DeviceID, IssuedAt: a.now(), Body: raw}
	return m, mqtt.Enqueue(tx, m)
}

// Emit queues an event outside any flow (e.g. device.state), durably.
func (a *Agent) Emit(typ string, body any) error {
	err := a.j.Update(func(tx *journal.Tx) error {
		_, err := a.emit(tx, typ, "", body)
		return err
	})
	if err == nil {
		a.link.Kick()
	}
	return err
}

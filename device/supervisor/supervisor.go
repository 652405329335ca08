// Package supervisor runs the agent one configuration at a time, and is
// the only part that restarts it or replaces the process: the flows
// (package device) ask through device.Control.
//
// Invariants:
//   - The Config of a running agent never changes: a new one (config QR or
//     config.set) is tried by building a new agent, so no flow sees a
//     device id, key or broker change under it.
//   - A trial that cannot start, or does not connect in time, is rolled
//     back to the previous config, which runs again.
//   - The hardware (ports, audio) is opened again only when its keys
//     change (HardwareKey): a new broker or auth key reuses the open
//     ports, so no scan or print is lost to a port reopened too soon.
//   - A firmware switch is a *device.RestartError returned to the caller,
//     which execs the new binary: nothing here execs.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/device/reconfig"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/ota"
)

// Options are what Serve builds agents from.
type Options struct {
	// File is the config file's configuration, validated. Patches applied
	// over the air (QR, config.set) are merged over it, never written to it.
	File    config.Config
	Journal *journal.Journal
	Log     *slog.Logger
	// Build opens what cfg names (the board's hardware) and returns what
	// an agent for it is built from. It is called again only when the
	// hardware keys change (HardwareKey), with a context that ends when
	// what it opened is released: a new broker or auth key reuses the open
	// ports, so no scan or print is lost to a port reopened too soon.
	Build func(ctx context.Context, cfg config.Config) (Built, error)
	// Binary is this process's executable and Args its arguments after
	// the program name: a firmware switch execs the base binary with them.
	// "" refuses ota.update (unsupported).
	Binary string
	Args   []string
}

// Built is what Options.Build returns for one configuration.
type Built struct {
	// Options build the agent; Options.Config is set to each config.
	Options device.Options
	// Started, if set, is given each agent built from Options before it
	// runs, with a context that ends with that agent (e.g. to wire
	// hardware callbacks to it).
	Started func(ctx context.Context, a *device.Agent)
	// Release, if set, releases what Build opened, after the last agent
	// using it stopped.
	Release func()
}

// control is the device.Control of one agent run by Serve.
type control struct {
	file   config.Config
	cancel context.CancelFunc
	binary string   // this process's executable ("" no firmware updates)
	args   []string // its arguments after the program name

	mu     sync.Mutex
	reason string
	exec   *device.RestartError
}

// Restart ends the running agent; Serve then builds the next one from the
// journal's applied config.
func (c *control) Restart(reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	c.cancel()
}

// ExecInto ends the running agent and makes Serve return e.
func (c *control) ExecInto(e *device.RestartError) {
	c.mu.Lock()
	c.exec = e
	c.mu.Unlock()
	c.Restart("exec")
}

func (c *control) state() (string, *device.RestartError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason, c.exec
}

func (c *control) File() config.Config { return c.file }
func (c *control) Binary() string      { return c.binary }
func (c *control) Args() []string      { return c.args }

// Serve runs the agent until ctx is done, one configuration at a time: the
// config file's with the journal's applied patch over it. A new config (QR
// or config.set) is tried by running a new agent with it: the Config of an
// agent never changes while it runs, so no flow ever sees a device id, key
// or broker change under it. The trial has config.apply_timeout_ms to
// connect; then it is committed (配置成功, config.applied), or the previous
// config is restored and run again (配置失败，已恢复原配置, config.rejected
// with the reason). A trial cut off by a crash is run again at the next
// start.
func Serve(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var hw hardware
	defer hw.release()
	for {
		ap, err := reconfig.Load(o.Journal)
		if err != nil {
			return fmt.Errorf("applied config: %w", err)
		}
		cfg, err := ota.Merged(o.File, ap.Patch)
		if err != nil {
			if ap.Trial != nil {
				if err := reconfig.Rollback(o.Journal, ota.ReasonBadConfig, err.Error()); err != nil {
					return err
				}
				continue
			}
			// The file changed under a patch that fitted it before: the
			// file is what an operator just wrote, so it wins.
			o.Log.Error("applied config does not fit the config file: running the file's", "version", ap.Version, "err", err)
			cfg = o.File
		}
		gctx, cancel := context.WithCancel(ctx)
		ctl := &control{file: o.File, cancel: cancel, binary: o.Binary, args: o.Args}
		a, err := hw.agent(ctx, gctx, o, cfg)
		if err != nil {
			cancel()
			if ap.Trial != nil {
				o.Log.Warn("new config cannot start", "err", err)
				if err := reconfig.Rollback(o.Journal, ota.ReasonBadConfig, err.Error()); err != nil {
					return err
				}
				continue
			}
			return err
		}
		o.Log.Info("agent starting", "version", device.Version, "device_id", cfg.DeviceID, "broker", cfg.MQTT.URL, "config_version", ap.Version, "trial", ap.Trial != nil)
		err = a.RunSupervised(gctx, ctl, ap)
		cancel()
		reason, exec := ctl.state()
		switch {
		case ctx.Err() != nil:
			return err
		case exec != nil:
			return exec
		case reason == "":
			if err == nil {
				err = errors.New("agent stopped")
			}
			return err
		}
		o.Log.Info("agent restarting with the journal's config", "why", reason)
	}
}

// hardware is what Build opened, kept while the hardware keys stay.
type hardware struct {
	key    string
	built  *Built
	cancel context.CancelFunc
}

func (h *hardware) release() {
	if h.built == nil {
		return
	}
	h.cancel()
	if h.built.Release != nil {
		h.built.Release()
	}
	h.built = nil
}

// agent builds the agent of cfg, opening the hardware again only when its
// keys changed; gctx is the agent's context.
func (h *hardware) agent(ctx, gctx context.Context, o Options, cfg config.Config) (*device.Agent, error) {
	key := HardwareKey(cfg)
	if h.built == nil || h.key != key {
		h.release()
		hctx, cancel := context.WithCancel(ctx)
		b, err := o.Build(hctx, cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		h.key, h.built, h.cancel = key, &b, cancel
	}
	opts := h.built.Options
	opts.Config = cfg
	if opts.Journal == nil {
		opts.Journal = o.Journal
	}
	a, err := device.New(opts)
	if err != nil {
		return nil, err
	}
	if h.built.Started != nil {
		h.built.Started(gctx, a)
	}
	return a, nil
}

// HardwareKey is what decides whether a new config needs the hardware
// opened again: the board, ports, audio output and pins.
func HardwareKey(c config.Config) string {
	b, _ := json.Marshal([]any{c.Board, c.Scanner, c.Printer, c.Audio.Out, c.Hardware})
	return string(b)
}

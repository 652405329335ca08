// Command posagent is the device agent: it reads its config, opens its
// journal, builds the board's drivers, connects to the platform and runs the
// flows until SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/boards"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/device/supervisor"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/ota"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes (README "Exit codes"): a unit file can tell them apart, and
// a storage fault is not restart-looped like a crash.
const (
	exitOK      = 0
	exitFail    = 1
	exitConfig  = 2
	exitStorage = 3 // the journal cannot be opened or made (disk, permissions, another process)
)

// storageError is a journal that cannot be opened nor made.
type storageError struct{ err error }

func (e storageError) Error() string { return e.err.Error() }
func (e storageError) Unwrap() error { return e.err }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("posagent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/posagent/config.json", "config file (JSON, protocol §9)")
	version := fs.Bool("version", false, "print the version and exit")
	boardList := fs.String("board", "", `"list": print the board profiles and exit`)
	ports := fs.Bool("ports", false, "list candidate serial ports and exit")
	salvage := fs.String("salvage", "", "copy every readable record of this (lost, kept-aside) journal file into -to, and exit")
	salvageTo := fs.String("to", "", "with -salvage: the new journal file to write (must not exist)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *salvage != "" {
		return runSalvage(*salvage, *salvageTo, stdout, stderr)
	}
	if *version {
		fmt.Fprintln(stdout, "posagent", device.Version)
		return exitOK
	}
	switch *boardList {
	case "":
	case "list":
		boards.List(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "posagent: -board %s: only -board list is a flag; a board is chosen by the config's board key\n", *boardList)
		return exitConfig
	}
	if *ports {
		boards.PrintPorts(stdout, boards.Ports(boards.DevRoot))
		return exitOK
	}
	// The board's defaults go under the config file's keys (boards.LoadConfig).
	cfg, board, err := boards.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "posagent: config %s: %v\n", *cfgPath, err)
		return exitConfig
	}
	if cfg.Audio.VoiceDir != "" {
		if _, err := audio.LoadVoiceDir(cfg.Audio.VoiceDir); err != nil {
			fmt.Fprintf(stderr, "posagent: config %s: audio.voice_dir: %v\n", *cfgPath, err)
			return exitConfig
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The boot pointer may name another binary (firmware slot, ota/slots.go).
	if exe, err := os.Executable(); err == nil {
		if next, err := (ota.Slots{Dir: cfg.OTADir()}).Decide(exe); err != nil {
			log.Error("boot pointer unusable: running this binary", "err", err)
		} else if next != "" {
			log.Info("starting firmware slot", "binary", next)
			log.Error("exec failed", "binary", next, "err", ota.Exec(next, append([]string{next}, args...)))
			return exitFail
		}
	}
	if err := runAgent(cfg, board, log); err != nil {
		var re *device.RestartError
		if errors.As(err, &re) { // firmware switch or rollback: journal and ports are closed
			log.Info("posagent restarting", "binary", re.Path, "why", re.Reason)
			err = ota.Exec(re.Path, re.Args)
		}
		log.Error("posagent stopped", "err", err)
		var se storageError
		if errors.As(err, &se) {
			return exitStorage
		}
		return exitFail
	}
	return exitOK
}

// runSalvage is posagent -salvage FILE -to NEW.
func runSalvage(src, dst string, stdout, stderr io.Writer) int {
	if dst == "" {
		fmt.Fprintln(stderr, "posagent: -salvage FILE needs -to NEWFILE")
		return exitConfig
	}
	res, err := journal.Salvage(src, dst)
	if err != nil {
		fmt.Fprintln(stderr, "posagent: salvage:", err)
		return exitStorage
	}
	total := 0
	for _, n := range res.Copied {
		total += n
	}
	fmt.Fprintf(stdout, "salvaged %d records into %s: %v\n", total, dst, res.Copied)
	if res.FromLog > 0 {
		fmt.Fprintf(stdout, "and %d changes from its log (%s)\n", res.FromLog, src+journal.LogSuffix)
	}
	for _, l := range res.Lost {
		fmt.Fprintf(stdout, "not readable: %s\n", l)
	}
	return exitOK
}

func runAgent(cfg config.Config, board boards.Board, log *slog.Logger) error {
	if err := device.PrivateDataDir(cfg.DataDir, log); err != nil {
		return storageError{fmt.Errorf("data_dir: %w", err)}
	}
	if cfg.Journal.LogKB > 0 {
		journal.LogSize = int64(cfg.Journal.LogKB) << 10
	}
	o, err := journal.OpenDir(cfg.DataDir, time.Now())
	if err != nil {
		return storageError{err}
	}
	j := o.Journal
	defer j.Close()
	if why := j.LogError(); why != "" {
		// Works all the same, each commit a bbolt commit: more syncs and
		// more bytes written until a start can make the log.
		log.Warn("journal log cannot be made: every commit writes the bbolt file", "err", why)
	}
	if c := o.Compacted; c.After > 0 {
		log.Info("journal compacted", "before_kb", c.Before>>10, "after_kb", c.After>>10)
	}
	if o.Lost != nil {
		// The agent reports it (device.storage, state, 存储故障) once it runs.
		log.Error("journal lost or damaged: kept aside, starting on a new journal", "cause", o.Lost.Cause, "reason", o.Lost.Reason, "kept", o.Lost.Kept)
	}
	key, err := device.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("device key: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sd := &systemd{log: log}
	sdDone := make(chan struct{})
	go func() { sd.run(ctx); close(sdDone) }()
	// STOPPING=1 goes out before the process exits: returning first would
	// let the exit beat the goroutine's last datagram.
	defer func() { stop(); <-sdDone }()

	// Serve runs one agent per configuration (the file's with the patch
	// applied over the air); build opens the hardware of each.
	build := func(ctx context.Context, cfg config.Config) (supervisor.Built, error) {
		hw, err := boards.Open(ctx, cfg, board, log)
		if err != nil {
			return supervisor.Built{}, err
		}
		opts := device.Options{Config: cfg, Journal: j, Key: key, Log: log, Audio: hw.Audio, Scans: hw.Scans}
		if cfg.Audio.VoiceDir != "" {
			if opts.Voice, err = audio.LoadVoiceDir(cfg.Audio.VoiceDir); err != nil {
				hw.Close()
				return supervisor.Built{}, err
			}
			log.Info("voice pack", "dir", cfg.Audio.VoiceDir)
		}
		if hw.Printer != nil {
			opts.Printer = hw.Printer
		}
		if hw.Keys != nil {
			opts.Keys = hw.Keys
		}
		if hw.LEDs != nil {
			opts.LEDs = hw.LEDs
		}
		started := func(ctx context.Context, agent *device.Agent) {
			hw.OnScanner(agent.ScannerStatus)
			sd.watch(agent)
		}
		return supervisor.Built{Options: opts, Started: started, Release: func() { hw.Close() }}, nil
	}
	exe, _ := os.Executable()
	log.Info("posagent starting", "version", device.Version, "device_id", cfg.DeviceID, "board", board.Name, "broker", cfg.MQTT.URL)
	err = supervisor.Serve(ctx, supervisor.Options{File: cfg, Journal: j, Log: log, Build: build, Binary: exe, Args: os.Args[1:]})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("posagent stopped cleanly")
	return err
}

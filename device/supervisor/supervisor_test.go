package supervisor

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/journal"
)

// TestHardwareKey: a new config reopens the hardware only when what it
// opens changed — ports, audio output, pins, board — never for the
// broker, keys, timings or store details a config QR usually changes.
func TestHardwareKey(t *testing.T) {
	base := config.Default()
	cases := []struct {
		name   string
		change func(*config.Config)
		reopen bool
	}{
		{"broker", func(c *config.Config) { c.MQTT.URL = "tls://other:8883" }, false},
		{"auth key", func(c *config.Config) { c.AuthKey = "new" }, false},
		{"device id", func(c *config.Config) { c.DeviceID = "dev-2" }, false},
		{"poll interval", func(c *config.Config) { c.Pay.PollIntervalMS = 1234 }, false},
		{"volume", func(c *config.Config) { c.Audio.Volume = 3 }, false},
		{"scanner port", func(c *config.Config) { c.Scanner.Port = "/dev/ttyS9" }, true},
		{"printer port", func(c *config.Config) { c.Printer.Port = "/dev/ttyUSB3" }, true},
		{"audio out", func(c *config.Config) { c.Audio.Out = "null" }, true},
		{"a key's pin", func(c *config.Config) { c.Hardware.KeyFunction = "GPIO27" }, true},
		{"board", func(c *config.Config) { c.Board = "other-board" }, true},
	}
	for _, c := range cases {
		cfg := base
		c.change(&cfg)
		if got := HardwareKey(cfg) != HardwareKey(base); got != c.reopen {
			t.Errorf("%s: reopen %v, want %v", c.name, got, c.reopen)
		}
	}
}

// TestServeBuildFails: a config that is not on trial and cannot be built
// ends Serve with the reason, and nothing Build opened is left open.
func TestServeBuildFails(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	boom := errors.New("scanner port: no such file")
	builds := 0
	err = Serve(context.Background(), Options{File: config.Default(), Journal: j,
		Build: func(ctx context.Context, cfg config.Config) (Built, error) { builds++; return Built{}, boom }})
	if !errors.Is(err, boom) || builds != 1 {
		t.Errorf("Serve: %v after %d builds, want %v after 1", err, builds, boom)
	}
}

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/boards"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
)

// The command line, in process: flags, exit codes, the deploy files. The
// real binary at work is tested in the e2e module (../../e2e).

func TestBoardListAndPortsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"-board", "list"}, 0, "smartpos\t"},
		{[]string{"-board", "list"}, 0, "volume up GPIO17"},
		{[]string{"-board", "rpi"}, 2, "-board list"},
		{[]string{"-ports"}, 0, ""},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.say) {
			t.Errorf("%v: exit %d, output %q%q; want %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.say)
		}
	}
}

// The unit runs this binary the way systemdWatch expects (Type=notify, a
// watchdog) with the default config path, and the example config is valid
// but for the values an installer must change.
func TestDeployFiles(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/posagent.service")
	if err != nil {
		t.Fatal(err)
	}
	var def string
	run([]string{"-h"}, io.Discard, &funcWriter{func(p []byte) { def += string(p) }})
	if !strings.Contains(def, "/etc/posagent/config.json") {
		t.Fatalf("default config path changed: %s", def)
	}
	for _, line := range []string{
		"Type=notify", "Restart=on-failure", "WatchdogSec=", "StateDirectory=posagent",
		"ExecStart=/usr/bin/posagent -config /etc/posagent/config.json",
	} {
		if !bytes.Contains(unit, []byte("\n"+line)) {
			t.Errorf("unit lacks %q", line)
		}
	}
	_, _, err = boards.LoadConfig("../../deploy/config.example.json")
	var ke *config.KeyError
	if !errors.As(err, &ke) || ke.Key != "auth_key" {
		t.Errorf("example config: %v, want only the placeholder auth_key refused", err)
	}
}

func TestConfigErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"device_id":"d","data_dir":"/tmp/x","mqtt":{"url":"tcp://127.0.0.1:1"},"auth_key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=","printer":{"paper_mm":76}}`), 0o600)
	unknownBoard := filepath.Join(dir, "board.json")
	os.WriteFile(unknownBoard, []byte(`{"device_id":"d","board":"toaster","data_dir":"/tmp/x","mqtt":{"url":"tcp://127.0.0.1:1"},"auth_key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}`), 0o600)
	// A recorded voice pack that lacks a phrase: refused at start, naming it.
	pack := filepath.Join(dir, "voice")
	os.MkdirAll(pack, 0o700)
	os.WriteFile(filepath.Join(pack, "manifest.json"), []byte(`{"sample_rate":16000,"clips":{"一":"yi.pcm"}}`), 0o600)
	os.WriteFile(filepath.Join(pack, "yi.pcm"), make([]byte, 3200), 0o600)
	voice := filepath.Join(dir, "voice.json")
	os.WriteFile(voice, []byte(`{"device_id":"d","data_dir":"/tmp/x","mqtt":{"url":"tcp://127.0.0.1:1"},"auth_key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=","audio":{"voice_dir":"`+pack+`"}}`), 0o600)
	tests := []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"-config", bad}, 2, "printer.paper_mm"},
		{[]string{"-config", voice}, 2, "微信收款"},
		{[]string{"-config", unknownBoard}, 2, "toaster"},
		{[]string{"-config", filepath.Join(dir, "missing.json")}, 2, "no such file"},
		{[]string{"-nonsense"}, 2, "flag provided but not defined"},
		{[]string{"-version"}, 0, "posagent "},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.say) {
			t.Errorf("%v: exit %d, output %q%q; want %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.say)
		}
	}
}

type funcWriter struct{ f func([]byte) }

func (w *funcWriter) Write(p []byte) (int, error) { w.f(p); return len(p), nil }

// boards spells the key and LED names rather than importing device (it
// sits below it); this binary wires one to the other, so they must agree.
func TestBoardNamesMatchTheAgent(t *testing.T) {
	for _, p := range [][2]string{
		{boards.KeyVolumeUp, device.KeyVolumeUp}, {boards.KeyVolumeDown, device.KeyVolumeDown}, {boards.KeyFunction, device.KeyFunction},
		{boards.LEDNetwork, device.LEDNetwork}, {boards.LEDStatus, device.LEDStatus},
	} {
		if p[0] != p[1] {
			t.Errorf("boards says %q where the agent says %q", p[0], p[1])
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/boards"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/drivers/serialtest"
)

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

// The real binary under a stand-in for systemd: READY=1 once started,
// WATCHDOG=1 pings at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM, exit 0.
func TestSystemdNotify(t *testing.T) {
	e := newEnv(t)
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := &proc{log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(e.bin, "-config", e.cfgPath)
	p.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	defer p.kill()

	var got []string
	next := func(want string) {
		t.Helper()
		buf := make([]byte, 256)
		ln.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, err := ln.Read(buf)
			if err != nil {
				t.Fatalf("no %s (got %v): %v\n%s", want, got, err, p.log)
			}
			got = append(got, string(buf[:n]))
			if string(buf[:n]) == want {
				return
			}
		}
	}
	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	p.cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.log)
	}
	if got[0] != "READY=1" {
		t.Errorf("first notification %q", got[0])
	}
}

// The real binary with its scanner unplugged and plugged back: the retained
// state says scanner offline, then ok, and scans work again, no restart.
func TestScannerOfflineInState(t *testing.T) {
	e := newEnv(t)
	link := filepath.Join(t.TempDir(), "ttyACM0")
	pair := serialtest.NewPair(t)
	if err := os.Symlink(pair.SlavePath, link); err != nil {
		t.Fatal(err)
	}
	e.cfg.Scanner.Port = link
	e.writeConfig()
	p := startAgent(t, e.bin, e.cfgPath)
	defer p.kill()
	scanner := func(want string) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case ev := <-e.events:
				var s struct {
					Scanner string `json:"scanner"`
				}
				if ev.State != nil && json.Unmarshal(ev.State, &s) == nil && s.Scanner == want {
					return
				}
			case <-deadline:
				t.Fatalf("state never said scanner %q\n%s", want, p.log)
			}
		}
	}
	scanner("ok")
	os.Remove(link)
	pair.Close()
	scanner("offline")
	pair = serialtest.NewPair(t)
	if err := os.Symlink(pair.SlavePath, link); err != nil {
		t.Fatal(err)
	}
	scanner("ok")
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

type funcWriter struct{ f func([]byte) }

func (w *funcWriter) Write(p []byte) (int, error) { w.f(p); return len(p), nil }

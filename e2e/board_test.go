package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/drivers/serialtest"
)

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

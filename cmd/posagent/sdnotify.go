package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/device"
)

// sdNotify sends state to systemd's notify socket (sd_notify(3)): one
// datagram on the unix socket named by $NOTIFY_SOCKET, "@" meaning the
// abstract namespace. Without the variable (not under systemd, or a unit
// without Type=notify) it does nothing. A few lines of protocol are not
// worth a library.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// watchdogInterval is how often systemd wants WATCHDOG=1 ($WATCHDOG_USEC,
// halved as sd_watchdog_enabled(3) advises), or 0 when it does not watch
// this process.
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// systemd tells systemd the agent is ready and pings its watchdog while
// the agent answers. It lives as long as the process: the agent behind it is
// replaced when a new configuration is applied (supervisor.Serve), and that is
// neither a stop nor a second start.
type systemd struct {
	log   *slog.Logger
	agent atomic.Pointer[device.Agent]
	ready sync.Once
}

// watch has the watchdog check a; the first agent is when the service is
// ready (journal open, hardware opened, agent built; not yet connected, since
// a device must count as started while its network is down).
func (s *systemd) watch(a *device.Agent) {
	s.agent.Store(a)
	s.ready.Do(func() {
		if err := sdNotify("READY=1"); err != nil {
			s.log.Warn("sd_notify", "err", err)
		}
	})
}

// run pings the watchdog until ctx is done, then says STOPPING=1 so the stop
// is not taken for a hang. A ping is withheld while the agent does not
// answer State (it takes the agent's lock and reads the journal), so a
// deadlocked agent or a wedged journal is restarted by systemd
// (WatchdogSec in deploy/posagent.service).
func (s *systemd) run(ctx context.Context) {
	defer sdNotify("STOPPING=1")
	every := watchdogInterval()
	if every == 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a := s.agent.Load()
		if a == nil {
			continue // not ready: systemd's start timeout covers this
		}
		if err := healthy(ctx, a, every); err != nil {
			if ctx.Err() != nil {
				return // stopping: the agent's lock is busy shutting it down
			}
			s.log.Error("watchdog ping withheld", "err", err)
			continue
		}
		if err := sdNotify("WATCHDOG=1"); err != nil {
			s.log.Warn("sd_notify", "err", err)
		}
	}
}

// healthy reports whether the agent answers State within d. A stop ends
// the wait, so STOPPING=1 is not held back by a busy shutdown.
func healthy(ctx context.Context, agent *device.Agent, d time.Duration) error {
	done := make(chan struct{})
	go func() { agent.State(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return errors.New("agent did not answer within the watchdog interval")
	}
}

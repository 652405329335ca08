package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/posagent/posagent/wire"
	"io"
	"os/signal"
	"syscall"

	"github.com/posagent/posagent/platform"
)

func cmdWatch(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c conn
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cl, err := c.dial(ctx, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	events, err := cl.Subscribe(ctx, c.dev, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "watching %s on %s (Ctrl-C to stop)\n", c.dev, c.url)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-events:
			fmt.Fprintln(stdout, formatEvent(e))
		}
	}
}

// formatEvent is one line per event or state document, stamped with the
// time in China.
func formatEvent(e platform.Event) string {
	ts := now().Format("15:04:05")
	switch {
	case e.Err != nil:
		return fmt.Sprintf("%s %s REJECTED: %v", ts, e.Dev, e.Err)
	case e.State != nil:
		return fmt.Sprintf("%s %s state %s", ts, e.Dev, pretty(e.State))
	}
	m := e.Message
	ref := ""
	if m.Ref != "" {
		// The first 8 characters name a UUID well enough; a platform's
		// own jti may be shorter.
		ref = " ref=" + short(m.Ref, 8)
	}
	body := pretty(platform.RedactBody(m.Body))
	if m.Type == wire.TypeDeviceHello {
		body = "(firmware, board, serial and public key)"
	}
	return fmt.Sprintf("%s %s %s [%s]%s %s", ts, e.Dev, m.Type, m.Alg, ref, body)
}

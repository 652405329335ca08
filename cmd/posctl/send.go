package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
)

func cmdSend(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError("usage: posctl send TYPE [flags] [key=value ...]  (e.g. posctl send notify.payment -amount 12850 -wallet wechat)")
	}
	typ := args[0]
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c conn
	c.flags(fs)
	raw := fs.String("json", "", "the whole body as JSON (key=value arguments and the flags below are merged into it)")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the answer (0: do not wait)")
	// notify.payment's fields, for convenience.
	amount := fs.Int64("amount", 0, "notify.payment: amount in fen (12850 = ¥128.50)")
	wallet := fs.String("wallet", "", "notify.payment: wechat, alipay, unionpay, bestpay, ecny")
	order := fs.String("order-id", "", "notify.payment: order id (default: a new one)")
	kind := fs.String("kind", "", "notify.payment: pay, refund, deposit, consume or unfreeze")
	print := fs.Bool("print", true, "notify.payment: print a receipt")
	copies := fs.Int("copies", 1, "notify.payment: receipt copies")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	b := map[string]any{}
	if *raw != "" {
		if err := json.Unmarshal([]byte(*raw), &b); err != nil {
			return usageError("-json: " + err.Error())
		}
	}
	if typ == "notify.payment" {
		if *order == "" {
			*order = "demo-" + time.Now().Format("150405") + "-" + mqtt.NewID()[:4]
		}
		setIf := func(k string, v any, ok bool) {
			if _, has := b[k]; !has && ok {
				b[k] = v
			}
		}
		setIf("order_id", *order, true)
		setIf("amount", *amount, *amount != 0)
		setIf("wallet", *wallet, *wallet != "")
		setIf("kind", *kind, *kind != "")
		setIf("print", *print, true)
		setIf("copies", *copies, *print)
	}
	for _, kv := range fs.Args() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError(fmt.Sprintf("argument %q: want key=value", kv))
		}
		var jv any
		if json.Unmarshal([]byte(v), &jv) == nil {
			b[k] = jv
		} else {
			b[k] = v
		}
	}

	ctx := context.Background()
	cl, err := c.dial(ctx, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	var events <-chan platform.Event
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *timeout > 0 {
		if events, err = cl.Subscribe(wctx, c.dev, ""); err != nil {
			return err
		}
	}
	m, err := cl.Send(c.dev, typ, b)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(b)
	fmt.Fprintf(stdout, "sent %s to %s (jti %s): %s\n", typ, c.dev, m.ID, body)
	if *timeout == 0 {
		return nil
	}
	ans, err := platform.Await(wctx, events, m.ID)
	if err != nil {
		return fmt.Errorf("%w (is the agent running and connected to %s?)", err, c.url)
	}
	fmt.Fprintf(stdout, "answer %s: %s\n", ans.Type, pretty(ans.Body))
	return nil
}

func pretty(b json.RawMessage) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

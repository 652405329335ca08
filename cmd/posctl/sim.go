package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/posagent/posagent/wire"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/posagent/posagent/platform"
)

func cmdSim(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c conn
	c.flags(fs)
	var f platform.Faults
	fs.Float64Var(&f.Drop, "drop", 0, "fraction of answers to drop (0-1)")
	fs.DurationVar(&f.Delay, "delay", 0, "delay every answer by this much")
	fs.DurationVar(&f.Jitter, "jitter", 0, "plus a random delay of up to this much")
	fs.Float64Var(&f.Dup, "dup", 0, "fraction of answers to send twice (0-1)")
	seed := fs.Uint64("seed", 0, "seed of the fault choices (0: from the clock, printed)")
	paying := fs.Int("paying-queries", 2, "amounts ending in .01: the query that answers SUCCESS")
	recalls := fs.Int("recalls", 2, "amounts ending in .09: reverses answered recall:true")
	prov := &platform.Provider{}
	fs.IntVar(&prov.QueryErrors, "query-errors", 2, "scripted query_systemerror_then_success: queries answered SYSTEMERROR first")
	fs.IntVar(&prov.RefundQueries, "refund-queries", 2, "refunds answered PROCESSING: refund.query answers PROCESSING this many times")
	fs.DurationVar(&prov.ReverseWindow, "reverse-window", 0, "reverses later than this after the order answer REVERSE_EXPIRE (0: no limit; WeChat: 7 days)")
	fs.DurationVar(&prov.RefundWindow, "refund-window", 0, "refunds later than this after the payment fail TRADE_OVERDUE (0: 365 days)")
	fs.DurationVar(&prov.DepositReleaseAge, "deposit-release-age", 0, "deposits frozen this long are released by the provider (0: 30 days)")
	fs.BoolVar(&prov.OmitOp, "omit-op", false, "send pay.status without op, as a platform built to protocol §4 alone does")
	refundOutcome := fs.String("refund-outcome", "", "every refund's outcome: refund_processing, refund_abnormal, refund_closed or refund_systemerror (default: success)")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if f.Drop < 0 || f.Drop > 1 || f.Dup < 0 || f.Dup > 1 || f.Delay < 0 || f.Jitter < 0 {
		return usageError("-drop and -dup are fractions from 0 to 1; -delay and -jitter not negative")
	}
	switch o := platform.Outcome(*refundOutcome); o {
	case "", platform.OutcomeRefundProcessing, platform.OutcomeRefundAbnormal, platform.OutcomeRefundClosed, platform.OutcomeRefundSystemError:
	default:
		return usageError("-refund-outcome: unknown outcome " + *refundOutcome)
	}
	prov.PayingQueries, prov.Recalls = *paying, *recalls
	f.Seed = *seed
	if f.Seed == 0 {
		f.Seed = uint64(time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cl, err := c.dial(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Close()
	fmt.Fprintf(stdout, "platform simulator on %s serving %s (drop %g, delay %s+%s, dup %g, seed %d)\n",
		c.url, c.dev, f.Drop, f.Delay, f.Jitter, f.Dup, f.Seed)
	var out sync.Mutex
	line := func(s string) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintln(stdout, s)
	}
	sim := &platform.Sim{Client: cl, Log: log, Faults: f, Provider: prov,
		// The Sim masks auth_code in the events it passes on.
		OnEvent: func(e platform.Event) {
			line(formatEvent(e))
			if o := platform.Outcome(*refundOutcome); o != "" && e.Message.Type == wire.TypeRefundRequest {
				var b struct {
					OutRefundNo string `json:"out_refund_no"`
				}
				json.Unmarshal(e.Message.Body, &b)
				prov.ScriptRefund(b.OutRefundNo, o) // before the first request of this number is answered
			}
		},
		OnAnswer: func(a platform.Answer) { line(formatAnswer(a)) },
	}
	err = sim.Run(ctx)
	fmt.Fprintln(stdout, "ledger:", sim.Summary())
	for _, v := range sim.Check() {
		fmt.Fprintln(stdout, "ledger violation:", v)
	}
	return err
}

// formatAnswer is one line per answer, with its faults.
func formatAnswer(a platform.Answer) string {
	body := jsonText(a.Body)
	ref := short(a.Request.ID, 8)
	var fault string
	switch len(a.Delays) {
	case 0:
		fault = " DROPPED"
	case 2:
		fault = " SENT TWICE"
	}
	var delays []string
	for _, d := range a.Delays {
		if d > 0 {
			delays = append(delays, d.Round(time.Millisecond).String())
		}
	}
	if len(delays) > 0 {
		fault += " after " + strings.Join(delays, ", ")
	}
	return fmt.Sprintf("%s %s ← %s ref=%s %s%s", now().Format("15:04:05"), a.Dev, a.Type, ref, body, fault)
}

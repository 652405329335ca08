package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/platform"
)

type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (c apiClient) do(method, path string, body, out any) int {
	c.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (c apiClient) until(d time.Duration, path string, out any, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		c.do("GET", path, nil, out)
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s never matched: %+v", path, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Deposits and a shift through the real binary, the cashier's local API, a
// real broker and the simulator: a consume larger than the deposit and an
// unfreeze after a consume are refused, a lost answer is resolved by query,
// and the handover summary matches the simulator's ledger to the fen.
func TestDepositsAndShiftThroughBinary(t *testing.T) {
	e := newEnv(t)
	e.cfg.API.Listen = freeLoopback(t)
	e.cfg.Pay.PollIntervalMS, e.cfg.Pay.PollTimeoutMS, e.cfg.Pay.ReverseAfterMS = 25, 400, 150
	e.writeConfig()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := e.startSim(ctx)
	p := startAgent(t, e.bin, e.cfgPath)
	defer func() { p.cmd.Process.Signal(os.Interrupt); <-p.done }()
	e.waitHello(10 * time.Second)
	api := apiClient{t, "http://" + e.cfg.API.Listen, e.api().token}
	// Rights come from the platform.
	if _, err := e.plat.Send(e.cfg.DeviceID, "shift.start", map[string]any{"staff_id": "f1", "staff_name": "前台", "refund": true, "pin_hash": staffPINHash()}); err != nil {
		t.Fatal(err)
	}
	var st device.State
	api.until(15*time.Second, "/v1/state", &st, func() bool { return st.Shift != nil && st.Shift.Staff == "f1" })

	take := func(amount int64, deposit bool, code string) device.View {
		var v device.View
		if s := api.do("POST", "/v1/payments", map[string]any{"amount": amount, "deposit": deposit}, &v); s != http.StatusCreated {
			t.Fatalf("start: %d", s)
		}
		e.scan(code)
		api.until(10*time.Second, "/v1/payments/"+v.OutTradeNo, &v, func() bool { return device.Terminal(v.State) })
		return v
	}
	pay := take(8800, false, "134567890123450101")
	dep1 := take(50000, true, "134567890123450102")
	dep2 := take(20000, true, "134567890123450103")
	if pay.State != device.Paid || dep1.DepositState != device.DepositFrozen || dep2.DepositState != device.DepositFrozen {
		t.Fatalf("setup: %s %s %s", pay.State, dep1.DepositState, dep2.DepositState)
	}
	var apiErr map[string]map[string]string
	if s := api.do("POST", "/v1/deposits/"+dep1.OutTradeNo+"/consume", map[string]any{"amount": 50001, "staff_id": "f1", "pin": staffPIN}, &apiErr); s != http.StatusBadRequest || apiErr["error"]["message"] == "" {
		t.Fatalf("consume larger than the deposit: %d %v", s, apiErr)
	}
	// The consume's answers are lost: resolved by deposit.query.
	sim.SetFaults(platform.Faults{Drop: 0.7, Seed: 11})
	api.do("POST", "/v1/deposits/"+dep1.OutTradeNo+"/consume", map[string]any{"amount": 30000, "staff_id": "f1", "pin": staffPIN}, nil)
	var d device.DepositView
	api.until(15*time.Second, "/v1/deposits/"+dep1.OutTradeNo, &d, func() bool { return d.State == device.DepositConsumed })
	sim.SetFaults(platform.Faults{})
	if s := api.do("POST", "/v1/deposits/"+dep1.OutTradeNo+"/unfreeze", map[string]any{"staff_id": "f1", "pin": staffPIN}, &apiErr); s != http.StatusConflict {
		t.Fatalf("unfreeze after consume: %d %v", s, apiErr)
	}
	api.do("POST", "/v1/deposits/"+dep2.OutTradeNo+"/unfreeze", map[string]any{"staff_id": "f1", "pin": staffPIN}, nil)
	api.until(10*time.Second, "/v1/deposits/"+dep2.OutTradeNo, &d, func() bool { return d.State == device.DepositReleased })

	var sum map[string]any
	if s := api.do("POST", "/v1/shift/end", map[string]any{"staff_id": "f1", "pin": staffPIN}, &sum); s != http.StatusOK {
		t.Fatalf("shift end: %d %v", s, sum)
	}
	var payFen, consumeFen, frozenFen int64
	for _, le := range sim.Ledger() {
		switch {
		case le.Deposit && le.Charged:
			frozenFen += le.Amount
			consumeFen += le.Consumed
		case le.Charged && !le.Reversed:
			payFen += le.Amount - le.Refunded
		}
	}
	n := func(k string) int64 { f, _ := sum[k].(float64); return int64(f) }
	if n("pay_amount") != payFen || n("consume_amount") != consumeFen || n("deposit_amount") != frozenFen ||
		n("unfreeze_amount") != 20000 || n("net") != payFen+consumeFen {
		t.Fatalf("summary %v; ledger pay %d consume %d frozen %d", sum, payFen, consumeFen, frozenFen)
	}
	if payFen != 8800 || consumeFen != 30000 || frozenFen != 70000 {
		t.Fatalf("ledger pay %d consume %d frozen %d", payFen, consumeFen, frozenFen)
	}
}

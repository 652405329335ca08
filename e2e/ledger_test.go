package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
)

// ledgerCheck is the comparison of the simulator's ledger (what was done to
// the customers' money) with the device journal (what the device says),
// shared by the crash, fault and soak tests.
type ledgerCheck struct {
	Orders map[string]device.Payment
	States map[string]int
	// Doubles: orders charged more than once. UnknownCharges: money kept
	// that the device does not know as paid. PaidNotCharged: paid on the
	// device, not in the ledger. NotTerminal: payments not ended.
	Doubles, UnknownCharges, PaidNotCharged, NotTerminal, Paid int
}

// Bad counts the disagreements; each was also reported with t.Errorf.
func (c ledgerCheck) Bad() int {
	return c.Doubles + c.UnknownCharges + c.PaidNotCharged + c.NotTerminal
}

// checkLedger opens the journal in dataDir (the agent must be stopped) and
// compares it with sim's ledger.
func checkLedger(t *testing.T, sim *platform.Sim, dataDir string) ledgerCheck {
	t.Helper()
	j, err := journal.Open(filepath.Join(dataDir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c := ledgerCheck{Orders: map[string]device.Payment{}, States: map[string]int{}}
	j.View(func(tx *journal.Tx) error {
		return tx.ForEach(journal.Orders, func(k string, v []byte) error {
			var p device.Payment
			json.Unmarshal(v, &p)
			c.Orders[k] = p
			return nil
		})
	})
	for _, le := range sim.Ledger() {
		if le.Charges > 1 {
			c.Doubles++
			t.Errorf("%s charged %d times", le.OutTradeNo, le.Charges)
		}
		kept := le.Charged && !le.Reversed
		if kept && c.Orders[le.OutTradeNo].State != device.Paid {
			c.UnknownCharges++
			t.Errorf("%s charged but the device says %q", le.OutTradeNo, c.Orders[le.OutTradeNo].State)
		}
	}
	for no, o := range c.Orders {
		c.States[o.State]++
		if !device.Terminal(o.State) {
			c.NotTerminal++
			t.Errorf("%s not terminal: %s", no, o.State)
		}
		if o.State == device.Paid {
			c.Paid++
			le, ok := sim.Provider.Entry(no)
			if !ok || !le.Charged || le.Reversed {
				c.PaidNotCharged++
				t.Errorf("%s paid on the device, ledger %+v", no, le)
			}
		}
	}
	return c
}

// wavCounts counts the announcements in dir by id, and the replays (补播).
func wavCounts(dir string) (said map[string]int, replays int) {
	said = map[string]int{}
	ents, _ := os.ReadDir(dir)
	for _, w := range ents {
		name, ok := strings.CutSuffix(w.Name(), ".wav")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		if n, ok := strings.CutSuffix(name, ".replay"); ok {
			replays++
			name = n
		}
		said[name]++
	}
	return said, replays
}

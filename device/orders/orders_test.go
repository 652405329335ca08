package orders

import (
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/journal"
)

// TestFreshNumberSkipsTaken: a number the device makes is drawn again
// while its bucket holds it, so a second order, refund or deposit
// operation made in the same second with the same random digits is
// neither refused as a duplicate nor journaled over the first.
func TestFreshNumberSkipsTaken(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, bucket := range []string{journal.Orders, journal.Refunds, journal.Deposits} {
		if err := j.Update(func(tx *journal.Tx) error {
			return tx.Put(bucket, "X1", map[string]string{"taken": "yes"})
		}); err != nil {
			t.Fatal(err)
		}
		draws := []string{"X1", "X1", "X2"}
		n := 0
		var got string
		err := j.Update(func(tx *journal.Tx) (err error) {
			got, err = FreshNumber(tx, bucket, func() string { n++; return draws[n-1] })
			return err
		})
		if err != nil || got != "X2" || n != 3 {
			t.Errorf("%s: %q after %d draws, %v; want X2 after 3", bucket, got, n, err)
		}
	}
}

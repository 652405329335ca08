package orders

import (
	"errors"
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

// Load says ErrNotFound for a record the journal lacks, and an error (not
// a zero record) for one that does not decode.
func TestLoad(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	err = j.Update(func(tx *journal.Tx) error {
		if err := Put(tx, Payment{OutTradeNo: "P1", Amount: 100, State: Paid}); err != nil {
			return err
		}
		return tx.PutRaw(journal.Refunds, "R1", []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Load[Payment](j, journal.Orders, "P1"); err != nil || p.Amount != 100 || p.State != Paid {
		t.Fatalf("P1: %+v %v", p, err)
	}
	if _, err := Load[Payment](j, journal.Orders, "P2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("P2: %v, want ErrNotFound", err)
	}
	if _, err := Load[Refund](j, journal.Refunds, "R1"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("an unreadable record: %v", err)
	}
}

package staff

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/pinhash"
)

// The PIN guard tracks at most MaxTracked ids however many a caller
// invents, locked ones included.
func TestPINGuardBounded(t *testing.T) {
	g := Guard{Tries: 1, Lock: time.Hour}
	now := time.Now()
	for i := 0; i < 3*MaxTracked; i++ {
		id := "id" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
		g.record(id, false, now) // locked at once
	}
	if n := len(g.fails); n > MaxTracked {
		t.Fatalf("%d ids tracked", n)
	}
	g.Tries = 2
	g.record("s1", false, now)
	if !g.locked("s1", now).IsZero() {
		t.Fatal("locked after one of two tries")
	}
	g.record("s1", false, now)
	if g.locked("s1", now).IsZero() {
		t.Fatal("not locked after two of two tries")
	}
	g.record("s1", true, now)
	if !g.locked("s1", now).IsZero() {
		t.Fatal("a right PIN left the lock")
	}
}

func hash(t *testing.T, pin string) string {
	t.Helper()
	h, err := pinhash.Make(pin, 1<<10, 8, 1) // cheap parameters: the check, not the cost, is under test
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A failed check never says which ids exist: an unknown id, one without a
// PIN and a wrong PIN are the same error, and all count towards the lock,
// which names the wait and doubles at each lock.
func TestAuth(t *testing.T) {
	r := Roster{Version: 3, Staff: []Staff{
		{ID: "s1", Name: "张三", Refund: true, PINHash: hash(t, "1234")},
		{ID: "s2", Name: "李四"}, // no PIN: the platform gave none
	}}
	g := &Guard{Tries: 2, Lock: time.Minute}
	now := time.Unix(1_800_000_000, 0)
	if _, err := g.Auth(Roster{Staff: []Staff{{ID: "s1"}}}, "s1", "1234", now); !errors.Is(err, ErrNoRoster) || !errors.Is(err, orders.ErrDenied) {
		t.Fatalf("a roster without PINs: %v", err)
	}
	for _, tc := range []struct{ id, pin string }{{"s1", "9999"}, {"s1", ""}, {"nobody", "1234"}, {"s2", ""}, {"s2", "1234"}} {
		if _, err := (&Guard{}).Auth(r, tc.id, tc.pin, now); !errors.Is(err, ErrStaffAuth) || !errors.Is(err, orders.ErrDenied) {
			t.Errorf("%s/%q: %v, want ErrStaffAuth", tc.id, tc.pin, err)
		}
	}
	s, err := g.Auth(r, "s1", "1234", now)
	if err != nil || s.Name != "张三" || !s.Refund {
		t.Fatalf("the right PIN: %+v %v", s, err)
	}
	g.Auth(r, "s1", "0000", now)
	g.Auth(r, "s1", "0000", now)
	if _, err := g.Auth(r, "s1", "1234", now.Add(30*time.Second)); !errors.Is(err, ErrPINLocked) || orders.Words(err) != "密码错误次数过多，已锁定，请 0 分 30 秒后再试" {
		t.Fatalf("locked: %v / %q", err, orders.Words(err))
	}
	if _, err := g.Auth(r, "s1", "1234", now.Add(time.Minute)); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// An unknown id locks the same way: the lock tells nothing either.
	g.Auth(r, "ghost", "1", now)
	g.Auth(r, "ghost", "1", now)
	g.Auth(r, "ghost", "1", now.Add(time.Minute))
	g.Auth(r, "ghost", "1", now.Add(time.Minute))
	if until := g.locked("ghost", now.Add(time.Minute)); until.Sub(now.Add(time.Minute)) != 2*time.Minute {
		t.Fatalf("second lock ends %v after it began, want doubled (2m)", until.Sub(now.Add(time.Minute)))
	}
	// The right PIN resets: s1 (locked once above, then right) is locked
	// for the base minute again, not two.
	later := now.Add(time.Hour)
	g.Auth(r, "s1", "0000", later)
	g.Auth(r, "s1", "0000", later)
	if until := g.locked("s1", later); until.Sub(later) != time.Minute {
		t.Fatalf("after a right PIN, the next lock is %v, want the base 1m", until.Sub(later))
	}
}

// Rights are the roster's and the shift's, checked in the flow's
// transaction: a manager may anything, on shift or not; a clerk only on
// shift, and a refund only with the refund right. A stale roster (lower
// version) changes nothing, so a revoked right does not come back.
func TestRights(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	clerk := Staff{ID: "c1", Name: "王五", Refund: true}
	plain := Staff{ID: "c2", Name: "赵六"}
	boss := Staff{ID: "m1", Name: "店长", Manager: true}
	err = j.Update(func(tx *journal.Tx) error {
		if _, err := Put(tx, Roster{Version: 2, Staff: []Staff{clerk, plain, boss}}); err != nil {
			return err
		}
		applied, err := Put(tx, Roster{Version: 1, Staff: []Staff{{ID: "c2", Refund: true}}})
		if applied || err != nil {
			t.Errorf("a stale roster applied: %v %v", applied, err)
		}
		return Open(tx, Shift{Staff: Staff{ID: "c1", Name: "王五"}, Since: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s      Staff
		refund bool
		want   string // "" allowed, else a word of the refusal
	}{
		{clerk, true, ""},
		{clerk, false, ""},
		{boss, true, ""}, // off shift
		{plain, false, "不在班"},
		{plain, true, "没有退款权限"},
		{Staff{ID: "x9"}, false, "工号或密码错误"},
	} {
		j.View(func(tx *journal.Tx) error {
			check := OnShift
			if tc.refund {
				check = MayRefund
			}
			err := check(tx, tc.s)
			if (tc.want == "") != (err == nil) || (err != nil && (!errors.Is(err, orders.ErrDenied) || !strings.Contains(orders.Words(err)+err.Error(), tc.want))) {
				t.Errorf("%s refund=%v: %v (%q), want %q", tc.s.ID, tc.refund, err, orders.Words(err), tc.want)
			}
			if got := NameOf(tx, tc.s.ID); tc.s.Name != "" && got != tc.s.Name {
				t.Errorf("NameOf(%s) = %q", tc.s.ID, got)
			}
			return nil
		})
	}
}

// Package staff holds who works at the till: the platform's roster (each
// staff member, their rights and a scrypt hash of their PIN), the open
// shift, the PIN check (Guard.Auth) and the rights a flow checks (MayAct).
//
// Staff authentication is docs/protocol.md §10. Who may give money back
// is the platform's word, never the caller's: money going back (refund,
// unfreeze, a consume that releases the rest) and the end of someone's
// shift need the named person's PIN, checked here. A staff id alone proves
// nothing: anything on the device can type one.
//
// Invariants:
//   - a roster replaces the one kept whole, so a right it drops is gone at
//     once; one older than the one kept (version given and lower) changes
//     nothing, so an old roster arriving late never gives a revoked right
//     back;
//   - a failed check never says which ids exist: an unknown id, one
//     without a PIN and a wrong PIN are the same ErrStaffAuth, take as long
//     (a decoy hash), and count towards the same lock;
//   - PIN checks are rate-limited per id (Tries, then a lock that doubles),
//     the ids tracked are bounded (MaxTracked) whatever a caller invents,
//     and one scrypt runs at a time;
//   - one shift is open at a time (journal.Shifts "current");
//   - a PIN is never logged or journaled: only its hash, from the platform.
package staff

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/pinhash"
	"github.com/posagent/posagent/wire"
)

// Staff is a staff member as the platform's roster names them: the wire's
// own struct, so shift.start, staff.roster and the journal's records
// (roster, open shift) share one shape.
type Staff = wire.Staff

// Roster is the platform's staff list, kept whole in the journal (Meta
// "roster"). It is staff.roster's body (wire.StaffRoster), the same fields
// and JSON, as a type of its own so the checks and look-ups are its
// methods.
type Roster wire.StaffRoster

// MaxRoster bounds a roster (a shop has a few dozen staff; a chain's store
// a few hundred).
const MaxRoster = 500

const rosterKey = "roster"

// Errors of staff authentication. They never say which ids exist.
var (
	ErrStaffAuth = errors.New("工号或密码错误")
	ErrPINLocked = errors.New("密码错误次数过多，请稍后再试")
	ErrNoRoster  = errors.New("平台尚未下发带密码的员工名单，不能办理退款、解冻和交班确认")
)

// Find is staff member id's entry.
func (r Roster) Find(id string) (Staff, bool) {
	for _, s := range r.Staff {
		if s.ID == id {
			return s, true
		}
	}
	return Staff{}, false
}

// HasPINs says whether some entry has a PIN hash (a roster of this kind
// is in force).
func (r Roster) HasPINs() bool {
	for _, s := range r.Staff {
		if s.PINHash != "" {
			return true
		}
	}
	return false
}

// Check says what is wrong with a roster from the platform.
func (r Roster) Check() error {
	if len(r.Staff) > MaxRoster {
		return fmt.Errorf("at most %d staff", MaxRoster)
	}
	seen := map[string]bool{}
	for _, s := range r.Staff {
		if err := Check(s); err != nil {
			return err
		}
		if seen[s.ID] {
			return fmt.Errorf("staff_id %s twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// Check says what is wrong with a staff entry from the platform.
func Check(s Staff) error {
	if !wire.ValidID(s.ID) || len(s.Name) > 64 {
		return errors.New("staff_id must be 1-64 printable ASCII characters, staff_name at most 64 bytes")
	}
	if s.PINHash != "" {
		if _, err := pinhash.Parse(s.PINHash); err != nil {
			return fmt.Errorf("staff %s: %v", s.ID, err)
		}
	}
	return nil
}

// Load reads the roster in force within tx (empty when none came).
func Load(tx *journal.Tx) (Roster, error) {
	var r Roster
	_, err := tx.Get(journal.Meta, rosterKey, &r)
	return r, err
}

// Put replaces the roster within tx; one older than the one kept (version
// given and lower) is stale and changes nothing (applied false): messages
// can arrive out of order, and an old roster would give back a revoked
// right.
func Put(tx *journal.Tx, r Roster) (applied bool, err error) {
	cur, err := Load(tx)
	if err != nil {
		return false, err
	}
	if r.Version != 0 && r.Version < cur.Version {
		return false, nil
	}
	if err := tx.Put(journal.Meta, rosterKey, r); err != nil {
		return false, err
	}
	return true, nil
}

// Upsert puts one entry into the roster within tx (shift.start naming the
// person's own rights and PIN hash).
func Upsert(tx *journal.Tx, s Staff) error {
	r, err := Load(tx)
	if err != nil {
		return err
	}
	for i := range r.Staff {
		if r.Staff[i].ID == s.ID {
			r.Staff[i] = s
			return tx.Put(journal.Meta, rosterKey, r)
		}
	}
	if len(r.Staff) >= MaxRoster {
		return fmt.Errorf("%w: the roster holds %d staff already", orders.ErrInvalid, MaxRoster)
	}
	r.Staff = append(r.Staff, s)
	return tx.Put(journal.Meta, rosterKey, r)
}

// Shift is the open shift (journal.Shifts, key "current").
type Shift struct {
	Staff Staff `json:"staff"`
	Since int64 `json:"since"` // Unix seconds, as shift.changed says it
	// SinceMS is the start to the millisecond: the previous shift ends at
	// the same instant, so no payment falls into two windows (a start
	// truncated to the second would overlap the shift before it).
	SinceMS int64 `json:"since_ms,omitempty"`
}

// Start is when the shift began (records from before since_ms: Since).
func (sh Shift) Start() time.Time {
	if sh.SinceMS > 0 {
		return time.UnixMilli(sh.SinceMS)
	}
	return time.Unix(sh.Since, 0)
}

const shiftCurrent = "current"

// Current is the open shift, if one is.
func Current(tx *journal.Tx) (Shift, bool, error) {
	var sh Shift
	ok, err := tx.Get(journal.Shifts, shiftCurrent, &sh)
	return sh, ok, err
}

// Open records sh as the open shift within tx; the caller has closed the
// one before.
func Open(tx *journal.Tx, sh Shift) error { return tx.Put(journal.Shifts, shiftCurrent, sh) }

// Close ends the open shift within tx.
func Close(tx *journal.Tx) error { return tx.Delete(journal.Shifts, shiftCurrent) }

// NameOf is how a receipt names staff member id: their name on the roster
// or the open shift, else their id.
func NameOf(tx *journal.Tx, id string) string {
	if id == "" {
		return ""
	}
	if r, err := Load(tx); err == nil {
		if s, ok := r.Find(id); ok && s.Name != "" {
			return s.Name
		}
	}
	if sh, ok, _ := Current(tx); ok && sh.Staff.ID == id && sh.Staff.Name != "" {
		return sh.Staff.Name
	}
	return id
}

// Rights. Each is checked inside the flow's transaction, against the
// roster then in force, after Guard.Auth proved who is asking.

// MayRefund: the staff member on shift holding the refund right, or a
// manager, on shift or not (domain: a clerk refunds only on shift).
func MayRefund(tx *journal.Tx, s Staff) error { return mayAct(tx, s, true) }

// OnShift: the staff member on shift, or a manager.
func OnShift(tx *journal.Tx, s Staff) error { return mayAct(tx, s, false) }

// mayAct checks s against the roster in force: a manager may; anyone else
// only on shift, and with the refund right when refund is asked.
func mayAct(tx *journal.Tx, s Staff, refund bool) error {
	r, err := Load(tx)
	if err != nil {
		return err
	}
	cur, ok := r.Find(s.ID)
	switch {
	case !ok:
		return fmt.Errorf("%w: %w", orders.ErrDenied, ErrStaffAuth)
	case cur.Manager:
		return nil
	case refund && !cur.Refund:
		return orders.Say(Who(cur)+"没有退款权限", fmt.Errorf("%w: %s has no refund right", orders.ErrDenied, s.ID))
	}
	sh, open, err := Current(tx)
	if err != nil {
		return err
	}
	if !open || sh.Staff.ID != cur.ID {
		return orders.Say(Who(cur)+"不在班：只有当班人员或店长可以操作", fmt.Errorf("%w: %s is not on shift; only the staff on shift or the manager may", orders.ErrDenied, cur.ID))
	}
	return nil
}

// Who names a staff member as a person reads it, before the words that
// follow: 张三（s1）, or the id and a space.
func Who(s Staff) string {
	if s.Name == "" {
		return s.ID + " "
	}
	return s.Name + "（" + s.ID + "）"
}

// Guard checks PINs: it rate-limits them per staff id (known or not, so
// the limit says nothing about which ids exist) and runs one scrypt at a
// time (each takes up to pinhash.MaxMemory).
type Guard struct {
	// Tries wrong PINs lock an id for Lock, doubled at each lock since
	// the last success (at most 256×).
	Tries int
	Lock  time.Duration
	Log   *slog.Logger

	mu    sync.Mutex
	fails map[string]*fails
	run   sync.Mutex // one scrypt at a time
}

type fails struct {
	n        int       // wrong PINs since the last lock or success
	locks    int       // locks since the last success: each doubles the next
	until    time.Time // locked until
	lastFail time.Time
}

// MaxTracked bounds the ids a Guard tracks (ids are the caller's to
// invent).
const MaxTracked = 1024

// Auth checks that pin is staff member id's PIN in roster r at now and
// returns their entry. Every failure is ErrStaffAuth (or ErrPINLocked once
// id has had Tries wrong PINs; ErrNoRoster when the platform sent no
// roster with PINs at all, which names nobody), wrapped in
// orders.ErrDenied.
func (g *Guard) Auth(r Roster, id, pin string, now time.Time) (Staff, error) {
	if !r.HasPINs() {
		return Staff{}, fmt.Errorf("%w: %w", orders.ErrDenied, ErrNoRoster)
	}
	if until := g.locked(id, now); !until.IsZero() {
		wait := until.Sub(now).Round(time.Second)
		return Staff{}, orders.Say(fmt.Sprintf("密码错误次数过多，已锁定，请 %d 分 %d 秒后再试", int(wait.Minutes()), int(wait.Seconds())%60), fmt.Errorf("%w（%s 后可再试）", ErrPINLocked, wait))
	}
	s, known := r.Find(id)
	h, err := pinhash.Parse(s.PINHash)
	if !known || err != nil {
		// As long as a real check: the time taken does not tell an
		// unknown id from a wrong PIN.
		h = decoyHash(r)
	}
	g.run.Lock()
	ok := h.Verify(pin) && known && err == nil && pin != ""
	g.run.Unlock()
	g.record(id, ok, now)
	if !ok {
		if g.Log != nil {
			g.Log.Warn("staff PIN refused", "staff_len", len(id))
		}
		return Staff{}, fmt.Errorf("%w: %w", orders.ErrDenied, ErrStaffAuth)
	}
	return s, nil
}

// decoyHash has the parameters of the roster's first PIN hash and a key
// no PIN gives.
func decoyHash(r Roster) pinhash.Hash {
	h := pinhash.Hash{N: pinhash.DefaultN, R: pinhash.DefaultR, P: pinhash.DefaultP}
	for _, s := range r.Staff {
		if p, err := pinhash.Parse(s.PINHash); err == nil {
			h = p
			break
		}
	}
	h.Salt, h.Key = make([]byte, 16), make([]byte, max(len(h.Key), 32))
	rand.Read(h.Salt)
	rand.Read(h.Key)
	return h
}

func (g *Guard) tries() int {
	if g.Tries > 0 {
		return g.Tries
	}
	return 5
}

func (g *Guard) lock() time.Duration {
	if g.Lock > 0 {
		return g.Lock
	}
	return 5 * time.Minute
}

// locked says until when id is locked (zero: not).
func (g *Guard) locked(id string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.fails[id]; f != nil && now.Before(f.until) {
		return f.until
	}
	return time.Time{}
}

// record notes the outcome of a check of id.
func (g *Guard) record(id string, ok bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fails == nil {
		g.fails = map[string]*fails{}
	}
	if ok {
		delete(g.fails, id)
		return
	}
	f := g.fails[id]
	if f == nil {
		if len(g.fails) >= MaxTracked {
			g.evict(now)
		}
		f = &fails{}
		g.fails[id] = f
	}
	f.n++
	f.lastFail = now
	if f.n >= g.tries() {
		d := g.lock() << min(f.locks, 8) // 5 min, 10, 20, … at most 256×
		f.until, f.n = now.Add(d), 0
		f.locks++
	}
}

// evict drops one entry when the map is full: the oldest not locked, or
// else the one whose lock ends first (ids are the caller's to invent, so
// the map is bounded whatever they send).
func (g *Guard) evict(now time.Time) {
	var oldest, soonest string
	var at, until time.Time
	for id, f := range g.fails {
		if now.Before(f.until) {
			if soonest == "" || f.until.Before(until) {
				soonest, until = id, f.until
			}
			continue
		}
		if oldest == "" || f.lastFail.Before(at) {
			oldest, at = id, f.lastFail
		}
	}
	if oldest == "" {
		oldest = soonest
	}
	delete(g.fails, oldest)
}

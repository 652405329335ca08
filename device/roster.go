package device

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/pinhash"
)

// Staff authentication (docs/protocol.md §10). Who
// may give money back is the platform's word, never the caller's: the
// platform's signed roster (staff.roster, or shift.start's roster) names
// each staff member, their rights and a scrypt hash of their PIN; money
// going back (refund, unfreeze, a consume that releases the rest) and the
// end of someone's shift need the named person's PIN, checked here. A
// staff id alone proves nothing: anything on the device can type one.

// Roster is the platform's staff list, kept whole in the journal (Meta
// "roster"): a new one replaces it, so a right it drops is gone at once.
// It is staff.roster's body (wire.StaffRoster), the same fields and JSON,
// as a type of the device's own so the checks and look-ups below are its
// methods.
type Roster wire.StaffRoster

// MaxRoster bounds a roster (a shop has a few dozen staff; a chain's store
// a few hundred).
const MaxRoster = 500

const rosterKey = "roster"

// Errors of staff authentication. They never say which ids exist: an
// unknown id, one without a PIN and a wrong PIN are the same ErrStaffAuth.
var (
	ErrStaffAuth = errors.New("工号或密码错误")
	ErrPINLocked = errors.New("密码错误次数过多，请稍后再试")
	ErrNoRoster  = errors.New("平台尚未下发带密码的员工名单，不能办理退款、解冻和交班确认")
)

func (r Roster) find(id string) (Staff, bool) {
	for _, s := range r.Staff {
		if s.ID == id {
			return s, true
		}
	}
	return Staff{}, false
}

// hasPINs: some entry has a PIN hash (a roster of this kind is in force).
func (r Roster) hasPINs() bool {
	for _, s := range r.Staff {
		if s.PINHash != "" {
			return true
		}
	}
	return false
}

// check says what is wrong with a roster from the platform.
func (r Roster) check() error {
	if len(r.Staff) > MaxRoster {
		return fmt.Errorf("at most %d staff", MaxRoster)
	}
	seen := map[string]bool{}
	for _, s := range r.Staff {
		if err := checkStaff(s); err != nil {
			return err
		}
		if seen[s.ID] {
			return fmt.Errorf("staff_id %s twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// checkStaff says what is wrong with a staff entry from the platform.
func checkStaff(s Staff) error {
	if !validID(s.ID) || len(s.Name) > 64 {
		return errors.New("staff_id must be 1-64 printable ASCII characters, staff_name at most 64 bytes")
	}
	if s.PINHash != "" {
		if _, err := pinhash.Parse(s.PINHash); err != nil {
			return fmt.Errorf("staff %s: %v", s.ID, err)
		}
	}
	return nil
}

func loadRoster(tx *journal.Tx) (Roster, error) {
	var r Roster
	_, err := tx.Get(journal.Meta, rosterKey, &r)
	return r, err
}

// putRoster replaces the roster; one older than the one kept (version
// given and lower) is stale and changes nothing: messages can arrive out of
// order, and an old roster would give back a revoked right.
func (a *Agent) putRoster(tx *journal.Tx, r Roster) (applied bool, err error) {
	cur, err := loadRoster(tx)
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

// upsertStaff puts one entry into the roster (shift.start naming the
// person's own rights and PIN hash).
func (a *Agent) upsertStaff(tx *journal.Tx, s Staff) error {
	r, err := loadRoster(tx)
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
		return fmt.Errorf("%w: the roster holds %d staff already", ErrInvalid, MaxRoster)
	}
	r.Staff = append(r.Staff, s)
	return tx.Put(journal.Meta, rosterKey, r)
}

// acceptRoster is staff.roster {version, staff:[{staff_id, staff_name,
// refund, manager, pin_hash}]}: it replaces the roster.
func (a *Agent) acceptRoster(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.StaffRoster
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "staff.roster: %v", err)
	}
	r := Roster(b)
	if err := r.check(); err != nil {
		return a.badRequest(tx, m, "staff.roster: %v", err)
	}
	applied, err := a.putRoster(tx, r)
	if err != nil {
		return nil, nil, err
	}
	a.log.Info("staff roster", "version", r.Version, "staff", len(r.Staff), "applied", applied)
	ans, err := a.emit(tx, wire.TypeStaffRosterApplied, m.ID, wire.StaffRosterApplied{Version: r.Version, Staff: len(r.Staff), Applied: applied})
	return &ans, nil, err
}

// pinGuard rate-limits PIN checks per staff id (known or not, so the
// limit says nothing about which ids exist) and runs one scrypt at a time
// (each takes up to pinhash.MaxMemory).
type pinGuard struct {
	mu    sync.Mutex
	fails map[string]*pinFails
	run   sync.Mutex // one scrypt at a time
}

type pinFails struct {
	n        int       // wrong PINs since the last lock or success
	locks    int       // locks since the last success: each doubles the next
	until    time.Time // locked until
	lastFail time.Time
}

// maxPINEntries bounds the ids tracked (ids are the caller's to invent).
const maxPINEntries = 1024

// locked says until when id is locked (zero: not).
func (g *pinGuard) locked(id string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.fails[id]; f != nil && now.Before(f.until) {
		return f.until
	}
	return time.Time{}
}

// record notes the outcome of a check of id.
func (g *pinGuard) record(id string, ok bool, now time.Time, tries int, lock time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fails == nil {
		g.fails = map[string]*pinFails{}
	}
	if ok {
		delete(g.fails, id)
		return
	}
	f := g.fails[id]
	if f == nil {
		if len(g.fails) >= maxPINEntries {
			g.evict(now)
		}
		f = &pinFails{}
		g.fails[id] = f
	}
	f.n++
	f.lastFail = now
	if f.n >= tries {
		d := lock << min(f.locks, 8) // 5 min, 10, 20, … at most 256×
		f.until, f.n = now.Add(d), 0
		f.locks++
	}
}

// evict drops one entry when the map is full: the oldest not locked, or
// else the one whose lock ends first (ids are the caller's to invent, so
// the map is bounded whatever they send).
func (g *pinGuard) evict(now time.Time) {
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

// authStaff checks that pin is staff id's PIN in the roster and returns
// their entry. Every failure is ErrStaffAuth (or ErrPINLocked once id has
// had api.pin_tries wrong PINs; ErrNoRoster when the platform sent no
// roster with PINs at all, which names nobody).
func (a *Agent) authStaff(id, pin string) (Staff, error) {
	var r Roster
	if err := a.j.View(func(tx *journal.Tx) error {
		var err error
		r, err = loadRoster(tx)
		return err
	}); err != nil {
		return Staff{}, err
	}
	if !r.hasPINs() {
		return Staff{}, fmt.Errorf("%w: %w", ErrDenied, ErrNoRoster)
	}
	now := a.now()
	if until := a.pins.locked(id, now); !until.IsZero() {
		wait := until.Sub(now).Round(time.Second)
		return Staff{}, say(fmt.Sprintf("密码错误次数过多，已锁定，请 %d 分 %d 秒后再试", int(wait.Minutes()), int(wait.Seconds())%60), fmt.Errorf("%w（%s 后可再试）", ErrPINLocked, wait))
	}
	s, known := r.find(id)
	h, err := pinhash.Parse(s.PINHash)
	if !known || err != nil {
		// As long as a real check: the time taken does not tell an
		// unknown id from a wrong PIN.
		h = decoyHash(r)
	}
	a.pins.run.Lock()
	ok := h.Verify(pin) && known && err == nil && pin != ""
	a.pins.run.Unlock()
	a.pins.record(id, ok, now, a.pinTries(), a.pinLock())
	if !ok {
		a.log.Warn("staff PIN refused", "staff_len", len(id))
		return Staff{}, fmt.Errorf("%w: %w", ErrDenied, ErrStaffAuth)
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

func (a *Agent) pinTries() int {
	if a.cfg.API.PINTries > 0 {
		return a.cfg.API.PINTries
	}
	return 5
}

func (a *Agent) pinLock() time.Duration {
	if a.cfg.API.PINLockMS > 0 {
		return time.Duration(a.cfg.API.PINLockMS) * time.Millisecond
	}
	return 5 * time.Minute
}

// Rights. Each is checked inside the flow's transaction, against the
// roster then in force, after authStaff proved who is asking.

// mayRefund: the staff member on shift holding the refund right, or a
// manager, on shift or not (domain: a clerk refunds only on shift).
func (a *Agent) mayRefund(tx *journal.Tx, s Staff) error { return a.mayAct(tx, s, true) }

// onShift: the staff member on shift, or a manager.
func (a *Agent) onShift(tx *journal.Tx, s Staff) error { return a.mayAct(tx, s, false) }

// mayAct checks s against the roster in force: a manager may; anyone else
// only on shift, and with the refund right when refund is asked.
func (a *Agent) mayAct(tx *journal.Tx, s Staff, refund bool) error {
	r, err := loadRoster(tx)
	if err != nil {
		return err
	}
	cur, ok := r.find(s.ID)
	switch {
	case !ok:
		return fmt.Errorf("%w: %w", ErrDenied, ErrStaffAuth)
	case cur.Manager:
		return nil
	case refund && !cur.Refund:
		return say(who(cur)+"没有退款权限", fmt.Errorf("%w: %s has no refund right", ErrDenied, s.ID))
	}
	return a.isOnShift(tx, cur)
}

// who names a staff member as a person reads it, before the words that
// follow: 张三（s1）, or the id and a space.
func who(s Staff) string {
	if s.Name == "" {
		return s.ID + " "
	}
	return s.Name + "（" + s.ID + "）"
}

func (a *Agent) isOnShift(tx *journal.Tx, s Staff) error {
	id := s.ID
	var sh ShiftRecord
	open, err := tx.Get(journal.Shifts, shiftCurrent, &sh)
	if err != nil {
		return err
	}
	if !open || sh.Staff.ID != id {
		return say(who(s)+"不在班：只有当班人员或店长可以操作", fmt.Errorf("%w: %s is not on shift; only the staff on shift or the manager may", ErrDenied, id))
	}
	return nil
}

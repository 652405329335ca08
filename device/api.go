package device

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/payment"
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/printer"
)

// The local API (protocol §7): HTTP+JSON on loopback for the cashier app on
// the same device. Errors are {"error":{"code","message"}}.

// MaxAPIBody bounds request bodies: they are a few dozen bytes.
const MaxAPIBody = 64 << 10

// Handler is the local API.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler()) // debugvars.go
	mux.HandleFunc("POST /v1/payments", a.apiStartPayment)
	mux.HandleFunc("GET /v1/payments/{no}", a.apiGetPayment)
	mux.HandleFunc("POST /v1/payments/{no}/cancel", a.apiCancelPayment)
	mux.HandleFunc("GET /v1/payments/open", a.apiOpenPayments)
	mux.HandleFunc("POST /v1/payments/{no}/refund", a.apiRefund)
	mux.HandleFunc("GET /v1/refunds/{no}", a.apiGetRefund)
	mux.HandleFunc("POST /v1/shift/start", a.apiShiftStart)
	mux.HandleFunc("POST /v1/shift/end", a.apiShiftEnd)
	mux.HandleFunc("GET /v1/shift/summary", a.apiShiftSummary)
	mux.HandleFunc("GET /v1/summary", a.apiSummary)
	mux.HandleFunc("POST /v1/summary/print", a.apiSummaryPrint)
	mux.HandleFunc("GET /v1/deposits", a.apiDeposits)
	mux.HandleFunc("GET /v1/deposits/{no}", a.apiDeposit)
	mux.HandleFunc("POST /v1/deposits/{no}/consume", a.apiDepositOp("consume"))
	mux.HandleFunc("POST /v1/deposits/{no}/unfreeze", a.apiDepositOp("unfreeze"))
	mux.HandleFunc("GET /v1/orders", a.apiOrders)
	mux.HandleFunc("GET /v1/days", a.apiDays)
	mux.HandleFunc("POST /v1/orders/{no}/reprint", a.apiReprint)
	mux.HandleFunc("GET /v1/state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.localState(a.State())) })
	mux.HandleFunc("GET /v1/events", a.apiEvents)
	mux.Handle("GET /", webHandler()) // the cashier's web console (web.go)
	return a.guard(mux)               // who may call (apiauth.go)
}

// serveAPI listens on cfg.API.Listen (loopback only, checked by config) and
// serves until ctx is done. ready gets the bound address.
func (a *Agent) serveAPI(ctx context.Context, ready chan<- string) error {
	ln, err := net.Listen("tcp", a.cfg.API.Listen)
	if err != nil {
		close(ready)
		return fmt.Errorf("local API: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		close(ready)
		return fmt.Errorf("local API: %s is not a loopback address", ln.Addr())
	}
	ready <- ln.Addr().String()
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// APIAddr is the local API's address once Run has bound it ("" before, or
// when there is no API).
func (a *Agent) APIAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.apiAddr
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Text    string `json:"text"` // for a person, in Chinese (words.go)
	} `json:"error"`
}

// unconfirmedError is the unconfirmed_payment error: an apiError with the
// payments that may have charged the customer.
type unconfirmedError struct {
	Error struct {
		Code    string        `json:"code"`
		Message string        `json:"message"`
		Text    string        `json:"text"`
		Open    []openPayment `json:"open"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeWorded(w, status, code, msg, codeWords[code])
}

func writeWorded(w http.ResponseWriter, status int, code, msg, text string) {
	var e apiError
	e.Error.Code, e.Error.Message, e.Error.Text = code, msg, text
	writeJSON(w, status, e)
}

// writeErr maps the flows' errors to statuses, with their words.
func writeErr(w http.ResponseWriter, err error) {
	status, code, msg := http.StatusInternalServerError, "internal", err.Error()
	switch {
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrInvalid):
		status, code = http.StatusBadRequest, "bad_request"
	case errors.Is(err, ErrBusy):
		status, code = http.StatusConflict, "busy"
	case errors.Is(err, ErrConflict):
		status, code = http.StatusConflict, "conflict"
	case errors.Is(err, ErrPINLocked):
		status, code = http.StatusTooManyRequests, "pin_locked"
	case errors.Is(err, ErrStaffAuth):
		// One answer whatever failed: errors do not tell which ids exist.
		writeError(w, http.StatusForbidden, "staff_auth", ErrStaffAuth.Error())
		return
	case errors.Is(err, ErrNoRoster):
		writeError(w, http.StatusForbidden, "no_roster", ErrNoRoster.Error())
		return
	case errors.Is(err, ErrDenied):
		status, code = http.StatusForbidden, "forbidden"
	}
	writeWorded(w, status, code, msg, wordsOf(err, code))
}

// readBody decodes a JSON body strictly into v.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad_request", "body: "+err.Error())
		return false
	}
	return true
}

func (a *Agent) apiStartPayment(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Amount  int64  `json:"amount"`
		Desc    string `json:"desc"`
		Deposit bool   `json:"deposit"`
		// ConfirmUnknown is the cashier's word that the customer of a
		// payment whose result is not in was not charged (see below).
		ConfirmUnknown bool `json:"confirm_unknown"`
	}
	if !readBody(w, r, &b) {
		return
	}
	if b.Amount <= 0 || b.Amount > MaxAmount {
		writeWorded(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("amount must be 1..%d fen", int64(MaxAmount)), "金额须在 ￥0.01 至 ￥"+printer.FormatAmount(MaxAmount)+" 之间")
		return
	}
	if len(b.Desc) > 128 {
		writeWorded(w, http.StatusBadRequest, "bad_request", "desc must be at most 128 bytes", "备注过长（最多 40 个汉字）")
		return
	}
	if !b.ConfirmUnknown {
		// A payment UNKNOWN (or waiting for a person) may have charged the
		// customer: charging them again needs the cashier's explicit word,
		// or the customer pays twice.
		open, err := a.unconfirmedPayments()
		if err != nil {
			writeErr(w, err)
			return
		}
		if len(open) > 0 {
			o := open[0]
			msg := fmt.Sprintf("单号 %s（￥%s）%s：顾客可能已付款，请先核对顾客的付款记录；确认未付款后再发起新的收款", o.OutTradeNo,
				printer.FormatAmount(o.Amount), map[bool]string{true: "需人工处理", false: "结果待确认"}[o.State == Attention])
			var e unconfirmedError
			e.Error.Code, e.Error.Message, e.Error.Text, e.Error.Open = "unconfirmed_payment", msg, msg, open
			writeJSON(w, http.StatusConflict, e)
			return
		}
	}
	p := Payment{Amount: b.Amount, Desc: b.Desc, Deposit: b.Deposit, Source: "api"}
	err := a.j.Update(func(tx *journal.Tx) error {
		no, err := orders.FreshNumber(tx, journal.Orders, a.numberGen("P"))
		if err != nil {
			return err
		}
		p.OutTradeNo = no
		return a.startPayment(tx, p)
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	a.link.Kick()
	a.goPay(a.runCtx, p.OutTradeNo)
	cur, _ := a.pays.Load(p.OutTradeNo)
	writeJSON(w, http.StatusCreated, PaymentView(cur))
}

func (a *Agent) apiGetPayment(w http.ResponseWriter, r *http.Request) {
	p, err := a.pays.Load(r.PathValue("no"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, PaymentView(p))
}

func (a *Agent) apiCancelPayment(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("no")
	p, err := a.pays.Update(no, func(p *Payment) error {
		if Settled(p.State) {
			return say("该收款已结束，不能取消", fmt.Errorf("%w: payment is %s", ErrConflict, p.State))
		}
		payment.MarkCancel(p)
		return nil
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	a.pays.Wake(no)
	writeJSON(w, http.StatusAccepted, PaymentView(p))
}

// apiOpenPayments lists the payments not finished (waiting for a code, in
// flight, UNKNOWN, waiting for a person), newest first, from the open
// index: a screen opened or reloaded shows them again.
func (a *Agent) apiOpenPayments(w http.ResponseWriter, r *http.Request) {
	out := []View{}
	err := a.j.View(func(tx *journal.Tx) error {
		return orders.EachOpen(tx, func(p Payment) error {
			if !Terminal(p.State) {
				out = append(out, PaymentView(p))
			}
			return nil
		})
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt > out[j].CreatedAt })
	writeJSON(w, http.StatusOK, out)
}

func (a *Agent) apiRefund(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Amount  int64  `json:"amount"`
		StaffID string `json:"staff_id"`
		PIN     string `json:"pin"`
	}
	if !readBody(w, r, &b) {
		return
	}
	ref, err := a.StartRefund(r.PathValue("no"), b.Amount, b.StaffID, b.PIN)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ref)
}

func (a *Agent) apiGetRefund(w http.ResponseWriter, r *http.Request) {
	ref, err := a.refunds.Load(r.PathValue("no"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ref)
}

// apiShiftStart clocks a staff member on. Rights are not the app's to
// give (anything on the device reaches loopback): they are the roster's.
// Once the platform has sent a roster with PINs, only a person on it
// starts a shift, with their PIN (a shift start closes the open one).
func (a *Agent) apiShiftStart(w http.ResponseWriter, r *http.Request) {
	var b struct {
		ID   string `json:"staff_id"`
		Name string `json:"staff_name"`
		PIN  string `json:"pin"`
	}
	if !readBody(w, r, &b) {
		return
	}
	if !validID(b.ID) || len(b.Name) > 64 {
		writeError(w, http.StatusBadRequest, "bad_request", "staff_id must be 1-64 printable ASCII characters, staff_name at most 64 bytes")
		return
	}
	s := Staff{ID: b.ID, Name: b.Name}
	known, err := a.authStaff(b.ID, b.PIN)
	switch {
	case err == nil:
		s.Name = cmp.Or(known.Name, b.Name)
	case errors.Is(err, ErrNoRoster):
		// The bare contract: no roster, nothing to check (and no rights).
	default:
		writeErr(w, err)
		return
	}
	var sh ShiftRecord
	err = a.j.Update(func(tx *journal.Tx) error {
		var err error
		sh, err = a.openShift(tx, s)
		if err != nil {
			return err
		}
		_, err = a.emit(tx, wire.TypeShiftChanged, "", wire.ShiftChanged{Open: true, StaffID: s.ID, StaffName: s.Name, Since: sh.Since})
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	a.afterShift(sh)
	writeJSON(w, http.StatusOK, sh)
}

// apiShiftEnd closes the open shift: the one on shift ends their own, or
// a manager ends anyone's, each with their PIN. Before the platform sends
// a roster with PINs there is no one to prove, and the shift closes as the
// bare contract has it (staff_id, if given, must be the one on shift).
func (a *Agent) apiShiftEnd(w http.ResponseWriter, r *http.Request) {
	var b struct {
		StaffID string `json:"staff_id"`
		PIN     string `json:"pin"`
	}
	if !readBody(w, r, &b) {
		return
	}
	s, err := a.authStaff(b.StaffID, b.PIN)
	proved := err == nil
	if err != nil && !errors.Is(err, ErrNoRoster) {
		writeErr(w, err)
		return
	}
	var sum printer.ShiftSummary
	err = a.j.Update(func(tx *journal.Tx) error {
		var err error
		only := b.StaffID // the shift to close ("" any, before a roster)
		if proved {
			only = ""
			if err := staff.OnShift(tx, s); err != nil {
				return err
			}
		}
		if sum, err = a.closeShift(tx, only); err != nil {
			return err
		}
		_, err = a.emit(tx, wire.TypeShiftSummary, "", summaryJSON(sum))
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	a.afterShift(sum)
	writeJSON(w, http.StatusOK, summaryJSON(sum))
}

// summaryJSON is a shift summary as shift.summary and the local API give
// it: start and end in Unix seconds, as the contract has every time, with
// start_ms and end_ms to the millisecond (where one shift's end meets the
// next one's start), and the computed net.
func summaryJSON(s printer.ShiftSummary) wire.ShiftSummary {
	var wallets []wire.WalletTotal
	for _, w := range s.ByWallet {
		wallets = append(wallets, wire.WalletTotal(w))
	}
	return wire.ShiftSummary{Store: s.Store, Device: s.Device, StaffID: s.StaffID, StaffName: s.StaffName,
		Start: s.Start.Unix(), End: s.End.Unix(), StartMS: s.Start.UnixMilli(), EndMS: s.End.UnixMilli(),
		PayCount: s.PayCount, PayAmount: s.PayAmount, RefundCount: s.RefundCount, RefundAmount: s.RefundAmount,
		DepositCount: s.DepositCount, DepositAmount: s.DepositAmount, ConsumeCount: s.ConsumeCount, ConsumeAmount: s.ConsumeAmount,
		UnfreezeCount: s.UnfreezeCount, UnfreezeAmount: s.UnfreezeAmount,
		ConsumeReleasedCount: s.ConsumeReleasedCount, ConsumeReleased: s.ConsumeReleased,
		ByWallet: wallets, Reprint: s.Reprint, Net: s.Net(), Wallets: wallets}
}

func (a *Agent) apiShiftSummary(w http.ResponseWriter, r *http.Request) {
	sum, err := a.ShiftSummary()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, summaryJSON(sum))
}

// window reads from and to (Unix seconds) from the query; the default is
// today in China Standard Time.
func (a *Agent) window(r *http.Request) (time.Time, time.Time, error) {
	cst := time.FixedZone("CST", 8*3600)
	now := a.now().In(cst)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, cst)
	to := from.Add(24 * time.Hour)
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return from, to, fmt.Errorf("%w: %s must be Unix seconds", ErrInvalid, name)
			}
			*dst = time.Unix(n, 0)
		}
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("%w: from must be before to", ErrInvalid)
	}
	return from, to, nil
}

func (a *Agent) apiSummary(w http.ResponseWriter, r *http.Request) {
	from, to, err := a.window(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s, err := a.TransactionSummary(from, to)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, summaryBody{s, s.From.Unix(), s.To.Unix(), s.Printed.Unix()})
}

// summaryBody is /v1/summary's body: the printed summary with its times
// in Unix seconds, as the contract has every time (the printer's keeps
// time.Time for its layout; these fields, shallower, replace its own).
type summaryBody struct {
	printer.TransactionSummary
	From    int64 `json:"from"`
	To      int64 `json:"to"`
	Printed int64 `json:"printed"`
}

func (a *Agent) apiSummaryPrint(w http.ResponseWriter, r *http.Request) {
	from, to, err := a.window(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	if a.printer == nil || a.pq == nil {
		writeError(w, http.StatusConflict, "no_printer", "this device has no printer")
		return
	}
	s, err := a.TransactionSummary(from, to)
	if err != nil {
		writeErr(w, err)
		return
	}
	id := "summary:" + strconv.FormatInt(a.now().UnixNano(), 10)
	err = a.j.Update(func(tx *journal.Tx) error {
		return a.pq.AddDoc(tx, id, "", s.Markup(a.pq.Profile().Columns))
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	a.pq.Kick()
	writeJSON(w, http.StatusAccepted, map[string]string{"job_id": id})
}

func (a *Agent) apiDeposits(w http.ResponseWriter, r *http.Request) {
	state := strings.ToUpper(r.URL.Query().Get("state"))
	switch state {
	case "", DepositFrozen, DepositConsumed, DepositReleased:
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "state must be frozen, consumed or released")
		return
	}
	if state == DepositFrozen {
		// What the front desk works on: every frozen deposit, one page.
		ds, err := a.Deposits()
		if err != nil {
			writeErr(w, err)
			return
		}
		if ds == nil {
			ds = []DepositView{}
		}
		writeJSON(w, http.StatusOK, ds)
		return
	}
	start, limit, err := pageParams(r, "")
	if err != nil {
		writeErr(w, err)
		return
	}
	ds, next, err := a.DepositsPage(state, start, limit)
	if err != nil {
		writeErr(w, err)
		return
	}
	if next != "" {
		w.Header().Set("X-Next-Cursor", next)
	}
	writeJSON(w, http.StatusOK, ds)
}

func (a *Agent) apiDeposit(w http.ResponseWriter, r *http.Request) {
	d, err := a.Deposit(r.PathValue("no"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *Agent) apiDepositOp(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Amount  int64  `json:"amount"`
			StaffID string `json:"staff_id"`
			PIN     string `json:"pin"`
		}
		if !readBody(w, r, &b) {
			return
		}
		if op == "unfreeze" && b.Amount != 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "unfreeze releases the whole deposit: no amount")
			return
		}
		d, err := a.StartDepositOp(r.PathValue("no"), op, b.Amount, b.StaffID, b.PIN)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, d)
	}
}

// Pages of GET /v1/orders: newest first, at most limit (default and
// most MaxOrdersPage) a page; X-Next-Cursor carries on where a full page
// stopped. Read from the time index: a page costs the same whatever the
// journal holds.
const MaxOrdersPage = 1000

func (a *Agent) apiOrders(w http.ResponseWriter, r *http.Request) {
	from, to, err := a.window(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	start, limit, err := pageParams(r, orders.TimeKey(to.UnixMilli(), ""))
	if err != nil {
		writeErr(w, err)
		return
	}
	floor := orders.TimeKey(from.UnixMilli(), "")
	out := []View{}
	next := ""
	err = a.j.View(func(tx *journal.Tx) error {
		return tx.SeekLast(journal.OrdersByTime, start, func(k string, _ []byte) (bool, error) {
			if k < floor {
				return false, nil
			}
			if len(out) == limit {
				next = hex.EncodeToString([]byte(last(out)))
				return false, nil
			}
			var p Payment
			ok, err := tx.Get(journal.Orders, k[8:], &p)
			if err != nil {
				a.log.Warn("journal record unreadable: skipped", "bucket", journal.Orders, "key", clip(k[8:], 64), "err", err)
				return true, nil
			}
			if ok {
				out = append(out, PaymentView(p))
			}
			return true, nil
		})
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	if next != "" {
		w.Header().Set("X-Next-Cursor", next)
	}
	writeJSON(w, http.StatusOK, out)
}

// pageParams reads a page's limit (1..MaxOrdersPage, default the most)
// and where it starts: before the cursor a previous page gave, or before
// top ("" for the newest) if that is earlier.
func pageParams(r *http.Request, top string) (start string, limit int, err error) {
	limit = MaxOrdersPage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxOrdersPage {
			return "", 0, fmt.Errorf("%w: limit must be 1..%d", ErrInvalid, MaxOrdersPage)
		}
		limit = n
	}
	start = top
	if c := r.URL.Query().Get("cursor"); c != "" {
		b, err := hex.DecodeString(c)
		if err != nil || len(b) < 8 {
			return "", 0, fmt.Errorf("%w: cursor must be an X-Next-Cursor this API gave", ErrInvalid)
		}
		if start == "" || string(b) < start {
			start = string(b)
		}
	}
	return start, limit, nil
}

// last is the time key of the last view of a page.
func last(out []View) string { v := out[len(out)-1]; return orders.TimeKey(v.CreatedAt, v.OutTradeNo) }

// apiDays lists the summaries of the days whose orders were retired
// (retire.go): ?from=YYYY-MM-DD&to=YYYY-MM-DD, both inclusive, default all.
func (a *Agent) apiDays(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	for _, d := range []string{from, to} {
		if _, err := time.Parse("2006-01-02", d); d != "" && err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "from and to are days: YYYY-MM-DD")
			return
		}
	}
	if to == "" {
		to = "9999-12-31"
	}
	ds, err := a.days(from, to)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ds)
}

func (a *Agent) apiReprint(w http.ResponseWriter, r *http.Request) {
	id, err := a.Reprint(r.PathValue("no"))
	if err != nil {
		if a.printer == nil {
			writeError(w, http.StatusConflict, "no_printer", err.Error())
		} else {
			writeError(w, http.StatusNotFound, "not_found", err.Error())
		}
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"job_id": id})
}

// apiEvents streams every local state change as server-sent events.
func (a *Agent) apiEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "streaming unsupported")
		return
	}
	// A bounded number of streams (the cashier app and a console or two):
	// each holds a goroutine and a buffer, and a caller that opens them by
	// the thousand must not starve the flows.
	if a.streams.Add(1) > MaxEventStreams {
		a.streams.Add(-1)
		writeError(w, http.StatusServiceUnavailable, "too_many_streams", fmt.Sprintf("at most %d event streams at a time", MaxEventStreams))
		return
	}
	defer a.streams.Add(-1)
	ch, cancel := a.subscribe()
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	st, _ := json.Marshal(a.localState(a.State()))
	rc.SetWriteDeadline(time.Now().Add(StreamWriteTimeout))
	fmt.Fprintf(w, "event: state\ndata: %s\n\n", st)
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case e := <-ch:
			data, err := json.Marshal(e.Data)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", strings.ReplaceAll(e.Kind, "\n", ""), data)
		}
		// A reader that stops reading is dropped, not waited for forever.
		rc.SetWriteDeadline(time.Now().Add(StreamWriteTimeout))
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// Bounds of the local API's event streams.
const (
	MaxEventStreams    = 16
	StreamWriteTimeout = 10 * time.Second
)

// openPayment is a payment whose result is not in, as the API lists it.
type openPayment struct {
	OutTradeNo string `json:"out_trade_no"`
	Amount     int64  `json:"amount"`
	State      string `json:"state"`
	CreatedAt  int64  `json:"created_at"`
}

// unconfirmedPayments lists the payments UNKNOWN or waiting for a person,
// newest first. The candidates come from the set paymentSaved keeps (no
// journal scan per sale); each is then read back from the journal, so an
// entry whose settled record is committed but whose commit handler has not
// yet run is not listed.
func (a *Agent) unconfirmedPayments() ([]openPayment, error) {
	a.payMu.Lock()
	nos := make([]string, 0, len(a.unconfirmed))
	for no := range a.unconfirmed {
		nos = append(nos, no)
	}
	a.payMu.Unlock()
	out := make([]openPayment, 0, len(nos))
	if len(nos) > 0 {
		err := a.j.View(func(tx *journal.Tx) error {
			for _, no := range nos {
				var p Payment
				ok, err := tx.Get(journal.Orders, no, &p)
				if err != nil {
					return err
				}
				if ok && (p.State == Unknown || p.State == Attention) {
					out = append(out, openPayment{OutTradeNo: p.OutTradeNo, Amount: p.Amount, State: p.State, CreatedAt: p.CreatedAt})
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt > out[j].CreatedAt })
	return out, nil
}

// noteUnconfirmed keeps p in the set of unconfirmed payments while it is
// UNKNOWN or ATTENTION, and out of it otherwise. Called once p's record is
// committed (and for every such record at start, by resumePayments).
func (a *Agent) noteUnconfirmed(p Payment) {
	a.payMu.Lock()
	defer a.payMu.Unlock()
	if p.State == Unknown || p.State == Attention {
		a.unconfirmed[p.OutTradeNo] = openPayment{OutTradeNo: p.OutTradeNo, Amount: p.Amount, State: p.State, CreatedAt: p.CreatedAt}
	} else {
		delete(a.unconfirmed, p.OutTradeNo)
	}
}

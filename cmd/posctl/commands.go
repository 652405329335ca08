package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// What posctl send knows of each command type (protocol §3, and how this
// agent answers each: device/dispatch.go and the accept* handlers): the
// body's fields, given as flags or key=value, and the answer that ends the
// wait, with what counts as the device refusing or failing.

// kind is a body field's JSON type.
type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindJSON // any JSON value: an object, an array
)

func (k kind) String() string {
	return [...]string{"string", "int", "bool", "JSON"}[k]
}

// field is one key of a command's body.
type field struct {
	Key   string // the JSON key
	Flag  string // the flag's name ("": Key with - for _)
	Kind  kind
	Usage string
}

func (f field) flagName() string {
	if f.Flag != "" {
		return f.Flag
	}
	return strings.ReplaceAll(f.Key, "_", "-")
}

// spec is one command type.
type spec struct {
	Type    string
	Summary string
	// Body is the wire struct the device decodes the body into (a zero
	// value; nil: the type has no body). posctl send decodes the body it
	// assembled into it as strictly as the device does and sends the
	// struct's encoding (sendReq.wireBody), so a key the device does not
	// know, or a value of the wrong type, is a command-line mistake here
	// rather than a bad_request from the device.
	Body   any
	Fields []field
	// Answers are the event types that answer it (ref = the command's
	// jti, or, with Key, the same business key), Progress those of them
	// that are not the end (told while waiting).
	Answers  []string
	Progress func(typ string, body map[string]any) bool
	// Key is the business key an answer may carry instead of the ref
	// (a pay.cancel of a running payment is answered by the payment's
	// pay.result, whose ref is the pay.collect's).
	Key string
	// NoAnswer: the device answers only when it refuses the command
	// (protocol §3 "—"): an error event. Silence is success.
	NoAnswer bool
	// Failed says why a final answer is a failure ("" when it is not).
	Failed func(typ string, body map[string]any) string
	// Defaults fills the body's missing keys.
	Defaults func(b map[string]any)
	Timeout  time.Duration // how long to wait by default
	Answer   string        // the answer, for the help
}

// noAnswerWait is how long a command the device does not answer is given to
// be refused: a refusal is journaled and sent at once.
const noAnswerWait = 2 * time.Second

// defaultTimeout is the wait for a command type posctl does not know.
const defaultTimeout = 15 * time.Second

func str(b map[string]any, k string) string {
	s, _ := b[k].(string)
	return s
}

// newRef makes a number for a body that needs one: PREFIX-HHMMSS-xxxx,
// China time.
func newRef(prefix string) string {
	return prefix + "-" + now().Format("150405") + "-" + mqtt.NewID()[:4]
}

// wireFields lists a wire body's fields, so the answers' flags cannot drift
// from what the device decodes.
func wireFields(v any, usage map[string]string) []field {
	var fs []field
	for _, f := range jsonFields(reflect.TypeOf(v)) {
		k := kindString
		switch f.Type.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32:
			k = kindInt
		case reflect.Bool:
			k = kindBool
		}
		fs = append(fs, field{Key: f.Key, Kind: k, Usage: usage[f.Key]})
	}
	return fs
}

// jsonField is one JSON key of a wire struct and its Go type.
type jsonField struct {
	Key  string
	Type reflect.Type
}

// jsonFields are the JSON keys of struct type t as encoding/json sees
// them, in order, an embedded struct's in its place (wire.ShiftStart's
// Staff).
func jsonFields(t reflect.Type) []jsonField {
	var fs []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && key == "" && f.Type.Kind() == reflect.Struct {
			fs = append(fs, jsonFields(f.Type)...)
			continue
		}
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		fs = append(fs, jsonField{Key: key, Type: f.Type})
	}
	return fs
}

func jsonKeys(t reflect.Type) []string {
	var ks []string
	for _, f := range jsonFields(t) {
		ks = append(ks, f.Key)
	}
	return ks
}

var answerNote = "the answer to a device request (give -ref JTI of the request)"

// specs are the command types in the order the help lists them.
var specs = []*spec{
	{
		Type:    wire.TypeNotifyPayment,
		Summary: "announce a payment (微信收款…) and print its receipt; once per order_id",
		Body:    wire.NotifyPayment{},
		Fields: []field{
			{Key: "order_id", Usage: "order id (default: a new one)"},
			{Key: "amount", Kind: kindInt, Usage: "amount in fen (12850 = ¥128.50)"},
			{Key: "wallet", Usage: "wechat, alipay, unionpay, bestpay or ecny"},
			{Key: "kind", Usage: "pay (default), refund, deposit, consume or unfreeze"},
			{Key: "print", Kind: kindBool, Usage: "print a receipt (default true)"},
			{Key: "copies", Kind: kindInt, Usage: "receipt copies, 0-5 (default 1)"},
			{Key: "out_trade_no", Usage: "the order a refund or deposit operation belongs to"},
			{Key: "desc", Usage: "what was sold, on the receipt"},
			{Key: "staff", Usage: "who took it, on the receipt"},
			{Key: "transaction_id", Usage: "the provider's transaction number"},
		},
		Answers: []string{wire.TypeNotifyDone},
		Answer:  "notify.done {order_id, announced, printed, duplicate, said}",
		Defaults: func(b map[string]any) {
			if _, ok := b["order_id"]; !ok {
				b["order_id"] = newRef("demo")
			}
			if _, ok := b["print"]; !ok {
				b["print"] = true
			}
			if _, ok := b["copies"]; !ok && b["print"] == true {
				b["copies"] = 1
			}
		},
	},
	{
		Type:    wire.TypePayCollect,
		Summary: "take a payment: the device asks for the customer's code and runs it",
		Body:    wire.PayCollect{},
		Fields: []field{
			{Key: "out_trade_no", Usage: "the order's number (default: a new one)"},
			{Key: "amount", Kind: kindInt, Usage: "amount in fen"},
			{Key: "desc", Usage: "what is sold"},
			{Key: "deposit", Kind: kindBool, Usage: "a deposit (押金): freeze, not charge"},
			{Key: "timeout_s", Kind: kindInt, Usage: "seconds to wait for the code, 0-600 (0: the device's pay.collect_timeout_ms)"},
		},
		Answers: []string{wire.TypePayProgress, wire.TypePayResult},
		Answer:  "pay.progress on each change, then pay.result; exit 0 only when PAID",
		Progress: func(typ string, b map[string]any) bool {
			return typ == wire.TypePayProgress && str(b, "state") != "ATTENTION"
		},
		Failed: func(typ string, b map[string]any) string {
			if st := str(b, "state"); st != "PAID" {
				return payFailure(b)
			}
			return ""
		},
		Defaults: func(b map[string]any) {
			if _, ok := b["out_trade_no"]; !ok {
				b["out_trade_no"] = newRef("C")
			}
		},
		Timeout: 3 * time.Minute,
	},
	{
		Type:    wire.TypePayCancel,
		Summary: "cancel a payment waiting for its code; reverse one in doubt",
		Body:    wire.OrderRef{},
		Fields: []field{
			{Key: "out_trade_no", Usage: "the payment's number"},
		},
		Answers: []string{wire.TypePayProgress, wire.TypePayResult},
		Answer:  "the payment's pay.result; exit 0 when CANCELLED or REVERSED",
		Key:     "out_trade_no",
		Progress: func(typ string, b map[string]any) bool {
			return typ == wire.TypePayProgress && str(b, "state") != "ATTENTION"
		},
		Failed: func(typ string, b map[string]any) string {
			switch str(b, "state") {
			case "CANCELLED", "REVERSED":
				return ""
			case "PAID":
				return "the payment is PAID: not cancelled (refund it instead)"
			}
			return payFailure(b)
		},
		Timeout: 3 * time.Minute,
	},
	{
		Type:     wire.TypePayStatus,
		Summary:  answerNote + ": pay.submit, pay.query, pay.reverse",
		Body:     wire.PayStatus{},
		Fields:   wireFields(wire.PayStatus{}, map[string]string{"op": "submit, query or reverse", "state": "SUCCESS, USERPAYING, NOTPAY, PAYERROR, CLOSED, REVOKED, REFUND, FAILED or UNKNOWN"}),
		NoAnswer: true,
	},
	{
		Type:     wire.TypeOrderFound,
		Summary:  answerNote + ": order.lookup (补单)",
		Body:     wire.OrderFound{},
		Fields:   wireFields(wire.OrderFound{}, nil),
		NoAnswer: true,
	},
	{
		Type:     wire.TypeRefundStatus,
		Summary:  answerNote + ": refund.request, refund.query",
		Body:     wire.RefundStatus{},
		Fields:   wireFields(wire.RefundStatus{}, nil),
		NoAnswer: true,
	},
	{
		Type:     wire.TypeDepositStatus,
		Summary:  answerNote + ": deposit.consume, deposit.unfreeze, deposit.query",
		Body:     wire.DepositStatus{},
		Fields:   wireFields(wire.DepositStatus{}, nil),
		NoAnswer: true,
	},
	{
		Type:    wire.TypePrintJob,
		Summary: "print a document (print markup, protocol §6); once per job_id",
		Body:    wire.PrintJob{},
		Fields: []field{
			{Key: "job_id", Usage: "the job's id (default: a new one)"},
			{Key: "copies", Kind: kindInt, Usage: "copies, 0-5"},
			{Key: "doc", Usage: "the document, in print markup (<C>, <B>, <QR>…)"},
		},
		Answers: []string{wire.TypePrintResult},
		Answer:  "print.result {job_id, status}: done (or queued, a job_id seen before); paper_out, cover_open, offline are told while the job waits",
		Progress: func(typ string, b map[string]any) bool {
			switch str(b, "status") {
			case "done", "failed", "queued":
				return false
			}
			return true
		},
		Failed: func(typ string, b map[string]any) string {
			if str(b, "status") == "failed" {
				return "print failed: " + str(b, "error")
			}
			return ""
		},
		Defaults: func(b map[string]any) {
			if _, ok := b["job_id"]; !ok {
				b["job_id"] = newRef("job")
			}
		},
		Timeout: time.Minute,
	},
	{
		Type:    wire.TypeShiftStart,
		Summary: "open a shift (closing any open one)",
		Body:    wire.ShiftStart{},
		Fields: []field{
			{Key: "staff_id", Usage: "the staff member's id"},
			{Key: "staff_name", Usage: "their name"},
			{Key: "refund", Kind: kindBool, Usage: "they hold the refund right (with pin_hash)"},
			{Key: "manager", Kind: kindBool, Usage: "the store manager (with pin_hash)"},
			{Key: "pin_hash", Usage: "their PIN's hash (posctl pin-hash): their roster entry"},
			{Key: "roster", Kind: kindJSON, Usage: "a whole roster {version, staff:[…]} to replace the device's"},
		},
		Answers: []string{wire.TypeShiftChanged},
		Answer:  "shift.changed {open, staff_id, staff_name, since}",
	},
	{
		Type:    wire.TypeShiftEnd,
		Summary: "close the shift and print its handover summary",
		Body:    wire.ShiftEnd{},
		Fields: []field{
			{Key: "staff_id", Usage: "whose shift (must be the open one's)"},
		},
		Answers: []string{wire.TypeShiftSummary},
		Answer:  wire.TypeShiftSummary,
	},
	{
		Type:    wire.TypeStaffRoster,
		Summary: "replace the staff roster (rights and PIN hashes)",
		Body:    wire.StaffRoster{},
		Fields: []field{
			{Key: "version", Kind: kindInt, Usage: "the roster's version (an older one is not applied)"},
			{Key: "staff", Kind: kindJSON, Usage: `[{"staff_id","staff_name","refund","manager","pin_hash"}, …]`},
		},
		Answers: []string{wire.TypeStaffRosterApplied},
		Answer:  "staff.roster.applied {version, staff, applied}",
	},
	{
		Type:    wire.TypeDeviceVolume,
		Summary: "set and keep the volume; the device says it (音量三)",
		Body:    wire.DeviceVolume{},
		Fields: []field{
			{Key: "level", Kind: kindInt, Usage: "0-10"},
		},
		Answers: []string{wire.TypeDeviceState},
		Answer:  "device.state (the whole state document)",
	},
	{
		Type:    wire.TypeDeviceSpeak,
		Summary: "say a text with the voice pack (digits, amounts, the phrase list)",
		Body:    wire.DeviceSpeak{},
		Fields: []field{
			{Key: "text", Usage: "at most 120 characters the voice pack can say"},
		},
		NoAnswer: true,
	},
	{
		Type:    wire.TypeConfigSet,
		Summary: "apply a config patch; the previous config runs again if it cannot connect",
		Body:    wire.ConfigSet{},
		Fields: []field{
			{Key: "version", Kind: kindInt, Usage: "the patch's version, above 0"},
			{Key: "patch", Kind: kindJSON, Usage: `config-file keys, e.g. {"store":{"name":"新店"}}`},
		},
		Answers: []string{wire.TypeConfigApplied, wire.TypeConfigRejected},
		Answer:  "config.applied, or config.rejected {reason} (exit 1)",
		Failed: func(typ string, b map[string]any) string {
			if typ == wire.TypeConfigRejected {
				return fmt.Sprintf("config rejected: %s %s", str(b, "reason"), str(b, "message"))
			}
			return ""
		},
		Timeout: 2 * time.Minute,
	},
	{
		Type:    wire.TypeOTAUpdate,
		Summary: "install firmware (the body posctl ota-sign prints: -json \"$(posctl ota-sign …)\")",
		Body:    wire.OTAUpdate{},
		Fields: []field{
			{Key: "version", Usage: "the firmware's version"},
			{Key: "url", Flag: "download-url", Usage: "https:// URL of the artifact"},
			{Key: "size", Kind: kindInt, Usage: "its size in bytes"},
			{Key: "sha256", Usage: "its SHA-256, hex"},
			{Key: "sig", Usage: "the Ed25519 signature of the manifest"},
			{Key: "allow_downgrade", Kind: kindBool, Usage: "signed: a device running a newer version installs it"},
		},
		Answers: []string{wire.TypeOTAProgress, wire.TypeOTAResult},
		Answer:  "ota.progress, then ota.result {status}: ok or current; failed, rolled_back exit 1",
		Progress: func(typ string, b map[string]any) bool {
			return typ == wire.TypeOTAProgress
		},
		Failed: func(typ string, b map[string]any) string {
			switch st := str(b, "status"); st {
			case "ok", "current":
				return ""
			default:
				return fmt.Sprintf("update %s: %s %s", st, str(b, "reason"), str(b, "message"))
			}
		},
		Timeout: 10 * time.Minute,
	},
	{
		// No Body: device.reboot has none (protocol §6.6) and this
		// firmware does not decode one; what is given is sent as given.
		Type:     wire.TypeDeviceReboot,
		Summary:  "restart cleanly (protocol §3; this firmware answers error unsupported)",
		NoAnswer: true,
	},
}

func payFailure(b map[string]any) string {
	msg := "payment " + str(b, "out_trade_no") + " " + str(b, "state")
	if c := str(b, "err_code"); c != "" {
		msg += " " + c
	}
	if m := str(b, "err_msg"); m != "" {
		msg += " (" + m + ")"
	}
	return msg
}

func specOf(typ string) *spec {
	for _, s := range specs {
		if s.Type == typ {
			return s
		}
	}
	return nil
}

func (s *spec) field(key string) *field {
	for i := range s.Fields {
		if s.Fields[i].Key == key {
			return &s.Fields[i]
		}
	}
	return nil
}

func (s *spec) isAnswer(typ string) bool {
	for _, a := range s.Answers {
		if a == typ {
			return true
		}
	}
	return false
}

func (s *spec) timeout() time.Duration {
	switch {
	case s.NoAnswer:
		return noAnswerWait
	case s.Timeout > 0:
		return s.Timeout
	}
	return defaultTimeout
}

func (s *spec) answerText() string {
	if s.NoAnswer {
		return fmt.Sprintf("none: only a refusal (error) answers; silence for %s is success", noAnswerWait)
	}
	return s.Answer
}

// bodyMap decodes a body for the verdicts ({} when it is not an object).
func bodyMap(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	json.Unmarshal(raw, &m)
	return m
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/posagent/posagent/wire"
)

// Every command posctl send knows names the wire struct the device decodes
// its body into, and each of its flags is a key of that struct, of the
// struct's JSON type: a flag the device does not decode would otherwise be
// a bad_request only once sent. Every key of the struct has a flag, unless
// listed in noFlag with the reason.
func TestSpecsBodies(t *testing.T) {
	// noFlag are body keys posctl deliberately offers no flag for
	// (-json and key=value still set them). None today.
	noFlag := map[string]string{}
	for _, s := range specs {
		if s.Body == nil {
			if s.Type != wire.TypeDeviceReboot {
				t.Errorf("%s names no wire body (spec.Body)", s.Type)
			}
			if len(s.Fields) != 0 {
				t.Errorf("%s has flags but no wire body", s.Type)
			}
			continue
		}
		bt := reflect.TypeOf(s.Body)
		if bt.Kind() != reflect.Struct || bt.PkgPath() != "github.com/posagent/posagent/wire" {
			t.Errorf("%s: Body is %v, want a struct of package wire", s.Type, bt)
			continue
		}
		keys := map[string]reflect.Type{}
		for _, f := range jsonFields(bt) {
			keys[f.Key] = f.Type
		}
		offered := map[string]bool{}
		for _, f := range s.Fields {
			offered[f.Key] = true
			ft, ok := keys[f.Key]
			if !ok {
				t.Errorf("%s: flag -%s sets %q, which %v does not decode (it has %s)", s.Type, f.flagName(), f.Key, bt, strings.Join(jsonKeys(bt), ", "))
				continue
			}
			if want := kindOf(ft); f.Kind != want {
				t.Errorf("%s: %s is a %s flag; %v's field is %v (%s)", s.Type, f.Key, f.Kind, bt, ft, want)
			}
		}
		for k := range keys {
			if !offered[k] && noFlag[s.Type+"."+k] == "" {
				t.Errorf("%s: %v's %q has no flag (add one, or say in noFlag why not)", s.Type, bt, k)
			}
		}
	}
}

// kindOf is the flag kind a field of Go type t takes.
func kindOf(t reflect.Type) kind {
	if t.Kind() == reflect.Pointer && t.Elem().Kind() != reflect.Struct {
		t = t.Elem() // *string, *int: required fields, absent unless given
	}
	switch t.Kind() {
	case reflect.String:
		return kindString
	case reflect.Int, reflect.Int64, reflect.Int32:
		return kindInt
	case reflect.Bool:
		return kindBool
	}
	return kindJSON
}

// A body struct's zero value goes and comes back as itself: a key posctl
// leaves out is sent as its zero value (wireBody), and the device must
// decode that as it decodes the key absent. A json.RawMessage without
// omitempty would not: nil is sent as null, which decodes as the patch
// "null".
func TestBodiesZeroRoundTrip(t *testing.T) {
	for _, s := range specs {
		if s.Body == nil {
			continue
		}
		zero := reflect.New(reflect.TypeOf(s.Body))
		raw, err := json.Marshal(zero.Interface())
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(s.Body))
		if err := decodeStrict(raw, back.Interface()); err != nil {
			t.Errorf("%s: %s: %v", s.Type, raw, err)
		}
		absent := reflect.New(reflect.TypeOf(s.Body))
		decodeStrict([]byte("{}"), absent.Interface())
		if !reflect.DeepEqual(back.Interface(), absent.Interface()) {
			t.Errorf("%s: the zero body %s decodes as %+v, {} as %+v", s.Type, raw, back.Elem(), absent.Elem())
		}
	}
}

func decodeStrict(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// The body posctl send publishes: decoded strictly into the type's wire
// struct and encoded from it; a key or a value the device would refuse is a
// command-line mistake (exit 2) before anything is sent; a type posctl does
// not know, and device.reboot, go as given.
func TestWireBody(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the JSON sent; "" a mistake
		err  string
	}{
		{args: []string{"notify.payment", "-amount", "12850", "-wallet", "wechat", "-order-id", "A1"},
			want: `{"order_id":"A1","amount":12850,"wallet":"wechat","kind":"","print":true,"copies":1}`},
		{args: []string{"device.speak", "text=六"}, want: `{"text":"六"}`},
		// Absent and null are the same to the device: text is required.
		{args: []string{"device.speak"}, want: `{"text":null}`},
		{args: []string{"device.volume", "-level", "0"}, want: `{"level":0}`},
		{args: []string{"config.set", "-version", "2"}, want: `{"version":2}`},
		{args: []string{"config.set", "-version", "2", "-patch", `{"store":{"name":"新店"}}`},
			want: `{"version":2,"patch":{"store":{"name":"新店"}}}`},
		{args: []string{"shift.start", "-staff-id", "s1", "-staff-name", "张三"},
			want: `{"staff_id":"s1","staff_name":"张三","refund":false,"manager":false}`},
		{args: []string{"shift.start", "-staff-id", "s1", "-pin-hash", "scrypt:x", "-refund", "-roster", `{"version":3,"staff":[{"staff_id":"s2"}]}`},
			want: `{"staff_id":"s1","staff_name":"","refund":true,"manager":false,"pin_hash":"scrypt:x","roster":{"version":3,"staff":[{"staff_id":"s2","staff_name":"","refund":false,"manager":false}]}}`},
		{args: []string{"staff.roster", "version=1", "staff=[]"}, want: `{"version":1,"staff":[]}`},
		{args: []string{"pay.status", "-ref", "r1", "-out-trade-no", "P1", "-state", "SUCCESS"},
			want: `{"out_trade_no":"P1","op":"","state":"SUCCESS","err_code":"","err_msg":"","transaction_id":"","paid_at":0,"wallet":"","amount":0,"recall":false}`},
		{args: []string{"frob.x", "n=5"}, want: `{"n":5}`},
		{args: []string{"device.reboot", "why=x"}, want: `{"why":"x"}`},

		// What the device would refuse: unknown keys, at the top and
		// inside, and values of the wrong type.
		{args: []string{"-json", `{"level":1,"x":"y"}`, "device.volume"}, err: `unknown field "x"`},
		{args: []string{"notify.payment", "-amount", "1", "printer=yes"}, err: `unknown field "printer"`},
		{args: []string{"staff.roster", `staff=[{"staff_id":"s1","pin":"1234"}]`}, err: `unknown field "pin"`},
		{args: []string{"shift.start", "-staff-id", "s1", "-roster", `{"staf":[]}`}, err: `unknown field "staf"`},
		{args: []string{"pay.collect", "-json", `{"amount":"5"}`}, err: "cannot unmarshal string"},
		{args: []string{"staff.roster", `staff={"staff_id":"s1"}`}, err: "cannot unmarshal object"},
	} {
		r, err := parseSend(tc.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		raw, err := r.wireBody()
		if tc.want == "" {
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "it takes ") {
				t.Errorf("%q: %v, want a usage error saying %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if string(raw) != tc.want {
			t.Errorf("%q: sends\n%s\nwant\n%s", tc.args, raw, tc.want)
		}
	}
}

package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The money-out requests, and only they, need the device's own key.
func TestMoneyOut(t *testing.T) {
	for typ, want := range map[string]bool{
		"pay.reverse": true, "refund.request": true, "deposit.consume": true, "deposit.unfreeze": true,
		"pay.submit": false, "pay.query": false, "order.lookup": false, "refund.query": false, "deposit.query": false,
		"notify.done": false, // an event, not a request
	} {
		if got := MoneyOut(typ); got != want {
			t.Errorf("MoneyOut(%s) = %v, want %v", typ, got, want)
		}
	}
	for typ, s := range Catalogue {
		if s.Alg != HS256 && s.Alg != PS256 || (s.Alg == PS256 && s.Class != Request) {
			t.Errorf("%s (%s) signed %q: only device requests may be PS256", typ, s.Class, s.Alg)
		}
	}
}

// Every message type named here is in the contract a platform team reads
// (docs/protocol.md), and every device request has its signing.
func TestTypesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				typ, _ := strconv.Unquote(v.(*ast.BasicLit).Value)
				n++
				if !strings.Contains(string(doc), "`"+typ+"`") {
					t.Errorf("%s is not in docs/protocol.md", typ)
				}
				if want := classOf(f, spec); Catalogue[typ].Class != want {
					t.Errorf("%s is a %s in types.go, a %s in Catalogue", typ, want, Catalogue[typ].Class)
				}
			}
		}
	}
	if n < 40 {
		t.Fatalf("read %d types from types.go", n)
	}
	if len(Catalogue) != n {
		t.Errorf("Catalogue holds %d types, types.go %d", len(Catalogue), n)
	}
}

// classOf is the class of the const block spec is in, by its doc comment
// (Commands:, Events:, Requests:, Answers:).
func classOf(f *ast.File, spec ast.Spec) Class {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Doc == nil {
			continue
		}
		for _, s := range g.Specs {
			if s != spec {
				continue
			}
			for prefix, c := range map[string]Class{"Commands:": Command, "Events:": Event, "Requests:": Request, "Answers:": Answer} {
				if strings.HasPrefix(g.Doc.Text(), prefix) {
					return c
				}
			}
		}
	}
	return 0
}

// Every JSON field of every body here is in docs/protocol.md: a field
// renamed in a struct (which both sides share, so both still build) breaks
// a platform built from the docs, and this test.
func TestBodyFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	bodies := []any{PaySubmit{}, PayStatus{}, OrderFound{}, RefundRequest{}, RefundStatus{}, DepositRequest{},
		DepositStatus{}, OrderRef{}, RefundQuery{}, PayResult{}, PayProgress{}, RefundResult{}, DepositResult{},
		DeviceHello{}, ShiftChanged{}, StaffRosterApplied{}, DeviceStorage{}, StorageLost{}, ShiftSummary{}, WalletTotal{},
		PayCollect{}, NotifyPayment{}, PrintJob{}, DeviceSpeak{}, DeviceVolume{}, ShiftEnd{}, ConfigSet{}, OTAUpdate{}, NotifyDone{}, PrintResult{}, DeviceState{}, DevicePay{}, DeviceShift{}, Error{}, ConfigApplied{}, ConfigRejected{}, OTAProgress{}, OTAResult{},
		ShiftStart{}, StaffRoster{}, Staff{}}
	n := 0
	var check func(rt reflect.Type)
	check = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				check(f.Type) // embedded: its fields are the body's (ShiftStart's Staff)
				continue
			}
			if name == "" || name == "-" {
				t.Errorf("%s.%s has no JSON name", rt.Name(), f.Name)
				continue
			}
			n++
			if !strings.Contains(string(doc), "`"+name+"`") && !strings.Contains(string(doc), name+":") && !strings.Contains(string(doc), ", "+name) &&
				!strings.Contains(string(doc), "."+name+"`") {
				t.Errorf("%s field %q is not in docs/protocol.md", rt.Name(), name)
			}
		}
	}
	for _, spec := range Catalogue {
		if spec.Body != nil {
			bodies = append(bodies, spec.Body) // a body added to the catalogue is checked too
		}
	}
	for _, b := range bodies {
		check(reflect.TypeOf(b))
	}
	if n < 60 {
		t.Fatalf("read %d fields", n)
	}
}

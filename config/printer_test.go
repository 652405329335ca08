package config

import (
	"errors"
	"strings"
	"testing"
)

func TestPrinterModelAndLogo(t *testing.T) {
	for _, tc := range []struct {
		doc string
		key string // "" when valid
	}{
		{base(`,"printer":{"model":"epson-tm-t82iii","paper_mm":80}`), ""},
		{base(`,"printer":{"model":"epson-tm-t82iii"}`), ""}, // 58 mm paper in an 80 mm printer
		{base(`,"printer":{"model":"xprinter-xp58iih","logo":"/etc/posagent/logo.PNG"}`), ""},
		{base(`,"printer":{"model":"xprinter-xp58iih","paper_mm":80}`), "printer.model"},
		{base(`,"printer":{"model":"toaster"}`), "printer.model"},
		{base(`,"printer":{"logo":"/etc/logo.bmp"}`), "printer.logo"},
	} {
		_, err := Parse(strings.NewReader(tc.doc))
		var ke *KeyError
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s: %v", tc.doc, err)
		case tc.key != "" && (!errors.As(err, &ke) || ke.Key != tc.key):
			t.Errorf("%s: err %v, want key %s", tc.doc, err, tc.key)
		}
	}
}

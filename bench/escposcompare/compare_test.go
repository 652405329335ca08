// Package escposcompare measures posagent's ESC/POS encoder against the
// best other Go encoder that can be fetched here, github.com/hennedo/escpos
// v0.0.1 (kenshaw/escpos and others are not served by the module proxy).
// It is a module of its own so that the main module gains no dependency
// (hennedo/escpos needs cgo iconv for GBK).
//
//	cd bench/escposcompare && go test -bench . -benchmem
package escposcompare

import (
	"bytes"
	"testing"
	"time"

	"github.com/hennedo/escpos"

	"github.com/posagent/posagent/printer"
)

// receipt is the typical payment receipt both encoders print.
func receipt() printer.Receipt {
	return printer.Receipt{Kind: printer.KindPay, Store: "老王小卖部", Device: "SN0001", Staff: "张三",
		OrderID: "P2024010200001", Wallet: "wechat", TransactionID: "4200002024010212345678",
		Amount: 12850, Time: time.Date(2024, 1, 2, 7, 4, 5, 0, time.UTC)}
}

// hennedoJob prints the same lines, styles and cut with hennedo/escpos:
// the layout (posagent's, decoded from its own bytes) is the same, only the
// encoding differs.
func hennedoJob(doc printer.Doc) []byte {
	var out bytes.Buffer
	e := escpos.New(&out)
	e.Initialize()
	for _, b := range doc.Blocks {
		switch b.Kind {
		case printer.TextLine:
			e.Style.Justify = uint8(b.Align)
			if len(b.Runs) == 0 {
				e.Style.Width, e.Style.Height, e.Style.Bold = 1, 1, false
				e.WriteGBK("")
			}
			for _, r := range b.Runs {
				e.Style.Bold = r.Bold
				e.Style.Width, e.Style.Height = 1, 1
				if r.Large {
					e.Style.Width, e.Style.Height = 2, 2
				}
				e.WriteGBK(r.Text)
			}
			e.LineFeed()
		case printer.Feed:
			e.LineFeedD(uint8(b.Lines))
		case printer.CutMark:
			e.Cut()
		}
	}
	e.Print()
	return out.Bytes()
}

func ours() []byte {
	p := printer.Generic58()
	return printer.Encode(receipt().Markup(p.Columns), p)
}

func TestSameReceipt(t *testing.T) {
	doc, err := printer.Decode(ours())
	if err != nil {
		t.Fatal(err)
	}
	h := hennedoJob(doc)
	// Every line's GB text is in both.
	for _, l := range doc.Lines {
		if l == "" {
			continue
		}
		gb := printer.Encode(l, printer.Profile{Columns: 200})
		gb = bytes.TrimSuffix(bytes.TrimPrefix(gb, []byte{0x1b, '@', 0x1c, '&'}), []byte{'\n', 0x1b, 'd', 4})
		if !bytes.Contains(h, gb) {
			t.Errorf("hennedo output lacks %q", l)
		}
	}
	t.Logf("payment receipt: posagent %d bytes, hennedo/escpos %d bytes", len(ours()), len(h))
}

func BenchmarkPosagentPaymentReceipt(b *testing.B) {
	p := printer.Generic58()
	r := receipt()
	var n int
	for b.Loop() {
		n = len(printer.Encode(r.Markup(p.Columns), p))
	}
	b.ReportMetric(float64(n), "bytes/receipt")
}

func BenchmarkHennedoPaymentReceipt(b *testing.B) {
	doc, _ := printer.Decode(ours())
	var n int
	for b.Loop() {
		n = len(hennedoJob(doc))
	}
	b.ReportMetric(float64(n), "bytes/receipt")
}

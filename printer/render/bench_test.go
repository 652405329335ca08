package render

import (
	"testing"
	"time"

	"github.com/posagent/posagent/printer"
)

// BenchmarkWireVsPrint reports, for typical receipts, the bytes, the time
// they take on a serial line at 9600 and 115200 baud (8N1: 10 bits a byte),
// and the time the printer takes to print them: paper length (from the
// rendered height, 8 dots/mm at 203 dpi) over the profile's print speed
// (90 mm/s for the 58 mm printers: Xprinter XP-58IIH and GPrinter GP-5890X
// data sheets). The wire is the bottleneck where wire > print.
func BenchmarkWireVsPrint(b *testing.B) {
	base := printer.Receipt{Kind: printer.KindPay, Store: "老王小卖部", Device: "SN0001", Staff: "张三",
		OrderID: "P2024010200001", Wallet: "wechat", TransactionID: "4200002024010212345678",
		Amount: 12850, Time: time.Date(2024, 1, 2, 7, 4, 5, 0, time.UTC)}
	logo := printer.NewBitmap(384, 120)
	for y := 0; y < logo.H; y++ {
		for x := y % 4; x < logo.W; x += 4 {
			logo.Set(x, y)
		}
	}
	for _, tc := range []struct {
		name  string
		model string
		kind  string
		logo  *printer.Bitmap
	}{
		{"payment-generic58", "generic-58", printer.KindPay, nil},
		{"deposit-native-generic58", "generic-58", printer.KindDeposit, nil},
		{"deposit-rasterQR-xp58iih", "xprinter-xp58iih", printer.KindDeposit, nil},
		{"payment-logo-generic58", "generic-58", printer.KindPay, logo},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, _ := printer.Lookup(tc.model, 58)
			r := base
			r.Kind = tc.kind
			var job []byte
			var height int
			for b.Loop() {
				job = printer.EncodeWith(r.Markup(p.Columns), p, printer.Options{Logo: tc.logo})
				img, _, err := Render(job, p.Dots)
				if err != nil {
					b.Fatal(err)
				}
				height = img.Bounds().Dy()
			}
			mm := float64(height) / 8
			b.ReportMetric(float64(len(job)), "bytes")
			b.ReportMetric(float64(len(job))*10/9600*1000, "wire-ms@9600")
			b.ReportMetric(float64(len(job))*10/115200*1000, "wire-ms@115200")
			b.ReportMetric(mm, "paper-mm")
			b.ReportMetric(mm/float64(p.SpeedMM)*1000, "print-ms")
		})
	}
}

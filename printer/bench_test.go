package printer

import (
	"strings"
	"testing"
)

func BenchmarkEncodeLongWord(b *testing.B) {
	doc := strings.Repeat("a", 64<<10)
	for b.Loop() {
		Encode(doc, Profile{Columns: 99})
	}
}

func BenchmarkEncodeOpenQR(b *testing.B) {
	doc := strings.Repeat("<QR>", 16<<10)
	for b.Loop() {
		Encode(doc, Generic58())
	}
}

func BenchmarkEncodeReceipt(b *testing.B) {
	doc := Receipt{Kind: KindDeposit, Store: "老王小卖部", OrderID: "D2024010200001", Amount: 12850}.Markup(32)
	for b.Loop() {
		Encode(doc, Generic58())
	}
}

// paymentReceipt is the typical receipt of the benchmarks: a WeChat
// payment on 58 mm paper.
func paymentReceipt() Receipt {
	return Receipt{Kind: KindPay, Store: "老王小卖部", Device: "SN0001", Staff: "张三",
		OrderID: "P2024010200001", Wallet: "wechat", TransactionID: "4200002024010212345678",
		Amount: 12850, Time: goldenTime}
}

// BenchmarkEncodePaymentReceipt: layout and encoding of a typical payment
// receipt, and its size in bytes (the bench/escposcompare module sets it
// against hennedo/escpos).
func BenchmarkEncodePaymentReceipt(b *testing.B) {
	p := Generic58()
	r := paymentReceipt()
	var n int
	for b.Loop() {
		n = len(Encode(r.Markup(p.Columns), p))
	}
	b.ReportMetric(float64(n), "bytes/receipt")
}

// BenchmarkEncodeDepositRaster: the deposit receipt on a printer without
// native QR (Xprinter XP-58IIH): the QR goes as raster strips.
func BenchmarkEncodeDepositRaster(b *testing.B) {
	p, _ := Lookup("xprinter-xp58iih", 58)
	r := paymentReceipt()
	r.Kind = KindDeposit
	var n int
	for b.Loop() {
		n = len(Encode(r.Markup(p.Columns), p))
	}
	b.ReportMetric(float64(n), "bytes/receipt")
}

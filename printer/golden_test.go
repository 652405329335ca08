package printer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current encoder")

// goldenTime is 15:04:05 in Beijing.
var goldenTime = time.Date(2024, 1, 2, 7, 4, 5, 0, time.UTC)

// templates are the documents every profile is checked against, one per
// template the agent prints.
func templates() map[string]func(cols int) string {
	r := Receipt{Store: "老王小卖部", Device: "SN0001", Staff: "张三", OrderID: "P2024010200001",
		Wallet: "wechat", TransactionID: "4200002024010212345678", Amount: 12850, Time: goldenTime}
	kind := func(k string, mod func(*Receipt)) func(int) string {
		return func(cols int) string {
			x := r
			x.Kind = k
			if mod != nil {
				mod(&x)
			}
			return x.Markup(cols)
		}
	}
	shift := ShiftSummary{Store: "老王小卖部", Device: "SN0001", StaffID: "s01", StaffName: "张三",
		Start: goldenTime.Add(-8 * time.Hour), End: goldenTime, PayCount: 42, PayAmount: 523400,
		RefundCount: 1, RefundAmount: 1200, DepositCount: 3, DepositAmount: 150000, ConsumeCount: 2, ConsumeAmount: 56000,
		UnfreezeCount: 1, UnfreezeAmount: 50000,
		ByWallet: []WalletTotal{{"wechat", 30, 400000, ""}, {"alipay", 12, 123400, ""}}}
	tx := TransactionSummary{Store: "老王小卖部", Device: "SN0001", From: goldenTime.Add(-24 * time.Hour), To: goldenTime,
		Count: 120, Amount: 1520000, Discount: 20000, Settled: 1500000, RefundCount: 2, Refunded: 3000,
		ByWallet: []WalletTotal{{"wechat", 80, 1000000, ""}, {"alipay", 40, 500000, ""}}, Printed: goldenTime}
	return map[string]func(int) string{
		"pay":      kind(KindPay, nil),
		"pay-copy": kind(KindPay, func(x *Receipt) { x.Copy, x.Copies, x.Reprint = 2, 2, true }),
		"refund":   kind(KindRefund, func(x *Receipt) { x.RefundNo = "R2024010200001"; x.Amount = 1200 }),
		"deposit":  kind(KindDeposit, func(x *Receipt) { x.OrderID = "D2024010200001"; x.Amount = 50000 }),
		"consume": kind(KindConsume, func(x *Receipt) {
			x.OrderID, x.RequestNo, x.Amount, x.Frozen = "D2024010200001", "C2024010200001", 28000, 50000
		}),
		"unfreeze": kind(KindUnfreeze, func(x *Receipt) {
			x.OrderID, x.RequestNo, x.Amount = "D2024010200001", "U2024010200001", 50000
		}),
		"shift":       func(cols int) string { return shift.Markup(cols) },
		"transaction": func(cols int) string { return tx.Markup(cols) },
	}
}

// TestGolden pins the bytes of every template on every profile: a change
// to the encoder shows up as a diff to review, then `go test -update`.
func TestGolden(t *testing.T) {
	for name, doc := range templates() {
		for _, model := range Models() {
			for _, paper := range []int{58, 80} {
				p, err := Lookup(model, paper)
				if err != nil {
					continue // an 80 mm layout on a 58 mm-only model
				}
				file := filepath.Join("testdata", "golden", name+"."+model+"."+strconv.Itoa(paper)+".golden")
				t.Run(filepath.Base(file), func(t *testing.T) {
					got := Encode(doc(p.Columns), p)
					d, err := Decode(got)
					if err != nil {
						t.Fatalf("strict decode of our own output: %v", err)
					}
					for _, blk := range d.Blocks {
						w := Width(blk.Text)
						if blk.Large {
							w *= 2
						}
						if blk.Kind == TextLine && w > p.Columns {
							t.Errorf("line %q is %d columns on %d", blk.Text, w, p.Columns)
						}
						if blk.Kind == Raster && blk.Image.W > p.Dots {
							t.Errorf("image %d dots wide on %d", blk.Image.W, p.Dots)
						}
					}
					if *update {
						os.MkdirAll(filepath.Dir(file), 0o755)
						if err := os.WriteFile(file, got, 0o644); err != nil {
							t.Fatal(err)
						}
						return
					}
					want, err := os.ReadFile(file)
					if err != nil {
						t.Fatalf("%v (run go test -update to create it)", err)
					}
					if !bytes.Equal(got, want) {
						wd, _ := Decode(want)
						t.Errorf("bytes differ from %s (%d vs %d bytes); got:\n%s\nwant:\n%s", file, len(got), len(want), d.Text(), wd.Text())
					}
				})
			}
		}
	}
}

// TestGoldenCapabilities checks that each profile's capabilities show in
// its bytes: native codes only where the profile has them, a cut only with
// a cutter.
func TestGoldenCapabilities(t *testing.T) {
	doc := templates()["deposit"]
	for _, model := range Models() {
		p, _ := Lookup(model, 58)
		b := Encode(doc(p.Columns), p)
		d, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(d.QR) == 1; got != p.NativeQR {
			t.Errorf("%s: native QR %v, profile says %v", model, got, p.NativeQR)
		}
		if got := len(d.Barcodes) == 1; got != p.Code128 {
			t.Errorf("%s: native Code128 %v, profile says %v", model, got, p.Code128)
		}
		if got := bytes.Contains(b, []byte{gs, 'V'}); got != p.Cutter {
			t.Errorf("%s: cut %v, profile says %v", model, got, p.Cutter)
		}
		raster := strings.Count(d.Text(), "[image ")
		if want := !p.NativeQR || !p.Code128; (raster > 0) != want {
			t.Errorf("%s: %d raster images", model, raster)
		}
	}
}

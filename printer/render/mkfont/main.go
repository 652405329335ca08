// Command mkfont makes the renderer's embedded font, glyphs.bin.gz, from
// GNU Unifont's unifont.hex (Debian package unifont:
// /usr/share/unifont/unifont.hex). It keeps what a Chinese receipt
// printer can print: printable ASCII and every character of GBK (the
// two-byte part of GB18030), plus the fullwidth forms.
//
// Unifont is dual-licensed under the SIL Open Font License 1.1 and the GNU
// GPL 2+ with the font embedding exception; the subset is used under the
// OFL (see ../OFL.txt).
//
//	go run ./printer/render/mkfont /usr/share/unifont/unifont.hex printer/render/glyphs.bin.gz
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mkfont unifont.hex out.bin.gz")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "mkfont:", err)
		os.Exit(1)
	}
}

// wanted is the set of runes a receipt can show.
func wanted() map[rune]bool {
	w := map[rune]bool{}
	for r := rune(0x20); r < 0x7f; r++ {
		w[r] = true
	}
	for r := rune(0xff01); r <= 0xff5e; r++ {
		w[r] = true
	}
	w['￥'], w['¥'], w['·'], w['…'], w['—'], w['“'], w['”'] = true, true, true, true, true, true, true
	dec := simplifiedchinese.GBK.NewDecoder()
	for hi := 0x81; hi <= 0xfe; hi++ {
		for lo := 0x40; lo <= 0xfe; lo++ {
			if lo == 0x7f {
				continue
			}
			s, err := dec.Bytes([]byte{byte(hi), byte(lo)})
			if err != nil {
				continue
			}
			for _, r := range string(s) {
				if r != '\ufffd' && r < 0x10000 {
					w[r] = true
				}
			}
		}
	}
	return w
}

// Format (all big-endian), gzipped: per glyph uint16 rune, uint8 width in
// dots (8 or 16), then 16 rows of width/8 bytes, in rune order.
func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	want := wanted()
	type glyph struct {
		r    rune
		bits []byte
	}
	var gs []glyph
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		code, bits, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(code, 16, 32)
		if err != nil || n > 0xffff || !want[rune(n)] {
			continue
		}
		b, err := hex.DecodeString(bits)
		if err != nil || (len(b) != 16 && len(b) != 32) {
			return fmt.Errorf("glyph %s: bad bitmap", code)
		}
		gs = append(gs, glyph{rune(n), b})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].r < gs[j].r })
	o, err := os.Create(out)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(o, gzip.BestCompression)
	for _, g := range gs {
		var h [3]byte
		binary.BigEndian.PutUint16(h[:], uint16(g.r))
		h[2] = byte(len(g.bits) / 2)
		zw.Write(h[:])
		zw.Write(g.bits)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Printf("%d glyphs\n", len(gs))
	return o.Close()
}

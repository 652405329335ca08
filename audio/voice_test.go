package audio

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/posagent/posagent/drivers/audioout"
)

// allUnits is the unit list the pack must hold (voice/units.tsv).
var allUnits = strings.Fields(`零 一 二 三 四 五 六 七 八 九 两 十 百 千 万 亿 点 元 角 分
	微信收款 支付宝收款 云闪付收款 翼支付收款 数字人民币收款 收款 退款 押金冻结 押金消费 押金解冻
	请出示付款码 支付成功 支付失败 结果待确认 网络已连接 网络断开 配置成功 配置失败 打印机缺纸 补播
	音量 余额不足 付款码已过期 付款码无效 无法识别付款码 系统繁忙 银行系统异常 订单已关闭 订单已撤销
	订单已支付 订单号重复 支付超时 交易已取消 请重新扫码 已恢复原配置
	二维码已过期 二维码时间无效 二维码已使用 二维码无效 非本机二维码 配置内容有误 设备忙
	需人工处理 未找到订单 订单已退款 押金订单 退款失败 存储故障 存储空间已满 存储已恢复
	不允许退款 不支持此卡 不支持部分退款 业务错误 买卖家相同 买家未实名 买家状态异常 买家账户异常 交易受限 交易已冻结 交易已完结 付款人不一致 付款开关已关闭 余额支付已关闭 参数错误 商户余额不足 商户未开通 商户暂停收款 商户状态异常 商户账户冻结 商户配置错误 已过撤销期限 已过退款期限 押金单号错误 押金已完结 押金已解冻 押金未冻结 支付有风险 无可用支付方式 无法撤销 未找到退款 用户账户异常 订单处理中 订单状态错误 请求无效 账户异常 超过付款限额 超过收款限额 退款单号重复 退款金额无效 退款金额超限 金额超过押金 金额超过限额 非押金订单`)

func rms(pcm []int16) float64 {
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

func TestDefaultVoiceHasEveryUnitAudible(t *testing.T) {
	v := DefaultVoice()
	if got := len(v.Units()); got != len(allUnits) {
		t.Errorf("pack has %d units, want %d", got, len(allUnits))
	}
	for _, u := range allUnits {
		clip := v.Clip(u)
		if len(clip) == 0 {
			t.Errorf("no clip for %s", u)
			continue
		}
		// Clips are peak-normalised to -3 dBFS; speech sits around -20 dBFS
		// RMS. Below -40 dBFS (328) a clip is effectively silent.
		if r := rms(clip); r < 328 {
			t.Errorf("clip %s: RMS %.0f, too quiet", u, r)
		}
		if d := len(clip) * 1000 / SampleRate; d < 100 || d > 3000 {
			t.Errorf("clip %s lasts %d ms", u, d)
		}
	}
}

func TestRenderAnnouncement(t *testing.T) {
	v := DefaultVoice()
	text := "微信收款一百二十八点五元"
	units, err := v.Split(text)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(units, "|"); got != "微信收款|一|百|二|十|八|点|五|元" {
		t.Fatalf("Split = %s", got)
	}
	pcm, err := v.Render(text)
	if err != nil {
		t.Fatal(err)
	}
	clips := 0
	for _, u := range units {
		clips += len(v.Clip(u))
	}
	// One phrase gap, then seven gaps between the eight amount units.
	want := clips + (phraseGapMs+7*wordGapMs)*SampleRate/1000
	if len(pcm) != want {
		t.Errorf("Render gave %d samples, want clips %d + gaps = %d", len(pcm), clips, want)
	}
	if d := float64(len(pcm)) / SampleRate; d < 1.5 || d > 6 {
		t.Errorf("announcement lasts %.2f s", d)
	}
	if r := rms(pcm); r < 328 {
		t.Errorf("RMS %.0f, too quiet", r)
	}
}

func TestRenderPauseAndEmpty(t *testing.T) {
	v := DefaultVoice()
	a, _ := v.Render("支付成功")
	b, err := v.Render("支付成功，补播")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(a) + pauseMs*SampleRate/1000 + len(v.Clip("补播")); len(b) != want {
		t.Errorf("with a pause: %d samples, want %d", len(b), want)
	}
	if pcm, err := v.Render(""); err != nil || len(pcm) != 0 {
		t.Errorf("Render(\"\") = %d samples, %v", len(pcm), err)
	}
}

func TestRenderUnknown(t *testing.T) {
	for text, bad := range map[string]string{"微信收款x元": `'x'`, "一元到": `'到'`, "收到一元": `'收'`, "1元": `'1'`} {
		pcm, err := DefaultVoice().Render(text)
		if !errors.Is(err, ErrUnknownUnit) || !strings.Contains(err.Error(), bad) {
			t.Errorf("Render(%q) = %v; want ErrUnknownUnit naming %s", text, err, bad)
		}
		if pcm != nil {
			t.Errorf("Render(%q) returned samples with its error", text)
		}
	}
}

func TestLoadVoiceFormats(t *testing.T) {
	raw := make([]byte, 2*400)
	for i := range 400 {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(int16(i*10)))
	}
	wavOK := audioout.EncodeWAV(make([]int16, 400))
	wav8k := append([]byte(nil), wavOK...)
	binary.LittleEndian.PutUint32(wav8k[24:], 8000)
	man := func(clips map[string]string) *fstest.MapFile {
		b, _ := json.Marshal(map[string]any{"sample_rate": 16000, "clips": clips})
		return &fstest.MapFile{Data: b}
	}
	pcm := make([]int16, 401)
	adpcm := EncodeADPCM(pcm)
	v, err := LoadVoice(fstest.MapFS{
		"manifest.json": man(map[string]string{"一": "a.pcm", "一元": "b.wav", "元": "c.adpcm"}),
		"a.pcm":         {Data: raw},
		"b.wav":         {Data: wavOK},
		"c.adpcm":       {Data: adpcm},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Clip("一")) != 400 || len(v.Clip("一元")) != 400 || len(v.Clip("元")) != 402 {
		t.Errorf("clip lengths %d, %d, %d", len(v.Clip("一")), len(v.Clip("一元")), len(v.Clip("元")))
	}
	// Longest match: 一元 is one unit, 一一 two.
	if u, _ := v.Split("一一元"); strings.Join(u, "|") != "一|一元" {
		t.Errorf("Split = %v", u)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no manifest":       {},
		"missing":           {"manifest.json": man(map[string]string{"一": "gone.pcm"})},
		"8 kHz wav":         {"manifest.json": man(map[string]string{"一": "a.wav"}), "a.wav": {Data: wav8k}},
		"odd raw":           {"manifest.json": man(map[string]string{"一": "a.pcm"}), "a.pcm": {Data: raw[:3]}},
		"empty":             {"manifest.json": man(map[string]string{"一": "a.pcm"}), "a.pcm": {Data: nil}},
		"mp3":               {"manifest.json": man(map[string]string{"一": "a.mp3"}), "a.mp3": {Data: raw}},
		"no clips":          {"manifest.json": man(map[string]string{})},
		"adpcm header only": {"manifest.json": man(map[string]string{"一": "a.adpcm"}), "a.adpcm": {Data: []byte("IMAZ\x00\x00\x00\x00")}},
	} {
		if _, err := LoadVoice(fsys); err == nil {
			t.Errorf("%s: LoadVoice succeeded", name)
		}
	}
	// An .adpcm clip is not read at load (reading it would map it): one
	// that is no whole ADPCM fails as it is said, never as noise, and a
	// directory's pack is decoded whole at load (TestLoadVoiceDir).
	for name, data := range map[string][]byte{
		"adpcm cut short": adpcm[:len(adpcm)-1], "raw as adpcm": raw, "adpcm of nothing": EncodeADPCM(nil),
		"uncompressed cut short": uncompressed(EncodeADPCM(pcm))[:100],
	} {
		v, err := LoadVoice(fstest.MapFS{"manifest.json": man(map[string]string{"一": "a.adpcm"}), "a.adpcm": {Data: data}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if pcm, err := v.Render("一"); err == nil || pcm != nil {
			t.Errorf("%s: rendered %d samples, %v", name, len(pcm), err)
		}
	}
}

// TestManifestMatchesUnits keeps units.tsv, the committed pack and the list
// above in step: a unit added to one and not regenerated fails here.
func TestManifestMatchesUnits(t *testing.T) {
	b, err := os.ReadFile("voice/units.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		units = append(units, strings.Split(line, "\t")[0])
	}
	// <name> rows are sounds (the beep), not units.
	units = slices.DeleteFunc(units, func(u string) bool { return strings.HasPrefix(u, "<") })
	if strings.Join(units, " ") != strings.Join(allUnits, " ") {
		t.Errorf("units.tsv lists %v", units)
	}
}

func TestScale(t *testing.T) {
	pcm := []int16{0, 1, -1, 1000, -1000, 32767, -32768}
	if got := Scale(pcm, 10); !slicesEqual(got, pcm) {
		t.Errorf("level 10 = %v", got)
	}
	if got := Scale(pcm, 11); !slicesEqual(got, pcm) {
		t.Errorf("level 11 (clamped) = %v", got)
	}
	for _, l := range []int{0, -3} {
		for _, s := range Scale(pcm, l) {
			if s != 0 {
				t.Fatalf("level %d not silent", l)
			}
		}
	}
	prev := 0.0
	for l := 1; l <= 10; l++ {
		got := Scale([]int16{32767, -32768}, l)
		want := 32767 * math.Pow(10, -2*float64(10-l)/20)
		if math.Abs(float64(got[0])-want) > 2 {
			t.Errorf("level %d: %d, want ≈%.0f (-%d dB)", l, got[0], want, 2*(10-l))
		}
		if float64(got[0]) <= prev || got[1] > 0 {
			t.Errorf("level %d: %v not louder than level %d", l, got, l-1)
		}
		prev = float64(got[0])
	}
	if pcm[3] != 1000 {
		t.Error("Scale modified its input")
	}
	// Every sample at every level, in place as into a copy: no product
	// wraps (the gains are at most unity, so no clamp is needed).
	all := make([]int16, 1<<16)
	for i := range all {
		all[i] = int16(i - 1<<15)
	}
	for l := 0; l <= 10; l++ {
		in := slices.Clone(all)
		scaleInto(in, in, l)
		want := float64(volumeQ15[l]) / 32768
		for i, s := range in {
			if exact := float64(all[i]) * want; math.Abs(float64(s)-exact) > 0.5 {
				t.Fatalf("level %d: %d scaled to %d, want %.1f", l, all[i], s, exact)
			}
		}
		if !slices.Equal(in, Scale(all, l)) {
			t.Fatalf("level %d: in place differs from Scale", l)
		}
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSpeechWithSox renders the announcement to a WAV and asks sox (when
// installed) what it hears: a duration and an RMS level, the check a person
// would make by ear. Set AUDIO_WAV_OUT=path to keep the WAV.
func TestSpeechWithSox(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox not installed")
	}
	pcm, err := DefaultVoice().Render("微信收款一百二十八点五元")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "say.wav")
	if p := os.Getenv("AUDIO_WAV_OUT"); p != "" {
		path = p
	}
	if err := os.WriteFile(path, audioout.EncodeWAV(pcm), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sox, path, "-n", "stat").CombinedOutput()
	if err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	field := func(name string) float64 {
		m := regexp.MustCompile(name + `:\s+(-?[0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("sox stat has no %s:\n%s", name, out)
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	dur, rmsAmp, peak := field(`Length \(seconds\)`), field(`RMS\s+amplitude`), field(`Maximum amplitude`)
	t.Logf("sox: %.3f s, RMS amplitude %.4f, max amplitude %.4f", dur, rmsAmp, peak)
	if dur < 1.5 || dur > 6 {
		t.Errorf("duration %.2f s, want 1.5..6", dur)
	}
	if rmsAmp < 0.03 {
		t.Errorf("RMS amplitude %.4f: too quiet to hear", rmsAmp)
	}
}

// TestDefaultVoiceLoudness: gen.sh compresses gently and normalises every
// spoken clip to an RMS of -16 dBFS (the peak kept under -1 dBFS), so a
// phrase and the digits after it are equally loud. A clip regenerated or
// recorded without that step is off by several dB and fails here.
func TestDefaultVoiceLoudness(t *testing.T) {
	v := DefaultVoice()
	for _, u := range v.Units() {
		clip := v.Clip(u)
		db := 20 * math.Log10(rms(clip)/32768)
		if db < -19 || db > -15 {
			t.Errorf("clip %s: RMS %.1f dBFS, want -16 (-19 at the least, where the peak limit holds it back)", u, db)
		}
		peak := 0
		for _, s := range clip {
			peak = max(peak, abs(int(s)))
		}
		if peak > 29544 { // -1 dBFS, with 0.1 dB for sox's rounding
			t.Errorf("clip %s: peak %d above -1 dBFS", u, peak)
		}
	}
}

// TestVolumeLevels reports the RMS of an announcement as played at each
// volume level (level 6 is the default), and checks each level is louder
// than the one below it and that the default is at least -26 dBFS: heard
// over a shop's noise (it was -30 before the clips were compressed and the
// steps made 2 dB).
func TestVolumeLevels(t *testing.T) {
	v := DefaultVoice()
	pcm, err := v.Render("微信收款一百二十八点五元")
	if err != nil {
		t.Fatal(err)
	}
	prev := math.Inf(-1)
	for l := 1; l <= 10; l++ {
		db := 20 * math.Log10(rms(Scale(pcm, l))/32768)
		t.Logf("volume %2d: RMS %.1f dBFS", l, db)
		if db <= prev {
			t.Errorf("level %d (%.1f dBFS) not louder than level %d", l, db, l-1)
		}
		if l == 6 && db < -26 {
			t.Errorf("the default level plays at %.1f dBFS RMS, want -26 or louder", db)
		}
		prev = db
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestBeep: the key beep is a short tone from the pack's sounds, not a unit
// that text could select, and a pack without one still beeps.
func TestBeep(t *testing.T) {
	b := DefaultVoice().Beep()
	if d := len(b) * 1000 / SampleRate; d < 40 || d > 200 {
		t.Errorf("beep lasts %d ms", d)
	}
	if rms(b) < 3000 {
		t.Errorf("beep RMS %.0f: too quiet", rms(b))
	}
	// A tone: its zero crossings come at a steady rate (1760 Hz: 3520 a
	// second), unlike speech.
	cross := 0
	for i := 1; i < len(b); i++ {
		if (b[i-1] < 0) != (b[i] < 0) {
			cross++
		}
	}
	if hz := cross * SampleRate / len(b) / 2; hz < 1600 || hz > 1900 {
		t.Errorf("beep at about %d Hz, want 1760", hz)
	}
	for _, u := range DefaultVoice().Units() {
		if strings.Contains(u, "beep") {
			t.Errorf("beep is a unit: %q", u)
		}
	}
	if _, err := DefaultVoice().Split("<beep>"); err == nil {
		t.Error("text selects the beep")
	}
	v, err := LoadVoice(fstest.MapFS{
		"manifest.json": {Data: []byte(`{"clips":{"一":"a.pcm"}}`)},
		"a.pcm":         {Data: make([]byte, 200)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Beep()) == 0 || rms(v.Beep()) < 3000 {
		t.Error("a pack without a beep sound does not beep")
	}
}

// FuzzSplit: device.speak's text reaches Split and Render from outside.
// Neither panics; Render fails exactly when Split does, naming a character
// of the text; and the units Split finds spell the text, pauses aside.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"微信收款一百二十八点五元", "支付失败，余额不足", "你好", "音量六", "补播 收款一元", "\xff", ""} {
		f.Add(s)
	}
	v := DefaultVoice()
	f.Fuzz(func(t *testing.T, s string) {
		units, err := v.Split(s)
		pcm, rerr := v.Render(s)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Split error %v, Render error %v", err, rerr)
		}
		if err != nil {
			if !errors.Is(err, ErrUnknownUnit) || pcm != nil {
				t.Fatalf("Split(%q): %v", s, err)
			}
			return
		}
		pauses := strings.NewReplacer(" ", "", "\t", "", "\n", "", ",", "", "，", "", "、", "", "。", "")
		if got := strings.Join(units, ""); got != pauses.Replace(s) {
			t.Fatalf("Split(%q) = %q", s, units)
		}
	})
}

// A replacement pack (audio.voice_dir) is checked for every phrase the
// device says: a phrase it lacks is named; one it can join from shorter
// clips (微信 + 收款) is fine.
func TestLoadVoiceDir(t *testing.T) {
	dir := t.TempDir()
	sub, _ := fs.Sub(defaultPack, "voice/default")
	var m manifest
	raw, _ := fs.ReadFile(sub, "manifest.json")
	json.Unmarshal(raw, &m)
	copyPack := func(clips map[string]string) {
		for _, f := range clips {
			b, err := fs.ReadFile(sub, f)
			if err != nil {
				b, _ = fs.ReadFile(sub, "d_yi.adpcm")
			}
			os.WriteFile(filepath.Join(dir, f), b, 0o600)
		}
		out, _ := json.Marshal(map[string]any{"sample_rate": SampleRate, "clips": clips})
		os.WriteFile(filepath.Join(dir, "manifest.json"), out, 0o600)
	}
	copyPack(m.Clips)
	if _, err := LoadVoiceDir(dir); err != nil {
		t.Fatalf("the built-in pack as a directory: %v", err)
	}
	// Without 微信收款 and 退款.
	some := maps.Clone(m.Clips)
	delete(some, "微信收款")
	delete(some, "退款")
	copyPack(some)
	_, err := LoadVoiceDir(dir)
	if err == nil || !strings.Contains(err.Error(), "微信收款") || !strings.Contains(err.Error(), "退款") || !strings.Contains(err.Error(), "cannot say 2 ") {
		t.Fatalf("a pack lacking two phrases: %v", err)
	}
	// 微信 and 退 + 款 recorded instead: the phrases are joined.
	some["微信"], some["退"], some["款"] = "x_weixin.adpcm", "x_tui.adpcm", "x_kuan.adpcm"
	copyPack(some)
	if _, err := LoadVoiceDir(dir); err != nil {
		t.Fatalf("phrases joined from shorter clips: %v", err)
	}
	// A clip that is no whole ADPCM fails the directory's load.
	os.WriteFile(filepath.Join(dir, "x_tui.adpcm"), []byte("IMA4\x10\x00\x00\x00"), 0o600)
	if _, err := LoadVoiceDir(dir); err == nil || !strings.Contains(err.Error(), "x_tui.adpcm") {
		t.Fatalf("a pack with a broken clip: %v", err)
	}
	if _, err := LoadVoiceDir(filepath.Join(dir, "none")); err == nil {
		t.Fatal("a missing directory loaded")
	}
}

// The Cantonese pack (audio.language yue) says every phrase and amount the
// Mandarin one does, each clip audible and at the same loudness, and its
// clips are its own (not the Mandarin ones).
func TestCantoneseVoice(t *testing.T) {
	yue, opt, err := VoiceFor(Cantonese)
	if err != nil || !opt.Yue {
		t.Fatalf("VoiceFor(yue): %v %+v", err, opt)
	}
	if lack := yue.Lacks(); len(lack) > 0 {
		t.Fatalf("the Cantonese pack cannot say %v", lack)
	}
	same := 0
	for _, u := range DefaultVoice().Units() {
		clip := yue.Clip(u)
		db := 20 * math.Log10(rms(clip)/32768)
		if db < -19.5 || db > -15 { // as the default pack's, where the peak limit holds a clip back
			t.Errorf("clip %s: RMS %.1f dBFS", u, db)
		}
		if slices.Equal(clip, DefaultVoice().Clip(u)) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d Cantonese clips are the Mandarin ones", same)
	}
	for _, fen := range []int64{200, 12850, 2220000, 99999999999} {
		if _, err := yue.Render(Announcement("pay", "ecny", fen, opt)); err != nil {
			t.Errorf("%d: %v", fen, err)
		}
	}
	if _, _, err := VoiceFor("klingon"); err == nil {
		t.Error("an unknown language has a voice")
	}
}

// A render at a volume is, sample for sample, the render scaled: the one
// pass over each clip (decode, fade, gain) changes nothing a listener or a
// WAV file could tell, at every level, for words with gaps, phrases and
// pauses.
func TestRenderAtIsScaledRender(t *testing.T) {
	v := DefaultVoice()
	for _, text := range []string{
		Announcement("pay", "wechat", 12850, Options{}),
		Announcement("refund", "alipay", 99_999_999_999, Options{}),
		PhraseReplay + Announcement("pay", "unionpay", 5, Options{}),
		VolumeWords(7),
	} {
		plain, err := v.Render(text)
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l <= 10; l++ {
			got, err := v.renderAt(text, l)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, Scale(plain, l)) {
				t.Fatalf("%q at level %d differs from the render scaled", text, l)
			}
		}
	}
}

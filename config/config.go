// Package config holds the agent's configuration file (protocol §9): its
// shape, its defaults, and its validation. The same keys are used by the
// configuration QR's cfg claim and by config.set's patch.
//
// Invariants:
//   - Decode refuses an unknown key or a value of the wrong type with an
//     error naming the key (KeyError), and more than one JSON value; keys
//     absent from the data keep the values they had;
//   - a Config that Parse or Load returns without error has passed
//     Validate; data over MaxFileSize is refused, and Load reads no more
//     than MaxFileSize+1 bytes of a file;
//   - Default sets no identity, so it does not validate until device_id,
//     mqtt.url and auth_key are set;
//   - a valid Config has an auth_key of at least 32 bytes, a device_id and
//     mqtt.prefix that cannot reach outside the device's topics (no MQTT
//     wildcard; no / in device_id), every pay and config number and
//     ota.health_timeout_ms and ota.max_bytes positive, and an api.listen,
//     if any, on loopback only.
package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/posagent/posagent/printer"
)

// Config is the whole configuration. Durations are milliseconds.
type Config struct {
	DeviceID           string  `json:"device_id"`
	Serial             string  `json:"serial"`
	Board              string  `json:"board"`
	DataDir            string  `json:"data_dir"`
	MQTT               MQTT    `json:"mqtt"`
	AuthKey            string  `json:"auth_key"`
	ProvisioningPubkey string  `json:"provisioning_pubkey"`
	Scanner            Serial  `json:"scanner"`
	Printer            Printer `json:"printer"`
	Audio              Audio   `json:"audio"`
	Pay                Pay     `json:"pay"`
	ConfigApply        Apply   `json:"config"`
	API                API     `json:"api"`
	Store              Store   `json:"store"`
	// Hardware overrides the board profile's pins and sound card (an
	// extension of protocol §9; boards.Board.Apply fills it first).
	Hardware Hardware `json:"hw"`
	// OTA is the firmware update (an extension of protocol §9).
	OTA OTA `json:"ota"`
	// Journal bounds what the device keeps (an extension).
	Journal Journal `json:"journal"`
}

// Journal is the journal's retention.
type Journal struct {
	// RetentionDays: settled orders (with their refunds and deposit
	// operations) older than this are folded into per-day summaries and
	// dropped. The default, 400, outlasts the providers' one-year refund
	// window: an order refundable is never dropped.
	RetentionDays int `json:"retention_days"`
	// LogKB is the size of the journal's write-ahead log
	// (journal.db-wal, rounded up to 4 KB blocks): what it folds into the
	// bbolt file at once. A bigger log writes the bbolt file less often
	// and keeps more in memory (at most a quarter of its size for a
	// payment's records).
	LogKB int `json:"log_kb"`
}

// Hardware is what a board profile says beyond ports: GPIO pins by their
// periph.io name (gpioreg.ByName: "GPIO17", a number, or an alias), "" for
// none, and the ALSA card the speaker is on ("" for ALSA's default).
type Hardware struct {
	SoundCard     string `json:"sound_card"`
	KeyVolumeUp   string `json:"key_volume_up"`
	KeyVolumeDown string `json:"key_volume_down"`
	KeyFunction   string `json:"key_function"`
	// KeysActiveLow: the keys pull the pin to ground when pressed (the pin
	// is pulled up), the usual wiring.
	KeysActiveLow bool   `json:"keys_active_low"`
	LEDNetwork    string `json:"led_network"`
	LEDStatus     string `json:"led_status"`
}

// MQTT is the broker link.
type MQTT struct {
	URL         string `json:"url"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	Prefix      string `json:"prefix"`
	CAFile      string `json:"ca_file"`
	KeepaliveMS int64  `json:"keepalive_ms"`
	// ReconnectMinMS and ReconnectMaxMS bound the reconnect backoff
	// (doubling, with jitter). An extension of protocol §9.
	ReconnectMinMS int64 `json:"reconnect_min_ms"`
	ReconnectMaxMS int64 `json:"reconnect_max_ms"`
}

// Serial is a serial port; Port "" means the board has no such device.
type Serial struct {
	Port string `json:"port"`
	Baud int    `json:"baud"`
}

// Printer is the receipt printer.
type Printer struct {
	Port    string `json:"port"`
	Baud    int    `json:"baud"`
	PaperMM int    `json:"paper_mm"`
	Status  string `json:"status"` // query or none
	Model   string `json:"model"`  // printer.Lookup name; "" generic for paper_mm
	Logo    string `json:"logo"`   // PNG printed by <LOGO>; "" none
}

// Audio is the speaker.
type Audio struct {
	Out    string `json:"out"` // alsa, wav:DIR or null
	Volume int    `json:"volume"`
	// VoiceDir is a voice pack to say things with instead of the built-in
	// one (audio/voice/README.md: recording your own); "" is built-in.
	VoiceDir string `json:"voice_dir"`
	// Language is the built-in voice's: "zh" (Mandarin, the default) or
	// "yue" (Cantonese); it also picks how amounts are read.
	Language string `json:"language"`
}

// Pay holds the payment flow's timings.
type Pay struct {
	PollIntervalMS   int64 `json:"poll_interval_ms"`
	PollTimeoutMS    int64 `json:"poll_timeout_ms"`
	ReverseAfterMS   int64 `json:"reverse_after_ms"`
	CollectTimeoutMS int64 `json:"collect_timeout_ms"`
	// ReverseMaxTries bounds the reverses of one payment: past it (or on a
	// provider's "cannot be reversed", such as WeChat's REVERSE_EXPIRE) the
	// payment asks a person (ATTENTION) instead of looping.
	ReverseMaxTries int64 `json:"reverse_max_tries"`
	// RefundPollMS is the wait between queries of a refund the provider
	// is still working on (WeChat answers a refund before it is made).
	RefundPollMS int64 `json:"refund_poll_ms"`
	// DepositReleaseAfterMS is the age at which the provider releases a frozen
	// deposit by itself (WeChat: 30 days); an older one is queried.
	DepositReleaseAfterMS int64 `json:"deposit_release_after_ms"`
}

// Apply holds how a new configuration is tried.
type Apply struct {
	ApplyTimeoutMS int64 `json:"apply_timeout_ms"`
	// IdleWaitMS bounds how long a new config or firmware waits for the
	// payment in progress to end before the agent restarts into it anyway
	// (the payment resumes from the journal).
	IdleWaitMS int64 `json:"idle_wait_ms"`
}

// API is the local HTTP API.
type API struct {
	Listen string `json:"listen"`
	// TokenFile is where the bearer token every call needs is kept
	// ("": data_dir/api.token), e.g. a path only the cashier app's user
	// reads. Made at first start, mode 0600.
	TokenFile string `json:"token_file"`
	// PINTries wrong staff PINs in a row lock that staff id for PINLockMS,
	// doubling with each lock until a right PIN (defaults 5, 300000).
	PINTries  int   `json:"pin_tries"`
	PINLockMS int64 `json:"pin_lock_ms"`
}

// Store names the shop on receipts.
type Store struct {
	Name     string `json:"name"`
	Merchant string `json:"merchant"`
	// Mode is what the till takes, like the Tencent app's modes: "pay"
	// (仅收银), "deposit" (仅押金) or "both" (收银+押金). An extension.
	Mode string `json:"mode"`
}

// OTA is the firmware update (ota.update), an extension of protocol §9.
type OTA struct {
	// Pubkey is the base64 Ed25519 key that signs firmware; "" refuses
	// every update.
	Pubkey string `json:"pubkey"`
	// Dir holds the A/B slots and the boot pointer; "" is data_dir/slots.
	Dir string `json:"dir"`
	// CAFile is a PEM bundle trusted for the download (empty: system roots).
	CAFile string `json:"ca_file"`
	// HealthTimeoutMS is how long new firmware has to connect and pass its
	// self-test before it is rolled back.
	HealthTimeoutMS int64 `json:"health_timeout_ms"`
	// MaxBytes bounds an artifact, so a bad size cannot fill the disk.
	MaxBytes int64 `json:"max_bytes"`
}

// OTADir is where the firmware slots live.
func (c *Config) OTADir() string {
	if c.OTA.Dir != "" {
		return c.OTA.Dir
	}
	return filepath.Join(c.DataDir, "slots")
}

// Default returns the configuration with every default filled in and no
// identity (device id, keys, broker) set.
func Default() Config {
	return Config{
		Board:   "sim",
		DataDir: "/var/lib/posagent",
		MQTT:    MQTT{Prefix: "pos/v1", KeepaliveMS: 120000, ReconnectMinMS: 1000, ReconnectMaxMS: 60000},
		Scanner: Serial{Baud: 9600},
		Printer: Printer{Baud: 115200, PaperMM: 58, Status: "query"},
		Audio:   Audio{Out: "alsa", Volume: 6},
		Pay: Pay{PollIntervalMS: 5000, PollTimeoutMS: 45000, ReverseAfterMS: 15000, CollectTimeoutMS: 60000,
			ReverseMaxTries: 10, RefundPollMS: 5000, DepositReleaseAfterMS: 2592000000},
		ConfigApply: Apply{ApplyTimeoutMS: 30000, IdleWaitMS: 120000},
		API:         API{Listen: "127.0.0.1:8765", PINTries: 5, PINLockMS: 300000},
		Store:       Store{Mode: "both"},
		OTA:         OTA{HealthTimeoutMS: 120000, MaxBytes: 256 << 20},
		Journal:     Journal{RetentionDays: 400, LogKB: 1024},
	}
}

// MaxFileSize bounds the config file: it is a few hundred bytes.
const MaxFileSize = 1 << 20

// Load reads and validates the file at path.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	return Parse(io.LimitReader(f, MaxFileSize+1))
}

// Parse decodes a configuration over the defaults and validates it. An
// unknown key is an error that names it, so a typo is not silently ignored.
func Parse(r io.Reader) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, err
	}
	if len(data) > MaxFileSize {
		return Config{}, fmt.Errorf("config is larger than %d bytes", MaxFileSize)
	}
	c := Default()
	if err := Decode(data, &c); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Decode applies JSON data onto c (keys absent from data keep c's values),
// refusing unknown keys and values of the wrong type with the key's name.
func Decode(data []byte, c *Config) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return &KeyError{Key: te.Field, Msg: fmt.Sprintf("must be a %s, not %s", te.Type, te.Value)}
		case errors.As(err, &se):
			return fmt.Errorf("config: invalid JSON at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &KeyError{Key: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Msg: "unknown key"}
		}
		return fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return errors.New("config: more than one JSON value")
	}
	return nil
}

// KeyError names the key that is wrong.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return fmt.Sprintf("config: %s: %s", e.Key, e.Msg) }

// Validate checks every field and returns the first error, naming its key.
func (c *Config) Validate() error {
	bad := func(key, format string, a ...any) error {
		return &KeyError{Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	if c.DeviceID == "" || strings.ContainsAny(c.DeviceID, "/+#\x00 ") || len(c.DeviceID) > 64 {
		return bad("device_id", "must be 1-64 characters without / + # or spaces")
	}
	if c.DataDir == "" {
		return bad("data_dir", "is required")
	}
	u, err := url.Parse(c.MQTT.URL)
	if err != nil || u.Host == "" {
		return bad("mqtt.url", "must be a URL like tcp://host:1883 or tls://host:8883")
	}
	switch u.Scheme {
	case "tcp", "mqtt", "tls", "ssl", "mqtts":
	default:
		return bad("mqtt.url", "scheme %q: use tcp:// or tls://", u.Scheme)
	}
	if strings.ContainsAny(c.MQTT.Prefix, "+#\x00") || c.MQTT.Prefix == "" ||
		strings.HasPrefix(c.MQTT.Prefix, "/") || strings.HasSuffix(c.MQTT.Prefix, "/") {
		return bad("mqtt.prefix", "must be a topic without wildcards or leading/trailing /")
	}
	if c.MQTT.KeepaliveMS < 1000 {
		return bad("mqtt.keepalive_ms", "must be at least 1000")
	}
	if c.MQTT.ReconnectMinMS < 10 || c.MQTT.ReconnectMaxMS < c.MQTT.ReconnectMinMS {
		return bad("mqtt.reconnect_min_ms", "must be at least 10 and not above mqtt.reconnect_max_ms")
	}
	key, err := base64.StdEncoding.DecodeString(c.AuthKey)
	if err != nil {
		return bad("auth_key", "must be base64")
	}
	if len(key) < 32 {
		return bad("auth_key", "must be at least 32 bytes (got %d)", len(key))
	}
	if c.ProvisioningPubkey != "" {
		pk, err := base64.StdEncoding.DecodeString(c.ProvisioningPubkey)
		if err != nil || len(pk) != 32 {
			return bad("provisioning_pubkey", "must be a base64 Ed25519 public key (32 bytes)")
		}
	}
	if c.OTA.Pubkey != "" {
		pk, err := base64.StdEncoding.DecodeString(c.OTA.Pubkey)
		if err != nil || len(pk) != 32 {
			return bad("ota.pubkey", "must be a base64 Ed25519 public key (32 bytes)")
		}
	}
	if c.Scanner.Port != "" && c.Scanner.Baud <= 0 {
		return bad("scanner.baud", "must be positive")
	}
	if c.Printer.Port != "" && c.Printer.Baud <= 0 {
		return bad("printer.baud", "must be positive")
	}
	if c.Printer.PaperMM != 58 && c.Printer.PaperMM != 80 {
		return bad("printer.paper_mm", "must be 58 or 80")
	}
	if c.Printer.Status != "query" && c.Printer.Status != "none" {
		return bad("printer.status", "must be query or none")
	}
	if _, err := printer.Lookup(c.Printer.Model, c.Printer.PaperMM); err != nil {
		return bad("printer.model", "%v", err)
	}
	if c.Printer.Logo != "" && !strings.HasSuffix(strings.ToLower(c.Printer.Logo), ".png") {
		return bad("printer.logo", "must be the path of a PNG file")
	}
	switch {
	case c.Audio.Out == "alsa", c.Audio.Out == "null":
	case strings.HasPrefix(c.Audio.Out, "wav:") && len(c.Audio.Out) > 4:
	default:
		return bad("audio.out", "must be alsa, null or wav:DIR")
	}
	if c.Audio.Volume < 0 || c.Audio.Volume > 10 {
		return bad("audio.volume", "must be 0-10")
	}
	if l := c.Audio.Language; l != "" && l != "zh" && l != "yue" {
		return bad("audio.language", "must be zh (Mandarin) or yue (Cantonese)")
	}
	for key, v := range map[string]int64{
		"pay.poll_interval_ms": c.Pay.PollIntervalMS, "pay.poll_timeout_ms": c.Pay.PollTimeoutMS,
		"pay.reverse_after_ms": c.Pay.ReverseAfterMS, "pay.collect_timeout_ms": c.Pay.CollectTimeoutMS,
		"pay.reverse_max_tries": c.Pay.ReverseMaxTries, "pay.refund_poll_ms": c.Pay.RefundPollMS,
		"pay.deposit_release_after_ms": c.Pay.DepositReleaseAfterMS,
		"config.apply_timeout_ms":      c.ConfigApply.ApplyTimeoutMS, "config.idle_wait_ms": c.ConfigApply.IdleWaitMS,
		"ota.health_timeout_ms": c.OTA.HealthTimeoutMS, "ota.max_bytes": c.OTA.MaxBytes,
	} {
		if v <= 0 {
			return bad(key, "must be positive")
		}
	}
	if c.Store.Mode != "pay" && c.Store.Mode != "deposit" && c.Store.Mode != "both" {
		return bad("store.mode", "must be pay, deposit or both")
	}
	if c.Journal.RetentionDays < 0 {
		return bad("journal.retention_days", "must be positive (0: the default, 400)")
	}
	if c.Journal.LogKB != 0 && (c.Journal.LogKB < 16 || c.Journal.LogKB > 16384) {
		return bad("journal.log_kb", "must be from 16 to 16384 (0: the default, 1024)")
	}
	if c.API.Listen != "" && !loopback(c.API.Listen) {
		return bad("api.listen", "must be a loopback address (127.0.0.1:PORT or [::1]:PORT)")
	}
	return nil
}

func loopback(addr string) bool {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return false
	}
	host := strings.Trim(addr[:i], "[]")
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}

// AuthKeyBytes is the decoded auth key (Validate has checked it).
func (c *Config) AuthKeyBytes() []byte {
	b, _ := base64.StdEncoding.DecodeString(c.AuthKey)
	return b
}

// MS turns a millisecond setting into a Duration.
func MS(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

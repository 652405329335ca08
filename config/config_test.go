package config

import (
	"errors"
	"strings"
	"testing"
)

const key32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func base(extra string) string {
	return `{"device_id":"dev-1","data_dir":"/tmp/x","mqtt":{"url":"tcp://127.0.0.1:1883"},"auth_key":"` + key32 + `"` + extra + `}`
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader(base("")))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Prefix != "pos/v1" || c.Printer.PaperMM != 58 || c.Pay.PollIntervalMS != 5000 || c.API.Listen != "127.0.0.1:8765" || c.Audio.Volume != 6 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if len(c.AuthKeyBytes()) != 32 {
		t.Fatal("auth key not decoded")
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct{ doc, key string }{
		{base(`,"colour":"red"`), "colour"},
		{base(`,"mqtt":{"url":"tcp://h:1","prefx":"a"}`), "prefx"},
		{`{"data_dir":"/x","mqtt":{"url":"tcp://h:1"},"auth_key":"` + key32 + `"}`, "device_id"},
		{base(`,"device_id":"a/b"`), "device_id"},
		{base(`,"data_dir":""`), "data_dir"},
		{base(`,"mqtt":{"url":"http://h:1"}`), "mqtt.url"},
		{base(`,"mqtt":{"url":"nonsense"}`), "mqtt.url"},
		{base(`,"mqtt":{"url":"tcp://h:1","prefix":"a/#"}`), "mqtt.prefix"},
		{base(`,"mqtt":{"url":"tcp://h:1","keepalive_ms":5}`), "mqtt.keepalive_ms"},
		{base(`,"auth_key":"c2hvcnQ="`), "auth_key"},
		{base(`,"auth_key":"***"`), "auth_key"},
		{base(`,"provisioning_pubkey":"c2hvcnQ="`), "provisioning_pubkey"},
		{base(`,"printer":{"port":"/dev/x","paper_mm":76}`), "printer.paper_mm"},
		{base(`,"printer":{"port":"/dev/x","status":"maybe"}`), "printer.status"},
		{base(`,"printer":{"port":"/dev/x","baud":0}`), "printer.baud"},
		{base(`,"scanner":{"port":"/dev/x","baud":-1}`), "scanner.baud"},
		{base(`,"audio":{"out":"speaker"}`), "audio.out"},
		{base(`,"audio":{"out":"wav:"}`), "audio.out"},
		{base(`,"audio":{"volume":11}`), "audio.volume"},
		{base(`,"audio":{"volume":"loud"}`), "audio.volume"},
		{base(`,"pay":{"poll_interval_ms":0}`), "pay.poll_interval_ms"},
		{base(`,"config":{"apply_timeout_ms":-1}`), "config.apply_timeout_ms"},
		{base(`,"api":{"listen":"0.0.0.0:8765"}`), "api.listen"},
		{base(`,"journal":{"log_kb":8}`), "journal.log_kb"},
		{base(`,"journal":{"log_kb":100000}`), "journal.log_kb"},
	}
	for _, tc := range tests {
		_, err := Parse(strings.NewReader(tc.doc))
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key {
			t.Errorf("%s: err = %v, want one naming %q", tc.doc, err, tc.key)
		}
	}
}

func TestParseRejectsBadJSON(t *testing.T) {
	for _, doc := range []string{"", "{", base("") + "{}", `[]`, strings.Repeat(" ", MaxFileSize+1)} {
		if _, err := Parse(strings.NewReader(doc)); err == nil {
			t.Errorf("accepted %.40q", doc)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(base(""))
	f.Add(base(`,"audio":{"out":"wav:/tmp"}`))
	f.Add(`{"mqtt":null}`)
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse(strings.NewReader(doc))
		if err == nil {
			if c.DeviceID == "" || len(c.AuthKeyBytes()) < 32 {
				t.Fatalf("accepted an invalid config: %+v", c)
			}
		}
	})
}

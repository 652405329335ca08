package journal

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// atOfMarshaled reads what atOf reads from every record json.Marshal
// makes: "at" first or elsewhere, omitted, zero, negative, the largest
// int64, a float, a string, none.
func TestAtOfMarshaled(t *testing.T) {
	type first struct {
		At   int64  `json:"at"`
		Body string `json:"body"`
	}
	type omitted struct {
		At     int64 `json:"at,omitempty"`
		Queued int64 `json:"queued"`
	}
	type later struct {
		Queued int64 `json:"queued"`
		At     int64 `json:"at"`
	}
	type only struct {
		At int64 `json:"at"`
	}
	for _, v := range []any{
		first{At: 1_780_000_000, Body: `{"at":5}`},
		first{At: 0},
		first{At: -7},
		first{At: math.MaxInt64},
		first{At: 123456789012345678},
		omitted{Queued: 9},
		omitted{At: 42, Queued: 9},
		later{Queued: 1, At: 1_780_000_000},
		only{At: 1_780_000_000},
		map[string]any{"at": 1.5e9},
		map[string]any{"at": "1780000000"},
		map[string]any{"x": 1},
		"a string",
		time.Unix(1_780_000_000, 0),
	} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := atOfMarshaled(data), atOf(data); got != want {
			t.Errorf("%s: %d, atOf reads %d", data, got, want)
		}
	}
}

// FuzzAtOfMarshaled: on any bytes that are JSON, the fast read agrees with
// decoding (PutRaw's records, which need not be, go through atOf alone).
func FuzzAtOfMarshaled(f *testing.F) {
	f.Add([]byte(`{"at":1780000000,"x":1}`))
	f.Add([]byte(`{"at":1780000000}`))
	f.Add([]byte(`{"at":-1}`))
	f.Add([]byte(`{"at":12345678901234567890}`))
	f.Add([]byte(`{"at":1e9}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		if atKeys(data) > 1 {
			// Two keys decoding takes for "at" ({"at":5,"AT":7}, of a
			// struct with fields tagged both ways): the fast read takes
			// the first, decoding the last. No record of a prunable bucket
			// has such fields.
			return
		}
		if got, want := atOfMarshaled(data), atOf(data); got != want {
			t.Fatalf("%q: %d, atOf reads %d", data, got, want)
		}
	})
}

// atKeys counts the top-level keys of data that decoding takes for "at"
// (it matches keys without regard to case).
func atKeys(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0
	}
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if k, _ := tok.(string); strings.EqualFold(k, "at") {
			n++
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return n
		}
	}
	return n
}

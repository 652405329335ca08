package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"time"
)

// chinaTime is the shops' time (UTC+8, no daylight saving): every time
// posctl prints is in it, whatever the machine's zone, and a fixed zone needs
// no tzdata.
var chinaTime = time.FixedZone("CST", 8*3600)

// clock is the time source (tests set it).
var clock = time.Now

// now is the current time in China.
func now() time.Time { return clock().In(chinaTime) }

// jsonText is v as compact JSON in plain UTF-8: no \u003c for <, > and &,
// which print markup and URLs are full of.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "(unprintable: " + err.Error() + ")"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// pretty is a JSON body as compact plain UTF-8 (as it came when it is not
// JSON).
func pretty(b json.RawMessage) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // amounts and ids as sent
	if d.Decode(&v) != nil {
		return string(b)
	}
	return jsonText(v)
}

// short is id cut to at most n characters, for one-line displays.
func short(id string, n int) string {
	if len(id) <= n {
		return id
	}
	return id[:n]
}

// parseInterleaved parses fs from args with the flags anywhere among the
// other arguments (Go's flag package stops at the first non-flag), and
// returns the others in order. After "--" everything is an argument.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if used := len(args) - len(left); used > 0 && args[used-1] == "--" {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// flagErr is a command line's flag error: -h (asked for help, exit 0) as
// itself, any other as a usage error (exit 2).
func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return flag.ErrHelp
	}
	return usageError(err.Error())
}

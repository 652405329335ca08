package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/posagent/posagent/config"
)

// MaxPatch bounds a patch: a config file is a few hundred bytes.
const MaxPatch = 16 << 10

// FixedKeys are the config keys no patch may set: the data dir holds the
// applied patch itself, the serial and board are the hardware's (the serial
// binds QRs), and the slot dir is read before any patch is (at boot, to
// pick the firmware), and the API token's file is who may move money on
// the device (moved over the air, it could be put where anyone reads it).
var FixedKeys = []string{"data_dir", "serial", "board", "ota.dir", "api.token_file"}

// patchObject decodes a patch: a non-empty JSON object without fixed keys.
func patchObject(raw json.RawMessage) (map[string]any, error) {
	if len(raw) > MaxPatch {
		return nil, fmt.Errorf("larger than %d bytes", MaxPatch)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("must be a JSON object of config keys")
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	if len(obj) == 0 {
		return nil, errors.New("sets nothing")
	}
	for _, k := range FixedKeys {
		if has(obj, strings.Split(k, ".")) {
			return nil, fmt.Errorf("%s cannot be set over the air", k)
		}
	}
	return obj, nil
}

func has(obj map[string]any, path []string) bool {
	v, ok := obj[path[0]]
	if !ok || len(path) == 1 {
		return ok
	}
	sub, _ := v.(map[string]any)
	return sub != nil && has(sub, path[1:])
}

// MergePatch returns base with patch applied as a JSON merge patch (RFC
// 7386): objects merge key by key, null removes a key (back to the config
// file's value), anything else replaces. Patches accumulate this way, so a
// config.set of the volume keeps the broker a QR set before it.
func MergePatch(base, patch json.RawMessage) (json.RawMessage, error) {
	p, err := patchObject(patch)
	if err != nil {
		return nil, err
	}
	b := map[string]any{}
	if len(base) > 0 {
		dec := json.NewDecoder(bytes.NewReader(base))
		dec.UseNumber()
		if err := dec.Decode(&b); err != nil {
			return nil, fmt.Errorf("applied patch: %w", err)
		}
	}
	return json.Marshal(merge(b, p))
}

func merge(base, patch map[string]any) map[string]any {
	if base == nil {
		base = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(base, k)
		case map[string]any:
			bv, _ := base[k].(map[string]any)
			base[k] = merge(bv, pv)
		default:
			base[k] = v
		}
	}
	return base
}

// Merged is the config the device runs: the config file's (file, already
// validated) with the applied patch over it, validated. Unknown keys and
// values of the wrong type are errors naming the key, as in the file.
func Merged(file config.Config, patch json.RawMessage) (config.Config, error) {
	c := file
	if len(patch) == 0 {
		return c, nil
	}
	if err := config.Decode(patch, &c); err != nil {
		return file, err
	}
	if err := c.Validate(); err != nil {
		return file, err
	}
	return c, nil
}

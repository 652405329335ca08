package mqtt

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the topic prefix when the config names none.
const DefaultPrefix = "pos/v1"

// Topics are one device's three topics (protocol §1).
type Topics struct{ Cmd, Evt, State string }

// TopicsFor returns the topics of device dev under prefix. Device ids and
// prefixes may not hold MQTT wildcards or separators that would let a device
// reach outside P/D/.
func TopicsFor(prefix, dev string) (Topics, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if dev == "" || strings.ContainsAny(dev, "/+#\x00") {
		return Topics{}, fmt.Errorf("device id %q: must be non-empty without / + # or NUL", dev)
	}
	if strings.ContainsAny(prefix, "+#\x00") || strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
		return Topics{}, fmt.Errorf("topic prefix %q: no wildcards and no leading or trailing /", prefix)
	}
	base := prefix + "/" + dev + "/"
	return Topics{Cmd: base + "cmd", Evt: base + "evt", State: base + "state"}, nil
}

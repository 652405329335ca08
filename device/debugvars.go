package device

import (
	"expvar"
	"runtime"
)

// GET /debug/vars on the local API (loopback only) is the standard expvar
// document: memstats, and goroutines, which the soak test samples from the
// real binary to show they stay flat.
func init() {
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
}

//go:build arm || arm64

package boards

// On ARM, the SoC drivers of the boards the agent runs on (docs/porting.md):
// Allwinner (cloud speakers and POS modules: its pin names, PA7), and the
// Raspberry Pi's BCM283x with the Pi's header names (the rpi board,
// GPIO17). periph.io's host.Init would register every board it knows
// (BeagleBone, C.H.I.P., ODROID-C1, Pine64 too): 134 KB of an armv7
// binary for boards no profile names.
import (
	_ "periph.io/x/host/v3/allwinner"
	_ "periph.io/x/host/v3/bcm283x"
	_ "periph.io/x/host/v3/rpi"
)

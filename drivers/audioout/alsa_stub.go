//go:build !linux || !cgo

package audioout

import "errors"

// openALSA fails in builds without cgo or off Linux: oto's ALSA driver needs
// cgo and libasound (CGO_ENABLED=1 and libasound2-dev to build).
func openALSA() (Output, error) {
	return nil, errors.New("audioout: alsa output not available in this build (needs linux and cgo)")
}

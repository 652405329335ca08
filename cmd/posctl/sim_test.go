package main

import (
	"io"
	"strings"
	"testing"
)

// Bad simulator options are refused before anything is dialled.
func TestSimFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-refund-outcome", "refund_sometimes"},
		{"-drop", "1.5"},
		{"-reverse-window", "soon"},
	} {
		err := cmdSim(args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "-")) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/posagent/posagent/pinhash"
)

// cmdPINHash makes a roster's pin_hash from a PIN read on stdin (not the
// command line, where ps shows it to everyone on the machine).
func cmdPINHash(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pin-hash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", pinhash.DefaultN, "scrypt N (a power of two)")
	r := fs.Int("r", pinhash.DefaultR, "scrypt r")
	p := fs.Int("p", pinhash.DefaultP, "scrypt p")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pin := strings.TrimRight(line, "\r\n")
	if pin == "" {
		return usageError("usage: echo PIN | posctl pin-hash [-n N -r R -p P]  (the PIN on stdin)")
	}
	h, err := pinhash.Make(pin, *n, *r, *p)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

var stdin io.Reader = os.Stdin

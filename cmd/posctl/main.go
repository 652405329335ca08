// Command posctl is the other side of the wire, for platform engineers,
// installers and the dev kit: send signed commands, watch a device's events
// and state, run the platform simulator, and run the dev kit (demo).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `posctl — the platform side of posagent

  posctl send TYPE [flags] [key=value ...]   sign and publish a command, print the answer
                                              (posctl send -h: every type and its flags)
  posctl watch [flags]                        verify and print a device's events and state
  posctl sim [flags]                          run the platform simulator
  posctl demo [flags]                         run the dev kit: broker, simulator, agent on PTYs
  posctl scan CODE                            type CODE into the running dev kit's scanner
  posctl render FILE.bin -o receipt.png       draw captured ESC/POS as a PNG (-paper 58|80)
  posctl keygen -o provisioning               make an Ed25519 key pair (OUT.key 0600, OUT.pub)
  posctl qr -config patch.json -key K.key     make a config QR: PCFG1. text and size, -o qr.png
         [-dev SERIAL] [-ttl 15m] [-o qr.png] [-scan]   (-scan: scan it in the dev kit)
  posctl ota-sign -key K.key -version V FILE  sign a firmware artifact: prints the ota.update body
  echo PIN | posctl pin-hash [-n N]           a staff roster's pin_hash (scrypt) of the PIN on stdin

Connection flags (send, watch, sim) default to the dev kit's config,
.devkit/posagent.json, or $POSCTL_CONFIG: -config FILE, or -url, -dev, -auth-key, -prefix.
Run 'posctl CMD -h' or 'posctl help CMD' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "send":
		err = cmdSend(args[1:], stdout, stderr)
	case "watch":
		err = cmdWatch(args[1:], stdout, stderr)
	case "sim":
		err = cmdSim(args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(args[1:], stdout, stderr)
	case "render":
		err = cmdRender(args[1:], stdout, stderr)
	case "keygen":
		err = cmdKeygen(args[1:], stdout, stderr)
	case "qr":
		err = cmdQR(args[1:], stdout, stderr)
	case "ota-sign":
		err = cmdOTASign(args[1:], stdout, stderr)
	case "pin-hash":
		err = cmdPINHash(args[1:], stdin, stdout, stderr)
	case "scan":
		err = cmdScan(args[1:], stdout, stderr)
	case "help":
		if len(args) > 1 && args[1] != "help" {
			// posctl help send [TYPE] is posctl send [TYPE] -h.
			return run(append(append([]string(nil), args[1:]...), "-h"), stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "posctl: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return exitStatus(err, stderr)
}

// exitStatus is a command's exit status, its error told on stderr: 0 for
// success and for help that was asked for, 2 for a mistake in the command
// line, 1 for anything else (a refusal or failure the device answered, no
// answer, no broker).
func exitStatus(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "posctl:", err)
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}

// usageError is a mistake in the command line (exit 2).
type usageError string

func (e usageError) Error() string { return string(e) }

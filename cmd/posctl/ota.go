package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"

	"github.com/posagent/posagent/ota"
)

// cmdOTASign signs a firmware artifact and prints the ota.update body:
//
//	posctl send ota.update -json "$(posctl ota-sign -key ota.key -version 2.0.0 -url https://... posagent)"
func cmdOTASign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ota-sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "ota.key", "firmware signing key (posctl keygen -o ota)")
	version := fs.String("version", "", "the artifact's firmware version (what it reports)")
	url := fs.String("url", "", "https:// URL the device downloads it from")
	down := fs.Bool("allow-downgrade", false, "sign the manifest so that a device running a newer version installs it")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() != 1 || *version == "" {
		return usageError("ota-sign: -version V [-url URL] FILE")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	key, err := loadPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	m := ota.SignManifest(key, *version, data, *down)
	body := map[string]any{"version": m.Version, "url": *url, "size": m.Size, "sha256": m.SHA256, "sig": m.Sig}
	if m.AllowDowngrade {
		body["allow_downgrade"] = true
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false) // the URL's & as it is
	return enc.Encode(body)
}

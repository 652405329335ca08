package main

import (
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"strings"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/render"
)

// cmdRender draws captured ESC/POS (a job the dev kit saved, or bytes
// captured from a printer port) as a PNG at the paper's dot width.
func cmdRender(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "PNG to write (default: FILE with .png instead of .bin)")
	paper := fs.Int("paper", 58, "paper width in mm: 58 (384 dots) or 80 (576 dots)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posctl render [-paper 58|80] FILE.bin -o receipt.png")
		fs.PrintDefaults()
	}
	// Flags may come after the file, as in "render FILE.bin -o x.png".
	var files []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return flagErr(err)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return usageError("render takes one file")
	}
	if *paper != 58 && *paper != 80 {
		return usageError("-paper must be 58 or 80")
	}
	in := files[0]
	if *out == "" {
		*out = strings.TrimSuffix(in, ".bin") + ".png"
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if err := renderPNG(data, *paper, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// renderPNG writes the PNG of an ESC/POS job. Bytes that do not decode are
// an error naming their offset, after the image of what did.
func renderPNG(job []byte, paperMM int, path string) error {
	img, _, derr := render.Render(job, printer.ForPaper(paperMM).Dots)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if derr != nil {
		return fmt.Errorf("%s: drawn up to the first byte not understood: %w", path, derr)
	}
	return nil
}

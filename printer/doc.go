// Package printer turns print markup (wire contract §6) into ESC/POS bytes for
// Chinese receipt printers, renders receipts from templates, and decodes
// ESC/POS back into text so tests and the dev kit can see what was printed.
//
// The package is pure: bytes in, bytes out. It opens no ports and starts no
// goroutines; drivers/serialport carries the bytes.
//
// Invariants:
//   - a job from Encode starts with ESC @ and FS &, so it does not depend
//     on what an earlier job left, and its text reaches the printer only as
//     printable characters (control characters are dropped, one GB18030
//     cannot carry prints as ?): no markup makes a command of its own;
//   - no text line is wider than the profile's columns (a Hanzi takes two,
//     large text double) unless one character alone is, and no line breaks
//     inside a character;
//   - an image goes out as GS v 0 strips of whole rows, each no more data
//     than the profile's strip size (at most MaxStripBytes) when a row
//     fits in it, so a strip fits one chunk of the serial driver;
//   - Encode and Decode take any input without panicking; Decode is
//     strict, and its error names the offset of what it cannot read.
package printer

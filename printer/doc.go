// Package printer turns print markup (wire contract §6) into ESC/POS bytes for
// Chinese receipt printers, renders receipts from templates, and decodes
// ESC/POS back into text so tests and the dev kit can see what was printed.
//
// The package is pure: bytes in, bytes out. It opens no ports and starts no
// goroutines; drivers/serialport carries the bytes.
package printer

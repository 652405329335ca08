package orders

import "errors"

// Errors of starting and changing the records' flows: the local API maps
// each to an HTTP status.
var (
	ErrBusy     = errors.New("another payment is waiting for a code")
	ErrNotFound = errors.New("no such payment")
	ErrInvalid  = errors.New("invalid request")
	ErrConflict = errors.New("conflicts with the payment's state")
	ErrDenied   = errors.New("not allowed")
)

// The local API's errors carry, beside the developer's message, the words
// a person at the till reads (error.text, in Chinese): a cashier app or
// the console shows them as they are, never an English message behind a
// Chinese prefix.

// worded is an error with its words for a person.
type worded struct {
	err   error
	words string
}

func (e worded) Error() string { return e.err.Error() }
func (e worded) Unwrap() error { return e.err }

// Say gives err the words a person reads.
func Say(words string, err error) error { return worded{err, words} }

// Words are the words Say gave err, or "".
func Words(err error) string {
	var w worded
	if errors.As(err, &w) {
		return w.words
	}
	return ""
}

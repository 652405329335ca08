package serialport

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// collect runs ReadLines over r and returns each line as its text, or as
// "!" plus the error kind for a bad one.
func collect(t *testing.T, r io.Reader, maxLen int) ([]string, error) {
	t.Helper()
	var got []string
	err := ReadLines(context.Background(), r, maxLen, func(l Line) {
		switch {
		case l.Err == nil:
			got = append(got, l.Text)
		case errors.Is(l.Err, ErrLineTooLong):
			got = append(got, "!long")
		case errors.Is(l.Err, ErrInvalidLine):
			got = append(got, "!invalid")
		default:
			got = append(got, "!"+l.Err.Error())
		}
	})
	return got, err
}

func TestReadLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"CR", "123\r456\r", 0, []string{"123", "456"}},
		{"LF", "123\n456\n", 0, []string{"123", "456"}},
		{"CRLF", "123\r\n456\r\n", 0, []string{"123", "456"}},
		{"mixed and empty", "\r\n\na\r\r\n\rb\n\n", 0, []string{"a", "b"}},
		{"no terminator at EOF", "abc", 0, []string{"abc"}},
		{"at limit", "12345\r", 5, []string{"12345"}},
		{"over limit dropped, next ok", "123456\r78\r", 5, []string{"!long", "78"}},
		{"NUL", "12\x003\r9\r", 0, []string{"!invalid", "9"}},
		{"tab", "a\tb\r", 0, []string{"!invalid"}},
		{"DEL", "a\x7f\r", 0, []string{"!invalid"}},
		{"invalid UTF-8", "a\xffb\r", 0, []string{"!invalid"}},
		{"UTF-8 ok", "店铺码\r", 0, []string{"店铺码"}},
		{"spaces kept", " a b \r", 0, []string{" a b "}},
		{"long and invalid is long", "\x00\x00\x00\x00\x00\x00\r", 5, []string{"!long"}},
	} {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"OneByte", iotest.OneByteReader},
			{"Half", iotest.HalfReader},
			{"DataErr", iotest.DataErrReader},
		} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				got, err := collect(t, rd.wrap(strings.NewReader(tc.in)), tc.max)
				if err != nil {
					t.Fatalf("ReadLines: %v", err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// TestReadLinesSplitCRLF feeds CR and LF in separate reads, as a slow
// serial line delivers them.
func TestReadLinesSplitCRLF(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		for _, s := range []string{"12", "3\r", "\n45", "6\r", "\n"} {
			pw.Write([]byte(s))
		}
		pw.Close()
	}()
	got, err := collect(t, pr, 0)
	if err != nil || !slices.Equal(got, []string{"123", "456"}) {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestReadLinesKeepsLimitedMemory(t *testing.T) {
	var text string
	err := ReadLines(context.Background(), strings.NewReader(strings.Repeat("x", 1<<20)+"\r"), 8, func(l Line) {
		text = l.Text
		if !errors.Is(l.Err, ErrLineTooLong) {
			t.Errorf("err %v", l.Err)
		}
	})
	if err != nil || text != "xxxxxxxx" {
		t.Errorf("text %q, err %v", text, err)
	}
}

func TestReadLinesReadError(t *testing.T) {
	boom := errors.New("boom")
	got, err := collect(t, io.MultiReader(strings.NewReader("a\r"), iotest.ErrReader(boom)), 0)
	if !errors.Is(err, boom) || !slices.Equal(got, []string{"a"}) {
		t.Errorf("got %q, %v", got, err)
	}
}

// TestReadLinesCancel checks that cancelling ctx ends a ReadLines blocked
// in Read, by closing the reader as a serial port must be closed.
func TestReadLinesCancel(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ReadLines(ctx, pr, 0, func(l Line) { lines <- l.Text })
	}()
	pw.Write([]byte("1\r"))
	if got := <-lines; got != "1" {
		t.Fatalf("line %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLines did not stop on cancel")
	}

	// Already cancelled, reader that cannot be closed: returns at once.
	if err := ReadLines(ctx, iotest.TimeoutReader(strings.NewReader("x")), 0, func(Line) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func FuzzReadLines(f *testing.F) {
	f.Add([]byte("123\r\n456\r"), 4)
	f.Add([]byte("\x00\xff\r\n\n\r"), 0)
	f.Add([]byte("店\r"), 2)
	f.Fuzz(func(t *testing.T, in []byte, maxLen int) {
		maxLen %= 64
		whole, err := collect(t, strings.NewReader(string(in)), maxLen)
		if err != nil {
			t.Fatal(err)
		}
		one, err := collect(t, iotest.OneByteReader(strings.NewReader(string(in))), maxLen)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(whole, one) {
			t.Fatalf("framing depends on read sizes: %q vs %q", whole, one)
		}
		limit := maxLen
		if limit <= 0 {
			limit = DefaultMaxLine
		}
		for _, l := range whole {
			if strings.HasPrefix(l, "!") {
				continue
			}
			if l == "" || len(l) > limit || strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("bad line %q", l)
			}
		}
	})
}

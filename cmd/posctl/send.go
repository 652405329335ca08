package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/wire"
)

// sendReq is a parsed posctl send command line.
type sendReq struct {
	typ     string
	spec    *spec // nil: a type posctl does not know (sent as given)
	body    map[string]any
	conn    conn
	timeout time.Duration
	ref     string
}

// fieldValue is a body field's flag.
type fieldValue struct {
	f   *field
	val any
}

func (v *fieldValue) String() string {
	if v == nil || v.val == nil {
		return ""
	}
	return fmt.Sprint(v.val)
}

func (v *fieldValue) Set(s string) error {
	x, err := v.f.parse(s)
	if err != nil {
		return err
	}
	v.val = x
	return nil
}

func (v *fieldValue) IsBoolFlag() bool { return v != nil && v.f != nil && v.f.Kind == kindBool }

// parse reads a value given on the command line as the field's kind.
func (f *field) parse(s string) (any, error) {
	switch f.Kind {
	case kindInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s wants an integer", f.Key)
		}
		return n, nil
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%s wants true or false", f.Key)
		}
		return b, nil
	case kindJSON:
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("%s wants JSON: %v", f.Key, err)
		}
		return v, nil
	}
	return s, nil
}

// sendOpts are the flags of every type besides the connection's.
type sendOpts struct {
	raw     string
	timeout time.Duration
	ref     string
}

func commonFlags(fs *flag.FlagSet, c *conn, o *sendOpts) {
	c.flags(fs)
	fs.StringVar(&o.raw, "json", "", "the body as a JSON object (the flags and key=value arguments are merged over it)")
	fs.DurationVar(&o.timeout, "timeout", 0, "how long to wait for the answer (default: the type's; 0s: do not wait)")
	fs.StringVar(&o.ref, "ref", "", "the jti of the device's request this command answers (pay.status and the other answers)")
}

// typeFlags adds s's body fields as flags.
func typeFlags(fs *flag.FlagSet, s *spec) {
	if s == nil {
		return
	}
	for i := range s.Fields {
		f := &s.Fields[i]
		fs.Var(&fieldValue{f: f}, f.flagName(), f.Usage)
	}
}

// findType takes the command type out of args: the first argument that is
// neither a flag, a flag's value nor key=value. Flags may come before it.
func findType(args []string) (string, []string) {
	boolFlag := map[string]bool{"h": true, "help": true}
	for _, s := range specs {
		for _, f := range s.Fields {
			if f.Kind == kindBool {
				boolFlag[f.flagName()] = true
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			for j := i + 1; j < len(args); j++ {
				if !strings.Contains(args[j], "=") {
					return args[j], append(append([]string(nil), args[:j]...), args[j+1:]...)
				}
			}
			return "", args
		case len(a) > 1 && a[0] == '-':
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !boolFlag[name] {
				i++ // its value
			}
		case !strings.Contains(a, "="):
			return a, append(append([]string(nil), args[:i]...), args[i+1:]...)
		}
	}
	return "", args
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "help":
			return true
		}
	}
	return false
}

// parseSend reads posctl send's command line: TYPE, flags and key=value in
// any order. -h prints the help to stdout and returns flag.ErrHelp.
func parseSend(args []string, stdout, stderr io.Writer) (*sendReq, error) {
	typ, rest := findType(args)
	if typ == "" || typ == "help" {
		if typ == "help" || wantsHelp(args) {
			fmt.Fprint(stdout, sendHelp())
			return nil, flag.ErrHelp
		}
		return nil, usageError("usage: posctl send TYPE [flags] [key=value ...]  (e.g. posctl send notify.payment -amount 12850 -wallet wechat); posctl send -h lists the types")
	}
	r := &sendReq{typ: typ, spec: specOf(typ)}
	fs := flag.NewFlagSet("send "+typ, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	var o sendOpts
	commonFlags(fs, &r.conn, &o)
	typeFlags(fs, r.spec)
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, typeHelp(typ, r.spec))
		return nil, flag.ErrHelp
	}
	if err != nil {
		return nil, usageError(err.Error() + " (posctl send " + typ + " -h lists its flags)")
	}

	r.body = map[string]any{}
	if o.raw != "" {
		d := json.NewDecoder(strings.NewReader(o.raw))
		d.UseNumber()
		if err := d.Decode(&r.body); err != nil || r.body == nil {
			return nil, usageError(fmt.Sprintf("-json: want a JSON object: %v", err))
		}
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) {
		if v, ok := f.Value.(*fieldValue); ok {
			r.body[v.f.Key] = v.val
		}
		timeoutSet = timeoutSet || f.Name == "timeout"
	})
	for _, kv := range pos {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError(fmt.Sprintf("argument %q: want key=value (or is it a second TYPE?)", kv))
		}
		if f := r.spec.fieldOrNil(k); f != nil {
			x, err := f.parse(v)
			if err != nil {
				return nil, usageError(fmt.Sprintf("argument %q: %v", kv, err))
			}
			r.body[k] = x
			continue
		}
		var jv any
		if json.Unmarshal([]byte(v), &jv) == nil {
			r.body[k] = jv
		} else {
			r.body[k] = v
		}
	}
	if r.spec != nil && r.spec.Defaults != nil {
		r.spec.Defaults(r.body)
	}
	r.timeout = o.timeout
	if !timeoutSet {
		r.timeout = defaultTimeout
		if r.spec != nil {
			r.timeout = r.spec.timeout()
		}
	}
	if r.timeout < 0 {
		return nil, usageError("-timeout must not be negative")
	}
	r.ref = o.ref
	return r, nil
}

func (s *spec) fieldOrNil(key string) *field {
	if s == nil {
		return nil
	}
	return s.field(key)
}

func cmdSend(args []string, stdout, stderr io.Writer) error {
	r, err := parseSend(args, stdout, stderr)
	if err != nil {
		return err
	}
	body, err := r.wireBody()
	if err != nil {
		return err
	}
	ctx := context.Background()
	cl, err := r.conn.dial(ctx, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	var events <-chan platform.Event
	wctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if r.timeout > 0 {
		if events, err = cl.Subscribe(wctx, r.conn.dev, ""); err != nil {
			return err
		}
	}
	m, err := cl.SendRef(r.conn.dev, r.typ, r.ref, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent %s to %s (jti %s): %s\n", r.typ, r.conn.dev, m.ID, pretty(m.Body))
	if r.timeout == 0 {
		return nil
	}
	if r.spec == nil {
		fmt.Fprintf(stderr, "posctl: %s is no type posctl knows (posctl send -h): waiting for any answer\n", r.typ)
	}
	return awaitAnswer(wctx, events, r, m.ID, stdout, stderr)
}

// wireBody is the body as it goes to the device. For a type with a wire
// body (spec.Body) it is the assembled map decoded as the device decodes
// it, strictly, and encoded from that struct: a key the device does not
// decode, or a value of the wrong JSON type, is a command-line mistake
// (exit 2) before anything is sent, naming the keys the device takes, and
// what goes out is what was checked. A key the map left out goes as its
// zero value, which the device does not tell from an absent one: it decodes
// every body into a fresh zero struct (decodeBody), and where absence
// matters the field is a pointer (null decodes as absent: device.speak's
// text, device.volume's level) or omitted when empty (config.set's patch,
// shift.start's roster). A type posctl does not know, or one without a
// body, is sent as given.
func (r *sendReq) wireBody() (json.RawMessage, error) {
	raw, err := json.Marshal(r.body)
	if err != nil {
		return nil, err
	}
	if r.spec == nil || r.spec.Body == nil {
		return raw, nil
	}
	t := reflect.TypeOf(r.spec.Body)
	v := reflect.New(t)
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v.Interface()); err != nil {
		return nil, usageError(fmt.Sprintf("%s: the device would refuse this body: %v (it takes %s; posctl send %s -h)",
			r.typ, err, strings.Join(jsonKeys(t), ", "), r.typ))
	}
	return json.Marshal(v.Interface())
}

// answerError is the device refusing a command or answering that it failed
// (exit 1).
type answerError string

func (e answerError) Error() string { return string(e) }

// awaitAnswer waits on events for the answer to the command jti and says
// whether it is a success: nil, an answerError, or an error for no answer.
// A type the device answers only when it refuses it succeeds when nothing
// refuses it until ctx ends, if the device is online.
func awaitAnswer(ctx context.Context, events <-chan platform.Event, r *sendReq, jti string, stdout, stderr io.Writer) error {
	s := r.spec
	keyVal := ""
	if s != nil && s.Key != "" {
		keyVal = str(r.body, s.Key)
	}
	var online *bool
	warned := false
	last := ""
	for {
		select {
		case <-ctx.Done():
			if s != nil && s.NoAnswer {
				switch {
				case online == nil:
					return fmt.Errorf("%s: no state document from %s on %s: it has not connected to this broker; not confirmed", r.typ, r.conn.dev, r.conn.url)
				case !*online:
					return fmt.Errorf("%s: %s is offline (its retained state): the command waits at the broker; not confirmed", r.typ, r.conn.dev)
				}
				fmt.Fprintf(stdout, "no answer, as expected: %s is answered only when refused, and nothing refused it in %s\n", r.typ, r.timeout)
				return nil
			}
			msg := fmt.Sprintf("no answer to %s (jti %s) within %s", r.typ, jti, r.timeout)
			if last != "" {
				msg += "; last: " + last
			}
			if online != nil && !*online {
				return errors.New(msg + fmt.Sprintf(" (%s is offline)", r.conn.dev))
			}
			return fmt.Errorf("%s (is the agent running and connected to %s?)", msg, r.conn.url)
		case e, ok := <-events:
			if !ok {
				return errors.New("event stream closed")
			}
			if e.State != nil {
				var st wire.DeviceState
				if json.Unmarshal(e.State, &st) == nil {
					online = &st.Online
					if !st.Online && !warned && (s == nil || !s.NoAnswer) {
						fmt.Fprintf(stderr, "posctl: %s is offline (its retained state): waiting for it\n", r.conn.dev)
						warned = true
					}
				}
				continue
			}
			if e.Err != nil {
				continue
			}
			m := e.Message
			b := bodyMap(m.Body)
			if m.Ref != jti && (keyVal == "" || !s.isAnswer(m.Type) || str(b, s.Key) != keyVal) {
				continue
			}
			if m.Type == wire.TypeError {
				var why wire.Error
				json.Unmarshal(m.Body, &why)
				fmt.Fprintf(stdout, "answer error: %s\n", pretty(m.Body))
				return answerError(fmt.Sprintf("%s refused: %s %s", r.typ, why.Code, why.Message))
			}
			if s != nil && s.Progress != nil && s.isAnswer(m.Type) && s.Progress(m.Type, b) {
				last = m.Type + " " + pretty(m.Body)
				fmt.Fprintf(stdout, "progress %s\n", last)
				continue
			}
			fmt.Fprintf(stdout, "answer %s: %s\n", m.Type, pretty(m.Body))
			if s != nil && s.Failed != nil && s.isAnswer(m.Type) {
				if why := s.Failed(m.Type, b); why != "" {
					return answerError(why)
				}
			}
			if m.Type == wire.TypePayProgress && str(b, "state") == "ATTENTION" {
				return answerError(payFailure(b) + ": it needs a person")
			}
			return nil
		}
	}
}

// sendHelp is posctl send -h: every type with its flags and its answer.
func sendHelp() string {
	var b strings.Builder
	b.WriteString(`usage: posctl send TYPE [flags] [key=value ...]

Signs a command for the device (HS256 with its auth key), publishes it on its
cmd topic, and waits for the answer and prints it. TYPE, flags and key=value
arguments may come in any order.

The body: -json '{...}', then the type's flags, then key=value arguments (a
value is taken as JSON unless the field is a string), each later one winning.
It is decoded as strictly as the device decodes it, into the type's wire
struct, and sent as that struct encodes it: a key the device does not take,
or a value of the wrong type, is a mistake (exit 2) and nothing is sent.

Exit status: 0 when the device answered that it did what was asked, or, for a
type it answers only when it refuses it, nothing refused it in time (and the
device is online); 1 when it refused (an error event), answered a failure
(FAILED, config.rejected, …) or did not answer in time; 2 for a mistake in the
command line. -timeout 0s sends and does not wait (exit 0 once published).

Command types (posctl send TYPE -h: one type):
`)
	for _, s := range specs {
		b.WriteString("\n")
		writeType(&b, s)
	}
	b.WriteString("\nAny other TYPE is sent as given (-json, key=value) and its first answer printed.\n\nFlags of every type:\n")
	writeCommon(&b)
	return b.String()
}

func typeHelp(typ string, s *spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: posctl send %s [flags] [key=value ...]\n\n", typ)
	if s == nil {
		fmt.Fprintf(&b, "posctl does not know %s: it is sent as given (-json, key=value) and its first answer printed.\n", typ)
	} else {
		writeType(&b, s)
	}
	b.WriteString("\nFlags of every type:\n")
	writeCommon(&b)
	return b.String()
}

func writeType(b *strings.Builder, s *spec) {
	fmt.Fprintf(b, "  %s — %s\n", s.Type, s.Summary)
	for _, f := range s.Fields {
		name := "-" + f.flagName()
		if f.Kind != kindBool {
			name += " " + strings.ToUpper(f.Kind.String())
		}
		fmt.Fprintf(b, "      %-24s %s", name, f.Key)
		if f.Usage != "" {
			b.WriteString(": " + f.Usage)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "      answer: %s\n", s.answerText())
	if !s.NoAnswer {
		fmt.Fprintf(b, "      waits %s by default\n", s.timeout())
	}
}

func writeCommon(b *strings.Builder) {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var c conn
	var o sendOpts
	commonFlags(fs, &c, &o)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(b, "  %-24s %s", "-"+n+" "+arg, usage)
		if f.DefValue != "" && f.DefValue != "0s" {
			fmt.Fprintf(b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	}
}

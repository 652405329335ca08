package device

// LocalEvent is one state change told to the local API's event streams.
type LocalEvent struct {
	Kind string `json:"kind"` // payment, state, refund, …
	Data any    `json:"data"`
}

// subscribe returns a stream of local events; cancel ends it.
func (a *Agent) subscribe() (<-chan LocalEvent, func()) {
	ch := make(chan LocalEvent, 64)
	a.subsMu.Lock()
	a.subs[ch] = struct{}{}
	a.subsMu.Unlock()
	return ch, func() {
		a.subsMu.Lock()
		delete(a.subs, ch)
		a.subsMu.Unlock()
	}
}

// publishLocal tells every stream. A stream that does not keep up loses
// events rather than holding up a flow; its reader re-reads with GET.
func (a *Agent) publishLocal(kind string, data any) {
	a.subsMu.Lock()
	defer a.subsMu.Unlock()
	for ch := range a.subs {
		select {
		case ch <- LocalEvent{Kind: kind, Data: data}:
		default:
		}
	}
}

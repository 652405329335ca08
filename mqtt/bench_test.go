package mqtt

import "testing"

func BenchmarkSignHS256(b *testing.B) {
	m := msg(nil)
	for b.Loop() {
		if _, err := Sign(m, Keys{Auth: testAuth}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	tok, _ := Sign(msg(nil), Keys{Auth: testAuth})
	p := Policy{Algs: []string{HS256}, Dev: "dev-1", Now: t0}
	for b.Loop() {
		if _, err := Verify([]byte(tok), Keys{Auth: testAuth}, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignPS256(b *testing.B) {
	k := Keys{Device: testRSA(b)}
	m := msg(func(m *Message) { m.Alg = PS256 })
	for b.Loop() {
		if _, err := Sign(m, k); err != nil {
			b.Fatal(err)
		}
	}
}

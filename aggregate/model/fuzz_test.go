package model

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzVisitorUnmarshal: UnmarshalBinary never panics; what it accepts
// re-encodes to bytes that decode to the same visitor, and a decoded
// visitor can be observed and classified (it may come from an older or a
// corrupted store entry).
func FuzzVisitorUnmarshal(f *testing.F) {
	m := Default()
	e := m.NewEvaluator()
	r := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		var v Visitor
		for _, ev := range randomEvents(r, 1+r.IntN(60)) {
			e.Observe(&v, ev)
		}
		e.Classify(&v)
		f.Add(encode(f, &v))
	}
	var zero Visitor
	f.Add(encode(f, &zero))
	f.Add([]byte{})
	f.Add([]byte{1})
	evs := randomEvents(r, 3)
	f.Fuzz(func(t *testing.T, b []byte) {
		var v Visitor
		if err := v.UnmarshalBinary(b); err != nil {
			if !sameVisitor(&v, &Visitor{}) {
				t.Fatal("not reset after an error")
			}
			return
		}
		again := encode(t, &v)
		var w Visitor
		if err := w.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !sameVisitor(&v, &w) {
			t.Fatalf("round trip\n%+v\n%+v", v, w)
		}
		if !bytes.Equal(encode(t, &w), again) {
			t.Fatal("encoding not stable")
		}
		for _, ev := range evs {
			from, to := e.Apply(&w, ev)
			if from < -1 || from >= len(m.Personas) || to < 0 || to >= len(m.Personas) {
				t.Fatalf("persona %d → %d", from, to)
			}
		}
		_ = m.Env(&v)
	})
}

// FuzzParse: Parse never panics on any model YAML; a model it accepts can
// evaluate events.
func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte(base))
	f.Add([]byte("version: v\npersonas:\n  - name: a\n    when: events > 1\n  - name: b\ndefault: b\n"))
	f.Add([]byte("version: v\ndefault: {name: x}\n"))
	f.Add([]byte("version: v\nfeatures:\n  - name: f\n    when: 'event in [\"a\"] && len(path) > 2'\npersonas:\n  - name: p\n    when: minutes_since_last_f < 3 || events_since_last_f == 0\ndefault: {name: x}\n"))
	f.Add([]byte("version: v\npersonas:\n  - name: a\n    when: 'share(top_category) > 1 / 0 ? true : false'\n  - name: b\ndefault: b\n"))
	f.Add([]byte("{"))
	r := rand.New(rand.NewPCG(2, 2))
	evs := randomEvents(r, 30)
	f.Fuzz(func(t *testing.T, y []byte) {
		m, err := Parse(y)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		e := m.NewEvaluator()
		var v Visitor
		for _, ev := range evs {
			if _, p := e.Apply(&v, ev); p < 0 || p >= len(m.Personas) {
				t.Fatalf("persona %d", p)
			}
		}
		var w Visitor
		if err := w.UnmarshalBinary(encode(t, &v)); err != nil || !sameVisitor(&v, &w) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

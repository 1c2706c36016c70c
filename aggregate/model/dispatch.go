package model

import (
	"sort"

	"github.com/expr-lang/expr/ast"
)

// Event dispatch. Most feature conditions start with a test of the event
// name (`event == "Product Added"`, `event in [...] && ...`). Such a
// condition can only hold for the names it lists, so the model keeps, per
// event name, the list of conditions worth evaluating: an event touches a
// handful of features instead of all of them, and a condition that is
// nothing but the name test is not evaluated at all.

// guardOf returns the event names outside of which n is false (ok), and
// whether n is exactly "event is one of names" (pure).
func guardOf(n ast.Node) (names []string, pure, ok bool) {
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch x.Operator {
		case "==":
			id, lit := x.Left, x.Right
			if _, isID := id.(*ast.IdentifierNode); !isID {
				id, lit = lit, id
			}
			if i, isID := id.(*ast.IdentifierNode); isID && i.Value == "event" {
				if s, isStr := stringLiteral(lit); isStr {
					return []string{s}, true, true
				}
			}
		case "in":
			if i, isID := x.Left.(*ast.IdentifierNode); isID && i.Value == "event" {
				if set, isSet := stringSet(x.Right); isSet {
					return set, true, true
				}
			}
		case "&&", "and":
			a, pa, oka := guardOf(x.Left)
			b, pb, okb := guardOf(x.Right)
			switch {
			case oka && okb:
				return intersect(a, b), pa && pb, true
			case oka:
				return a, false, true
			case okb:
				return b, false, true
			}
		case "||", "or":
			a, pa, oka := guardOf(x.Left)
			b, pb, okb := guardOf(x.Right)
			if oka && okb {
				return union(a, b), pa && pb, true
			}
		}
	case *ast.BoolNode:
		if !x.Value {
			return []string{}, true, true // never holds
		}
	}
	return nil, false, false
}

func stringLiteral(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.ConstantNode:
		s, ok := x.Value.(string)
		return s, ok
	}
	return "", false
}

func stringSet(n ast.Node) ([]string, bool) {
	switch x := n.(type) {
	case *ast.ConstantNode:
		m, ok := x.Value.(map[string]struct{})
		if !ok {
			return nil, false
		}
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out, true
	case *ast.ArrayNode:
		out := make([]string, 0, len(x.Nodes))
		for _, e := range x.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			out = append(out, s.Value)
		}
		return out, true
	}
	return nil, false
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		for _, t := range b {
			if s == t {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, t := range b {
		found := false
		for _, s := range out {
			if s == t {
				found = true
				break
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	return out
}

// nameTable maps the event names the conditions test to small ids, with
// the names bucketed by length: a lookup is a few string comparisons, no
// hashing.
type nameTable struct {
	byLen [][]nameID
}

type nameID struct {
	name string
	id   int
}

func (t *nameTable) add(name string, id int) {
	for len(t.byLen) <= len(name) {
		t.byLen = append(t.byLen, nil)
	}
	t.byLen[len(name)] = append(t.byLen[len(name)], nameID{name, id})
}

// lookup returns the id of name, 0 if it has none.
func (t *nameTable) lookup(name string) int {
	if len(name) >= len(t.byLen) {
		return 0
	}
	for _, e := range t.byLen[len(name)] {
		if e.name == name {
			return e.id
		}
	}
	return 0
}

// dispatch is the per-event-name plan of the event conditions.
type dispatch struct {
	ids   map[string]int // event name -> id >= 1; other names are 0
	table nameTable      // the same, for lookups
	// features[id] lists the features to consider for an event of that id,
	// in feature order.
	features [][]int
	pure     []bool // per feature: holds whenever it is considered
	// catView[id] says whether category_views_when can hold for the id;
	// catPure that it then holds.
	catView []bool
	catPure bool
}

func (m *Model) buildDispatch() {
	type g struct {
		names []string
		pure  bool
		ok    bool
	}
	gs := make([]g, len(m.features))
	d := &m.dispatch
	d.ids = map[string]int{}
	id := func(s string) {
		if _, ok := d.ids[s]; !ok {
			d.ids[s] = len(d.ids) + 1
		}
	}
	for i := range m.features {
		n, p, ok := guardOf(m.features[i].prog.Node())
		gs[i] = g{n, p, ok}
		for _, s := range n {
			id(s)
		}
	}
	cn, cp, cok := guardOf(m.catView.prog.Node())
	for _, s := range cn {
		id(s)
	}
	nid := len(d.ids) + 1
	d.features = make([][]int, nid)
	d.pure = make([]bool, len(m.features))
	for i, gi := range gs {
		d.pure[i] = gi.ok && gi.pure
		for e := 0; e < nid; e++ {
			if !gi.ok {
				d.features[e] = append(d.features[e], i)
			}
		}
		for _, s := range gi.names {
			d.features[d.ids[s]] = append(d.features[d.ids[s]], i)
		}
	}
	for e := range d.features {
		sort.Ints(d.features[e])
	}
	d.catView = make([]bool, nid)
	d.catPure = cok && cp
	for e := range d.catView {
		d.catView[e] = !cok
	}
	for _, s := range cn {
		d.catView[d.ids[s]] = true
	}
	for name, id := range d.ids {
		d.table.add(name, id)
	}
}

package model

import (
	"strings"

	"github.com/expr-lang/expr/ast"
)

// The fast path. Every rule is compiled by expr (that is the language, its
// type checker and its error messages), and then, when the checked tree
// only uses the common subset below, also into a tree of typed Go closures
// that evaluate without the expr VM: no boxing into interfaces, no stack,
// no allocation. Rules outside the subset keep running on the VM (correct,
// slower, and they may allocate). A test runs both on the same inputs and
// requires equal results.
//
// The subset: bool, int, float and string literals; env names; ! not - +;
// && and || or; == != < <= > >=; + - * / on numbers (/ is float division,
// as in expr); in over a literal list of strings or ints (also not in);
// contains, startsWith, endsWith; the ternary and if/else; the helpers
// share(s) and views(s); category_views["..."].

type kind uint8

const (
	kBool kind = iota + 1
	kInt
	kFloat
	kString
)

// ctx is what compiled closures read: the visitor (persona rules) or the
// flattened event (feature conditions).
type ctx struct {
	v  *Visitor
	ev *eventEnv
}

type fexpr struct {
	k kind
	b func(*ctx) bool
	i func(*ctx) int
	f func(*ctx) float64
	s func(*ctx) string

	// slot is 1 + the index of the visitor slot an int expression reads
	// as it is (a feature counter), 0 otherwise: comparisons with a
	// literal read the slot directly instead of calling i.
	slot int

	// Constant value when the node is a literal.
	isConst bool
	cs      string
	ci      int
	cf      float64
	cb      bool
}

// resolver compiles an env name, a call of an env helper, or a member
// access env[name]["key"] (key is a literal string); ok false leaves the
// rule to the VM.
type resolver interface {
	name(n string) (fexpr, bool)
	call(n string, args []ast.Node) (fexpr, bool)
	member(n, key string) (fexpr, bool)
}

func compileFast(node ast.Node, r resolver) (func(*ctx) bool, bool) {
	x, ok := fast(node, r)
	if !ok || x.k != kBool {
		return nil, false
	}
	return x.b, true
}

func constBool(v bool) fexpr {
	return fexpr{k: kBool, b: func(*ctx) bool { return v }, isConst: true, cb: v}
}
func constInt(v int) fexpr {
	return fexpr{k: kInt, i: func(*ctx) int { return v }, isConst: true, ci: v, cf: float64(v)}
}
func constFloat(v float64) fexpr {
	return fexpr{k: kFloat, f: func(*ctx) float64 { return v }, isConst: true, cf: v}
}
func constString(v string) fexpr {
	return fexpr{k: kString, s: func(*ctx) string { return v }, isConst: true, cs: v}
}

// asFloat widens an int expression.
func asFloat(x fexpr) fexpr {
	if x.k == kFloat {
		return x
	}
	if x.isConst {
		return constFloat(float64(x.ci))
	}
	i := x.i
	return fexpr{k: kFloat, f: func(c *ctx) float64 { return float64(i(c)) }}
}

func fast(node ast.Node, r resolver) (fexpr, bool) {
	switch n := node.(type) {
	case *ast.BoolNode:
		return constBool(n.Value), true
	case *ast.IntegerNode:
		return constInt(n.Value), true
	case *ast.FloatNode:
		return constFloat(n.Value), true
	case *ast.StringNode:
		return constString(n.Value), true
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case bool:
			return constBool(v), true
		case int:
			return constInt(v), true
		case float64:
			return constFloat(v), true
		case string:
			return constString(v), true
		}
		return fexpr{}, false
	case *ast.IdentifierNode:
		return r.name(n.Value)
	case *ast.UnaryNode:
		return fastUnary(n, r)
	case *ast.BinaryNode:
		return fastBinary(n, r)
	case *ast.ConditionalNode:
		return fastCond(n, r)
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return fexpr{}, false
		}
		return r.call(id.Value, n.Arguments)
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		key, ok2 := n.Property.(*ast.StringNode)
		if !ok || !ok2 || n.Optional || n.Method {
			return fexpr{}, false
		}
		return r.member(id.Value, key.Value)
	}
	return fexpr{}, false
}

func fastUnary(n *ast.UnaryNode, r resolver) (fexpr, bool) {
	x, ok := fast(n.Node, r)
	if !ok {
		return fexpr{}, false
	}
	switch n.Operator {
	case "!", "not":
		if x.k != kBool {
			return fexpr{}, false
		}
		b := x.b
		return fexpr{k: kBool, b: func(c *ctx) bool { return !b(c) }}, true
	case "-":
		switch x.k {
		case kInt:
			if x.isConst {
				return constInt(-x.ci), true
			}
			i := x.i
			return fexpr{k: kInt, i: func(c *ctx) int { return -i(c) }}, true
		case kFloat:
			if x.isConst {
				return constFloat(-x.cf), true
			}
			f := x.f
			return fexpr{k: kFloat, f: func(c *ctx) float64 { return -f(c) }}, true
		}
	case "+":
		if x.k == kInt || x.k == kFloat {
			return x, true
		}
	}
	return fexpr{}, false
}

func fastCond(n *ast.ConditionalNode, r resolver) (fexpr, bool) {
	cond, ok := fast(n.Cond, r)
	if !ok || cond.k != kBool {
		return fexpr{}, false
	}
	a, ok1 := fast(n.Exp1, r)
	b, ok2 := fast(n.Exp2, r)
	if !ok1 || !ok2 || a.k != b.k {
		return fexpr{}, false
	}
	p := cond.b
	switch a.k {
	case kBool:
		x, y := a.b, b.b
		return fexpr{k: kBool, b: func(c *ctx) bool {
			if p(c) {
				return x(c)
			}
			return y(c)
		}}, true
	case kInt:
		x, y := a.i, b.i
		return fexpr{k: kInt, i: func(c *ctx) int {
			if p(c) {
				return x(c)
			}
			return y(c)
		}}, true
	case kFloat:
		x, y := a.f, b.f
		return fexpr{k: kFloat, f: func(c *ctx) float64 {
			if p(c) {
				return x(c)
			}
			return y(c)
		}}, true
	case kString:
		x, y := a.s, b.s
		return fexpr{k: kString, s: func(c *ctx) string {
			if p(c) {
				return x(c)
			}
			return y(c)
		}}, true
	}
	return fexpr{}, false
}

func fastBinary(n *ast.BinaryNode, r resolver) (fexpr, bool) {
	if n.Operator == "in" {
		return fastIn(n, r)
	}
	l, ok1 := fast(n.Left, r)
	rt, ok2 := fast(n.Right, r)
	if !ok1 || !ok2 {
		return fexpr{}, false
	}
	switch n.Operator {
	case "&&", "and":
		if l.k != kBool || rt.k != kBool {
			return fexpr{}, false
		}
		a, b := l.b, rt.b
		return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) && b(c) }}, true
	case "||", "or":
		if l.k != kBool || rt.k != kBool {
			return fexpr{}, false
		}
		a, b := l.b, rt.b
		return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) || b(c) }}, true
	case "==", "!=":
		eq, ok := fastEqual(l, rt)
		if !ok {
			return fexpr{}, false
		}
		if n.Operator == "!=" {
			e := eq.b
			return fexpr{k: kBool, b: func(c *ctx) bool { return !e(c) }}, true
		}
		return eq, true
	case "<", "<=", ">", ">=":
		return fastCompare(n.Operator, l, rt)
	case "+", "-", "*":
		return fastArith(n.Operator, l, rt)
	case "/":
		if !numeric(l) || !numeric(rt) {
			return fexpr{}, false
		}
		a, b := asFloat(l).f, asFloat(rt).f
		return fexpr{k: kFloat, f: func(c *ctx) float64 { return a(c) / b(c) }}, true
	case "contains", "startsWith", "endsWith":
		if l.k != kString || rt.k != kString {
			return fexpr{}, false
		}
		a, b := l.s, rt.s
		var f func(string, string) bool
		switch n.Operator {
		case "contains":
			f = strings.Contains
		case "startsWith":
			f = strings.HasPrefix
		default:
			f = strings.HasSuffix
		}
		if rt.isConst {
			lit := rt.cs
			return fexpr{k: kBool, b: func(c *ctx) bool { return f(a(c), lit) }}, true
		}
		return fexpr{k: kBool, b: func(c *ctx) bool { return f(a(c), b(c)) }}, true
	}
	return fexpr{}, false
}

func numeric(x fexpr) bool { return x.k == kInt || x.k == kFloat }

func fastEqual(l, r fexpr) (fexpr, bool) {
	if l.isConst && !r.isConst {
		l, r = r, l // literal on the right, to specialise below
	}
	switch {
	case l.k == kString && r.k == kString:
		a := l.s
		if r.isConst {
			lit := r.cs
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) == lit }}, true
		}
		b := r.s
		return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) == b(c) }}, true
	case l.k == kBool && r.k == kBool:
		a, b := l.b, r.b
		return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) == b(c) }}, true
	case l.k == kInt && r.k == kInt:
		a := l.i
		if r.isConst && l.slot > 0 {
			s, lit := l.slot-1, r.ci
			return fexpr{k: kBool, b: func(c *ctx) bool { return int(c.v.slots[s]) == lit }}, true
		}
		if r.isConst {
			lit := r.ci
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) == lit }}, true
		}
		b := r.i
		return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) == b(c) }}, true
	case numeric(l) && numeric(r):
		a, b := asFloat(l).f, asFloat(r).f
		return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) == b(c) }}, true
	}
	return fexpr{}, false
}

func fastCompare(op string, l, r fexpr) (fexpr, bool) {
	if l.k == kInt && r.k == kInt && l.slot > 0 && r.isConst {
		s, lit := l.slot-1, r.ci
		switch op {
		case "<":
			return fexpr{k: kBool, b: func(c *ctx) bool { return int(c.v.slots[s]) < lit }}, true
		case "<=":
			return fexpr{k: kBool, b: func(c *ctx) bool { return int(c.v.slots[s]) <= lit }}, true
		case ">":
			return fexpr{k: kBool, b: func(c *ctx) bool { return int(c.v.slots[s]) > lit }}, true
		default:
			return fexpr{k: kBool, b: func(c *ctx) bool { return int(c.v.slots[s]) >= lit }}, true
		}
	}
	if l.k == kInt && r.k == kInt {
		a := l.i
		if r.isConst {
			lit := r.ci
			switch op {
			case "<":
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) < lit }}, true
			case "<=":
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) <= lit }}, true
			case ">":
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) > lit }}, true
			default:
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) >= lit }}, true
			}
		}
		b := r.i
		switch op {
		case "<":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) < b(c) }}, true
		case "<=":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) <= b(c) }}, true
		case ">":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) > b(c) }}, true
		default:
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) >= b(c) }}, true
		}
	}
	if numeric(l) && numeric(r) {
		a := asFloat(l).f
		if r.isConst {
			lit := r.cf
			switch op {
			case "<":
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) < lit }}, true
			case "<=":
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) <= lit }}, true
			case ">":
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) > lit }}, true
			default:
				return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) >= lit }}, true
			}
		}
		b := asFloat(r).f
		switch op {
		case "<":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) < b(c) }}, true
		case "<=":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) <= b(c) }}, true
		case ">":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) > b(c) }}, true
		default:
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) >= b(c) }}, true
		}
	}
	if l.k == kString && r.k == kString {
		a, b := l.s, r.s
		switch op {
		case "<":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) < b(c) }}, true
		case "<=":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) <= b(c) }}, true
		case ">":
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) > b(c) }}, true
		default:
			return fexpr{k: kBool, b: func(c *ctx) bool { return a(c) >= b(c) }}, true
		}
	}
	return fexpr{}, false
}

func fastArith(op string, l, r fexpr) (fexpr, bool) {
	if l.k == kInt && r.k == kInt && r.isConst && op == "*" {
		a, k := l.i, r.ci
		if l.slot > 0 {
			s := l.slot - 1
			return fexpr{k: kInt, i: func(c *ctx) int { return int(c.v.slots[s]) * k }}, true
		}
		return fexpr{k: kInt, i: func(c *ctx) int { return a(c) * k }}, true
	}
	if l.k == kInt && r.k == kInt {
		a, b := l.i, r.i
		switch op {
		case "+":
			return fexpr{k: kInt, i: func(c *ctx) int { return a(c) + b(c) }}, true
		case "-":
			return fexpr{k: kInt, i: func(c *ctx) int { return a(c) - b(c) }}, true
		default:
			return fexpr{k: kInt, i: func(c *ctx) int { return a(c) * b(c) }}, true
		}
	}
	if numeric(l) && numeric(r) {
		a, b := asFloat(l).f, asFloat(r).f
		switch op {
		case "+":
			return fexpr{k: kFloat, f: func(c *ctx) float64 { return a(c) + b(c) }}, true
		case "-":
			return fexpr{k: kFloat, f: func(c *ctx) float64 { return a(c) - b(c) }}, true
		default:
			return fexpr{k: kFloat, f: func(c *ctx) float64 { return a(c) * b(c) }}, true
		}
	}
	return fexpr{}, false
}

// fastIn compiles `x in [literals]`, which the expr optimizer may already
// have turned into a constant set.
func fastIn(n *ast.BinaryNode, r resolver) (fexpr, bool) {
	l, ok := fast(n.Left, r)
	if !ok {
		return fexpr{}, false
	}
	var strs []string
	var ints []int
	switch set := n.Right.(type) {
	case *ast.ConstantNode:
		switch m := set.Value.(type) {
		case map[string]struct{}:
			for k := range m {
				strs = append(strs, k)
			}
		case map[int]struct{}:
			for k := range m {
				ints = append(ints, k)
			}
		default:
			return fexpr{}, false
		}
	case *ast.ArrayNode:
		for _, e := range set.Nodes {
			switch v := e.(type) {
			case *ast.StringNode:
				strs = append(strs, v.Value)
			case *ast.IntegerNode:
				ints = append(ints, v.Value)
			default:
				return fexpr{}, false
			}
		}
		if len(strs) > 0 && len(ints) > 0 {
			return fexpr{}, false
		}
	default:
		return fexpr{}, false
	}
	switch {
	case l.k == kString && len(ints) == 0:
		a := l.s
		if len(strs) > 8 {
			set := make(map[string]struct{}, len(strs))
			for _, s := range strs {
				set[s] = struct{}{}
			}
			return fexpr{k: kBool, b: func(c *ctx) bool { _, ok := set[a(c)]; return ok }}, true
		}
		return fexpr{k: kBool, b: func(c *ctx) bool {
			x := a(c)
			for _, s := range strs {
				if x == s {
					return true
				}
			}
			return false
		}}, true
	case l.k == kInt && len(strs) == 0:
		a := l.i
		return fexpr{k: kBool, b: func(c *ctx) bool {
			x := a(c)
			for _, i := range ints {
				if x == i {
					return true
				}
			}
			return false
		}}, true
	}
	return fexpr{}, false
}

package ingest

import "encoding/binary"

// scanJSON reports whether b is exactly one strictly valid JSON text (RFC
// 8259: fastjson.Validate and encoding/json.Valid accept the same; UTF-8
// is checked before) and measures it as scanShape does: the deepest
// nesting and the number of values (one plus the ',' and ':' outside
// strings). It stops, with ok false, at the first syntax error or as soon
// as the nesting exceeds limit. escNUL reports a \u0000 escape.
//
// It replaces three passes over the input (scanShape, escapedNUL and the
// validator) with one: for a valid event, its only pass before parsing.
// For invalid input the caller runs the separate checks to report the
// reason of highest precedence. FuzzScanJSON holds it to the validators.
func scanJSON(b []byte, limit int) (depth, values int, escNUL, ok bool) {
	var buf [64]bool
	stack := buf[:0] // true: in an object
	n := len(b)
	values = 1
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= n {
			return depth, values, escNUL, false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= limit {
				return len(stack) + 1, values, escNUL, false
			}
			stack = append(stack, c == '{')
			depth = max(depth, len(stack))
			if i = skipSpace(b, i+1); i < n && b[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i, ok = scanKey(b, i, &escNUL); !ok {
					return depth, values, escNUL, false
				}
				values++
			}
			continue
		case '"':
			if i, ok = scanString(b, i+1, &escNUL); !ok {
				return depth, values, escNUL, false
			}
		case 't':
			if i, ok = literal(b, i, "true"); !ok {
				return depth, values, escNUL, false
			}
		case 'f':
			if i, ok = literal(b, i, "false"); !ok {
				return depth, values, escNUL, false
			}
		case 'n':
			if i, ok = literal(b, i, "null"); !ok {
				return depth, values, escNUL, false
			}
		default:
			if i, ok = scanNumber(b, i); !ok {
				return depth, values, escNUL, false
			}
		}
		// After a value: close containers, or a separator and the next value.
		for {
			i = skipSpace(b, i)
			if len(stack) == 0 {
				return depth, values, escNUL, i == n
			}
			if i >= n {
				return depth, values, escNUL, false
			}
			obj := stack[len(stack)-1]
			if c := b[i]; c == ']' && !obj || c == '}' && obj {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return depth, values, escNUL, false
			}
			values++
			i = skipSpace(b, i+1)
			if obj {
				if i, ok = scanKey(b, i, &escNUL); !ok {
					return depth, values, escNUL, false
				}
				values++
			}
			break
		}
	}
}

// scanKey reads `"key" :` and the space after it, from i.
func scanKey(b []byte, i int, escNUL *bool) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := scanString(b, i+1, escNUL)
	if !ok {
		return i, false
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return i, false
	}
	return skipSpace(b, i+1), true
}

// strStop marks the bytes that end a run of plain string content: the
// quote, the backslash and the control characters JSON forbids raw.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

var hexDigits = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// scanString reads string content from i (after the opening quote) and
// returns the position after the closing quote.
func scanString(b []byte, i int, escNUL *bool) (int, bool) {
	n := len(b)
	for {
		// Eight bytes at a time while none of them is a quote, a backslash
		// or a control character (SWAR: a byte is zero, or below 0x20,
		// exactly when its high bit survives (v - k) & ^v).
		for i+8 <= n {
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^(ones*'"'), x^(ones*'\\')
			if ((x-ones*0x20)&^x|(q-ones)&^q|(bs-ones)&^bs)&highs != 0 {
				break
			}
			i += 8
		}
		for i < n && !strStop[b[i]] {
			i++
		}
		if i >= n || b[i] < 0x20 {
			return i, false
		}
		if b[i] == '"' {
			return i + 1, true
		}
		// A backslash: one of the escapes JSON defines.
		if i+1 >= n {
			return i, false
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > n || !hexDigits[b[i+2]] || !hexDigits[b[i+3]] || !hexDigits[b[i+4]] || !hexDigits[b[i+5]] {
				return i, false
			}
			if b[i+2] == '0' && b[i+3] == '0' && b[i+4] == '0' && b[i+5] == '0' {
				*escNUL = true
			}
			i += 6
		default:
			return i, false
		}
	}
}

func literal(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// scanNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? from i.
func scanNumber(b []byte, i int) (int, bool) {
	n := len(b)
	digits := func() int {
		s := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - s
	}
	if i < n && b[i] == '-' {
		i++
	}
	if i < n && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return i, false
	}
	if i < n && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, false
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false
		}
	}
	return i, true
}

// skipSpace skips JSON whitespace (space, tab, line feed, carriage return).
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

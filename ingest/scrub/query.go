package scrub

import "strings"

// Param is one query parameter kept by QueryParams.
type Param struct {
	Key   string // lower case
	Value string // decoded, and a placeholder if Value flagged it
}

// QueryParams appends to dst the allowlisted parameters of a raw query string
// (a leading '?' and anything from '#' are ignored; pairs are separated by
// '&' or ';'), sorted by key, and returns the set of kinds found. Keys are
// decoded and lower-cased and must be allowlisted (Options.QueryAllow) to be
// kept; a key matched by a prefix must consist of a-z, 0-9, '_', '.' and '-'
// only and must not itself be flagged, or the parameter is dropped. Values are
// decoded ('+' is a space) and run through Value, so a flagged value becomes
// one placeholder. Everything else is dropped. Parameters with the same key
// keep their order.
func (s *Scrubber) QueryParams(dst []Param, rawQuery string) ([]Param, Kind) {
	q := strings.TrimPrefix(rawQuery, "?")
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	first := len(dst)
	var found Kind
	for len(q) > 0 {
		i := strings.IndexByte(q, '&')
		if i < 0 {
			i = len(q)
		}
		if j := strings.IndexByte(q[:i], ';'); j >= 0 {
			i = j // old-style separator
		}
		pair := q[:i]
		q = q[min(i+1, len(q)):]
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key := lowerASCII(queryUnescape(k))
		exact, ok := s.allowed(key)
		if !ok {
			continue
		}
		if !exact {
			digits, ok := keyChars(key)
			if !ok {
				continue
			}
			// Without digits or extra patterns a key of a-z . _ - cannot
			// hold an identifier: no need to look.
			if digits || len(s.patterns) > 0 {
				if kk := s.Check(key); kk != 0 {
					found |= kk
					continue
				}
			}
		}
		val, kk := s.Value(queryUnescape(v))
		found |= kk
		dst = append(dst, Param{Key: key, Value: val})
	}
	ps := dst[first:]
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Key < ps[j-1].Key; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	return dst, found
}

// Query keeps only the allowlisted parameters of a raw query string (see
// QueryParams) and returns them re-encoded as "k=v&k2=v2" sorted by key (the
// encoding of url.QueryEscape), or "" if none is kept. found is the set of
// kinds flagged in the kept keys and values.
//
// A query that is already canonical and clean is returned as is (without a
// leading '?'), without allocating.
func (s *Scrubber) Query(rawQuery string) (out string, found Kind) {
	var buf [8]Param
	ps, found := s.QueryParams(buf[:0], rawQuery)
	if len(ps) == 0 {
		return "", found
	}
	var stack [256]byte
	b := stack[:0]
	for i, p := range ps {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendQueryEscape(b, p.Key)
		b = append(b, '=')
		b = appendQueryEscape(b, p.Value)
	}
	if q := strings.TrimPrefix(rawQuery, "?"); string(b) == q {
		return q, found
	}
	return string(b), found
}

// allowed reports whether key is allowlisted, and whether by an exact name.
func (s *Scrubber) allowed(key string) (exact, ok bool) {
	for _, a := range s.allowExact {
		if key == a {
			return true, true
		}
	}
	for _, a := range s.allowPrefix {
		if len(key) > len(a) && key[:len(a)] == a {
			return false, true
		}
	}
	return false, false
}

// keyChars reports whether k consists of a-z, 0-9, '_', '.' and '-' only,
// and whether it has digits.
func keyChars(k string) (digits, ok bool) {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if class[c]&(cDigit|cLower) == 0 && c != '_' && c != '.' && c != '-' {
			return false, false
		}
		digits = digits || isDigit(c)
	}
	return digits, true
}

// queryPlain marks the bytes url.QueryEscape keeps as they are.
var queryPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = class[c]&cAlnum != 0 || c == '-' || c == '_' || c == '.' || c == '~'
	}
	return t
}()

// lowerASCII lower-cases ASCII letters, allocating only if there are any
// upper-case ones.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if class[s[i]]&cUpper != 0 {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if class[b[j]]&cUpper != 0 {
					b[j] |= 0x20
				}
			}
			return string(b)
		}
	}
	return s
}

// queryUnescape decodes '+' as a space and %XX escapes once (as
// url.QueryUnescape), keeping invalid escapes as they are. It allocates only
// if there is something to decode.
func queryUnescape(s string) string {
	i := 0
	for i < len(s) && s[i] != '%' && s[i] != '+' {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && class[s[i+1]]&cHex != 0 && class[s[i+2]]&cHex != 0:
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// appendQueryEscape appends s escaped as url.QueryEscape does.
func appendQueryEscape(b []byte, s string) []byte {
	i := 0
	for i < len(s) && queryPlain[s[i]] {
		i++
	}
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case class[c]&cAlnum != 0 || c == '-' || c == '_' || c == '.' || c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

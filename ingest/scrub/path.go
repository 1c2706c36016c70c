package scrub

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Path rewrites a URL path for the anonymized event. Each segment is
// percent-decoded and checked with the Value rules (which see through
// further levels of encoding: "%2540" is '@') plus two path rules; a flagged segment is replaced by the typed
// placeholder of the most specific kind found (Kind.PathPlaceholder):
//
//   - ":id" for a word of 4 or more digits (MinPathDigits) or a long number,
//     so "/order/12345" and "/blog/2024/05/x" become "/order/:id" and
//     "/blog/:id/05/x";
//   - ":uuid", ":email", ":jwt", ":ip", ":phone", ":iban", ":card", ":bsn",
//     ":postcode" for those identifiers;
//   - ":token" for hex runs of 16 or more, base64/base64url runs of 12 or
//     more with mixed classes (MinValueToken), and words of 6 or more bytes
//     mixing letters and digits (MinPathMixed), such as "a8f3k2" or
//     "iphone15" ("iphone-15-pro" is kept: its words are short);
//   - ":redacted" for a match of an extra pattern.
//
// A scheme and authority ("https://host") in front are removed, and so is
// everything from the first '?' or '#'. Matrix parameters (";jsessionid=...")
// are dropped, empty and "." segments removed, ".." resolved, and a trailing
// slash removed. Kept segments are written in canonical form: percent-decoded
// once, then re-escaped with %XX (upper case) for bytes that are not allowed
// in a path segment, for '%', and for invalid UTF-8; valid non-ASCII text
// stays readable. The result starts with '/', never contains '?', '#' or ';', and
// is "/" for an empty path. found is the set of kinds replaced.
//
// A path that is already in canonical form and clean is returned as is,
// without allocating.
func (s *Scrubber) Path(p string) (out string, found Kind) {
	orig := p
	if p == "" || p[0] != '/' {
		p = stripOrigin(p)
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	var stack [256]byte
	b := stack[:0]
	var startsBuf [32]int
	starts := startsBuf[:0]
	var spans [4]span
	var sc *scratch
	for len(p) > 0 {
		// One segment: up to '/', without matrix parameters.
		seg := p
		if k := strings.IndexByte(p, '/'); k >= 0 {
			seg, p = p[:k], p[k+1:]
		} else {
			p = ""
		}
		if k := strings.IndexByte(seg, ';'); k >= 0 {
			seg = seg[:k]
		}
		var f uint8
		for i := 0; i < len(seg); i++ {
			f |= segmentClass[seg[i]]
		}
		pct, plain := f&segPct != 0, f == 0
		if seg == "" {
			continue
		}
		d := seg
		if pct {
			if sc == nil {
				sc = scratchPool.Get().(*scratch)
			}
			sc.dec, sc.off = percentDecode(seg, sc.dec[:0], sc.off[:0], true)
			// d lives in sc.dec until the next segment is decoded; it is
			// copied into b before that.
			d = unsafe.String(unsafe.SliceData(sc.dec), len(sc.dec))
			plain = false
		}
		switch d {
		case ".":
			continue
		case "..":
			if len(starts) > 0 {
				b = b[:starts[len(starts)-1]]
				starts = starts[:len(starts)-1]
			}
			continue
		}
		starts = append(starts, len(b))
		b = append(b, '/')
		switch _, k, _ := s.detect(d, modePath, spans[:0]); {
		case k != 0:
			found |= k
			b = append(b, k.PathPlaceholder()...)
		case plain:
			b = append(b, d...)
		default:
			b = appendSegment(b, d)
		}
	}
	if sc != nil {
		putScratch(sc)
	}
	if len(b) == 0 {
		b = append(b, '/')
	}
	if string(b) == orig {
		return orig, found
	}
	return string(b), found
}

// stripOrigin removes "scheme://authority" from the front of a full URL.
func stripOrigin(p string) string {
	i := strings.Index(p, "://")
	if i <= 0 || i > 32 || !isScheme(p[:i]) {
		return p
	}
	rest := p[i+3:]
	for j := 0; j < len(rest); j++ {
		if c := rest[j]; c == '/' || c == '?' || c == '#' {
			return rest[j:]
		}
	}
	return ""
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func isScheme(s string) bool {
	if s == "" || class[s[0]]&cAlpha == 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if class[c]&cAlnum == 0 && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// segmentSafe marks the ASCII bytes written unescaped in a path segment:
// RFC 3986 unreserved and sub-delims except ';', plus ':' and '@'.
var segmentSafe = func() (t [128]bool) {
	for c := 0; c < 128; c++ {
		t[c] = class[c]&cAlnum != 0
	}
	for _, c := range "-._~!$&'()*+,=:@" {
		t[c] = true
	}
	return t
}()

// segmentClass flags the bytes of a raw segment that need work: '%' (segPct)
// and bytes that are not written as they are (segEscape; all bytes >= 0x80
// too, which are checked for UTF-8 validity).
var segmentClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == '%':
			t[c] = segPct
		case c >= utf8.RuneSelf || !segmentSafe[c]:
			t[c] = segEscape
		}
	}
	return t
}()

const (
	segPct    = 1
	segEscape = 2
)

const upperHex = "0123456789ABCDEF"

// appendSegment appends the canonical escaped form of the decoded segment d.
func appendSegment(b []byte, d string) []byte {
	for i := 0; i < len(d); {
		c := d[i]
		if c < utf8.RuneSelf {
			if segmentSafe[c] {
				b = append(b, c)
			} else {
				b = append(b, '%', upperHex[c>>4], upperHex[c&15])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(d[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		} else {
			b = append(b, d[i:i+n]...)
		}
		i += n
	}
	return b
}

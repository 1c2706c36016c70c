package scrub

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// Options configures a Scrubber. The zero value is the default configuration.
type Options struct {
	// Kinds is the set of detectors that run; the others are off. Turning
	// Number off also turns off the ":id" rule of Path, turning Token off the
	// ":token" rules.
	// Default: All (the zero value means All).
	Kinds Kind

	// Patterns are extra regular expressions (Go RE2 syntax) whose matches
	// are reported as Custom. They run on the raw string and on its
	// percent-decoded form, after the built-in detectors, and cost what a
	// regexp costs on the hot path, so keep the list short.
	// Default: none.
	Patterns []string

	// MinTextToken is the shortest base64/base64url run that Text reports as
	// a Token (it must also have mixed character classes).
	// Default: 20.
	MinTextToken int

	// MinValueToken is the shortest base64/base64url run that Value, Path
	// and Query report as a Token (it must also have mixed character
	// classes).
	// Default: 12.
	MinValueToken int

	// MinHexToken is the shortest run of hexadecimal digits (with at least
	// one letter a-f) reported as a Token everywhere.
	// Default: 16.
	MinHexToken int

	// MinNumberDigits is the shortest run of digits reported as a Number in
	// text and values (shorter numbers such as years, sizes and prices are
	// kept).
	// Default: 7.
	MinNumberDigits int

	// MinPathDigits is the shortest all-digit word in a path segment that
	// makes the segment ":id".
	// Default: 4.
	MinPathDigits int

	// MinPathMixed is the shortest word of letters and digits mixed in a path
	// segment that makes the segment ":token".
	// Default: 6.
	MinPathMixed int

	// QueryAllow lists the query parameters Query keeps, matched
	// case-insensitively: a name ending in "*" is a prefix ("utm_*"), any
	// other name is exact. nil means the default; an empty non-nil list keeps
	// nothing.
	// Default: ["utm_*", "ref", "source"].
	QueryAllow []string
}

// DefaultQueryAllow is the query allowlist used when Options.QueryAllow is nil.
var DefaultQueryAllow = []string{"utm_*", "ref", "source"}

// Scrubber detects and replaces identifiers. It is immutable after New and
// safe for concurrent use by any number of goroutines.
type Scrubber struct {
	kinds         Kind
	minTextToken  int
	minValueToken int
	minHex        int
	minNumber     int
	minPathDigits int
	minPathMixed  int
	patterns      []*regexp.Regexp
	allowExact    []string
	allowPrefix   []string
}

// New returns a Scrubber for opts. It fails on an invalid extra pattern, a
// negative minimum or an empty allowlist entry; the error names the setting,
// never an input value.
func New(opts Options) (*Scrubber, error) {
	s := &Scrubber{kinds: opts.Kinds & All}
	if opts.Kinds == 0 {
		s.kinds = All
	}
	if opts.Kinds&^All != 0 {
		return nil, fmt.Errorf("scrub: unknown kind bits 0x%x", uint16(opts.Kinds&^All))
	}
	for _, m := range []struct {
		name string
		v    int
		def  int
		dst  *int
	}{
		{"MinTextToken", opts.MinTextToken, 20, &s.minTextToken},
		{"MinValueToken", opts.MinValueToken, 12, &s.minValueToken},
		{"MinHexToken", opts.MinHexToken, 16, &s.minHex},
		{"MinNumberDigits", opts.MinNumberDigits, 7, &s.minNumber},
		{"MinPathDigits", opts.MinPathDigits, 4, &s.minPathDigits},
		{"MinPathMixed", opts.MinPathMixed, 6, &s.minPathMixed},
	} {
		switch {
		case m.v < 0:
			return nil, fmt.Errorf("scrub: %s must not be negative, got %d", m.name, m.v)
		case m.v == 0:
			*m.dst = m.def
		default:
			*m.dst = m.v
		}
	}
	for i, p := range opts.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("scrub: pattern %d: %w", i, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("scrub: pattern %d matches the empty string", i)
		}
		s.patterns = append(s.patterns, re)
	}
	allow := opts.QueryAllow
	if allow == nil {
		allow = DefaultQueryAllow
	}
	for _, a := range allow {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "" || a == "*":
			return nil, fmt.Errorf("scrub: query allowlist entry %q must name a parameter or a prefix", a)
		case strings.HasSuffix(a, "*"):
			s.allowPrefix = append(s.allowPrefix, strings.TrimSuffix(a, "*"))
		default:
			s.allowExact = append(s.allowExact, a)
		}
	}
	return s, nil
}

// MustNew is New for options known to be valid; it panics on an error.
func MustNew(opts Options) *Scrubber {
	s, err := New(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// Kinds returns the set of detectors that run.
func (s *Scrubber) Kinds() Kind { return s.kinds }

// Text scrubs free text: each identifier span is replaced by the placeholder
// of its kind ("[email]", "[phone]", ...) and the rest is kept. Invalid UTF-8
// is replaced by U+FFFD first (each run of bad bytes by one, as
// strings.ToValidUTF8 does), so the output is always valid UTF-8. found is
// the set of kinds that were replaced (0 when the text was clean).
//
// Clean valid input is returned as is, without allocating.
func (s *Scrubber) Text(in string) (out string, found Kind) {
	var buf [8]span
	spans, found, high := s.detect(in, modeText, buf[:0])
	if high && !utf8.ValidString(in) {
		// Scrub what will be output: the repaired text can read
		// differently ("a@b.\x97" is no address, "a@b.\uFFFD" is one).
		in = strings.ToValidUTF8(in, "\uFFFD")
		spans, found, _ = s.detect(in, modeText, buf[:0])
	}
	if found == 0 {
		return in, 0
	}
	return render(in, spans), found
}

// Value checks a whole value (query parameter value, property value, event
// name, campaign name): if any identifier is found the whole value is replaced
// by the placeholder of the most specific kind found; a flagged value is never
// partly kept. Otherwise the value is returned as is (invalid UTF-8 replaced
// by U+FFFD). Tokens count from MinValueToken characters here.
//
// So the output is always either the input (made valid UTF-8) or exactly one
// placeholder. Clean valid input does not allocate.
func (s *Scrubber) Value(in string) (out string, found Kind) {
	var buf [4]span
	_, found, high := s.detect(in, modeValue, buf[:0])
	if high && !utf8.ValidString(in) {
		in = strings.ToValidUTF8(in, "\uFFFD") // check what will be output
		_, found, _ = s.detect(in, modeValue, buf[:0])
	}
	if found != 0 {
		return found.Placeholder(), found
	}
	return in, 0
}

// Check reports which kinds Value would find in v, without building output.
func (s *Scrubber) Check(v string) Kind {
	_, found := s.Value(v)
	return found
}

// mode selects the rules of one entry point.
type mode uint8

const (
	modeText  mode = iota // free text: long tokens only
	modeValue             // whole values: shorter tokens
	modePath              // path segments: value rules plus :id and mixed rules
)

// span is one detected identifier [start, end) in the input.
type span struct {
	start, end int
	kind       Kind
}

// scratch holds reusable buffers for the percent-decoded view of an input.
type scratch struct {
	dec []byte
	off []int32
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func putScratch(sc *scratch) {
	if cap(sc.dec) > 1<<16 {
		return // let oversized buffers go
	}
	sc.dec, sc.off = sc.dec[:0], sc.off[:0]
	scratchPool.Put(sc)
}

// detect appends the identifier spans of in to spans (in input offsets,
// possibly overlapping) and returns the union of their kinds, and whether in
// holds non-ASCII bytes outside the spans. It scans the raw bytes and, if in
// holds a '%', the percent-decoded bytes too.
func (s *Scrubber) detect(in string, m mode, spans []span) ([]span, Kind, bool) {
	if len(in) == 0 {
		return spans, 0, false
	}
	var sc scanner // fields set one by one: a struct literal costs a copy here
	sc.init(in, s, m)
	spans, found := sc.run(spans, nil)
	high := sc.high
	for _, re := range s.patterns {
		for _, loc := range re.FindAllStringIndex(in, -1) {
			spans = append(spans, span{loc[0], loc[1], Custom})
			found |= Custom
		}
	}
	if !sc.pct {
		return spans, found, high
	}
	buf := scratchPool.Get().(*scratch)
	buf.dec, buf.off = percentDecode(in, buf.dec[:0], buf.off[:0], false)
	if len(buf.dec) == len(in) {
		putScratch(buf) // no valid escape: nothing new to see
		return spans, found, high
	}
	// The decoded view lives in buf only while this function runs; spans
	// hold offsets into in, never references into the view.
	view := unsafe.String(unsafe.SliceData(buf.dec), len(buf.dec))
	sc = scanner{}
	sc.init(view, s, m)
	var k Kind
	spans, k = sc.run(spans, buf.off)
	found |= k
	for _, re := range s.patterns {
		for _, loc := range re.FindAllStringIndex(view, -1) {
			spans = append(spans, span{int(buf.off[loc[0]]), int(buf.off[loc[1]]), Custom})
			found |= Custom
		}
	}
	putScratch(buf)
	return spans, found, high
}

// percentDecode appends the percent-decoded bytes of s to dec and, for each
// decoded byte, its offset in s to off, plus len(s) at the end. Chains of
// encoded percent signs ("%2540") are decoded completely, for detection. Escapes of bytes
// >= 0x80 are decoded only where they spell valid UTF-8 together ("%C3%A9"),
// so a stray '%' before hex digits ("50%ab") does not glue a junk byte to
// the text; such '%' and invalid escapes are kept as they are; '+' is kept.
//
// forPath decodes one level only and every escape, whatever byte it gives:
// that is the canonical reading of a path segment ("%25A0" is the text
// "%A0"), which Path re-escapes; detection then decodes further itself.
func percentDecode(s string, dec []byte, off []int32, forPath bool) ([]byte, []int32) {
	for i := 0; i < len(s); {
		if s[i] == '%' {
			b, l := unescapeAt(s, i)
			if forPath {
				b, l = unescape1(s, i)
			}
			if l > 0 {
				if b < utf8.RuneSelf || forPath {
					dec = append(dec, b)
					off = append(off, int32(i))
					i += l
					continue
				}
				// A multi-byte sequence: all of it escaped and valid.
				var seq [utf8.UTFMax]byte
				var at [utf8.UTFMax]int32
				seq[0], at[0] = b, int32(i)
				n, j := 1, i+l
				for n < utf8.UTFMax && !utf8.FullRune(seq[:n]) && j < len(s) && s[j] == '%' {
					c, l2 := unescapeAt(s, j)
					if l2 == 0 || c < 0x80 || c >= 0xC0 {
						break
					}
					seq[n], at[n] = c, int32(j)
					n, j = n+1, j+l2
				}
				if utf8.Valid(seq[:n]) {
					dec = append(dec, seq[:n]...)
					off = append(off, at[:n]...)
					i = j
					continue
				}
			}
		}
		dec = append(dec, s[i])
		off = append(off, int32(i))
		i++
	}
	return dec, append(off, int32(len(s)))
}

// unescapeAt decodes the escape starting at the '%' at s[i], following a chain
// of encoded percent signs ("%252540" is '@'). It returns the byte and the
// length of the escape in s, or 0, 0 if there is no valid escape.
func unescapeAt(s string, i int) (byte, int) {
	j := i + 1
	for j+3 < len(s) && s[j] == '2' && s[j+1] == '5' && class[s[j+2]]&cHex != 0 && class[s[j+3]]&cHex != 0 {
		j += 2
	}
	if j+1 < len(s) && class[s[j]]&cHex != 0 && class[s[j+1]]&cHex != 0 {
		return unhex(s[j])<<4 | unhex(s[j+1]), j + 2 - i
	}
	return 0, 0
}

// unescape1 decodes the single escape "%XX" at s[i], or returns 0, 0.
func unescape1(s string, i int) (byte, int) {
	if i+2 < len(s) && class[s[i+1]]&cHex != 0 && class[s[i+2]]&cHex != 0 {
		return unhex(s[i+1])<<4 | unhex(s[i+2]), 3
	}
	return 0, 0
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// render replaces the spans of in (valid UTF-8) by placeholders. Overlapping
// spans are merged and get the placeholder of the union of their kinds.
func render(in string, spans []span) string {
	// Insertion sort by start: there are few spans, mostly in order already.
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].start < spans[j-1].start; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	var b strings.Builder
	b.Grow(len(in) + 8)
	last := 0
	for i := 0; i < len(spans); {
		cur := spans[i]
		for i++; i < len(spans) && spans[i].start < cur.end; i++ {
			cur.end = max(cur.end, spans[i].end)
			cur.kind |= spans[i].kind
		}
		b.WriteString(in[last:cur.start])
		b.WriteString(cur.kind.Placeholder())
		last = cur.end
	}
	b.WriteString(in[last:])
	return b.String()
}

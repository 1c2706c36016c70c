package scrub

import (
	"math/bits"
	"strings"
)

// Byte classes.
const (
	cDigit     uint16 = 1 << iota // 0-9
	cUpper                        // A-Z
	cLower                        // a-z
	cHigh                         // bytes >= 0x80 (parts of non-ASCII letters)
	cHexLetter                    // a-f A-F
	cB64                          // '+' '/': base64 besides letters and digits
	cB64URL                       // '-' '_': base64url besides letters and digits
	cLocal                        // '.' '_' '%' '+' '-': e-mail local part besides word bytes
	cFW                           // 0xEF: first byte of the full-width at-sign "＠"
	cAtStart                      // '@' '&' '[' '(' '{' '<': bytes an at-sign form starts with
	cOpen                         // '[' '(' '{' '<'
	cNonHex                       // word bytes that are not hexadecimal digits
	cSpecial                      // '+' '(' ':' '%': non-word bytes skip stops at
	cPhoneSep                     // ' ' '-' '.' '/' '\t': phone group separators
	cJoin                         // '-' '_' '+' '/' ':': bytes that join words into tokens or addresses

	cAlpha = cUpper | cLower
	cAlnum = cDigit | cAlpha
	cWord  = cAlnum | cHigh
	cHex   = cDigit | cHexLetter
)

var class = func() (t [256]uint16) {
	for c := '0'; c <= '9'; c++ {
		t[c] |= cDigit
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= cUpper
		t[c+'a'-'A'] |= cLower
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHexLetter
		t[c-'a'+'A'] |= cHexLetter
	}
	for c := 0x80; c <= 0xFF; c++ {
		t[c] |= cHigh
	}
	for c := range t {
		if t[c]&cWord != 0 && t[c]&(cDigit|cHexLetter) == 0 {
			t[c] |= cNonHex
		}
	}
	t['+'] |= cB64 | cLocal
	t['/'] |= cB64
	t['-'] |= cB64URL | cLocal | cPhoneSep
	t['_'] |= cB64URL | cLocal
	t['.'] |= cLocal | cPhoneSep
	t['%'] |= cLocal
	for _, c := range "@&[({<" {
		t[c] |= cAtStart
	}
	for _, c := range "[({<" {
		t[c] |= cOpen
	}
	t[0xEF] |= cFW
	for _, c := range " /\t" {
		t[c] |= cPhoneSep
	}
	for _, c := range "-_+/:" {
		t[c] |= cJoin
	}
	for _, c := range "+(:%" {
		t[c] |= cSpecial
	}
	return t
}()

func isDigit(c byte) bool { return c-'0' < 10 }

// rankOf maps a single kind's bit position to its rank in kindInfo.
var rankOf = func() (r [16]uint8) {
	for i := range r {
		r[i] = uint8(rank(1 << i))
	}
	return r
}()

// scanner runs the detectors over one view of an input.
type scanner struct {
	s       string
	cfg     *Scrubber
	mode    mode
	kinds   Kind
	minTok  int
	fastMax int // words shorter than this may take the fast path
	// numbers up to this long may take the fast path
	fastDigits int
	pct        bool // the view holds a '%' (set by run)
	high       bool // the view holds bytes >= 0x80 outside spans (set by run)

	// Memo of the last base64 run bounded (see token): the run and whether
	// no token can start in it.
	tokFrom, tokEnd int
	tokNone         bool
	// Memo of the last e-mail local-part run (see email): the run, the
	// position after the at-sign form that follows it (-1 if none or if the
	// domain failed), and whether that form is obfuscated.
	locFrom, locEnd, locAt int
	locObf                 bool
	// Part-1 end of the last JWT candidate that failed (see jwt).
	jwtFail int
}

func (sc *scanner) init(s string, cfg *Scrubber, m mode) {
	sc.s, sc.cfg, sc.mode = s, cfg, m
	sc.kinds = cfg.kinds
	sc.minTok = cfg.minValueToken
	if m == modeText {
		sc.minTok = cfg.minTextToken
	}
	sc.fastMax = min(sc.minTok, cfg.minHex)
	sc.fastDigits = min(2, cfg.minNumber-1)
	if m == modePath {
		sc.fastDigits = min(sc.fastDigits, cfg.minPathDigits-1)
	}
	sc.tokFrom, sc.tokEnd = -1, -1
	sc.locFrom, sc.locEnd, sc.locAt = -1, -1, -1
}

func (sc *scanner) on(k Kind) bool { return sc.kinds&k != 0 }

// run appends the spans found in the view to spans. If off is not nil the
// view is percent-decoded and off maps its offsets to the input's.
func (sc *scanner) run(spans []span, off []int32) ([]span, Kind) {
	n := len(sc.s)
	var found Kind
	for i := 0; i < n; {
		var j int
		var or uint16
		if i, j, or = sc.skip(i); i >= n {
			break
		}
		e, k := i, Kind(0)
		if j == i { // '+', '(' or "::"
			if c := sc.s[i]; c == ':' {
				if sc.on(IPv6) {
					e, k = sc.ipv6(i), IPv6
				}
			} else if sc.on(Phone) {
				e, k = sc.phone(i), Phone
			}
			if e == i {
				i++
				continue
			}
		} else if e, k = sc.at(i, j, or); e == i {
			i = j
			continue
		}
		spans = sc.appendSpan(spans, off, i, e, k)
		found |= k
		i = e
	}
	return spans, found
}

// skip advances from i over everything that cannot start an identifier and
// returns the next candidate: a word start with the end of the word and the
// union of its byte classes, or a '+', '(' or "::" (then end == start), or
// len(s). It notes '%' and non-ASCII bytes on the way.
//
// A word of letters only, shorter than any token, and not "eyJ", cannot start
// an identifier unless the byte after it joins it to more (a token, address
// or e-mail byte, or a bracket after a space as in "name [at] domain") and
// the memos do not already rule that out.
//
// skip makes no calls, so its loops stay in registers; it is the hot path
// for clean text.
func (sc *scanner) skip(i int) (start, end int, or uint16) {
	s := sc.s
	n := len(s)
	for i < n {
		c := s[i]
		cl := class[c]
		if cl&(cWord|cSpecial) == 0 {
			i++
			continue
		}
		if cl&cWord == 0 {
			switch c {
			case '+', '(':
				return i, i, 0
			case ':':
				if i+1 < n && s[i+1] == ':' {
					return i, i, 0
				}
			case '%':
				sc.pct = true
			}
			i++
			continue
		}
		j, or := i+1, cl
		for j < n {
			cl := class[s[j]]
			if cl&cWord == 0 {
				break
			}
			or |= cl
			j++
		}
		if or&cHigh != 0 {
			sc.high = true
		}
		if or&(cDigit|cFW) != 0 || j-i >= sc.fastMax || (c == 'e' && j-i >= 3 && s[i+1] == 'y' && s[i+2] == 'J') {
			// A number of one or two digits not starting with 0 and not
			// joined to more ("size 42", "19,99") starts nothing either.
			if or == cDigit && j-i <= sc.fastDigits && c != '0' && (j == n || class[s[j]]&(cJoin|cLocal|cAtStart) == 0 &&
				(s[j] != ' ' || j+1 >= n || class[s[j+1]]&cOpen == 0)) {
				i = j
				continue
			}
			return i, j, or
		}
		if j < n && (class[s[j]]&(cJoin|cLocal|cAtStart) != 0 || (s[j] == ' ' && j+1 < n && class[s[j+1]]&cOpen != 0)) {
			if or&cNonHex == 0 || i < sc.tokFrom || i >= sc.tokEnd || !sc.tokNone ||
				i < sc.locFrom || i >= sc.locEnd || sc.locAt >= 0 {
				return i, j, or
			}
		}
		i = j
	}
	return n, n, 0
}

// noEmailAt reports whether the e-mail memo already rules out an address
// starting at i.
func (sc *scanner) noEmailAt(i int) bool {
	return i >= sc.locFrom && i < sc.locEnd && sc.locAt < 0
}

// noTokenAt reports whether the token memo already rules out a token at i.
func (sc *scanner) noTokenAt(i int) bool {
	return i >= sc.tokFrom && i < sc.tokEnd && sc.tokNone
}

func (sc *scanner) appendSpan(spans []span, off []int32, start, end int, k Kind) []span {
	if !sc.pct && strings.IndexByte(sc.s[start:end], '%') >= 0 {
		sc.pct = true
	}
	if off != nil {
		start, end = int(off[start]), int(off[end])
	}
	return append(spans, span{start, end, k})
}

// word describes the run of word bytes (letters, digits, non-ASCII) at a
// word start.
type word struct {
	end    int // end of the run
	lead   int // leading digits
	maxRun int // longest run of digits
	digits int // digits in the run
	alpha  int // other bytes in the run
}

// digitStats fills in the digit counts of the word [i, w.end).
func (sc *scanner) digitStats(i int, w *word) {
	s := sc.s
	run := 0
	for j := i; j < w.end; j++ {
		if isDigit(s[j]) {
			w.digits++
			run++
			w.maxRun = max(w.maxRun, run)
			if w.alpha == 0 {
				w.lead++
			}
			continue
		}
		run = 0
		w.alpha++
	}
}

// at runs the detectors that can start at the word start i and returns the
// longest match (the most specific kind on a tie), or i, 0. The word ends at
// end; or is the union of the classes of its bytes.
func (sc *scanner) at(i, end int, or uint16) (int, Kind) {
	s := sc.s
	n := len(s)
	c := s[i]
	w := word{end: end}
	if or&cDigit != 0 {
		sc.digitStats(i, &w)
	} else {
		w.alpha = end - i
	}
	wl := end - i
	hex := or&cNonHex == 0
	// joined: the byte after the word can continue an e-mail local part,
	// start an at-sign form, or join the word into a longer token.
	joined := or&cFW != 0 || (end < n && (class[s[end]]&(cJoin|cLocal|cAtStart) != 0 ||
		(s[end] == ' ' && end+1 < n && class[s[end+1]]&cOpen != 0)))
	best, bk := i, Kind(0)
	take := func(e int, k Kind) {
		if e > best || (e == best && e > i && rankOf[bits.TrailingZeros16(uint16(k))] < rankOf[bits.TrailingZeros16(uint16(bk))]) {
			best, bk = e, k
		}
	}
	if w.lead > 0 {
		if sc.on(Phone) && (c == '0' || w.lead == 3 || (c == '1' && w.lead == 1)) {
			take(sc.phone(i), Phone)
		}
		if sc.on(Card) && (w.lead == 4 || (w.lead >= 13 && w.lead <= 19 && wl == w.lead)) {
			take(sc.card(i), Card)
		}
		if sc.on(BSN) && (w.lead == 3 || w.lead == 4 || (w.lead == 9 && wl == 9)) {
			take(sc.bsn(i, w), BSN)
		}
		if sc.on(Postcode) && w.lead == 4 && c != '0' {
			take(sc.postcode(i), Postcode)
		}
		if sc.on(IPv4) && w.lead <= 3 && i+w.lead < n && s[i+w.lead] == '.' {
			take(sc.ipv4(i, true), IPv4)
		}
	}
	if sc.on(Number) {
		if w.maxRun >= sc.cfg.minNumber {
			take(end, Number)
		}
		if sc.mode == modePath && w.alpha == 0 && w.digits >= sc.cfg.minPathDigits {
			take(end, Number)
		}
	}
	if sc.mode == modePath && sc.on(Token) && w.alpha > 0 && w.digits > 0 && wl >= sc.cfg.minPathMixed {
		take(end, Token)
	}
	if hex && end < n {
		switch s[end] {
		case '-':
			if sc.on(UUID) && wl == 8 {
				take(sc.uuid(i), UUID)
			}
			if sc.on(Token) && wl == 2 {
				take(sc.mac(i), Token)
			}
		case ':':
			if sc.on(IPv6) && wl <= 4 {
				take(sc.ipv6(i), IPv6)
			}
			if sc.on(Token) && wl == 2 {
				take(sc.mac(i), Token)
			}
		}
	}
	if hex && w.alpha > 0 && wl >= sc.cfg.minHex && sc.on(Token) {
		take(end, Token)
	}
	if w.lead == 0 && sc.on(IBAN) && i+4 <= n && class[c]&cAlpha != 0 && class[s[i+1]]&cAlpha != 0 && isDigit(s[i+2]) && isDigit(s[i+3]) {
		take(sc.iban(i), IBAN)
	}
	if c == 'e' && sc.on(JWT) && i+3 <= n && s[i+1] == 'y' && s[i+2] == 'J' {
		take(sc.jwt(i), JWT)
	}
	if joined && sc.on(Email) && !sc.noEmailAt(i) {
		take(sc.email(i), Email)
	}
	if (joined || wl >= sc.minTok) && sc.on(Token) && class[c]&cAlnum != 0 {
		take(sc.token(i), Token)
	}
	return best, bk
}

// boundary reports whether position j ends a match: the end of the view or a
// byte that is not part of a word.
func (sc *scanner) boundary(j int) bool {
	return j >= len(sc.s) || class[sc.s[j]]&cWord == 0
}

// ---- e-mail ----

// email returns the end of an e-mail address whose local part starts at i:
// letters, digits, non-ASCII and "._%+-", then an at-sign form and a domain.
// The local-part run and its outcome are memoised, so the word starts inside
// one run cost O(1) after the first.
func (sc *scanner) email(i int) int {
	if i < sc.locFrom || i >= sc.locEnd {
		s := sc.s
		n := len(s)
		j := i
		for j < n && class[s[j]]&(cWord|cLocal) != 0 {
			if s[j] == 0xEF && j+2 < n && s[j+1] == 0xBC && s[j+2] == 0xA0 {
				break // "＠"
			}
			j++
		}
		sc.locFrom, sc.locEnd = i, j
		sc.locAt, sc.locObf = sc.atSign(j)
	}
	if sc.locAt < 0 {
		return i
	}
	e := sc.domain(i, sc.locAt, sc.locObf)
	if e == i {
		sc.locAt = -1
	}
	return e
}

// atSign returns the position after an at-sign form at j: '@', "＠",
// "&#64;", "&#x40;", "&commat;", or an obfuscated "[at]", "(at)", "{at}",
// "<at>" (any case, optionally with a space or '+' on both sides). obf
// reports an obfuscated form. It returns -1 if there is none.
func (sc *scanner) atSign(j int) (int, bool) {
	s := sc.s
	n := len(s)
	if j >= n {
		return -1, false
	}
	switch s[j] {
	case '@':
		return j + 1, false
	case 0xEF:
		if j+2 < n && s[j+1] == 0xBC && s[j+2] == 0xA0 {
			return j + 3, false
		}
	case '&':
		for _, e := range [...]string{"&#64;", "&#x40;", "&#X40;", "&commat;"} {
			if len(s)-j >= len(e) && s[j:j+len(e)] == e {
				return j + len(e), false
			}
		}
	}
	if k := sc.bracketWord(j, 'a', 't'); k > 0 {
		return k, true
	}
	return -1, false
}

// bracketWord matches an optional space, a bracketed two-letter word such
// as "[at]" (any case) and an optional space; '+' counts as a space
// (form encoding).
func (sc *scanner) bracketWord(j int, a, b byte) int {
	s := sc.s
	n := len(s)
	if j < n && (s[j] == ' ' || s[j] == '+') {
		j++
	}
	if j+4 > n {
		return -1
	}
	cl := closeOf(s[j])
	if cl == 0 || s[j+1]|0x20 != a || s[j+2]|0x20 != b || s[j+3] != cl {
		return -1
	}
	j += 4
	if j < n && (s[j] == ' ' || s[j] == '+') {
		j++
	}
	return j
}

func closeOf(c byte) byte {
	switch c {
	case '[':
		return ']'
	case '(':
		return ')'
	case '{':
		return '}'
	case '<':
		return '>'
	}
	return 0
}

// dotSign returns the position after a dot form at j: '.', an obfuscated
// "[dot]", "(dot)", "{dot}", "<dot>" (any case, optional spaces or '+'), or
// when obf " dot ". It returns -1 if there is none.
func (sc *scanner) dotSign(j int, obf bool) int {
	s := sc.s
	n := len(s)
	if j < n && s[j] == '.' {
		return j + 1
	}
	k := j
	if k < n && (s[k] == ' ' || s[k] == '+') {
		k++
	}
	if k+5 <= n {
		if cl := closeOf(s[k]); cl != 0 && s[k+1]|0x20 == 'd' && s[k+2]|0x20 == 'o' && s[k+3]|0x20 == 't' && s[k+4] == cl {
			k += 5
			if k < n && (s[k] == ' ' || s[k] == '+') {
				k++
			}
			return k
		}
	}
	if obf && j+5 <= n && (s[j] == ' ' || s[j] == '+') && s[j+1]|0x20 == 'd' && s[j+2]|0x20 == 'o' && s[j+3]|0x20 == 't' && s[j+4] == s[j] {
		return j + 5
	}
	return -1
}

// domain returns the end of the e-mail address whose domain starts at k, or
// start if there is no valid domain: at least two labels of letters, digits,
// '-' or non-ASCII bytes, the last one starting with a letter and at least
// two bytes long.
func (sc *scanner) domain(start, k int, obf bool) int {
	s := sc.s
	n := len(s)
	var ls, le [16]int
	labels := 0
	j := k
	for labels < len(ls) && j-k < 255 {
		b := j
		for j < n && (class[s[j]]&cWord != 0 || s[j] == '-') {
			j++
		}
		if j == b {
			break
		}
		ls[labels], le[labels] = b, j
		labels++
		d := sc.dotSign(j, obf)
		if d < 0 || d >= n || class[s[d]]&cWord == 0 {
			break
		}
		j = d
	}
	for ; labels >= 2; labels-- {
		l := s[ls[labels-1]:le[labels-1]]
		if len(l) >= 2 && class[l[0]]&(cAlpha|cHigh) != 0 {
			return le[labels-1]
		}
	}
	return start
}

// ---- numbers with structure ----

// phone returns the end of a phone number starting at i ('+', '(' or a
// digit), or i. Accepted: international numbers ('+' or "00", then a country
// code) of 8-15 digits, an optional "(0)" trunk marker not counted; national
// numbers starting with trunk 0 of 10 or 11 digits; North-American numbers
// grouped 3-3-4 or 1-3-3-4. Digit groups are separated by up to three of
// " -./" (at most one non-space) or by a single '+' (form-encoded space).
func (sc *scanner) phone(i int) int {
	s := sc.s
	n := len(s)
	j := i
	intl := false
	switch {
	case s[j] == '+':
		if j+1 >= n || s[j+1] < '1' || s[j+1] > '9' {
			return i
		}
		intl = true
		j++
	case s[j] == '0' && j+2 < n && s[j+1] == '0' && s[j+2] >= '1' && s[j+2] <= '9':
		intl = true
		j += 2
	}
	var glen, gend, gstart, cum [10]int
	ng, digits := 0, 0
	trunk := false
	for {
		var d, st int
		if j < n && s[j] == '(' {
			st = j + 1
			k := j + 1
			for k < n && isDigit(s[k]) {
				k++
			}
			d = k - j - 1
			if d == 0 || d > 5 || k >= n || s[k] != ')' {
				break
			}
			if intl && d == 1 && s[j+1] == '0' && ng > 0 && !trunk {
				trunk = true
				d = 0
			}
			j = k + 1
		} else if j < n && isDigit(s[j]) {
			st = j
			k := j
			for k < n && isDigit(s[k]) {
				k++
			}
			d = k - j
			j = k
		} else {
			break
		}
		if d > 0 {
			digits += d
			glen[ng], gend[ng], gstart[ng], cum[ng] = d, j, st, digits
			ng++
			if ng == len(glen) || digits > 15 {
				break
			}
		}
		k := sepEnd(s, j)
		if k < n && (isDigit(s[k]) || s[k] == '(') {
			j = k
			continue
		}
		break
	}
	first := s[i]
	national := first == '0' || (first == '(' && i+1 < n && s[i+1] == '0')
	for g := ng; g >= 1; g-- {
		end := gend[g-1]
		if !sc.boundary(end) {
			continue
		}
		d := cum[g-1]
		switch {
		case intl:
			if d >= 8 && d <= 15 {
				return end
			}
		case national:
			if (d == 10 || d == 11) && (glen[0] >= 2 || first == '(') && !dateLike(s, glen[:g], gend[:g]) {
				return end
			}
		default:
			if g == 3 && glen[0] == 3 && glen[1] == 3 && glen[2] == 4 && s[gstart[0]] >= '2' {
				return end
			}
			if g == 4 && first == '1' && glen[0] == 1 && glen[1] == 3 && glen[2] == 3 && glen[3] == 4 {
				return end
			}
		}
	}
	return i
}

// sepEnd returns the end of a phone group separator at j (j itself if none).
func sepEnd(s string, j int) int {
	if j < len(s) && s[j] == '+' {
		return j + 1
	}
	k, other := j, 0
	for k < len(s) && k-j < 3 && class[s[k]]&cPhoneSep != 0 {
		if s[k] != ' ' && s[k] != '\t' {
			if other++; other > 1 {
				break
			}
		}
		k++
	}
	return k
}

// dateLike reports digit groups that read as a date: dd-mm-yyyy with a year
// 19xx or 20xx.
func dateLike(s string, glen, gend []int) bool {
	if len(glen) < 3 || glen[0] != 2 || glen[1] != 2 || glen[2] != 4 {
		return false
	}
	y := s[gend[2]-4 : gend[2]-2]
	return y == "19" || y == "20"
}

// digitGroups reads up to len(glen) groups of digits starting at i separated
// by one byte of seps. It returns the number of groups.
func digitGroups(s string, i int, seps string, glen, gend []int) int {
	ng := 0
	j := i
	for ng < len(glen) {
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j {
			break
		}
		glen[ng], gend[ng] = k-j, k
		ng++
		if k+1 < len(s) && isDigit(s[k+1]) && indexByte(seps, s[k]) {
			j = k + 1
			continue
		}
		break
	}
	return ng
}

func indexByte(set string, c byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}

// card returns the end of a payment card number at i, or i: 13-19 digits
// passing the Luhn check, compact or grouped 4-4-4-4(-1..3), 4-4-4-1..4,
// 4-6-5 or 4-6-4 with spaces, dashes or '+'.
func (sc *scanner) card(i int) int {
	var glen, gend [6]int
	ng := digitGroups(sc.s, i, " -+", glen[:], gend[:])
	if glen[0] >= 13 && glen[0] <= 19 {
		if sc.boundary(gend[0]) && luhn(sc.s[i:gend[0]]) {
			return gend[0]
		}
		return i
	}
	for g := ng; g >= 2; g-- {
		if !cardGroups(glen[:g]) || !sc.boundary(gend[g-1]) {
			continue
		}
		if luhn(sc.s[i:gend[g-1]]) {
			return gend[g-1]
		}
	}
	return i
}

func cardGroups(gl []int) bool {
	total := 0
	for _, l := range gl {
		total += l
	}
	if total < 13 || total > 19 {
		return false
	}
	if len(gl) == 3 && gl[0] == 4 && gl[1] == 6 && (gl[2] == 5 || gl[2] == 4) {
		return true
	}
	for _, l := range gl[:len(gl)-1] {
		if l != 4 {
			return false
		}
	}
	return gl[len(gl)-1] <= 4
}

// luhn checks the Luhn checksum of the digits in s (other bytes skipped).
func luhn(s string) bool {
	sum, dbl := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if dbl {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		dbl = !dbl
	}
	return sum%10 == 0
}

// bsn returns the end of a Dutch BSN at i, or i: 9 digits passing the
// 11-check, compact or grouped 3-3-3 / 4-2-3 with '.', ' ', '-' or '+'.
func (sc *scanner) bsn(i int, w word) int {
	end := i
	if w.lead == 9 && w.end-i == 9 {
		end = w.end
	} else {
		var glen, gend [3]int
		ng := digitGroups(sc.s, i, ". -+", glen[:], gend[:])
		if ng != 3 || glen[2] != 3 || !((glen[0] == 3 && glen[1] == 3) || (glen[0] == 4 && glen[1] == 2)) {
			return i
		}
		if sep := sc.s[gend[0]]; sc.s[gend[1]] != sep {
			return i
		}
		end = gend[2]
	}
	if !sc.boundary(end) || !elfproef(sc.s[i:end]) {
		return i
	}
	return end
}

// elfproef checks the Dutch 11-check of the 9 digits in s (other bytes
// skipped): 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11 (and not 0).
func elfproef(s string) bool {
	sum, w, nz := 0, 9, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		nz = nz || d != 0
		if w == 1 {
			sum -= d
		} else {
			sum += w * d
		}
		w--
	}
	return w == 0 && nz && sum%11 == 0
}

// postcode returns the end of a Dutch postcode with house number at i, or i:
// 4 digits (not starting with 0), two letters (not SA, SD or SS; upper case
// when separated from the digits by a space), an optional space, comma or
// '+', a house number of 1-5 digits and an optional addition of up to three
// letters or "-" and up to four letters or digits. A postcode right after
// '-', '.', '/' or '_' is taken for a model number ("WH-1000XM5") and skipped.
func (sc *scanner) postcode(i int) int {
	s := sc.s
	n := len(s)
	if i > 0 && (s[i-1] == '-' || s[i-1] == '.' || s[i-1] == '/' || s[i-1] == '_') {
		return i // a model or part number such as "WH-1000XM5"
	}
	j := i + 4
	sp := false
	if j < n && (s[j] == ' ' || s[j] == '+') {
		sp = true
		j++
	}
	if j+2 > n {
		return i
	}
	a, b := class[s[j]], class[s[j+1]]
	if a&cAlpha == 0 || b&cAlpha == 0 || (sp && (a|b)&cLower != 0) || (a&cUpper) != (b&cUpper) {
		return i
	}
	if l1, l2 := s[j]|0x20, s[j+1]|0x20; l1 == 's' && (l2 == 'a' || l2 == 'd' || l2 == 's') {
		return i
	}
	j += 2
	if j < n && class[s[j]]&cAlpha != 0 {
		return i
	}
	switch {
	case j < n && (s[j] == ' ' || s[j] == '+'):
		j++
	case j+1 < n && s[j] == ',' && s[j+1] == ' ':
		j += 2
	}
	if j >= n || s[j] < '1' || s[j] > '9' {
		return i
	}
	k := j
	for k < n && isDigit(s[k]) {
		k++
	}
	if k-j > 5 {
		return i
	}
	if m := k; m < n && class[s[m]]&cAlpha != 0 {
		for m < n && class[s[m]]&cAlpha != 0 {
			m++
		}
		if m-k > 3 {
			return i
		}
		k = m
	} else if k+1 < n && s[k] == '-' && class[s[k+1]]&cAlnum != 0 {
		m := k + 1
		for m < n && class[s[m]]&cAlnum != 0 {
			m++
		}
		if m-k-1 <= 4 {
			k = m
		}
	}
	if !sc.boundary(k) {
		return i
	}
	return k
}

// iban returns the end of an IBAN at i, or i: country code, check digits and
// the country's length of letters and digits (15-34 for unknown countries,
// compact only), compact or in groups of four separated by ' ', '-' or '+',
// passing the mod-97 check.
func (sc *scanner) iban(i int) int {
	s := sc.s
	n := len(s)
	want := ibanLength(s[i]|0x20, s[i+1]|0x20)
	limit := want
	if limit == 0 {
		limit = 34
	}
	j, cnt := i, 0
	for cnt < limit && j < n {
		c := s[j]
		if class[c]&cAlnum != 0 {
			cnt++
			j++
			continue
		}
		if want != 0 && cnt%4 == 0 && (c == ' ' || c == '-' || c == '+') && j+1 < n && class[s[j+1]]&cAlnum != 0 {
			j++
			continue
		}
		break
	}
	if (want != 0 && cnt != want) || cnt < 15 || !sc.boundary(j) || !mod97(s[i:j]) {
		return i
	}
	return j
}

// mod97 checks an IBAN (separators skipped): the country code and check
// digits moved to the end, letters as 10-35, the number mod 97 is 1.
func mod97(s string) bool {
	r, cnt := 0, 0
	add := func(c byte) {
		switch cl := class[c]; {
		case cl&cDigit != 0:
			r = (r*10 + int(c-'0')) % 97
		case cl&cAlpha != 0:
			r = (r*100 + int(c|0x20-'a') + 10) % 97
		}
	}
	var head [4]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if class[c]&cAlnum == 0 {
			continue
		}
		if cnt < 4 {
			head[cnt] = c
			cnt++
			continue
		}
		add(c)
	}
	for _, c := range head {
		add(c)
	}
	return r == 1
}

// ibanLengths holds the IBAN length per country code.
var ibanLengths = map[[2]byte]int{
	{'a', 'd'}: 24, {'a', 'e'}: 23, {'a', 'l'}: 28, {'a', 't'}: 20, {'a', 'z'}: 28,
	{'b', 'a'}: 20, {'b', 'e'}: 16, {'b', 'g'}: 22, {'b', 'h'}: 22, {'b', 'i'}: 27,
	{'b', 'r'}: 29, {'b', 'y'}: 28, {'c', 'h'}: 21, {'c', 'r'}: 22, {'c', 'y'}: 28,
	{'c', 'z'}: 24, {'d', 'e'}: 22, {'d', 'j'}: 27, {'d', 'k'}: 18, {'d', 'o'}: 28,
	{'e', 'e'}: 20, {'e', 'g'}: 29, {'e', 's'}: 24, {'f', 'i'}: 18, {'f', 'k'}: 18,
	{'f', 'o'}: 18, {'f', 'r'}: 27, {'g', 'b'}: 22, {'g', 'e'}: 22, {'g', 'i'}: 23,
	{'g', 'l'}: 18, {'g', 'r'}: 27, {'g', 't'}: 28, {'h', 'r'}: 21, {'h', 'u'}: 28,
	{'i', 'e'}: 22, {'i', 'l'}: 23, {'i', 'q'}: 23, {'i', 's'}: 26, {'i', 't'}: 27,
	{'j', 'o'}: 30, {'k', 'w'}: 30, {'k', 'z'}: 20, {'l', 'b'}: 28, {'l', 'c'}: 32,
	{'l', 'i'}: 21, {'l', 't'}: 20, {'l', 'u'}: 20, {'l', 'v'}: 21, {'l', 'y'}: 25,
	{'m', 'c'}: 27, {'m', 'd'}: 24, {'m', 'e'}: 22, {'m', 'k'}: 19, {'m', 'n'}: 20,
	{'m', 'r'}: 27, {'m', 't'}: 31, {'m', 'u'}: 30, {'n', 'i'}: 28, {'n', 'l'}: 18,
	{'n', 'o'}: 15, {'o', 'm'}: 23, {'p', 'k'}: 24, {'p', 'l'}: 28, {'p', 's'}: 29,
	{'p', 't'}: 25, {'q', 'a'}: 29, {'r', 'o'}: 24, {'r', 's'}: 22, {'r', 'u'}: 33,
	{'s', 'a'}: 24, {'s', 'c'}: 31, {'s', 'd'}: 18, {'s', 'e'}: 24, {'s', 'i'}: 19,
	{'s', 'k'}: 24, {'s', 'm'}: 27, {'s', 'o'}: 23, {'s', 't'}: 25, {'s', 'v'}: 28,
	{'t', 'l'}: 23, {'t', 'n'}: 24, {'t', 'r'}: 26, {'u', 'a'}: 29, {'v', 'a'}: 22,
	{'v', 'g'}: 24, {'x', 'k'}: 20, {'y', 'e'}: 30,
}

func ibanLength(a, b byte) int { return ibanLengths[[2]byte{a, b}] }

// ---- network and random identifiers ----

// ipv4 returns the end of a dotted-quad IPv4 address at i, or i. With
// absorb, further ".digits" parts are taken in ("1.2.3.4.5" is one match)
// when they end at a boundary.
func (sc *scanner) ipv4(i int, absorb bool) int {
	s := sc.s
	n := len(s)
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if j+1 >= n || s[j] != '.' || !isDigit(s[j+1]) {
				return i
			}
			j++
		}
		v, d := 0, 0
		for j < n && isDigit(s[j]) {
			if d++; d > 3 {
				return i
			}
			v = v*10 + int(s[j]-'0')
			j++
		}
		if d == 0 || v > 255 {
			return i
		}
	}
	if !sc.boundary(j) {
		return i
	}
	if absorb {
		k := j
		for k+1 < n && s[k] == '.' && isDigit(s[k+1]) {
			for k++; k < n && isDigit(s[k]); k++ {
			}
		}
		if k > j && sc.boundary(k) {
			return k
		}
	}
	return j
}

// ipv6 returns the end of an IPv6 address at i, or i: 8 groups of 1-4 hex
// digits, or fewer with one "::", optionally ending in a dotted IPv4 address.
// Compressed forms need 4 or more hex digits in all ("a::b" is not taken)
// and, when they start with "::", two or more groups or "::1". If the
// longest reading does not end at a word boundary (the next word starts with
// hex digits, as in "…:1445:bekijk"), shorter readings are tried.
func (sc *scanner) ipv6(i int) int {
	s := sc.s
	n := len(s)
	j := i
	groups, hexd := 0, 0
	dbl, lead, v4 := false, false, false
	type cand struct {
		end, groups, hexd int
		dbl, v4           bool
	}
	var cands [10]cand
	nc := 0
	if j+1 < n && s[j] == ':' && s[j+1] == ':' {
		dbl, lead = true, true
		j += 2
	}
	for groups < 8 {
		if groups <= 6 && (dbl || groups == 6) {
			if e := sc.ipv4(j, false); e > j {
				groups += 2
				v4 = true
				cands[nc] = cand{e, groups, hexd, dbl, v4}
				nc++
				break
			}
		}
		h := 0
		for j+h < n && class[s[j+h]]&cHex != 0 {
			h++
		}
		if h == 0 || h > 4 {
			break
		}
		groups++
		hexd += h
		j += h
		cands[nc] = cand{j, groups, hexd, dbl, v4}
		nc++
		if j+1 < n && s[j] == ':' {
			if s[j+1] == ':' {
				if dbl {
					break
				}
				dbl = true
				j += 2
				cands[nc] = cand{j, groups, hexd, dbl, v4}
				nc++
				continue
			}
			if class[s[j+1]]&cHex != 0 {
				j++
				continue
			}
		}
		break
	}
	for k := nc - 1; k >= 0; k-- {
		c := cands[k]
		switch {
		case !c.dbl && c.groups != 8:
		case c.dbl && c.groups > 7:
		case lead && c.groups < 2 && !c.v4 && !(c.groups == 1 && s[c.end-1] == '1' && c.end-i == 3):
		case c.dbl && !lead && c.hexd < 4:
		case !sc.boundary(c.end):
		default:
			return c.end
		}
	}
	return i
}

// mac returns the end of a MAC address at i, or i: six pairs of hex digits
// separated by ':' or '-' (the same one throughout).
func (sc *scanner) mac(i int) int {
	s := sc.s
	if i+17 > len(s) {
		return i
	}
	sep := s[i+2]
	for g := 0; g < 6; g++ {
		p := i + 3*g
		if class[s[p]]&cHex == 0 || class[s[p+1]]&cHex == 0 || (g < 5 && s[p+2] != sep) {
			return i
		}
	}
	if !sc.boundary(i+17) || (i+18 < len(s) && s[i+17] == sep && class[s[i+18]]&cHex != 0) {
		return i
	}
	return i + 17
}

// uuid returns the end of an 8-4-4-4-12 hex UUID at i, or i.
func (sc *scanner) uuid(i int) int {
	s := sc.s
	if i+36 > len(s) {
		return i
	}
	for k := 0; k < 36; k++ {
		c := s[i+k]
		if k == 8 || k == 13 || k == 18 || k == 23 {
			if c != '-' {
				return i
			}
		} else if class[c]&cHex == 0 {
			return i
		}
	}
	if !sc.boundary(i + 36) {
		return i
	}
	return i + 36
}

// jwt returns the end of a JWT at i (which starts "eyJ"), or i: three to
// five base64url parts separated by dots, the first at least 10 bytes and
// the second at least 2 (the last may be empty).
func (sc *scanner) jwt(i int) int {
	if i < sc.jwtFail {
		return i
	}
	s := sc.s
	n := len(s)
	j := i
	parts := 0
	p1 := 0
	for parts < 5 {
		ps := j
		for j < n && class[s[j]]&(cAlnum|cB64URL) != 0 {
			j++
		}
		l := j - ps
		if parts == 0 {
			p1 = j
			if l < 10 {
				sc.jwtFail = j
				return i
			}
		}
		if parts == 1 && l < 2 {
			break
		}
		parts++
		if parts < 5 && j < n && s[j] == '.' {
			if parts >= 3 && (j+1 >= n || class[s[j+1]]&(cAlnum|cB64URL) == 0) {
				break // a full stop after the token
			}
			j++
			continue
		}
		break
	}
	if parts < 3 || !sc.boundary(j) {
		sc.jwtFail = p1
		return i
	}
	return j
}

// maxTokSegs bounds the segments (letter/digit runs between "+/-_") one
// token window may span.
const maxTokSegs = 64

// tokSeg holds the statistics of one segment of a base64 run.
type tokSeg struct {
	start, end int32
	t          int32  // class changes between adjacent letters/digits
	digits     int32  // digits
	wordy      int32  // bytes in word-like runs of four or more
	classes    uint16 // union of cDigit, cUpper, cLower
	uppers     int32  // upper-case letters
	upperFirst bool   // starts with an upper-case letter
}

// plain reports a segment that reads as a plain word, which a token window
// does not cross: five or more letters in lower case or capitalised
// ("reset", "Confirm"), or six or more in upper case ("NOTICE"). Shorter
// runs of one case are too common inside random tokens.
func (g *tokSeg) plain() bool {
	l := g.end - g.start
	return g.digits == 0 && ((l >= 5 && (g.uppers == 0 || (g.uppers == 1 && g.upperFirst))) || (l >= 6 && g.uppers == l))
}

// weak reports a segment of three or more letters in one case or
// capitalised ("and", "Now", "XYZ"): a token window does not end with one.
func (g *tokSeg) weak() bool {
	l := g.end - g.start
	return g.digits == 0 && l >= 3 && (g.uppers == 0 || g.uppers == l || (g.uppers == 1 && g.upperFirst))
}

// token returns the end of a random-looking base64/base64url token starting
// at the word start i, or i. Candidates are windows of a run of letters,
// digits and "+/-_" (plus up to two '=' of padding) that start at i and end
// at the end of a letter/digit segment. A window qualifies if it is at least
// minTok bytes long, holds at least two of upper case, lower case and
// digits, changes class between adjacent letters/digits at least once per
// three bytes (once per four from 24 bytes on), and does not read as words:
// it is not a token if at least 3/4 of its letters and digits sit in
// word-like runs of four or more (a capitalised word counts as one run)
// while fewer than 1/8 of its bytes are digits. A window does not cross a
// plain word and does not end with a weak one (see tokSeg.plain and weak),
// so words glued to a token stay ("TOKEN/confirm-your-password"). The
// longest qualifying window is the token. So "iphone-15-pro-max",
// "SpringSale2024" and "SignUpFormSubmitted" are kept, while random tokens
// change class about every other byte.
//
// Miss rates on random base64url, measured by TestTokenMissRate: about 12%
// at exactly the minimum length (12 in values, 20 in text; tokens that begin
// or end with '-' or '_' are shorter than that from their first letter),
// 5% at 16 in values, 1% at 24, 0.1% at 32 and below 0.01% at 43 in text.
//
// A run whose class changes cannot reach the threshold is ruled out once for
// all its word starts (memoised), so clean text costs one pass per run.
func (sc *scanner) token(i int) int {
	s := sc.s
	n := len(s)
	if i < sc.tokFrom || i >= sc.tokEnd {
		// Forward: find the run's end and bound what any window can reach:
		// at most the run's class changes, at least minTok bytes.
		r, t, prev := i, 0, uint16(0)
		var seen uint16
		for r < n {
			cl := class[s[r]]
			if cl&(cAlnum|cB64|cB64URL) == 0 {
				break
			}
			cl &= cAlnum
			if cl != 0 && prev != 0 && cl != prev {
				t++
			}
			seen |= cl
			prev = cl
			r++
		}
		sc.tokFrom, sc.tokEnd = i, r
		sc.tokNone = r-i < sc.minTok || 4*t < sc.minTok || bits.OnesCount16(seen) < 2
	}
	if sc.tokNone {
		return i
	}
	r := sc.tokEnd
	var segs [maxTokSegs]tokSeg
	ns := 0
	for j := i; j < r && ns < maxTokSegs && (ns == 0 || !segs[ns-1].plain()); {
		if class[s[j]]&cAlnum == 0 {
			j++
			continue
		}
		g := &segs[ns]
		ns++
		g.start = int32(j)
		g.upperFirst = class[s[j]]&cUpper != 0
		const runC = cAlnum + 1 // a capitalised word
		var prev, cur uint16
		curLen := int32(0)
		for ; j < r; j++ {
			cl := class[s[j]] & cAlnum
			if cl == 0 {
				break
			}
			g.classes |= cl
			switch cl {
			case cDigit:
				g.digits++
			case cUpper:
				g.uppers++
			}
			if prev != 0 && cl != prev {
				g.t++
			}
			prev = cl
			switch {
			case cl == cur || (cur == runC && cl == cLower):
				curLen++
			case cur == cUpper && cl == cLower && curLen == 1:
				cur = runC
				curLen++
			case cur == cUpper && cl == cLower:
				if curLen-1 >= 4 {
					g.wordy += curLen - 1
				}
				cur, curLen = runC, 2
			default:
				if curLen >= 4 {
					g.wordy += curLen
				}
				cur, curLen = cl, 1
			}
		}
		if curLen >= 4 {
			g.wordy += curLen
		}
		g.end = int32(j)
	}
	// A window holds no plain word and does not end with a weak one: words
	// glued after a token stay.
	if ns > 0 && segs[ns-1].plain() {
		ns--
	}
	if ns == 0 {
		return i
	}
	// Sums over segments 0..b, longest window first.
	var t, digits, wordy, alnum int32
	var classesUpTo [maxTokSegs]uint16
	var classes uint16
	for k := 0; k < ns; k++ {
		t += segs[k].t
		digits += segs[k].digits
		wordy += segs[k].wordy
		alnum += segs[k].end - segs[k].start
		classes |= segs[k].classes
		classesUpTo[k] = classes
	}
	for b := ns - 1; b >= 0; b-- {
		l := segs[b].end - int32(i)
		if l < int32(sc.minTok) {
			break
		}
		if !segs[b].weak() && bits.OnesCount16(classesUpTo[b]) >= 2 && (3*t >= l || (l >= 24 && 4*t >= l)) &&
			!(4*wordy >= 3*alnum && 8*digits < l) {
			e := int(segs[b].end)
			if e == r {
				for k := 0; k < 2 && e < n && s[e] == '='; k++ {
					e++
				}
			}
			return e
		}
		t -= segs[b].t
		digits -= segs[b].digits
		wordy -= segs[b].wordy
		alnum -= segs[b].end - segs[b].start
	}
	return i
}

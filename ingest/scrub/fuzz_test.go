package scrub

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// seeds are realistic strings for the fuzz corpora.
var seeds = []string{
	"", "Apple iPhone 15 Pro Max 256GB Zwart | Bol.com", "bestelling voor jan.de.vries@example.nl",
	"bel me op 06-12345678 of +31 20 123 4567", "reset?token=Ab3dEf7hIjK9LmN0pQrStUvWx",
	"iban NL91 ABNA 0417 1643 00", "kaart 4111-1111-1111-1111", "bsn 123.456.782", "1234 AB 12",
	"ip 192.168.1.10 en 2001:db8::1", "id 123e4567-e89b-12d3-a456-426614174000",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
	"name [at] domain [dot] com", "jan%40example.nl", "jan%2540example.nl", "/account/orders/12345678/details",
	"/nl/p/apple-iphone-15-pro-max-256gb-zwart/9300000162953843/", "/u/john%40example.com;jsessionid=ABC?x=1#y",
	"utm_source=newsletter&utm_medium=email&gclid=Cj0KCQiA4NWrBhD-ARIsAFCKwWtZ8cO9Xq2l1y3pQmF2EaAhYxEALw_wcB",
	"https://www.google.co.uk/search?q=jan@example.nl", "€ 19,99 – gratis verzending", "\xff\xfe invalid \xc3",
	"std::vector<int> a::b ::1 fe80::1%eth0", "+1 (415) 555-2671", "00:1A:2B:3C:4D:5E", "1.2.3.4.5",
}

// FuzzText checks invariant (1): no entry point panics on any input, and
// every output is valid UTF-8. Also: Text changes nothing but invalid UTF-8
// when it reports nothing found, Value returns its (valid UTF-8) input or
// exactly the placeholder of what it found, Path returns "/..." without '?',
// '#' or ';', and RegistrableDomain returns "" or a lower-case host name.
func FuzzText(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		valid := strings.ToValidUTF8(in, "\uFFFD")
		out, k := def.Text(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Text output is not valid UTF-8: %q", out)
		}
		if k == 0 && out != valid {
			t.Fatalf("Text found nothing but changed %q to %q", in, out)
		}
		if k != 0 && out == valid {
			t.Fatalf("Text found %v but changed nothing in %q", k, in)
		}
		v, vk := def.Value(in)
		if !utf8.ValidString(v) || (vk == 0 && v != valid) || (vk != 0 && v != vk.Placeholder()) {
			t.Fatalf("Value(%q) = %q, %v", in, v, vk)
		}
		p, _ := def.Path(in)
		if !utf8.ValidString(p) || !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#;") {
			t.Fatalf("Path(%q) = %q", in, p)
		}
		q, _ := def.Query(in)
		if !utf8.ValidString(q) {
			t.Fatalf("Query(%q) = %q", in, q)
		}
		if d := RegistrableDomain(in); d != "" && (!hostName(d) || !strings.Contains(d, ".")) {
			t.Fatalf("RegistrableDomain(%q) = %q", in, d)
		}
	})
}

// FuzzValue checks invariant (4): the output of Value is either its input
// unchanged (invalid UTF-8 replaced by U+FFFD) or exactly the placeholder of
// the most specific kind found, never a partly kept value; placeholders
// themselves are clean values; and Check agrees with Value.
func FuzzValue(f *testing.F) {
	for _, s := range append(seeds, clean...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, k := def.Value(in)
		switch {
		case k == 0 && out != strings.ToValidUTF8(in, "\uFFFD"):
			t.Fatalf("Value(%q) = %q with nothing found", in, out)
		case k != 0 && out != k.Placeholder():
			t.Fatalf("Value(%q) = %q, %v: not the placeholder", in, out, k)
		case def.Check(in) != k:
			t.Fatalf("Check(%q) = %v, Value found %v", in, def.Check(in), k)
		}
		if k != 0 {
			if again, k2 := def.Value(out); again != out || k2 != 0 {
				t.Fatalf("placeholder %q is not clean: %q, %v", out, again, k2)
			}
		}
	})
}

// placeholderSegments are the segments Path writes for flagged segments.
var placeholderSegments = func() map[string]bool {
	m := map[string]bool{}
	for _, ki := range kindInfo {
		m[strings.TrimPrefix(ki.path, "/")] = true
	}
	return m
}()

// FuzzPath checks invariant (3): the output of Path starts with '/',
// contains no '?', '#' or ';', no empty, "." or ".." segment, and every
// segment is either a placeholder (":id", ":email", ...) or input text in
// canonical escaped form (escaping its decoded form gives it back, and the
// decoded form occurs in the decoded input). Path is also idempotent.
func FuzzPath(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
		f.Add("/" + s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, _ := def.Path(in)
		if !strings.HasPrefix(out, "/") || strings.ContainsAny(out, "?#;") || !utf8.ValidString(out) {
			t.Fatalf("Path(%q) = %q", in, out)
		}
		dec, _ := percentDecode(in, nil, nil, true)
		decIn := string(dec)
		if out != "/" {
			for _, seg := range strings.Split(out[1:], "/") {
				if placeholderSegments[seg] {
					continue
				}
				d, _ := percentDecode(seg, nil, nil, true)
				switch {
				case seg == "" || string(d) == "." || string(d) == "..":
					t.Fatalf("Path(%q) = %q: segment %q", in, out, seg)
				case string(appendSegment(nil, string(d))) != seg:
					t.Fatalf("Path(%q) = %q: segment %q is not canonical", in, out, seg)
				case utf8.ValidString(string(d)) && !strings.Contains(decIn, string(d)):
					t.Fatalf("Path(%q) = %q: segment %q is not from the input", in, out, seg)
				}
			}
		}
		if again, _ := def.Path(out); again != out {
			t.Fatalf("Path not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}

// FuzzQuery checks that Query keeps only allowlisted keys, in sorted order,
// each value either a clean value or a placeholder, and that its output is a
// fixed point.
func FuzzQuery(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add("utm_source=a&ref=jan%40example.nl&source=x+y&utm_=1&UTM_X=%2B31612345678")
	f.Fuzz(func(t *testing.T, in string) {
		out, _ := def.Query(in)
		if out == "" {
			return
		}
		prev := ""
		for _, pair := range strings.Split(out, "&") {
			k, v, ok := strings.Cut(pair, "=")
			key, err1 := url.QueryUnescape(k)
			val, err2 := url.QueryUnescape(v)
			if !ok || err1 != nil || err2 != nil {
				t.Fatalf("Query(%q) = %q: bad pair %q", in, out, pair)
			}
			if _, allowed := def.allowed(key); !allowed || key < prev {
				t.Fatalf("Query(%q) = %q: key %q", in, out, key)
			}
			prev = key
			if got, k := def.Value(val); got != val || (k != 0 && got != k.Placeholder()) {
				t.Fatalf("Query(%q) = %q: value %q not clean", in, out, val)
			}
		}
		if again, _ := def.Query(out); again != out {
			t.Fatalf("Query not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}

// canaryKinds names the canaries FuzzTextCanary plants.
var canaryKinds = []string{"email", "iban", "card", "bsn", "phone", "uuid", "ipv4", "ipv6", "jwt", "hex", "token", "postcode"}

// separators may stand between a canary and the surrounding text.
const separators = " \t\n,;:!?()[]{}<>\"'|*=&#.-/_+@%"

// canary generates an identifier of the given kind with random content from
// r, in one of its usual spellings. noBefore lists separators that may not
// precede it (a postcode after '-' reads as a model number).
func canary(r *rand.Rand, kind int) (c string, noBefore string) {
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	letters := func(n int, alpha string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	const lower, upper, hex = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789abcdef"
	group := func(s string, n int, sep string) string {
		var parts []string
		for len(s) > n {
			parts, s = append(parts, s[:n]), s[n:]
		}
		return strings.Join(append(parts, s), sep)
	}
	switch canaryKinds[kind%len(canaryKinds)] {
	case "email":
		local := letters(1+r.IntN(8), lower+"0123456789")
		switch r.IntN(4) {
		case 1:
			local += "." + letters(2+r.IntN(6), lower)
		case 2:
			local += "+" + letters(2+r.IntN(6), lower)
		case 3:
			local += "_" + digits(2)
		}
		tld := []string{"com", "nl", "org", "co.uk", "de", "io", "info"}[r.IntN(7)]
		domain := letters(2+r.IntN(10), lower) + "." + tld
		switch r.IntN(5) {
		case 0:
			return local + " [at] " + strings.ReplaceAll(domain, ".", " [dot] "), ""
		case 1:
			return local + "(at)" + domain, ""
		}
		return local + "@" + domain, ""
	case "iban":
		var cc, bban string
		switch r.IntN(3) {
		case 0:
			cc, bban = "NL", letters(4, upper)+digits(10)
		case 1:
			cc, bban = "DE", digits(18)
		default:
			cc, bban = "GB", letters(4, upper)+digits(14)
		}
		iban := cc + ibanCheck(cc, bban) + bban
		if r.IntN(2) == 0 {
			iban = group(iban, 4, " ")
		}
		return iban, ""
	case "card":
		var num string
		switch r.IntN(3) {
		case 0:
			num = "4" + digits(14)
		case 1:
			num = "5" + string(byte('1'+r.IntN(5))) + digits(13)
		default:
			num = "37" + digits(12)
		}
		num += luhnDigit(num)
		switch r.IntN(3) {
		case 1:
			if len(num) == 15 {
				return num[:4] + " " + num[4:10] + " " + num[10:], ""
			}
			return group(num, 4, " "), ""
		case 2:
			return group(num, 4, "-"), ""
		}
		return num, ""
	case "bsn":
		for {
			d := string(byte('1'+r.IntN(9))) + digits(7)
			sum := 0
			for i := 0; i < 8; i++ {
				sum += (9 - i) * int(d[i]-'0')
			}
			if c := sum % 11; c < 10 {
				d += string(byte('0' + c))
				switch r.IntN(3) {
				case 1:
					return d[:3] + "." + d[3:6] + "." + d[6:], ""
				case 2:
					return d[:3] + " " + d[3:6] + " " + d[6:], ""
				}
				return d, ""
			}
		}
	case "phone":
		switch r.IntN(9) {
		case 0:
			return "+31 6 " + digits(8), ""
		case 1:
			return "+316" + digits(8), ""
		case 2:
			return "06-" + digits(8), ""
		case 3:
			return "06" + digits(8), ""
		case 4:
			return "020-" + digits(7), ""
		case 5:
			return "+1 (" + string(byte('2'+r.IntN(8))) + digits(2) + ") " + digits(3) + "-" + digits(4), ""
		case 6:
			return "0031 6 " + digits(8), ""
		case 7:
			return "+44 20 " + digits(4) + " " + digits(4), ""
		default:
			return "06 " + group(digits(8), 2, " "), ""
		}
	case "uuid":
		u := letters(32, hex)
		return u[:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:], ""
	case "ipv4":
		return fmt.Sprintf("%d.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256)), ""
	case "ipv6":
		g := make([]string, 8)
		for i := range g {
			g[i] = fmt.Sprintf("%x", 0x1000+r.IntN(0xf000))
		}
		switch r.IntN(3) {
		case 0:
			return strings.Join(g, ":"), ""
		case 1:
			k := 1 + r.IntN(6)
			at := r.IntN(8 - k + 1)
			return strings.Join(g[:at], ":") + "::" + strings.Join(g[at+k:], ":"), ""
		}
		return fmt.Sprintf("::ffff:%d.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256)), ""
	case "jwt":
		payload := fmt.Sprintf(`{"sub":"%s","iat":%d}`, letters(8, lower+upper), r.Int64N(1<<40))
		sig := make([]byte, 32)
		for i := range sig {
			sig[i] = byte(r.IntN(256))
		}
		enc := base64.RawURLEncoding
		return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig), ""
	case "hex":
		return letters(16+r.IntN(25), hex), ""
	case "token":
		b := make([]byte, 18+r.IntN(18))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return base64.RawURLEncoding.EncodeToString(b), ""
	default: // postcode
		pc := string(byte('1'+r.IntN(9))) + digits(3)
		l := letters(2, "ABCDEFGHJKLMNOPRTUVWXYZ") // no S: SA, SD and SS are not used
		h := string(byte('1'+r.IntN(9))) + digits(r.IntN(3))
		switch r.IntN(3) {
		case 0:
			return pc + " " + l + " " + h, "-./_"
		case 1:
			return pc + l + " " + h + letters(r.IntN(2), lower), "-./_"
		}
		return pc + strings.ToLower(l) + h, "-./_"
	}
}

// ibanCheck computes the check digits of an IBAN.
func ibanCheck(cc, bban string) string {
	for c := 2; c < 100; c++ {
		if mod97(fmt.Sprintf("%s%02d%s", cc, c, bban)) {
			return fmt.Sprintf("%02d", c)
		}
	}
	panic("no check digits")
}

// luhnDigit computes the Luhn check digit to append to num.
func luhnDigit(num string) string {
	for d := byte('0'); d <= '9'; d++ {
		if luhn(num + string(d)) {
			return string(d)
		}
	}
	panic("no Luhn digit")
}

// encodeAll percent-encodes every byte of s.
func encodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// variant spells a canary as it may appear: as is, URL-encoded (query or
// path style, every byte, or with '@' double-encoded), or in another case
// (only for kinds whose case does not matter: base64 and JWTs change
// meaning, and the detector relies on their mixed case).
func variant(c string, kind, v int) string {
	caseless := kind != 8 && kind != 10
	switch v % 7 {
	case 1:
		return url.QueryEscape(c)
	case 2:
		return url.PathEscape(c)
	case 3:
		return encodeAll(c)
	case 4:
		return strings.ReplaceAll(url.QueryEscape(c), "%40", "%2540")
	case 5:
		if caseless {
			return strings.ToUpper(c)
		}
	case 6:
		if caseless && kind != 11 { // a postcode's letters must be upper case when spaced
			return strings.ToLower(c)
		}
	}
	return c
}

// FuzzTextCanary checks invariant (2): for any text around it, a canary
// identifier (e-mail, IBAN, card, BSN, phone, UUID, IPv4, IPv6, JWT, hex or
// base64url token, postcode with house number) with random content, planted
// between a separator (a space or punctuation) after the prefix and another
// before the suffix, in plain, URL-encoded, double-encoded or upper/lower
// case spelling, never survives Text: the output contains neither the
// planted spelling nor the plain canary. Value flags the whole, and Path does
// not keep the canary as a segment either.
//
// Base64url tokens are statistical: a drawn token that Text misses on its
// own (the documented miss rate) is redrawn, so the test is about context.
// Next to a percent-encoded spelling, '%' is not used as a separator: there
// it starts an escape ("%" + "5455%20..." reads as "T55 ...").
func FuzzTextCanary(f *testing.F) {
	for i, s := range seeds {
		f.Add(s, seeds[(i+7)%len(seeds)], uint64(i), uint8(i), uint8(i/3), uint8(i*5))
	}
	f.Add("prefix glued", "and_some_words_glued_on_afterwards_to_dilute", uint64(99), uint8(10), uint8(0), uint8(29))
	f.Fuzz(func(t *testing.T, prefix, suffix string, seed uint64, kind, v, seps uint8) {
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		k := int(kind) % len(canaryKinds)
		plain, noBefore := canary(r, k)
		for canaryKinds[k] == "token" {
			if out, _ := def.Text(plain); !strings.Contains(out, plain) {
				break
			}
			plain, noBefore = canary(r, k)
		}
		planted := variant(plain, k, int(v))
		before := separators[int(seps)%len(separators)]
		for strings.IndexByte(noBefore, before) >= 0 {
			before = ' '
		}
		after := separators[int(seps/16)%len(separators)]
		if planted != plain && strings.Contains(planted, "%") {
			// Next to percent-encoded text a '%' starts an escape, not a
			// separator: "%" + "%54%65" reads as "T" + ...
			if before == '%' {
				before = ' '
			}
			if after == '%' {
				after = ' '
			}
		}
		in := prefix + string(before) + planted + string(after) + suffix
		out, found := def.Text(in)
		if strings.Contains(out, planted) || strings.Contains(out, plain) {
			t.Fatalf("canary %s %q (planted %q) survived Text:\nin  %q\nout %q (found %v)", canaryKinds[k], plain, planted, in, out, found)
		}
		if vo, vk := def.Value(in); vk == 0 || strings.Contains(vo, plain) {
			t.Fatalf("canary %s %q (planted %q) survived Value: %q -> %q", canaryKinds[k], plain, planted, in, vo)
		}
		po, _ := def.Path("/" + prefix + "/" + url.PathEscape(plain) + "/" + suffix)
		if strings.Contains(po, plain) || strings.Contains(po, url.PathEscape(plain)) {
			t.Fatalf("canary %s %q survived Path: %q", canaryKinds[k], plain, po)
		}
	})
}

// TestCanaries runs the canary check over many seeds without the fuzzing
// engine, with fixed surrounding texts, so plain `go test` covers it.
func TestCanaries(t *testing.T) {
	texts := []string{"", "x", "bekijk 12", "abc-", "06", "+31", "1234", "a.b", "jan@", "NL91", "eyJ", "::", "%", "%2", "\xff", "foo_bar_baz_qux_words_here"}
	for seed := uint64(0); seed < 3000; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		k := int(seed) % len(canaryKinds)
		plain, noBefore := canary(r, k)
		if canaryKinds[k] == "token" {
			if out, _ := def.Text(plain); strings.Contains(out, plain) {
				continue
			}
		}
		planted := variant(plain, k, int(seed/13))
		before := separators[int(seed/7)%len(separators)]
		if strings.IndexByte(noBefore, before) >= 0 {
			before = ' '
		}
		after := separators[int(seed/5)%len(separators)]
		if planted != plain && strings.Contains(planted, "%") {
			if before == '%' {
				before = ' '
			}
			if after == '%' {
				after = ' '
			}
		}
		pre, suf := texts[int(seed)%len(texts)], texts[int(seed/3)%len(texts)]
		in := pre + string(before) + planted + string(after) + suf
		if out, _ := def.Text(in); strings.Contains(out, planted) || strings.Contains(out, plain) {
			t.Errorf("canary %s %q survived: %q -> %q", canaryKinds[k], plain, in, out)
		}
	}
}

// TestTokenMissRate measures how often Text and Value miss random base64url
// tokens of a given length, against the rates documented on token.
func TestTokenMissRate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range []struct {
		n       int
		value   bool
		maxMiss float64
	}{{12, true, 0.15}, {16, true, 0.07}, {20, false, 0.12}, {24, false, 0.015}, {32, false, 0.003}, {43, false, 0.001}} {
		miss := 0
		const runs = 20000
		for range runs {
			b := make([]byte, c.n)
			for i := range b {
				b[i] = alpha[r.IntN(len(alpha))]
			}
			tok := "x " + string(b) + " y"
			var k Kind
			if c.value {
				k = def.Check(tok)
			} else {
				_, k = def.Text(tok)
			}
			if k == 0 {
				miss++
			}
		}
		rate := float64(miss) / runs
		t.Logf("length %d (%s): miss rate %.4f", c.n, map[bool]string{true: "Value", false: "Text"}[c.value], rate)
		if rate > c.maxMiss {
			t.Errorf("length %d: miss rate %.4f > %.4f", c.n, rate, c.maxMiss)
		}
	}
}

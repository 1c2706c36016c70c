package scrub

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var def = MustNew(Options{})

type textCase struct {
	in   string
	want string
	kind Kind
}

func runText(t *testing.T, s *Scrubber, cases []textCase) {
	t.Helper()
	for _, c := range cases {
		got, k := s.Text(c.in)
		if got != c.want || k != c.kind {
			t.Errorf("Text(%q) = %q, %v; want %q, %v", c.in, got, k, c.want, c.kind)
		}
	}
}

// clean are inputs that must survive Text and Value unchanged.
var clean = []string{
	"", "electronics", "2024", "iphone-15-pro", "size 42", "19.99", "€ 1.299,00", "utm_source=newsletter",
	"Apple iPhone 15 Pro Max 256GB zwart", "iphone-15-pro-max-256gb-black", "Nike Air Max 90 - maat 42,5",
	"SpringSale2024", "BlackFridayDeals2024", "ThisIsAVeryLongCamelCaseIdentifier", "SignUpFormSubmitted",
	"ProductAddedToWishlist", "summer_sale_2024_newsletter", "x86_64-unknown-linux-gnu", "Galaxy-S24-Ultra-512GB-Titanium-Black",
	"Bestelling geplaatst op 12-03-2024 om 14:30", "openingstijden 09:00-17:30", "12:30:45", "version 1.2.3", "v2.10.4",
	"Chrome/120.0.6099.109", "std::vector<int>", "C++ & C#", "50% korting", "100%", "a%zz", "tel. nr. volgt", "Sony WH-1000XM5",
	"kerkstraat 12, Amsterdam", "In 2024 in 12 landen", "prijs 1299", "art. 123456", "page 3 of 12",
	"look at this dot com bubble", "meet me @ 5pm", "john@localhost", "price@2.99", "@handle", "#hashtag",
	"ISO-8859-1", "UTF-8", "HTTP/1.1", "1/2/3/4", "10.5.2", "2+2=4", "+5 punten", "+10%", "0.5 liter",
	"01-02-2024", "31.12.1999", "2024-01-15T10:00:00Z", "KB503444", "RTX 4090", "SM-S928B",
	"deadline: 2024/05/01", "Room 1234", "Gate A12", "Seat 12F", "ABC-123-XYZ", "1.000.000 bezoekers", "1,234,567",
	"héllo wörld ünïcode", "日本語のテキスト", "emoji 🎉 party",
}

func TestTextClean(t *testing.T) {
	for _, in := range clean {
		if got, k := def.Text(in); got != in || k != 0 {
			t.Errorf("Text(%q) = %q, %v; want unchanged", in, got, k)
		}
		if got, k := def.Value(in); got != in || k != 0 {
			t.Errorf("Value(%q) = %q, %v; want unchanged", in, got, k)
		}
	}
}

func TestEmail(t *testing.T) {
	runText(t, def, []textCase{
		{"mail john.doe@example.com now", "mail [email] now", Email},
		{"JOHN.DOE@EXAMPLE.COM", "[email]", Email},
		{"Jan.de.Vries+nieuwsbrief@Gmail.com", "[email]", Email},
		{`"jan@example.nl"`, `"[email]"`, Email},
		{"<jan@example.nl>", "<[email]>", Email},
		{"mailto:jan@example.nl?subject=hi", "mailto:[email]?subject=hi", Email},
		{"jan%40example.nl", "[email]", Email},
		{"jan%2540example.nl", "[email]", Email},
		{"jan%252540example.nl", "[email]", Email},
		{"JAN%40EXAMPLE.NL", "[email]", Email},
		{"q=jan%2Btag%40example.nl&x=1", "q=[email]&x=1", Email},
		{"https://shop.example/?email=jan@example.nl&x=1", "https://shop.example/?email=[email]&x=1", Email},
		{"/account/jan@example.nl/orders", "/account/[email]/orders", Email},
		{"name [at] domain [dot] com", "[email]", Email},
		{"name [AT] domain [DOT] com.", "[email].", Email},
		{"name(at)domain.com", "[email]", Email},
		{"name (at) domain (dot) nl", "[email]", Email},
		{"name{at}domain.co.uk", "[email]", Email},
		{"name at domain dot com", "name at domain dot com", 0}, // plain words are not taken (too many false positives)
		{"jan＠example.nl", "[email]", Email},
		{"jan&#64;example.nl", "[email]", Email},
		{"user@sub.müller.de", "[email]", Email},
		{"end of sentence jan@example.nl.", "end of sentence [email].", Email},
		{"a@b.c", "a@b.c", 0},
		{"john@localhost", "john@localhost", 0},
		{"price@2.99", "price@2.99", 0},
	})
}

func TestPhone(t *testing.T) {
	runText(t, def, []textCase{
		{"bel +31 6 12345678 nu", "bel [phone] nu", Phone},
		{"+31612345678", "[phone]", Phone},
		{"+31 (0)6-12345678", "[phone]", Phone},
		{"+31(0)20 123 4567", "[phone]", Phone},
		{"0031 6 12345678", "[phone]", Phone},
		{"+1 (415) 555-2671", "[phone]", Phone},
		{"(415) 555-2671", "[phone]", Phone},
		{"415-555-2671", "[phone]", Phone},
		{"415.555.2671", "[phone]", Phone},
		{"1-800-555-1234", "[phone]", Phone},
		{"+44 20 7946 0958", "[phone]", Phone},
		{"+49 30 1234567", "[phone]", Phone},
		{"06-12345678", "[phone]", Phone},
		{"06 - 12345678", "[phone]", Phone},
		{"0612345678", "[phone]", Phone},
		{"06 12 34 56 78", "[phone]", Phone},
		{"06.12.34.56.78", "[phone]", Phone},
		{"020-1234567", "[phone]", Phone},
		{"020 123 45 67", "[phone]", Phone},
		{"(020) 1234567", "[phone]", Phone},
		{"tel:0201234567;", "tel:[phone];", Phone},
		{"06+12345678", "[phone]", Phone},                 // form-encoded space
		{"+31%206%2012345678", "[phone]", Phone | Number}, // the raw form also holds a long number
		// negatives
		{"+10 punten", "+10 punten", 0},
		{"+10 +20 +30 +40", "+10 +20 +30 +40", 0},
		{"01-02-2024", "01-02-2024", 0},
		{"06-02-2024 10:30", "06-02-2024 10:30", 0},
		{"0.5 0.25 0.75", "0.5 0.25 0.75", 0},
		{"020 123", "020 123", 0},
		{"123-456-789", "123-456-789", 0},
	})
}

func TestIBANCardBSN(t *testing.T) {
	runText(t, def, []textCase{
		{"NL91ABNA0417164300", "[iban]", IBAN},
		{"iban: NL91 ABNA 0417 1643 00, dank", "iban: [iban], dank", IBAN},
		{"nl91abna0417164300", "[iban]", IBAN},
		{"NL91+ABNA+0417+1643+00", "[iban]", IBAN},
		{"DE89 3704 0044 0532 0130 00", "[iban]", IBAN},
		{"GB29NWBK60161331926819", "[iban]", IBAN},
		{"BE68539007547034", "[iban]", IBAN},
		{"NL91ABNA0417164301", "[number]", Number},                  // bad check digits: still a long number
		{"NL91ABNA041716", "NL91ABNA041716", 0},                     // wrong length
		{"NL91 ABNA 0417 1643 00 12", "[iban] 12", IBAN},            // stops at the country length
		{"kaart 4111 1111 1111 1111 exp", "kaart [card] exp", Card}, // Visa test number
		{"4111-1111-1111-1111", "[card]", Card},                     //
		{"4111111111111111", "[card]", Card},                        //
		{"3782 822463 10005", "[card]", Card},                       // Amex 4-6-5
		{"5555 5555 5555 4444 2024", "[card] 2024", Card},           // trailing group not taken
		{"4111 1111 1111 1112", "4111 1111 1111 1112", 0},           // Luhn fails, groups too short for a number
		{"4111111111111112", "[number]", Number},                    // Luhn fails: still a long number
		{"bsn 111222333", "bsn [bsn]", BSN},                         //
		{"123456782", "[bsn]", BSN},                                 //
		{"123.456.782", "[bsn]", BSN},                               //
		{"1234.56.782", "[bsn]", BSN},                               //
		{"123 456 782", "[bsn]", BSN},                               //
		{"123.456.789", "123.456.789", 0},                           // 11-check fails
		{"123.456-782", "123.456-782", 0},                           // mixed separators
		{"000000000", "[number]", Number},                           // all zero: not a BSN
	})
}

func TestPostcode(t *testing.T) {
	runText(t, def, []textCase{
		{"1234 AB 12", "[postcode]", Postcode},
		{"1234AB 5a", "[postcode]", Postcode},
		{"1234ab12", "[postcode]", Postcode},
		{"adres: 1234 AB, 12-3 hoog", "adres: [postcode] hoog", Postcode},
		{"1234AB12bis", "[postcode]", Postcode},
		{"Sony WH-1000XM5", "Sony WH-1000XM5", 0},
		{"1234 AB", "1234 AB", 0}, // no house number
		{"1234 ab 12", "1234 ab 12", 0},
		{"In 2024 in 12 landen", "In 2024 in 12 landen", 0},
		{"1234 SS 12", "1234 SS 12", 0},
		{"0123 AB 12", "0123 AB 12", 0},
		{"1234 ABC 12", "1234 ABC 12", 0},
	})
}

func TestNetwork(t *testing.T) {
	runText(t, def, []textCase{
		{"from 192.168.1.10:8080 ok", "from [ip]:8080 ok", IPv4},
		{"8.8.8.8", "[ip]", IPv4},
		{"ip=10.0.0.1&x", "ip=[ip]&x", IPv4},
		{"256.1.1.1", "256.1.1.1", 0},
		{"1.2.3", "1.2.3", 0},
		{"2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[ip]", IPv6},
		{"2001:db8::1", "[ip]", IPv6},
		{"[2001:db8::8a2e:370:7334]:443", "[[ip]]:443", IPv6},
		{"fe80::1%eth0", "[ip]%eth0", IPv6},
		{"::1", "[ip]", IPv6},
		{"::ffff:192.0.2.128", "[ip]", IPv6},
		{"2001:DB8::", "[ip]", IPv6},
		{"a::b", "a::b", 0},
		{"std::vector", "std::vector", 0},
		{"12:30:45", "12:30:45", 0},
		{"mac 00:1A:2B:3C:4D:5E.", "mac [token].", Token},
		{"00-1a-2b-3c-4d-5e", "[token]", Token},
		{"00:1A:2B:3C:4D", "00:1A:2B:3C:4D", 0},
	})
}

func TestRandomIDs(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	runText(t, def, []textCase{
		{"id 123e4567-e89b-12d3-a456-426614174000 x", "id [uuid] x", UUID},
		{"{123E4567-E89B-12D3-A456-426614174000}", "{[uuid]}", UUID},
		{"Bearer " + jwt, "Bearer [jwt]", JWT},
		{"t=" + jwt + ".", "t=[jwt].", JWT},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "[jwt]", JWT},
		{"eyJhbGciOiJIUzI1NiJ9.only-two", "[token].only-two", Token}, // not a JWT, but a token
		{"eyJhbGci.eyJzdWIi.sig", "eyJhbGci.eyJzdWIi.sig", 0},
		{"sha d41d8cd98f00b204e9800998ecf8427e", "sha [token]", Token},
		{"DEADBEEFCAFEBABE1234", "[token]", Token},
		{"sid=Ab3dEf7hIjK9LmN0pQrStUv&x=1", "sid=[token]&x=1", Token},
		{"gclid=Cj0KCQiA4NWrBhD-ARIsAFCKwWtZ8cO9Xq2l1y3pQmF2EaAhYxEALw_wcB", "gclid=[token]", Token},
		{"key: k3j5h2l4m6n7b8v9c0x1q", "key: [token]", Token},
		{"/reset/Ab3dEf7hIjK9LmN0pQrStUvWx/confirm-your-new-password-now-please-and-thank-you", "/reset/[token]/confirm-your-new-password-now-please-and-thank-you", Token},
		{"Ab3dEf7hIjK9LmN0pQrStUvWx_" + strings.Repeat("and_some_words_", 20), "[token]_" + strings.Repeat("and_some_words_", 20), Token},
		{"SGVsbG8gV29ybGQgZnJvbSBiYXNlNjQ=", "[token]", Token},
		{"order 12345678", "order [number]", Number},
		{"klant ORD1234567", "klant [number]", Number},
		{"ORD-1234567.", "ORD-[number].", Number},
		{"123456", "123456", 0},
		{"deadbeef", "deadbeef", 0},
		{"a1b2c3d4e5f6", "a1b2c3d4e5f6", 0}, // too short for text
	})
}

func TestTextInvalidUTF8(t *testing.T) {
	for _, in := range []string{"\xff", "abc\xfe\xff def", "\xc3", "jan@example.nl\xff", "\xffjan@example.nl", "\xed\xa0\x80 surrogate"} {
		out, _ := def.Text(in)
		if !utf8.ValidString(out) {
			t.Errorf("Text(%q) = %q: invalid UTF-8", in, out)
		}
		if strings.Contains(out, "jan@") {
			t.Errorf("Text(%q) = %q: e-mail kept", in, out)
		}
		v, _ := def.Value(in)
		if !utf8.ValidString(v) {
			t.Errorf("Value(%q) = %q: invalid UTF-8", in, v)
		}
	}
	if got, _ := def.Text("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("Text: got %q", got)
	}
}

func TestValue(t *testing.T) {
	for _, c := range []struct {
		in, want string
		kind     Kind
	}{
		{"newsletter", "newsletter", 0},
		{"spring sale 2024", "spring sale 2024", 0},
		{"iPhone 15", "iPhone 15", 0},
		{"contact jan@example.nl please", "[email]", Email},
		{"bel 0612345678 of mail jan@example.nl", "[email]", Email | Phone},
		{"Ab3dEf7hIjK9", "[token]", Token}, // 12 bytes are enough in values
		{"a1b2c3d4e5f6", "[token]", Token}, //
		{"summer_sale_2024_newsletter", "summer_sale_2024_newsletter", 0},
		{"1234567", "[number]", Number},
		{"123456", "123456", 0},
		{"ref-NL91ABNA0417164300", "[iban]", IBAN},
		{"\xff\xfe", "\uFFFD", 0},
	} {
		got, k := def.Value(c.in)
		if got != c.want || k != c.kind {
			t.Errorf("Value(%q) = %q, %v; want %q, %v", c.in, got, k, c.want, c.kind)
		}
		if def.Check(c.in) != c.kind {
			t.Errorf("Check(%q) = %v; want %v", c.in, def.Check(c.in), c.kind)
		}
	}
}

func TestOptions(t *testing.T) {
	s := MustNew(Options{Kinds: Email | Phone, Patterns: []string{`(?i)\bKLANT-[0-9]{3,}\b`, `\bsecret\w+`}})
	runText(t, s, []textCase{
		{"jan@example.nl 192.168.1.1 d41d8cd98f00b204e9800998ecf8427e", "[email] 192.168.1.1 d41d8cd98f00b204e9800998ecf8427e", Email},
		{"klant-123 en KLANT-4567", "[redacted] en [redacted]", Custom},
		{"x secretvalue y", "x [redacted] y", Custom},
		{"KLANT%2D123", "[redacted]", Custom}, // patterns see the decoded form too
	})
	if v, k := s.Value("vraag van klant-123"); v != "[redacted]" || k != Custom {
		t.Errorf("Value: %q %v", v, k)
	}
	if p, _ := s.Path("/klant-123/orders/12345"); p != "/:redacted/orders/12345" {
		t.Errorf("Path: %q", p)
	}
	s = MustNew(Options{MinNumberDigits: 5, MinTextToken: 12})
	runText(t, s, []textCase{
		{"order 12345", "order [number]", Number},
		{"x Ab3dEf7hIjK9 y", "x [token] y", Token},
	})
	for _, o := range []Options{
		{Patterns: []string{"("}},
		{Patterns: []string{"a*"}},
		{MinTextToken: -1},
		{QueryAllow: []string{""}},
		{QueryAllow: []string{"*"}},
		{Kinds: 1 << 15},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

func TestKind(t *testing.T) {
	for _, c := range []struct {
		k           Kind
		str, ph, pp string
	}{
		{0, "none", "", ""},
		{Email, "email", "[email]", ":email"},
		{Email | Phone, "email|phone", "[email]", ":email"},
		{Phone | JWT, "phone|jwt", "[jwt]", ":jwt"},
		{IPv4 | IPv6, "ipv4|ipv6", "[ip]", ":ip"},
		{Number, "number", "[number]", ":id"},
		{Token | Number, "token|number", "[token]", ":token"},
		{UUID | Token, "uuid|token", "[uuid]", ":uuid"},
		{Custom, "custom", "[redacted]", ":redacted"},
		{Postcode, "postcode", "[postcode]", ":postcode"},
		{IBAN | Card | BSN, "iban|card|bsn", "[iban]", ":iban"},
	} {
		if got := c.k.String(); got != c.str {
			t.Errorf("%#x.String() = %q; want %q", uint16(c.k), got, c.str)
		}
		if got := c.k.Placeholder(); got != c.ph {
			t.Errorf("%v.Placeholder() = %q; want %q", c.k, got, c.ph)
		}
		if got := c.k.PathPlaceholder(); got != c.pp {
			t.Errorf("%v.PathPlaceholder() = %q; want %q", c.k, got, c.pp)
		}
		if c.k != 0 {
			if back, err := ParseKind(c.str); err != nil || back != c.k {
				t.Errorf("ParseKind(%q) = %v, %v", c.str, back, err)
			}
		}
	}
	if k, err := ParseKind("Email, ip"); err != nil || k != Email|IPv4|IPv6 {
		t.Errorf("ParseKind: %v %v", k, err)
	}
	if k, _ := ParseKind("all"); k != All {
		t.Errorf("ParseKind(all) = %v", k)
	}
	if _, err := ParseKind("email|nope"); err == nil {
		t.Error("ParseKind accepted an unknown name")
	}
	if All.String() != "email|phone|iban|card|bsn|postcode|ipv4|ipv6|uuid|jwt|token|number|custom" {
		t.Errorf("All = %s", All)
	}
}

func TestChecksums(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{{"NL91ABNA0417164300", true}, {"NL91 ABNA 0417 1643 00", true}, {"NL92ABNA0417164300", false}, {"GB82WEST12345698765432", true}} {
		if mod97(c.s) != c.ok {
			t.Errorf("mod97(%q) != %v", c.s, c.ok)
		}
	}
	for _, c := range []struct {
		s  string
		ok bool
	}{{"4111111111111111", true}, {"4111 1111 1111 1111", true}, {"4111111111111112", false}, {"79927398713", true}} {
		if luhn(c.s) != c.ok {
			t.Errorf("luhn(%q) != %v", c.s, c.ok)
		}
	}
	for _, c := range []struct {
		s  string
		ok bool
	}{{"111222333", true}, {"123456782", true}, {"123456789", false}, {"000000000", false}, {"12345678", false}} {
		if elfproef(c.s) != c.ok {
			t.Errorf("elfproef(%q) != %v", c.s, c.ok)
		}
	}
}

// TestLinear guards against quadratic behaviour on long runs with many word
// starts.
func TestLinear(t *testing.T) {
	for _, unit := range []string{"a-", "a.", "eyJ-", "1.", "a@", "ab:", "0 ", "+1 "} {
		in := strings.Repeat(unit, 200_000)
		out, _ := def.Text(in)
		if !utf8.ValidString(out) {
			t.Fatal("invalid output")
		}
		def.Value(in)
		def.Path(in)
	}
}

func TestKindsOff(t *testing.T) {
	s := MustNew(Options{Kinds: All &^ (Number | Token)})
	if p, k := s.Path("/orders/12345/a8f3k2/jan@example.nl"); p != "/orders/12345/a8f3k2/:email" || k != Email {
		t.Errorf("Path = %q, %v", p, k)
	}
	if out, k := s.Text("order 12345678 sid=Ab3dEf7hIjK9LmN0pQrStUvWx"); k != 0 || out != "order 12345678 sid=Ab3dEf7hIjK9LmN0pQrStUvWx" {
		t.Errorf("Text = %q, %v", out, k)
	}
}

// TestConcurrent runs all entry points from many goroutines; with -race it
// checks that a Scrubber and its buffer pool are safe to share.
func TestConcurrent(t *testing.T) {
	inputs := append(append([]string{}, benchDirty...), "jan%40example.nl", "/u/jan%40example.nl/x", "a%2Fb%20c", "%C3%A9t%C3%A9 06%2012345678")
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- true }()
			for i := 0; i < 200; i++ {
				for _, in := range inputs {
					want, _ := def.Text(in)
					if got, _ := def.Text(in); got != want {
						t.Errorf("Text(%q) not deterministic: %q vs %q", in, got, want)
						return
					}
					def.Value(in)
					def.Path(in)
					def.Query(in)
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}

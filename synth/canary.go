package synth

import (
	"encoding/base64"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
)

// Canary is one planted identifier. Value is what was planted in its plain form;
// Variants are the other spellings under which it was planted or may resurface
// (URL-encoded, JSON \u-escaped, base64, digits only, grouped, local part of an
// e-mail, …). Search output for Value and every Variant, ignoring ASCII case.
type Canary struct {
	Kind     string // email, name, phone, uuid, ipv4, ipv6, iban, card, bsn, postcode, user_id, order, token, click_id, cookie, jwt
	Value    string
	Variants []string
}

// Strings returns Value followed by Variants.
func (c Canary) Strings() []string { return append([]string{c.Value}, c.Variants...) }

type canaryFactory struct {
	r    *rand.Rand
	n    int
	list []Canary
	seen map[string]bool
}

func newCanaryFactory(seed uint64) *canaryFactory {
	return &canaryFactory{r: rand.New(rand.NewPCG(seed^0xca9a5, 0x5eed)), seen: map[string]bool{}}
}

func b64std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
func b64raw(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jsonEscapeAll writes every character as a \u escape (as some encoders do).
func jsonEscapeAll(s string) string {
	var b strings.Builder
	for _, c := range s {
		b.WriteString(`\u`)
		h := strconv.FormatInt(int64(c), 16)
		b.WriteString(strings.Repeat("0", 4-len(h)))
		b.WriteString(h)
	}
	return b.String()
}

// add registers value (once) with the variants of its kind and returns it.
func (f *canaryFactory) add(kind, v string, extra ...string) string {
	if f.seen[v] {
		return v
	}
	f.seen[v] = true
	var vars []string
	addv := func(s string) {
		if s == "" || s == v || len(s) < 4 {
			return
		}
		for _, x := range vars {
			if x == s {
				return
			}
		}
		vars = append(vars, s)
	}
	addv(url.QueryEscape(v))
	addv(url.PathEscape(v))
	switch kind {
	case "email":
		addv(strings.ReplaceAll(v, "@", `\u0040`))
		addv(strings.ToUpper(v))
		addv(v[:strings.IndexByte(v, '@')])
	case "uuid":
		addv(strings.ReplaceAll(v, "-", ""))
	case "name":
		addv(jsonEscapeAll(v))
	case "phone":
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, v)
		addv(d)
		if strings.HasPrefix(d, "316") {
			addv("0" + d[2:])
			addv("06-" + d[3:])
			addv("+" + d)
			addv(d[2:])
		}
	case "iban":
		addv(group4(v))
	case "card":
		addv(group4(v))
	case "postcode":
		addv(strings.ReplaceAll(v, " ", ""))
	}
	if kind != "ipv4" && kind != "phone" && kind != "bsn" && kind != "card" {
		addv(b64std(v)[:len(base64.RawStdEncoding.EncodeToString([]byte(v)))])
		addv(b64raw(v))
	}
	for _, e := range extra {
		addv(e)
	}
	f.list = append(f.list, Canary{Kind: kind, Value: v, Variants: vars})
	return v
}

func group4(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// unique draws values until one was not planted before.
func (f *canaryFactory) unique(gen func() string) string {
	for {
		v := gen()
		if !f.seen[v] {
			return v
		}
	}
}

func (f *canaryFactory) email() string {
	f.n++
	n := f.n
	return f.add("email", f.unique(func() string {
		return "canary-" + strconv.Itoa(n) + "-" + randToken(f.r, 6, "abcdefghijkmnpqrstuvwxyz23456789") + "@example.org"
	}))
}

func (f *canaryFactory) name(prefix string) string {
	return f.add("name", f.unique(func() string { return prefix + randToken(f.r, 5, lowerAZ) }))
}

func (f *canaryFactory) phone() string {
	d := f.unique(func() string { return "+31 6 " + strconv.Itoa(1+f.r.IntN(9)) + digits(f.r, 7) })
	return f.add("phone", d)
}

func (f *canaryFactory) uuid() string {
	return f.add("uuid", f.unique(func() string { return uuidString(f.r) }))
}

func (f *canaryFactory) ip(v6 bool) string {
	if v6 {
		return f.add("ipv6", f.unique(func() string {
			return "2a02:a45f:" + randToken(f.r, 4, "123456789abcdef") + ":" + randToken(f.r, 4, "123456789abcdef") + ":" +
				randToken(f.r, 4, "123456789abcdef") + ":" + randToken(f.r, 4, "123456789abcdef") + ":" + randToken(f.r, 4, "123456789abcdef") + ":" + randToken(f.r, 4, "123456789abcdef")
		}))
	}
	return f.add("ipv4", f.unique(func() string {
		o := func() string { return strconv.Itoa(100 + f.r.IntN(124)) }
		return o() + "." + o() + "." + o() + "." + o()
	}))
}

func (f *canaryFactory) iban() string {
	return f.add("iban", f.unique(func() string { return makeIBAN(f.r, "NL", pick(f.r, ibanBanks), 10) }))
}
func (f *canaryFactory) card() string {
	return f.add("card", f.unique(func() string { return makeCard(f.r) }))
}
func (f *canaryFactory) bsn() string {
	return f.add("bsn", f.unique(func() string { return makeBSN(f.r) }))
}
func (f *canaryFactory) postcode() string {
	return f.add("postcode", f.unique(func() string {
		// A compact postcode with letters A-F ("4401EF") is six hex digits,
		// which turn up by chance in pseudonyms and event ids: searching
		// outputs for it would find a leak that is not one. Such a postcode
		// gets an X instead of its last letter (no extra random draw, so the
		// rest of the stream stays as it was).
		pc := nlPostcode(f.r, 10+f.r.IntN(89))
		if !strings.ContainsAny(pc[len(pc)-2:], "GHJKLMNPRSTVWXZ") {
			pc = pc[:len(pc)-1] + "X"
		}
		return pc
	}))
}
func (f *canaryFactory) userID() string {
	return f.add("user_id", f.unique(func() string { return "cust-" + strconv.Itoa(100000000+f.r.IntN(900000000)) }))
}
func (f *canaryFactory) order() string {
	return f.add("order", f.unique(func() string { return "NL" + strconv.Itoa(1000000000+f.r.IntN(900000000)) }))
}
func (f *canaryFactory) token(n int, alphabet string) string {
	return f.add("token", f.unique(func() string { return randToken(f.r, n, alphabet) }))
}

// visitorCanaries are the canary identities of one visitor.
type visitorCanaries struct {
	email, first, last, phone, userID, iban, card, bsn, postcode string
}

// visitor replaces every identifier of v with a registered canary.
func (f *canaryFactory) visitor(v *visitor) {
	c := &visitorCanaries{
		email: f.email(), first: f.name("Zyxwq"), last: f.name("Vrakz"), phone: f.phone(), userID: f.userID(),
		iban: f.iban(), card: f.card(), bsn: f.bsn(), postcode: f.postcode(),
	}
	f.add("name", c.first+" "+c.last)
	v.can = c
	v.id = f.uuid()
	v.p.first, v.p.last, v.p.email, v.p.phone = c.first, c.last, c.email, c.phone
	v.p.postcode, v.p.iban = c.postcode, c.iban
	if v.app {
		v.deviceID = f.uuid()
		v.adID = strings.ToUpper(f.uuid())
		v.deviceName = c.first + "'s " + v.ad.marketing
	}
	v.ua += " ShopToolbar/2.1 (" + c.first + ")"
	v.ctxTraits = true
	if f.r.IntN(2) == 0 {
		v.userID = c.userID
		v.signedIn = true
	}
}

// session plants session-level canaries (tokens, click ids, campaign values, referrer)
// and prepares the extra properties every event of the session carries.
func (f *canaryFactory) session(g *Generator, s *session) {
	if s.bot {
		return
	}
	v := s.v
	c := v.can
	s.token = f.token(32, hexLower)
	s.jsession = f.token(32, hexUpper)
	s.cartID = f.uuid()
	if s.clickKey != "" {
		s.clickID = f.add("click_id", f.unique(func() string { return s.clickKey + "-" + randToken(f.r, 40, b64url) }))
	}
	s.term = c.email
	s.content = c.first + " " + c.last
	fragTok := f.token(40, alnum)
	ga := f.add("cookie", "GA1.1."+strconv.Itoa(1000000000+f.r.IntN(900000000))+"."+strconv.Itoa(1700000000+f.r.IntN(90000000)))
	jwt := f.add("jwt", jwtLike(f.r, c.email))
	s.extRef = "https://outlook.live.com/mail/0/inbox?login_hint=" + url.QueryEscape(c.email) + "&sid=" + s.token
	s.canEvent = "Wishlist Shared With " + c.email
	s.canFrag = fragTok

	b := s.canProps[:0]
	b = append(b, `,"customer":{"contact":{`...)
	b = appendFirstKV(b, "email", c.email)
	b = appendKV(b, "phone", c.phone)
	b = append(b, `},"ids":[`...)
	b = appendString(b, v.id)
	b = append(b, ',')
	b = appendString(b, c.userID)
	if v.deviceID != "" {
		b = append(b, ',')
		b = appendString(b, v.deviceID)
		b = append(b, ',')
		b = appendString(b, v.adID)
	}
	b = append(b, `],"address":{`...)
	b = appendFirstKV(b, "line1", v.p.street+" "+v.p.house)
	b = appendKV(b, "postcode", c.postcode)
	b = appendKV(b, "city", v.p.city)
	b = append(b, `}}`...)
	b = appendKV(b, "note", "Bel me op 06-"+strings.ReplaceAll(c.phone, " ", "")[4:]+" of mail "+c.email+". IBAN "+group4(c.iban)+
		", BSN "+c.bsn+", kaart "+group4(c.card)+". Adres: "+v.p.street+" "+v.p.house+", "+strings.ReplaceAll(c.postcode, " ", "")+" "+v.p.city+". Groet, "+c.first+" "+c.last)
	b = appendKV(b, "cookie", "_ga="+ga+"; sid="+s.token+"; em="+url.QueryEscape(c.email)+"; _fbp=fb.1.1712345678901."+strconv.Itoa(100000000+f.r.IntN(900000000)))
	b = appendKV(b, "ref_b64", b64std(c.email))
	b = append(b, `,"contact_escaped":"`...)
	b = append(b, strings.ReplaceAll(c.email, "@", `\u0040`)...)
	b = append(b, `","owner_escaped":"`...)
	b = append(b, jsonEscapeAll(c.first)...)
	b = append(b, '"')
	b = appendKV(b, "email_upper", strings.ToUpper(c.email))
	b = appendKV(b, "x_forwarded_for", v.ip+", 10.12.0.7")
	b = appendKV(b, "auth", "Bearer "+jwt)
	b = appendKV(b, "card_number", c.card)
	s.canProps = b
}

// urlParams adds canary query parameters to every page URL.
func (f *canaryFactory) urlParams(s *session) {
	if s.bot {
		return
	}
	c := s.v.can
	s.q("email", c.email)
	s.q("token", s.token)
	s.q("u", b64raw(c.email))
	s.q("uid", c.userID)
}

// fragment adds a canary URL fragment (as OAuth implicit flows leave behind).
func (f *canaryFactory) fragment(s *session) {
	if s.bot {
		return
	}
	s.url = append(s.url, "#access_token="...)
	s.url = append(s.url, s.canFrag...)
	s.url = append(s.url, "&email="...)
	s.url = append(s.url, s.v.can.email...)
	s.title = append(s.title, " – Welcome back, "...)
	s.title = append(s.title, s.v.can.first...)
	s.title = append(s.title, ' ')
	s.title = append(s.title, s.v.can.last...)
}

// search makes the search term carry a name, a phone number and (every other time) an e-mail.
func (f *canaryFactory) search(s *session) {
	c := s.v.can
	s.query = append(s.query, " "...)
	s.query = append(s.query, c.first...)
	s.query = append(s.query, ' ')
	s.query = append(s.query, c.last...)
	s.query = append(s.query, " 06-"...)
	s.query = append(s.query, strings.ReplaceAll(c.phone, " ", "")[4:]...)
	if f.r.IntN(2) == 0 {
		s.query = append(s.query, ' ')
		s.query = append(s.query, c.email...)
	}
}

// Canaries returns every canary planted so far (Canaries mode) as flat search strings:
// each value followed by its variants, without duplicates. Call it after generating
// the events you test; it grows as new visitors and sessions appear.
func (g *Generator) Canaries() []string {
	if g.can == nil {
		return nil
	}
	return CanaryStrings(g.can.list)
}

// CanaryDetails returns the planted canaries with their kinds and variants.
func (g *Generator) CanaryDetails() []Canary {
	if g.can == nil {
		return nil
	}
	return append([]Canary(nil), g.can.list...)
}

// CanaryStrings flattens canaries into search strings (values and variants), without
// duplicates.
func CanaryStrings(cs []Canary) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cs {
		for _, s := range c.Strings() {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// CanaryMatcher finds canary strings in arbitrary bytes, ignoring ASCII case, in one
// pass over the input (suitable for scanning topics, Redis dumps and logs). Each
// needle is indexed by its most distinctive 6-byte window, so thousands of canaries
// sharing prefixes such as "canary-" cost no more than a few.
type CanaryMatcher struct {
	needles [][]byte // lower-cased
	orig    []string
	idx     map[uint64][]matchEnt
	bloom   []uint64
}

type matchEnt struct{ id, off int32 }

const (
	matchWin   = 6
	matchBase  = 1099511628211
	bloomBits  = 1 << 22
	bloomMask  = bloomBits - 1
	bloomWords = bloomBits / 64
)

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

var matchPow = func() uint64 {
	p := uint64(1)
	for i := 0; i < matchWin; i++ {
		p *= matchBase
	}
	return p
}()

func winHash(b []byte) uint64 {
	var h uint64
	for _, c := range b[:matchWin] {
		h = h*matchBase + uint64(lower(c))
	}
	return h
}

// NewCanaryMatcher prepares a matcher for the given strings (strings shorter than 6
// bytes are ignored; no canary is that short).
func NewCanaryMatcher(strs []string) *CanaryMatcher {
	m := &CanaryMatcher{idx: map[uint64][]matchEnt{}, bloom: make([]uint64, bloomWords)}
	seen := map[string]bool{}
	for _, s := range strs {
		if len(s) < matchWin {
			continue
		}
		n := make([]byte, len(s))
		for i := range n {
			n[i] = lower(s[i])
		}
		if seen[string(n)] {
			continue
		}
		seen[string(n)] = true
		best, bestOff := uint64(0), -1
		for off := 0; off+matchWin <= len(n); off++ {
			h := winHash(n[off:])
			if bestOff < 0 || len(m.idx[h]) < len(m.idx[best]) {
				best, bestOff = h, off
				if len(m.idx[h]) == 0 {
					break
				}
			}
		}
		id := int32(len(m.needles))
		m.idx[best] = append(m.idx[best], matchEnt{id, int32(bestOff)})
		m.bloom[(best&bloomMask)/64] |= 1 << (best & 63)
		m.needles = append(m.needles, n)
		m.orig = append(m.orig, s)
	}
	return m
}

// Find returns the distinct canary strings occurring in b, in order of discovery.
func (m *CanaryMatcher) Find(b []byte) []string {
	var out []string
	if len(b) < matchWin || len(m.needles) == 0 {
		return nil
	}
	var found map[int32]bool
	h := winHash(b)
	for i := 0; ; i++ {
		if m.bloom[(h&bloomMask)/64]&(1<<(h&63)) != 0 {
			for _, e := range m.idx[h] {
				n := m.needles[e.id]
				st := i - int(e.off)
				if st < 0 || st+len(n) > len(b) || found[e.id] {
					continue
				}
				ok := true
				for j := range n {
					if lower(b[st+j]) != n[j] {
						ok = false
						break
					}
				}
				if ok {
					if found == nil {
						found = map[int32]bool{}
					}
					found[e.id] = true
					out = append(out, m.orig[e.id])
				}
			}
		}
		if i+matchWin >= len(b) {
			break
		}
		h = h*matchBase + uint64(lower(b[i+matchWin])) - uint64(lower(b[i]))*matchPow
	}
	return out
}

// Contains reports whether any canary occurs in b.
func (m *CanaryMatcher) Contains(b []byte) bool { return len(m.Find(b)) > 0 }

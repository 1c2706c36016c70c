package scrub

import (
	"fmt"
	"strings"
)

// Kind is a bit set of the identifier kinds a detector found. It names what
// was found, never the value, so it is safe in metric labels, log fields and
// DLQ reasons.
type Kind uint16

// The identifier kinds. Placeholder and String describe each one.
const (
	// Email is an e-mail address, also percent-encoded (%40, %2540),
	// full-width (＠) or obfuscated ("name [at] domain [dot] com",
	// "name(at)domain.com").
	Email Kind = 1 << iota
	// Phone is an international (+31 6 12345678, 0031 6 12345678,
	// +1 (415) 555-2671), national trunk-0 (06-12345678, 020-1234567) or
	// North-American (415-555-2671) phone number.
	Phone
	// IBAN is an International Bank Account Number that passes the mod-97
	// check, compact or printed in groups of four.
	IBAN
	// Card is a payment card number of 13 to 19 digits that passes the Luhn
	// check, compact or in groups separated by spaces or dashes.
	Card
	// BSN is a Dutch citizen service number: 9 digits passing the 11-check
	// (elfproef), compact or as 123.456.782 / 1234.56.782.
	BSN
	// Postcode is a Dutch postcode followed by a house number
	// ("1234 AB 12", "1234AB 5a", "1234ab12").
	Postcode
	// IPv4 is a dotted-quad IPv4 address.
	IPv4
	// IPv6 is an IPv6 address, full or compressed, including ::ffff:1.2.3.4.
	IPv6
	// UUID is an 8-4-4-4-12 hexadecimal UUID of any version and case.
	UUID
	// JWT is a JSON Web Token: base64url parts separated by dots, the header
	// starting with "eyJ".
	JWT
	// Token is a long random-looking string: hexadecimal, base64 or
	// base64url, a MAC address, or (in paths) a mix of letters and digits.
	Token
	// Number is a long run of digits (customer, order or account numbers);
	// in paths any run of 4 or more digits.
	Number
	// Custom is a match of one of the configured extra patterns
	// (Options.Patterns).
	Custom

	// All is every kind.
	All = Custom<<1 - 1
)

// kindInfo describes one kind. The table is ordered from most to least
// specific: Placeholder reports the first kind of a set in this order.
var kindInfo = [...]struct {
	k           Kind
	name        string
	placeholder string
	path        string
}{
	{JWT, "jwt", "[jwt]", ":jwt"},
	{Email, "email", "[email]", ":email"},
	{IBAN, "iban", "[iban]", ":iban"},
	{Card, "card", "[card]", ":card"},
	{BSN, "bsn", "[bsn]", ":bsn"},
	{Phone, "phone", "[phone]", ":phone"},
	{Postcode, "postcode", "[postcode]", ":postcode"},
	{UUID, "uuid", "[uuid]", ":uuid"},
	{IPv6, "ipv6", "[ip]", ":ip"},
	{IPv4, "ipv4", "[ip]", ":ip"},
	{Custom, "custom", "[redacted]", ":redacted"},
	{Token, "token", "[token]", ":token"},
	{Number, "number", "[number]", ":id"},
}

// bitOrder lists the kinds in bit order, for String.
var bitOrder = [...]Kind{Email, Phone, IBAN, Card, BSN, Postcode, IPv4, IPv6, UUID, JWT, Token, Number, Custom}

// rank is the position of a single kind in kindInfo (lower is more specific).
func rank(k Kind) int {
	for i := range kindInfo {
		if kindInfo[i].k&k != 0 {
			return i
		}
	}
	return len(kindInfo)
}

// Placeholder returns the placeholder of the most specific kind in k:
// "[jwt]", "[email]", "[iban]", "[card]", "[bsn]", "[phone]", "[postcode]",
// "[uuid]", "[ip]", "[redacted]", "[token]" or "[number]", in that order of
// precedence. It returns "" for the empty set.
func (k Kind) Placeholder() string {
	for i := range kindInfo {
		if kindInfo[i].k&k != 0 {
			return kindInfo[i].placeholder
		}
	}
	return ""
}

// PathPlaceholder returns the path-segment placeholder of the most specific
// kind in k: ":id" for Number, ":uuid", ":token", ":email", and ":<name>" for
// the others (":ip" for both IP kinds, ":redacted" for Custom). It returns ""
// for the empty set.
func (k Kind) PathPlaceholder() string {
	for i := range kindInfo {
		if kindInfo[i].k&k != 0 {
			return kindInfo[i].path
		}
	}
	return ""
}

// String returns the names of the kinds in k joined by "|" in bit order, for
// example "email|phone", or "none" for the empty set. The names are the ones
// ParseKind accepts: email, phone, iban, card, bsn, postcode, ipv4, ipv6,
// uuid, jwt, token, number, custom.
func (k Kind) String() string {
	if k == 0 {
		return "none"
	}
	if k&(k-1) == 0 { // one kind: no allocation
		for i := range kindInfo {
			if kindInfo[i].k == k {
				return kindInfo[i].name
			}
		}
	}
	var b strings.Builder
	for _, bit := range bitOrder {
		if k&bit == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(bit.String())
	}
	if rest := k &^ All; rest != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		fmt.Fprintf(&b, "0x%x", uint16(rest))
	}
	return b.String()
}

// ParseKind parses a set of kind names separated by "|" or ",", as String
// writes them ("email|phone"). "all" stands for All, "ip" for IPv4|IPv6 and
// "none" or "" for the empty set. Names are case-insensitive.
func ParseKind(s string) (Kind, error) {
	var k Kind
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' }) {
		name := strings.ToLower(strings.TrimSpace(f))
		switch name {
		case "", "none":
			continue
		case "all":
			k |= All
			continue
		case "ip":
			k |= IPv4 | IPv6
			continue
		}
		found := false
		for i := range kindInfo {
			if kindInfo[i].name == name {
				k |= kindInfo[i].k
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("scrub: unknown identifier kind %q", strings.TrimSpace(f))
		}
	}
	return k, nil
}

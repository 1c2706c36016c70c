package scrub

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// RegistrableDomain returns the registrable domain (eTLD+1) of the host of a
// referrer URL, in lower case and ASCII (IDNs in punycode): for
// "https://www.Google.co.uk/search?q=x" it is "google.co.uk". Only the ICANN
// section of the public suffix list counts, so a per-user subdomain of a
// hosting suffix is not kept: "https://alice.github.io/cv" gives "github.io".
//
// It returns "" for IP literals, localhost, hosts under an unknown top-level
// domain (intranet names), hosts that are themselves a public suffix,
// schemes other than http and https (such as android-app://), and anything
// that does not parse as a host name. URLs without a scheme
// ("www.example.com/x", "//example.com") are read as host first. It never
// returns the path, query, port or user info.
func RegistrableDomain(rawURL string) string {
	s := strings.TrimSpace(rawURL)
	if i := strings.Index(s, "://"); i >= 0 {
		switch strings.ToLower(s[:i]) {
		case "http", "https":
			s = s[i+3:]
		default:
			return ""
		}
	} else {
		s = strings.TrimPrefix(s, "//")
	}
	if i := strings.IndexAny(s, "/?#\\"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if strings.HasPrefix(s, "[") {
		return "" // IPv6 literal
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return ""
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return ""
		}
		s = a
	}
	s = lowerASCII(s)
	if !hostName(s) { // also rejects IPv4 literals: their last label is all digits
		return ""
	}
	if s == "localhost" || strings.HasSuffix(s, ".localhost") {
		return ""
	}
	suffix, icann := publicsuffix.PublicSuffix(s)
	for !icann {
		i := strings.IndexByte(suffix, '.')
		if i < 0 {
			return "" // not under an ICANN top-level domain
		}
		suffix, icann = publicsuffix.PublicSuffix(suffix[i+1:])
	}
	if len(suffix) >= len(s) {
		return ""
	}
	rest := s[:len(s)-len(suffix)-1]
	return s[strings.LastIndexByte(rest, '.')+1:]
}

// hostName reports whether s is dot-separated labels of a-z, 0-9 and '-',
// each 1-63 bytes, not starting or ending with '-', the last one not all
// digits.
func hostName(s string) bool {
	for len(s) > 0 {
		l := s
		if i := strings.IndexByte(s, '.'); i >= 0 {
			l, s = s[:i], s[i+1:]
			if s == "" {
				return false
			}
		} else {
			s = ""
			digits := true
			for i := 0; i < len(l); i++ {
				digits = digits && isDigit(l[i])
			}
			if digits {
				return false
			}
		}
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if class[l[i]]&(cDigit|cLower) == 0 && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

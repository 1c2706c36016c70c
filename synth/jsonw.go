package synth

import (
	"strconv"
	"time"
)

// Hand-written JSON appending for the hot path. Strings generated here are valid UTF-8
// by construction; appendString escapes exactly what JSON requires (quote, backslash,
// control characters) and passes everything else through.

const hexDigits = "0123456789abcdef"

func appendString[T ~string | ~[]byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	i := 0
	// Fast path: skip 8 bytes at a time while none needs escaping (SWAR test for a byte
	// < 0x20, '"' or '\\').
	for i+8 <= len(s) {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !needsEscape(w) {
			i += 8
			continue
		}
		break
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// needsEscape reports whether any byte of w is < 0x20, '"' or '\\'.
func needsEscape(w uint64) bool {
	ctl := (w - lsb*0x20) & ^w & msb
	q := w ^ (lsb * '"')
	q = (q - lsb) & ^q & msb
	bs := w ^ (lsb * '\\')
	bs = (bs - lsb) & ^bs & msb
	return ctl|q|bs != 0
}

// appendKV appends `,"key":"value"` (key must not need escaping).
func appendKV(b []byte, key, val string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, val)
}

// appendFirstKV appends `"key":"value"` without a leading comma.
func appendFirstKV(b []byte, key, val string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, val)
}

// appendKInt appends `,"key":n`.
func appendKInt(b []byte, key string, n int) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, int64(n), 10)
}

// appendKCents appends `,"key":12.34` for an amount in cents.
func appendKCents(b []byte, key string, cents int) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendCents(b, cents)
}

func appendCents(b []byte, cents int) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, int64(cents/100), 10)
	c := cents % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

// appendTime appends t (unix nanoseconds) as RFC 3339 with milliseconds in UTC,
// e.g. 2025-03-14T09:26:53.589Z (always 24 bytes for years 1000-9999).
func appendTime(b []byte, ns int64) []byte {
	t := time.Unix(0, ns).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = append(b,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}

// minuteCache formats timestamps quickly for a stream whose times move slowly: the
// "YYYY-MM-DDTHH:MM:" prefix is reused within a minute.
type minuteCache struct {
	start, end int64 // [start, end) in unix ns
	prefix     [17]byte
}

func (c *minuteCache) append(b []byte, ns int64) []byte {
	if ns < c.start || ns >= c.end || ns < 0 {
		m := ns - ns%60e9
		if ns < 0 {
			return appendTime(b, ns)
		}
		c.start, c.end = m, m+60e9
		var tmp [24]byte
		copy(c.prefix[:], appendTime(tmp[:0], m))
	}
	off := ns - c.start
	s := int(off / 1e9)
	ms := int(off % 1e9 / 1e6)
	b = append(b, c.prefix[:]...)
	return append(b, byte('0'+s/10), byte('0'+s%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendUUID appends a version-4 UUID (lower-case, dashed) built from two random words.
func appendUUID(b []byte, hi, lo uint64) []byte {
	hi = hi&^(0xf<<12) | 0x4<<12
	lo = lo&^(0x3<<62) | 0x2<<62
	var x [16]byte
	for i := 0; i < 8; i++ {
		x[i] = byte(hi >> (56 - 8*i))
		x[8+i] = byte(lo >> (56 - 8*i))
	}
	for i, c := range x {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendHex appends n random-looking hex digits from the words in src.
func appendHex(b []byte, n int, next func() uint64) []byte {
	var w uint64
	for i := 0; i < n; i++ {
		if i%16 == 0 {
			w = next()
		}
		b = append(b, hexDigits[w&0xf])
		w >>= 4
	}
	return b
}

// appendQueryEscape appends s escaped for a URL query component (like url.QueryEscape).
func appendQueryEscape[T ~string | ~[]byte](b []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0xf])
		}
	}
	return b
}

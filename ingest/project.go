package ingest

import (
	"bytes"
	"crypto/sha1"
	"hash"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/personas-dev/personas/ingest/scrub"
	"github.com/personas-dev/personas/schemas"
)

// Field names the open-ended values a ValuePolicy decides on.
type Field uint8

// Fields with open-ended values.
const (
	FieldEvent Field = iota
	FieldPathSegment
	FieldQuery
	FieldProperty
	FieldSearch
	FieldReferrer
	FieldCampaign
	numFields
)

var fieldNames = [...]string{"event", "path", "query", "properties", "search", "referrer", "campaign"}

func (f Field) String() string { return fieldNames[f] }

// ValuePolicy decides whether an open-ended value (already scrubbed of
// identifier patterns) may be published. It sees the pseudonym of the
// sender so it can count distinct senders (rare-value suppression).
type ValuePolicy interface {
	// Keep returns the value to publish: v itself, a placeholder, or "" to
	// drop the field. name is the query parameter, property or campaign
	// field ("" for the others).
	Keep(f Field, name, v string, pseudonym []byte) string
}

// ScrubOnly publishes every scrubbed value: the pattern scrubber alone.
type ScrubOnly struct{}

// Keep implements ValuePolicy.
func (ScrubOnly) Keep(_ Field, _, v string, _ []byte) string { return v }

// Schema limits of the anonymized event (anonymized-event.json).
const (
	maxEventLen = 128
	maxPathLen  = 512
	maxShortLen = 128
)

// project builds the anonymized event's JSON from the parsed raw event.
func (t *Transformer) project(root *fastjson.Value, in *Input, ts time.Time, epoch int64, pseudo [32]byte, out Output) (Output, error) {
	b := t.out[:0]
	var found scrub.Kind
	keep := func(f Field, name, v string, max int) string {
		v, k := t.scrub.Value(v)
		found |= k
		v = t.policy.Keep(f, name, v, pseudo[:])
		return truncate(v, max)
	}

	typ := string(t.str(fType))
	b = append(b, `{"schema":"`+schemas.EventV1+`","event_id":"`...)
	b = t.appendEventID(b, in.Source)
	b = append(b, `","type":`...)
	b = appendString(b, typ)

	var name []byte
	switch typ {
	case "track":
		name = t.str(fEvent)
	case "page", "screen":
		name = t.str(fName)
	}
	if len(name) > 0 {
		if v := keep(FieldEvent, "", string(name), maxEventLen); v != "" {
			b = append(b, `,"event":`...)
			b = appendString(b, v)
		}
	}
	b = append(b, `,"time":"`...)
	b = ts.Truncate(time.Minute).AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","epoch":`...)
	b = strconv.AppendInt(b, epoch, 10)
	b = append(b, `,"pseudonym":"`...)
	b = append(b, pseudo[:]...)
	b = append(b, '"')

	// Device and bot flag from the User-Agent (never the UA itself).
	dev := t.ua.lookup(t.str(fUserAgent))
	if dt := t.str(fDeviceType); dev.class == "other" && len(dt) > 0 {
		switch strings.ToLower(string(dt)) {
		case "ios", "android", "mobile", "phone":
			dev.class = "mobile"
		case "tablet", "ipados":
			dev.class = "tablet"
		case "tv":
			dev.class = "tv"
		}
	}
	bot := dev.bot || t.matchBot(t.str(fUserAgent))
	if bot {
		dev.class = "bot"
	}
	b = append(b, `,"bot":`...)
	b = strconv.AppendBool(b, bot)
	out.Bot = bot

	// URL parts: path from context.page.path, else from context.page.url.
	rawURL := string(t.str(fPageURL))
	var urlPath, urlQuery string
	if rawURL != "" {
		rest := rawURL
		if i := strings.IndexByte(rest, '#'); i >= 0 {
			rest = rest[:i]
		}
		if i := strings.IndexByte(rest, '?'); i >= 0 {
			urlQuery = rest[i+1:]
			rest = rest[:i]
		}
		if i := strings.Index(rest, "://"); i >= 0 {
			rest = rest[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				urlPath = rest[j:]
			} else {
				urlPath = "/"
			}
		} else if strings.HasPrefix(rest, "/") {
			urlPath = rest
		}
	}
	path := string(t.str(fPagePath))
	if path == "" {
		path = urlPath
	}
	if path != "" {
		p, k := t.scrub.Path(path)
		found |= k
		p = t.keepPath(p, pseudo[:])
		if p != "" {
			b = append(b, `,"path":`...)
			b = appendString(b, truncate(p, maxPathLen))
		}
	}

	query := urlQuery
	if query == "" {
		query = strings.TrimPrefix(string(t.str(fPageSearch)), "?")
	}
	var utm [3]string // source, medium, campaign from the query
	if query != "" {
		pairs, k := t.scrub.QueryParams(t.params[:0], query)
		t.params = pairs
		found |= k
		first := true
		for _, kv := range pairs {
			if !t.queryKey(kv.Key, pseudo[:]) {
				continue
			}
			v := truncate(t.policy.Keep(FieldQuery, kv.Key, kv.Value, pseudo[:]), maxShortLen)
			if v == "" {
				continue
			}
			switch kv.Key {
			case "utm_source":
				utm[0] = v
			case "utm_medium":
				utm[1] = v
			case "utm_campaign":
				utm[2] = v
			}
			if first {
				b = append(b, `,"query":{`...)
				first = false
			} else {
				b = append(b, ',')
			}
			b = appendString(b, kv.Key)
			b = append(b, ':')
			b = appendString(b, v)
		}
		if !first {
			b = append(b, '}')
		}
	}

	if ref := t.str(fPageReferrer); len(ref) > 0 {
		if d := t.referrerDomain(ref); d != "" {
			if d = t.policy.Keep(FieldReferrer, "", d, pseudo[:]); d != "" {
				b = append(b, `,"referrer_domain":`...)
				b = appendString(b, truncate(d, 253))
			}
		}
	}

	// Campaign: context.campaign, else the utm parameters.
	camp := [3]string{
		string(t.str(fCampaignSource)),
		string(t.str(fCampaignMedium)),
		string(t.str(fCampaignName)),
	}
	first := true
	for i, label := range [...]string{"source", "medium", "name"} {
		v := camp[i]
		if v != "" {
			v = keep(FieldCampaign, label, v, maxShortLen)
		} else {
			v = utm[i]
		}
		if v == "" {
			continue
		}
		if first {
			b = append(b, `,"campaign":{`...)
			first = false
		} else {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, label...)
		b = append(b, `":`...)
		b = appendString(b, v)
	}
	if !first {
		b = append(b, '}')
	}

	b = append(b, `,"device":{"class":"`...)
	b = append(b, dev.class...)
	b = append(b, '"')
	if dev.browser != "" {
		b = append(b, `,"browser":"`...)
		b = append(b, dev.browser...)
		b = append(b, '"')
	}
	if dev.os != "" {
		b = append(b, `,"os":"`...)
		b = append(b, dev.os...)
		b = append(b, '"')
	}
	b = append(b, '}')

	if lang := language(t.str(fLocale)); lang != "" {
		b = append(b, `,"language":"`...)
		b = append(b, lang...)
		b = append(b, '"')
	}

	props := t.vals[fProperties]
	if props != nil && props.Type() != fastjson.TypeObject {
		props = nil
	}
	search := ""
	if q := t.property(root, props, "query"); q != nil && q.Type() == fastjson.TypeString {
		search = string(q.GetStringBytes())
	}
	if search != "" {
		if v := keep(FieldSearch, "", search, maxShortLen); v != "" {
			b = append(b, `,"search":`...)
			b = appendString(b, v)
		}
	}

	first = true
	addProp := func(k string, v *fastjson.Value) {
		start := len(b)
		if first {
			b = append(b, `,"properties":{`...)
		} else {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch v.Type() {
		case fastjson.TypeString:
			s := keep(FieldProperty, k, string(v.GetStringBytes()), t.opt.MaxValueLength)
			if s == "" {
				b = b[:start]
				return
			}
			b = appendString(b, s)
		case fastjson.TypeNumber:
			f := v.GetFloat64()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				b = b[:start]
				return
			}
			b = strconv.AppendFloat(b, f, 'g', -1, 64)
		case fastjson.TypeTrue:
			b = append(b, "true"...)
		case fastjson.TypeFalse:
			b = append(b, "false"...)
		default:
			b = b[:start] // objects, arrays and null are not kept
			return
		}
		first = false
	}
	if props != nil {
		o, _ := props.Object()
		o.Visit(func(k []byte, v *fastjson.Value) {
			if t.props[string(k)] && !t.propMapped(k) {
				addProp(string(k), v)
			}
		})
	}
	for i := range t.propSrcs {
		p := &t.propSrcs[i]
		if v := p.src.read(root); v != nil && t.props[p.name] {
			addProp(p.name, v)
		}
	}
	if !first {
		b = append(b, '}')
	}

	b = append(b, `,"source":{"topic":`...)
	b = appendString(b, in.Source.Topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(in.Source.Partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, in.Source.Offset, 10)
	b = append(b, "}}"...)

	t.out = b
	out.JSON = b
	out.Scrubbed = found
	return out, nil
}

// referrerDomain is scrub.RegistrableDomain with a cache. Its result
// depends only on the (trimmed) text up to the end of the authority, where
// it cuts the URL, so that prefix is the cache key: referrers differ in
// their paths far more than in their hosts.
func (t *Transformer) referrerDomain(ref []byte) string {
	s := bytes.TrimSpace(ref)
	host := 0 // where the authority starts, as RegistrableDomain reads it
	if i := bytes.Index(s, []byte("://")); i >= 0 {
		host = i + 3
	} else if bytes.HasPrefix(s, []byte("//")) {
		host = 2
	}
	end := len(s)
	if i := bytes.IndexAny(s[host:], "/?#\\"); i >= 0 {
		end = host + i
	}
	key := s[:end]
	if d, ok := t.refs[string(key)]; ok {
		return d
	}
	d := scrub.RegistrableDomain(string(ref))
	if len(t.refs) >= 4096 {
		clear(t.refs)
	}
	t.refs[string(key)] = d
	return d
}

// property returns a property of the event: from its mapping source when
// ingest.mapping names one (properties.<name>), else from the properties
// object.
func (t *Transformer) property(root, props *fastjson.Value, name string) *fastjson.Value {
	for i := range t.propSrcs {
		if t.propSrcs[i].name == name {
			return t.propSrcs[i].src.read(root)
		}
	}
	return props.Get(name) // nil-safe
}

// propMapped reports whether a property name is read from a mapping source
// instead of the properties object.
func (t *Transformer) propMapped(k []byte) bool {
	for i := range t.propSrcs {
		if t.propSrcs[i].name == string(k) {
			return true
		}
	}
	return false
}

// queryKey reports whether a query parameter's name may be published. It
// must fit the event schema's name pattern (a-z, 0-9, _; 1 to 64), and a
// name matched only by a prefix of the allowlist (utm_*) is open-ended text
// that can carry an identifier (utm_<token>), so the value policy decides
// on it like on a value (P6). The standard utm names and the names the
// allowlist spells out are published as they are.
func (t *Transformer) queryKey(k string, pseudo []byte) bool {
	if len(k) == 0 || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	switch k {
	case "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id":
		return true
	}
	for _, a := range t.opt.QueryAllowlist {
		if a == k {
			return true
		}
	}
	return t.policy.Keep(FieldQuery, "", k, pseudo) == k
}

// keepPath passes each literal path segment through the policy; segments
// it does not keep become ":seg". Placeholders from the scrubber stay.
func (t *Transformer) keepPath(p string, pseudo []byte) string {
	if _, ok := t.policy.(ScrubOnly); ok {
		return p
	}
	// Walk the segments in place; a copy is made only when one changes.
	var out []byte
	for start := 0; start <= len(p); {
		end := strings.IndexByte(p[start:], '/')
		if end < 0 {
			end = len(p)
		} else {
			end += start
		}
		s := p[start:end]
		keep := s == "" || s[0] == ':' || t.policy.Keep(FieldPathSegment, "", s, pseudo) == s
		if !keep && out == nil {
			out = append(make([]byte, 0, len(p)+8), p[:start]...)
		}
		if out != nil {
			if keep {
				out = append(out, s...)
			} else {
				out = append(out, PlaceholderSegment...)
			}
			if end < len(p) {
				out = append(out, '/')
			}
		}
		start = end + 1
	}
	if out == nil {
		return p
	}
	return string(out)
}

func (t *Transformer) matchBot(ua []byte) bool {
	if len(t.bots) == 0 || len(ua) == 0 {
		return false
	}
	t.lower = append(t.lower[:0], ua...)
	for i, c := range t.lower {
		if c >= 'A' && c <= 'Z' {
			t.lower[i] = c + 'a' - 'A'
		}
	}
	for _, p := range t.bots {
		if bytes.Contains(t.lower, p) {
			return true
		}
	}
	return false
}

// appendEventID appends the event id of s using the transformer's
// reusable SHA-1 (the same bytes as EventID, without allocating).
func (t *Transformer) appendEventID(b []byte, s schemas.Source) []byte {
	if t.sha1 == nil {
		t.sha1 = sha1.New()
	}
	t.idName = appendSourceName(t.idName[:0], s)
	return appendUUIDv5(b, t.sha1, t.idName)
}

// EventID is the deterministic id of the event read at s: the UUIDv5 (RFC
// 9562) of "topic/partition/offset" in EventIDNamespace.
func EventID(s schemas.Source) string {
	return string(appendUUIDv5(nil, sha1.New(), appendSourceName(nil, s)))
}

func appendSourceName(b []byte, s schemas.Source) []byte {
	b = append(b, s.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(s.Partition), 10)
	b = append(b, '/')
	return strconv.AppendInt(b, s.Offset, 10)
}

// appendUUIDv5 appends the text form of the name-based SHA-1 UUID of name.
func appendUUIDv5(b []byte, h hash.Hash, name []byte) []byte {
	h.Reset()
	h.Write(EventIDNamespace[:])
	h.Write(name)
	var sum [sha1.Size]byte
	u := h.Sum(sum[:0])
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 9562 variant
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigit[u[i]>>4], hexDigit[u[i]&0xf])
	}
	return b
}

// language returns the primary language subtag of a locale ("nl-NL" ->
// "nl"), or "" if it is not a plain 2-3 letter code.
func language(locale []byte) string {
	n := 0
	for n < len(locale) && n < 4 && isLetter(locale[n]) {
		n++
	}
	if n < 2 || n > 3 || (n < len(locale) && locale[n] != '-' && locale[n] != '_') {
		return ""
	}
	return strings.ToLower(string(locale[:n]))
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// truncate cuts s to at most max runes.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}

// appendString appends s as a JSON string; invalid UTF-8 and NUL become
// U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c < 0x80 {
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
			case 0:
				// A NUL (from %00 in a URL, say) breaks consumers of the
				// output (C strings, PostgreSQL text): never write one.
				b = append(b, "\ufffd"...)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigit = "0123456789abcdef"

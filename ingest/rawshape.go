package ingest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/personas-dev/personas/schemas"
)

// fieldCheck is the typed fast-path form of one property of the raw-event
// schema. The checks are derived from schemas/v1/raw-event.json at start,
// so they cannot drift from it; a differential fuzz test checks that the
// fast path accepts exactly what the JSON Schema validator accepts.
type fieldCheck struct {
	path      []string // raw-shape path
	dotted    string
	name      string // last element of path
	parent    int    // index of the parent field in rawChecks, -1 at the top
	types     []fastjson.Type
	nullOK    bool
	enum      []string
	dateTime  bool
	maxLength int
	required  bool
}

var (
	// rawChecks are the checks in schema order (parents before children).
	rawChecks []fieldCheck
	// rawFields indexes rawChecks by dotted path.
	rawFields = map[string]*fieldCheck{}
)

func init() {
	b, err := fs.ReadFile(schemas.FS(), "v1/"+schemas.RawEventSchema)
	if err != nil {
		panic(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		panic(err)
	}
	if err := compileChecks(doc, doc, nil, nil); err != nil {
		panic("ingest: raw-event schema uses more than the fast path supports: " + err.Error())
	}
	for i := range rawChecks {
		c := &rawChecks[i]
		c.name, c.parent = c.path[len(c.path)-1], -1
		if len(c.path) > 1 {
			c.parent = fieldIndex(strings.Join(c.path[:len(c.path)-1], "."))
		}
		rawFields[c.dotted] = c
	}
	for _, f := range []struct {
		p    *int
		name string
	}{
		{&fType, "type"}, {&fEvent, "event"}, {&fName, "name"}, {&fUserAgent, "context.userAgent"},
		{&fLocale, "context.locale"}, {&fDeviceType, "context.device.type"}, {&fPageURL, "context.page.url"},
		{&fPagePath, "context.page.path"}, {&fPageSearch, "context.page.search"},
		{&fPageReferrer, "context.page.referrer"}, {&fCampaignSource, "context.campaign.source"},
		{&fCampaignMedium, "context.campaign.medium"}, {&fCampaignName, "context.campaign.name"},
		{&fProperties, "properties"}, {&timeFields[0], "timestamp"}, {&timeFields[1], "originalTimestamp"},
		{&timeFields[2], "sentAt"}, {&timeFields[3], "receivedAt"},
	} {
		if *f.p = fieldIndex(f.name); *f.p < 0 {
			panic("ingest: the raw-event schema has no field " + f.name)
		}
	}
}

// Indexes in rawChecks of the fields the projection reads.
var fType, fEvent, fName, fUserAgent, fLocale, fDeviceType, fPageURL, fPagePath, fPageSearch,
	fPageReferrer, fCampaignSource, fCampaignMedium, fCampaignName, fProperties int

// timeFields are the event-time fields in order of preference.
var timeFields [4]int

// fieldIndex returns the index in rawChecks of a dotted raw-shape path, or
// -1.
func fieldIndex(dotted string) int {
	for i := range rawChecks {
		if rawChecks[i].dotted == dotted {
			return i
		}
	}
	return -1
}

// supported lists the schema keywords the fast path implements.
var supported = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "$defs": true,
	"type": true, "required": true, "properties": true, "enum": true, "format": true,
	"maxLength": true, "$ref": true,
}

func compileChecks(root, node map[string]any, path []string, required []string) error {
	for k := range node {
		if !supported[k] {
			return fmt.Errorf("keyword %q at %s", k, strings.Join(path, "."))
		}
	}
	if ref, ok := node["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			return fmt.Errorf("$ref %q", ref)
		}
		def, _ := root["$defs"].(map[string]any)[name].(map[string]any)
		if def == nil {
			return fmt.Errorf("$ref %q not found", ref)
		}
		return compileChecks(root, def, path, required)
	}
	if len(path) > 0 {
		c := fieldCheck{path: slices.Clone(path), dotted: strings.Join(path, ".")}
		c.required = slices.Contains(required, path[len(path)-1])
		switch t := node["type"].(type) {
		case string:
			c.addType(t)
		case []any:
			for _, x := range t {
				c.addType(x.(string))
			}
		}
		if e, ok := node["enum"].([]any); ok {
			for _, x := range e {
				c.enum = append(c.enum, x.(string))
			}
		}
		if f, ok := node["format"].(string); ok {
			if f != "date-time" {
				return fmt.Errorf("format %q", f)
			}
			c.dateTime = true
		}
		if m, ok := node["maxLength"].(float64); ok {
			c.maxLength = int(m)
		}
		rawChecks = append(rawChecks, c)
	}
	props, _ := node["properties"].(map[string]any)
	var req []string
	if r, ok := node["required"].([]any); ok {
		for _, x := range r {
			req = append(req, x.(string))
		}
	}
	for _, name := range sortedKeys(props) {
		if err := compileChecks(root, props[name].(map[string]any), append(path, name), req); err != nil {
			return err
		}
	}
	return nil
}

func (c *fieldCheck) addType(t string) {
	switch t {
	case "string":
		c.types = append(c.types, fastjson.TypeString)
	case "number", "integer":
		c.types = append(c.types, fastjson.TypeNumber)
	case "object":
		c.types = append(c.types, fastjson.TypeObject)
	case "array":
		c.types = append(c.types, fastjson.TypeArray)
	case "boolean":
		c.types = append(c.types, fastjson.TypeTrue, fastjson.TypeFalse)
	case "null":
		c.nullOK = true
	}
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RawFieldNames lists the raw-shape fields (dotted paths) that can be
// mapped and checked.
func RawFieldNames() []string {
	out := make([]string, 0, len(rawChecks))
	for _, c := range rawChecks {
		out = append(out, c.dotted)
	}
	return out
}

// check applies the field's schema constraints to v (nil: absent). It
// reports the failing keyword, or "" when v passes.
func (c *fieldCheck) check(v *fastjson.Value) string {
	if v == nil {
		if c.required {
			return "required"
		}
		return ""
	}
	t := v.Type()
	if len(c.enum) > 0 && t != fastjson.TypeString {
		return "enum" // the enum lists strings only: no other value is in it
	}
	if t == fastjson.TypeNull {
		if c.nullOK || len(c.types) == 0 {
			return ""
		}
		return "type"
	}
	if len(c.types) > 0 && !slices.Contains(c.types, t) {
		return "type"
	}
	if t != fastjson.TypeString {
		return ""
	}
	s := v.GetStringBytes()
	if len(c.enum) > 0 && !slices.Contains(c.enum, string(s)) {
		return "enum"
	}
	if c.maxLength > 0 && len(s) > c.maxLength && runeCount(s) > c.maxLength {
		return "maxLength"
	}
	if c.dateTime {
		if _, ok := parseDateTime(s); !ok {
			return "format"
		}
	}
	return ""
}

func runeCount(b []byte) int { return utf8.RuneCount(b) }

// parseDateTime parses an RFC 3339 date-time as JSON Schema's "date-time"
// format defines it (full-date "T" full-time, with a time-zone offset).
func parseDateTime(b []byte) (time.Time, bool) {
	if !rfc3339Shape(b) {
		return time.Time{}, false
	}
	s := string(b)
	// JSON Schema allows a lower-case t and z; time.RFC3339 wants upper case.
	if s[10] == 't' || strings.HasSuffix(s, "z") {
		s = strings.ToUpper(s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// rfc3339Shape checks the RFC 3339 date-time grammar (with JSON Schema's
// case-insensitive T and Z) and the offset's range. time.Parse alone is
// more lenient than the schema: it takes a comma before the fraction and
// offsets up to +24:59.
func rfc3339Shape(b []byte) bool {
	n := len(b)
	if n < 20 {
		return false
	}
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i, c := range b[:19] {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' && c != 't' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if !digit(c) {
				return false
			}
		}
	}
	i := 19
	if b[i] == '.' {
		j := i + 1
		for j < n && digit(b[j]) {
			j++
		}
		if j == i+1 {
			return false
		}
		i = j
	}
	switch rest := b[i:]; {
	case len(rest) == 1:
		return rest[0] == 'Z' || rest[0] == 'z'
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		if !digit(rest[1]) || !digit(rest[2]) || !digit(rest[4]) || !digit(rest[5]) {
			return false
		}
		return (rest[1]-'0')*10+rest[2]-'0' <= 23 && (rest[4]-'0')*10+rest[5]-'0' <= 59
	}
	return false
}

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
		rawFields[rawChecks[i].dotted] = &rawChecks[i]
	}
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
	s := string(b)
	if len(s) < 20 {
		return time.Time{}, false
	}
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

package ingest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// fieldSource says where the transform reads a raw-shape field that
// ingest.mapping maps. A mapping value is one of
//
//	page_url                         the value at this input path (dot-separated)
//	=track                           this literal string, whatever the input holds
//	event[page_view=page,struct=track,*=track]
//	                                 the value at the path, translated by the
//	                                 table; "*" translates every other string.
//	                                 Strings not in the table (and no "*") pass
//	                                 unchanged, so the schema judges them.
//
// A null at a mapped path counts as absent: exporters of flat shapes write
// every column, the empty ones as null.
//
// Literals and tables exist for fields whose values are a fixed vocabulary
// in the raw shape: a Snowplow-like stream says "page_view" and "struct"
// where the raw shape says "page" and "track".
type fieldSource struct {
	path  []string
	konst *fastjson.Value
	table map[string]*fastjson.Value
	other *fastjson.Value
	// The same, decoded, for the JSON Schema validator's document.
	konstText string
	tableText map[string]string
	otherText *string
}

// read returns the field's value in an input document (nil if absent).
func (s *fieldSource) read(root *fastjson.Value) *fastjson.Value {
	if s.konst != nil {
		return s.konst
	}
	v := root.Get(s.path...)
	if v != nil && v.Type() == fastjson.TypeNull {
		return nil // exporters write absent columns as null: no value
	}
	if s.table != nil && v != nil && v.Type() == fastjson.TypeString {
		if x, ok := s.table[string(v.GetStringBytes())]; ok {
			return x
		}
		if s.other != nil {
			return s.other
		}
	}
	return v
}

// translate is read for the validator's decoded document.
func (s *fieldSource) translate(v any, ok bool) (any, bool) {
	if s.konst != nil {
		return s.konstText, true
	}
	if ok && v == nil {
		return nil, false // null: no value, as in read
	}
	if str, isStr := v.(string); ok && isStr && s.tableText != nil {
		if x, found := s.tableText[str]; found {
			return x, true
		}
		if s.otherText != nil {
			return *s.otherText, true
		}
	}
	return v, ok
}

var mappingTable = regexp.MustCompile(`^([^\[\]=]+)\[([^\[\]]*)\]$`)

// parseSource reads one mapping value (see fieldSource).
func parseSource(spec string) (fieldSource, error) {
	var s fieldSource
	str := func(x string) *fastjson.Value { return fastjson.MustParse(strconv.Quote(x)) }
	if lit, ok := strings.CutPrefix(spec, "="); ok {
		s.konst, s.konstText = str(lit), lit
		return s, nil
	}
	path := spec
	if m := mappingTable.FindStringSubmatch(spec); m != nil {
		path = m[1]
		s.table, s.tableText = map[string]*fastjson.Value{}, map[string]string{}
		for _, pair := range strings.Split(m[2], ",") {
			from, to, ok := strings.Cut(strings.TrimSpace(pair), "=")
			from, to = strings.TrimSpace(from), strings.TrimSpace(to)
			if !ok || from == "" {
				return s, fmt.Errorf("%q: table entries are from=to, separated by commas", spec)
			}
			if from == "*" {
				s.other, s.otherText = str(to), &to
				continue
			}
			s.table[from], s.tableText[from] = str(to), to
		}
	}
	s.path = strings.Split(strings.TrimSpace(path), ".")
	if slices.Contains(s.path, "") || strings.ContainsAny(path, "[]=") {
		return s, fmt.Errorf("%q is not an input path (dot-separated names), =literal, or path[from=to,...]", spec)
	}
	return s, nil
}

// validPropertyName is the anonymized event's property-name rule.
var validPropertyName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// mappedProperty reports whether a mapping target is properties.<name>:
// an input field read as one property (a flat input has no properties
// object to map). It must still be allowlisted to be published.
func mappedProperty(target string) (string, bool) {
	name, ok := strings.CutPrefix(target, "properties.")
	return name, ok && validPropertyName.MatchString(name)
}

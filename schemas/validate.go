package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed v1/*.json
var files embed.FS

// Names of the schema files under v1/.
const (
	RawEventSchema      = "raw-event.json"
	EventSchema         = "anonymized-event.json"
	DLQSchema           = "dlq-record.json"
	FiguresSchema       = "figures.json"
	SegmentChangeSchema = "segment-change.json"
	SnapshotSchema      = "persona-snapshot.json"
)

// FS returns the embedded schema files (v1/*.json), for documentation
// commands and tests.
func FS() fs.FS { return files }

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
	// known holds every property name any schema declares. Error paths are
	// built from these names only; any other instance key (which may be input
	// text, even an e-mail address) is reported as "*".
	known map[string]bool
)

func compileAll() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	known = map[string]bool{}
	entries, err := fs.ReadDir(files, "v1")
	if err != nil {
		compileErr = err
		return
	}
	ids := map[string]string{}
	for _, e := range entries {
		b, err := fs.ReadFile(files, path.Join("v1", e.Name()))
		if err != nil {
			compileErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			compileErr = fmt.Errorf("schemas: %s: %w", e.Name(), err)
			return
		}
		collectNames(doc)
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			compileErr = fmt.Errorf("schemas: %s has no $id", e.Name())
			return
		}
		if err := c.AddResource(id, doc); err != nil {
			compileErr = fmt.Errorf("schemas: %s: %w", e.Name(), err)
			return
		}
		ids[e.Name()] = id
	}
	compiled = map[string]*jsonschema.Schema{}
	for name, id := range ids {
		s, err := c.Compile(id)
		if err != nil {
			compileErr = fmt.Errorf("schemas: %s: %w", name, err)
			return
		}
		compiled[name] = s
	}
}

func collectNames(v any) {
	switch v := v.(type) {
	case map[string]any:
		if props, ok := v["properties"].(map[string]any); ok {
			for k := range props {
				known[k] = true
			}
		}
		for _, x := range v {
			collectNames(x)
		}
	case []any:
		for _, x := range v {
			collectNames(x)
		}
	}
}

// Schema returns the compiled schema with the given file name (one of the
// *Schema constants). The embedded files are compiled once.
func Schema(name string) (*jsonschema.Schema, error) {
	compileOnce.Do(compileAll)
	if compileErr != nil {
		return nil, compileErr
	}
	s, ok := compiled[name]
	if !ok {
		return nil, fmt.Errorf("schemas: no schema named %q", name)
	}
	return s, nil
}

// Violation is a schema violation described without any input value: the
// failing keyword and the field path built from schema-declared names.
type Violation struct {
	// Keyword is the JSON Schema keyword that failed (type, enum, required,
	// format, maxLength, ...).
	Keyword string
	// Path is the field path, like /context/page/url; keys the schemas do not
	// declare are shown as *.
	Path string
}

// Error implements error. The text never holds input values.
func (v *Violation) Error() string { return "schema violation: " + v.Rule() }

// Rule is the short form used as a DLQ rule: "type at /timestamp".
func (v *Violation) Rule() string {
	p := v.Path
	if p == "" {
		p = "/"
	}
	return v.Keyword + " at " + p
}

// Validate checks a decoded JSON document (maps, slices, strings, float64 or
// json.Number, bool, nil) against the named schema. A failure is returned as
// a *Violation naming the deepest failing keyword and field; it never carries
// input text.
func Validate(name string, doc any) error {
	s, err := Schema(name)
	if err != nil {
		return err
	}
	err = s.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return &Violation{Keyword: "invalid"}
	}
	return violationOf(ve)
}

// ValidateJSON decodes data and validates it against the named schema.
func ValidateJSON(name string, data []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("schemas: not JSON: %w", err)
	}
	return Validate(name, doc)
}

func violationOf(ve *jsonschema.ValidationError) *Violation {
	// Follow the first cause to the leaf: it names the precise field.
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	kw := "invalid"
	if ve.ErrorKind != nil {
		if kp := ve.ErrorKind.KeywordPath(); len(kp) > 0 {
			kw = kp[len(kp)-1]
		}
	}
	var b strings.Builder
	for _, seg := range ve.InstanceLocation {
		b.WriteByte('/')
		if known[seg] {
			b.WriteString(seg)
		} else if isIndex(seg) {
			b.WriteString(seg)
		} else {
			b.WriteByte('*')
		}
	}
	return &Violation{Keyword: kw, Path: b.String()}
}

func isIndex(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

package schemas_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/stage"
	"github.com/personas-dev/personas/schemas"
)

// examples returns the example files by schema file name: examples/
// <schema base>[.<variant>].json belongs to v1/<schema base>.json.
func examples(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("examples/*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range files {
		base, _, _ := strings.Cut(filepath.Base(f), ".")
		out[base+".json"] = append(out[base+".json"], f)
	}
	return out
}

func schemaNames(t *testing.T) []string {
	t.Helper()
	entries, err := fs.ReadDir(schemas.FS(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestExamplesValidate: every example validates against its schema, every
// schema has at least one example, and no example belongs to no schema.
func TestExamplesValidate(t *testing.T) {
	ex := examples(t)
	names := schemaNames(t)
	for _, name := range names {
		if len(ex[name]) == 0 {
			t.Errorf("schema %s has no example under examples/", name)
		}
		for _, f := range ex[name] {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.ValidateJSON(name, b); err != nil {
				t.Errorf("%s does not validate against %s: %v", f, name, err)
			}
		}
	}
	for name, files := range ex {
		if !slices.Contains(names, name) {
			t.Errorf("examples %v name no schema (%s)", files, name)
		}
	}
}

// TestExamplesRejectBrokenCopies guards the test above: a copy of each
// output example with an unknown field, or without one of its schema's
// required fields, fails the schema (every output schema sets
// additionalProperties false and lists its required fields).
func TestExamplesRejectBrokenCopies(t *testing.T) {
	for name, files := range examples(t) {
		if name == schemas.RawEventSchema {
			continue // the raw schema is permissive by design: unknown input fields are dropped, not refused
		}
		for _, f := range files {
			var doc map[string]any
			b, _ := os.ReadFile(f)
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			extra := clone(doc)
			extra["email"] = "someone@example.com"
			if err := validateValue(name, extra); err == nil {
				t.Errorf("%s with an unknown field still validates", f)
			}
			for _, req := range required(t, name) {
				missing := clone(doc)
				delete(missing, req)
				if err := validateValue(name, missing); err == nil {
					t.Errorf("%s without required %q still validates", f, req)
				}
			}
		}
	}
}

// TestExamplesDecodeIntoTypes: each output example decodes into its Go type
// with no unknown field, and encodes back to the same JSON document: the
// Go types carry every field the examples use, with the same names.
func TestExamplesDecodeIntoTypes(t *testing.T) {
	for name, files := range examples(t) {
		typ, ok := goTypes[name]
		if !ok {
			continue
		}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			v := reflect.New(typ)
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v.Interface()); err != nil {
				t.Errorf("%s does not decode into %s: %v", f, typ, err)
				continue
			}
			again, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.ValidateJSON(name, again); err != nil {
				t.Errorf("%s re-encoded from %s does not validate: %v", f, typ, err)
			}
			var a, b2 any
			json.Unmarshal(b, &a)
			json.Unmarshal(again, &b2)
			if !reflect.DeepEqual(a, b2) {
				t.Errorf("%s changes when decoded into %s and encoded again:\n got %s", f, typ, again)
			}
		}
	}
}

var goTypes = map[string]reflect.Type{
	schemas.EventSchema:         reflect.TypeFor[schemas.Event](),
	schemas.DLQSchema:           reflect.TypeFor[schemas.DLQRecord](),
	schemas.FiguresSchema:       reflect.TypeFor[schemas.Figures](),
	schemas.SegmentChangeSchema: reflect.TypeFor[schemas.SegmentChange](),
	schemas.SnapshotSchema:      reflect.TypeFor[schemas.Snapshot](),
}

// TestTypesMatchSchemas: field for field, each output schema's properties
// are the Go type's JSON names (nested objects too), and a property is
// required in the schema exactly when the Go field is always encoded (no
// omitempty).
func TestTypesMatchSchemas(t *testing.T) {
	for name, typ := range goTypes {
		b, err := fs.ReadFile(schemas.FS(), "v1/"+name)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		compareObject(t, name, doc, typ)
	}
}

func compareObject(t *testing.T, where string, node map[string]any, typ reflect.Type) {
	t.Helper()
	if ref, ok := node["$ref"].(string); ok {
		node = loadRef(t, ref)
	}
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
	}
	props, _ := node["properties"].(map[string]any)
	var required []string
	for _, r := range asSlice(node["required"]) {
		required = append(required, r.(string))
	}
	fields := map[string]reflect.StructField{}
	omit := map[string]bool{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = f
		omit[tag] = strings.Contains(opts, "omitempty")
	}
	if got, want := sortedKeys(asMap(fields)), sortedKeys(props); !slices.Equal(got, want) {
		t.Errorf("%s: Go type %s has fields %v, schema has %v", where, typ, got, want)
		return
	}
	for name, f := range fields {
		if req := slices.Contains(required, name); req == omit[name] {
			t.Errorf("%s.%s: required in schema %v, but omitempty in %s is %v", where, name, req, typ, omit[name])
		}
		sub, _ := props[name].(map[string]any)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			compareObject(t, where+"."+name, sub, ft)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			items, _ := sub["items"].(map[string]any)
			compareObject(t, where+"."+name+"[]", items, ft.Elem())
		}
	}
}

func loadRef(t *testing.T, ref string) map[string]any {
	t.Helper()
	// https://schemas.personas.dev/figures/v1 -> v1/figures.json
	parts := strings.Split(strings.TrimPrefix(ref, "https://schemas.personas.dev/"), "/")
	b, err := fs.ReadFile(schemas.FS(), "v1/"+parts[0]+".json")
	if err != nil {
		t.Fatalf("$ref %s: %v", ref, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestGoValuesValidate: Go values with every field set, and with only the
// required ones, encode to documents their schemas accept.
func TestGoValuesValidate(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	src := schemas.Source{Topic: "clickstream.raw", Partition: 2, Offset: 99}
	full := schemas.Figures{Persona: "researcher", Visitors: n(1523), Events: n(18210), ByType: map[string]int64{"page": 11000},
		ByCategory: map[string]int64{"electronics": 6120}, Entered: n(410), Left: n(122), Noise: "geometric(epsilon=1)"}
	for _, c := range []struct {
		schema string
		v      any
	}{
		{schemas.EventSchema, schemas.Event{Schema: schemas.EventV1, EventID: ingest.EventID(src), Type: "track", Event: "Product Viewed",
			Time: "2026-03-14T15:08:00Z", Epoch: 20526, Pseudonym: strings.Repeat("ab", 16), Bot: false, Path: "/p/:id",
			Query: map[string]string{"utm_source": "newsletter"}, ReferrerDomain: "google.com",
			Campaign: &schemas.Campaign{Source: "newsletter", Medium: "email", Name: "spring-sale"},
			Device:   &schemas.Device{Class: "mobile", Browser: "safari", OS: "ios"}, Language: "nl", Search: "[rare]",
			Properties: map[string]any{"category": "electronics", "price": 349.99, "gift": true}, Source: src}},
		{schemas.EventSchema, schemas.Event{Schema: schemas.EventV1, EventID: ingest.EventID(src), Type: "identify",
			Time: "2026-03-14T15:08:00Z", Pseudonym: strings.Repeat("0", 32), Source: src}},
		{schemas.DLQSchema, stage.DLQRecord("ingest", src, []byte(`{"type":`), "bad_json", "syntax", testTime)},
		{schemas.DLQSchema, stage.DLQRecord("aggregate", src, nil, "schema_violation", "", testTime)},
		{schemas.FiguresSchema, full},
		{schemas.FiguresSchema, schemas.Figures{Persona: "gift_shopper", Suppressed: true}},
		{schemas.SegmentChangeSchema, schemas.SegmentChange{Schema: schemas.SegmentChangeV1, EventID: uuid.NewString(), Type: schemas.SegmentEntered,
			Segment: "electronics_surge", Persona: "researcher", Window: "1h", WindowStart: "2026-11-20T11:00:00Z",
			WindowEnd: "2026-11-20T12:00:00Z", Figures: full, K: 100, Epoch: 20412, ModelVersion: "webshop-2026.11",
			SegmentsVersion: "webshop-segments-2026.11", EvaluatedAt: "2026-11-20T12:00:00Z", Sequence: 1}},
		{schemas.SnapshotSchema, schemas.Snapshot{Schema: schemas.SnapshotV1, EventID: uuid.NewString(), Window: "5m",
			WindowStart: "2026-11-20T11:55:00Z", WindowEnd: "2026-11-20T12:00:00Z",
			Personas: []schemas.Figures{full, {Persona: "gift_shopper", Suppressed: true}},
			Flows:    []schemas.Flow{{From: "casual_browser", To: "researcher", Visitors: 140}}, Bots: n(12), K: 100, Epoch: 20412,
			ModelVersion: "webshop-2026.11", EvaluatedAt: "2026-11-20T12:00:00Z"}},
		{schemas.SnapshotSchema, schemas.Snapshot{Schema: schemas.SnapshotV1, EventID: uuid.NewString(), Window: "24h",
			WindowStart: "2026-11-19T12:00:00Z", WindowEnd: "2026-11-20T12:00:00Z", Personas: []schemas.Figures{}, K: 2,
			ModelVersion: "webshop-2026.11", EvaluatedAt: "2026-11-20T12:00:00Z"}},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.ValidateJSON(c.schema, b); err != nil {
			t.Errorf("%T does not validate against %s: %v\n%s", c.v, c.schema, err, b)
		}
	}
}

// TestExampleIDs: the ids in the examples are the deterministic ones the
// pipeline computes from the source coordinates.
func TestExampleIDs(t *testing.T) {
	for name, files := range examples(t) {
		for _, f := range files {
			b, _ := os.ReadFile(f)
			switch name {
			case schemas.EventSchema:
				var ev schemas.Event
				json.Unmarshal(b, &ev)
				if want := ingest.EventID(ev.Source); ev.EventID != want {
					t.Errorf("%s: event_id %s, want %s (UUIDv5 of its source)", f, ev.EventID, want)
				}
			case schemas.DLQSchema:
				var r schemas.DLQRecord
				json.Unmarshal(b, &r)
				want := stage.DLQRecord(r.Stage, r.Source, nil, r.Reason, r.Rule, testTime).ID
				if r.ID != want {
					t.Errorf("%s: id %s, want %s (UUIDv5 of stage and source)", f, r.ID, want)
				}
			}
		}
	}
}

func validateValue(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return schemas.ValidateJSON(name, b)
}

func required(t *testing.T, name string) []string {
	t.Helper()
	b, err := fs.ReadFile(schemas.FS(), "v1/"+name)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(b, &doc)
	var out []string
	for _, r := range asSlice(doc["required"]) {
		out = append(out, r.(string))
	}
	return out
}

var testTime = time.Date(2026, 11, 28, 23, 55, 6, 523775109, time.UTC)

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func asMap[V any](m map[string]V) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// base is a small valid model the validation cases start from.
const base = `
version: "test-1"
categories: [electronics, fashion]
events: ["Product Viewed", "Product Added", "Order Completed", "Home"]
features:
  - name: product_views
    when: event == "Product Viewed"
  - name: orders
    when: event == "Order Completed"
personas:
  - name: researcher
    title: Researcher
    when: product_views >= 5 && orders == 0
  - name: browser
    title: Browser
default: browser
`

func TestParseValid(t *testing.T) {
	m, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "test-1" || m.Default != 1 || len(m.Features) != 2 {
		t.Fatalf("model: %+v", m)
	}
	if got := strings.Join(m.PersonaNames(), ","); got != "researcher,browser" {
		t.Fatalf("names %s", got)
	}
	if i, ok := m.PersonaIndex("browser"); !ok || i != 1 {
		t.Fatal("PersonaIndex")
	}
	if fast, vmOnly := m.Fast(); vmOnly != 0 || fast != 4 {
		t.Fatalf("fast %d, vm %d", fast, vmOnly)
	}
}

func TestDefaultModelParses(t *testing.T) {
	m := Default()
	if n := len(m.Personas); n < 10 || n > 12 {
		t.Fatalf("%d personas", n)
	}
	if m.Personas[m.Default].Name != "casual_browser" {
		t.Fatalf("default %s", m.Personas[m.Default].Name)
	}
	if fast, vmOnly := m.Fast(); vmOnly != 0 {
		t.Fatalf("default model: %d conditions on the VM (fast %d)", vmOnly, fast)
	}
	if Default() != m {
		t.Fatal("Default is not shared")
	}
	if _, err := Parse(DefaultYAML()); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "personas.yaml")
	if err := os.WriteFile(p, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(base, "product_views >= 5", "product_views >= x", 1)), 0o600)
	_, err := Load(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "unknown name x") {
		t.Fatalf("Load error %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file loaded")
	}
}

// edit applies replacements to base.
func edit(pairs ...string) string {
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			panic("edit: " + pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestValidationErrors(t *testing.T) {
	var many, manyFeatures strings.Builder
	many.WriteString("version: v\npersonas:\n")
	for i := range 64 {
		fmt.Fprintf(&many, "  - name: p%d\n    when: events > %d\n", i, i)
	}
	many.WriteString("  - name: rest\ndefault: rest\n")
	manyFeatures.WriteString("version: v\nfeatures:\n")
	for i := range 129 {
		fmt.Fprintf(&manyFeatures, "  - name: f%d\n    when: event == \"x%d\"\n", i, i)
	}
	manyFeatures.WriteString("personas:\n  - name: rest\ndefault: rest\n")

	cases := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"unknown name in rule", edit("product_views >= 5 && orders == 0", "product_views >= x"),
			[]string{`persona "researcher": rule "product_views >= x": unknown name x`}},
		{"unknown feature with hint", edit("product_views >= 5", "produt_views >= 5"),
			[]string{`persona "researcher": rule "produt_views >= 5 && orders == 0": unknown name produt_views; did you mean product_views?`}},
		{"syntax error", edit("product_views >= 5", "product_views >="),
			[]string{`persona "researcher": rule "product_views >= && orders == 0":`}},
		{"rule not boolean", edit("product_views >= 5 && orders == 0", "product_views + 1"),
			[]string{`persona "researcher": rule "product_views + 1": expected bool, but got int`}},
		{"type error", edit("product_views >= 5", `product_views >= "5"`),
			[]string{"persona \"researcher\": rule `product_views >= \"5\" && orders == 0`: invalid operation: >= (mismatched types int and string)"}},
		{"feature name not an identifier", edit("name: product_views", "name: Product-Views"),
			[]string{`feature "Product-Views": name must be an identifier`}},
		{"feature name reserved", edit("name: orders", "name: events"),
			[]string{`feature "events": name is reserved (a built-in visitor feature)`}},
		{"feature name is a builtin", edit("name: orders", "name: len"),
			[]string{`feature "len": name is reserved (an expr built-in function)`}},
		{"duplicate feature", edit("name: orders", "name: product_views"),
			[]string{`feature "product_views": defined twice`}},
		{"feature without when", edit(`when: event == "Order Completed"`, `when: ""`),
			[]string{`feature "orders": no when`}},
		{"feature condition error", edit(`when: event == "Order Completed"`, `when: evnt == "Order Completed"`),
			[]string{"feature \"orders\": when `evnt == \"Order Completed\"`: unknown name evnt; did you mean event?"}},
		{"feature used in a feature condition", edit(`when: event == "Order Completed"`, `when: product_views > 1`),
			[]string{`feature "orders": when "product_views > 1": unknown name product_views; features are counters`}},
		{"event env name in a persona rule", edit("product_views >= 5", `event == "Home"`),
			[]string{"persona \"researcher\": rule `event == \"Home\" && orders == 0`: unknown name event; persona rules see the visitor's features"}},
		{"unknown event name", edit(`event == "Order Completed"`, `event == "Order Complete"`),
			[]string{"feature \"orders\": when `event == \"Order Complete\"`: unknown event name \"Order Complete\""}},
		{"unknown event name in list", edit(`event == "Order Completed"`, `event in ["Order Completed", "Ordr"]`),
			[]string{`unknown event name "Ordr"`}},
		{"unknown device class", edit(`event == "Order Completed"`, `device == "phone"`),
			[]string{`unknown device class "phone" (the model knows desktop, mobile, tablet, tv, bot, other)`}},
		{"unknown category in share", edit("product_views >= 5", `share("electronix") > 0.5`),
			[]string{"persona \"researcher\": rule `share(\"electronix\") > 0.5 && orders == 0`: unknown category \"electronix\" (the model knows electronics, fashion)"}},
		{"unknown category in feature", edit(`event == "Order Completed"`, `category == "Fashion"`),
			[]string{`unknown category "Fashion"`}},
		{"unknown recency feature", edit("product_views >= 5", "minutes_since_last_carts > 5"),
			[]string{`unknown name minutes_since_last_carts; minutes_since_last_<feature> needs a feature named "carts"`}},
		{"now is disabled", edit("product_views >= 5", "now().Year() > 2000"),
			[]string{`persona "researcher": rule "now().Year() > 2000 && orders == 0": unknown name now`}},
		{"persona name", edit("name: researcher", "name: Researcher"),
			[]string{`persona "Researcher": name must match ^[a-z][a-z0-9_]{0,63}$`}},
		{"duplicate persona", edit("name: researcher", "name: browser"),
			[]string{`persona "browser": defined twice`}},
		{"persona without when", edit("    when: product_views >= 5 && orders == 0\n", ""),
			[]string{`persona "researcher": no when; only the default persona ("browser") may go without a rule`}},
		{"default missing", edit("default: browser\n", ""),
			[]string{`default: missing`}},
		{"default unknown", edit("default: browser", "default: casual"),
			[]string{`default "casual": no such persona`}},
		{"default with a when", edit("  - name: browser\n    title: Browser\n", "  - name: browser\n    when: orders > 0\n"),
			[]string{`persona "browser": it is the default and must not have a when`}},
		{"default entry and listed", edit("default: browser", "default: {name: browser, title: B}"),
			[]string{`persona "browser": listed in personas and given as a default entry`}},
		{"empty version", edit(`version: "test-1"`, `version: ""`),
			[]string{`version: empty`}},
		{"too many personas", many.String(),
			[]string{`personas: 65, at most 64`}},
		{"too many features", manyFeatures.String(),
			[]string{`features: 129, at most 128`}},
		{"unknown key", edit("personas:", "persona:"),
			[]string{`field persona not found`}},
		{"bad yaml", "version: [", []string{"persona model:"}},
		{"session gap", edit("features:", "session_gap_minutes: 0\nfeatures:"),
			[]string{`session_gap_minutes: 0, want 1 to 1440`}},
		{"duplicate category", edit("[electronics, fashion]", "[electronics, electronics]"),
			[]string{`categories: "electronics" listed twice`}},
		{"several problems at once", edit("name: orders", "name: Orders", `version: "test-1"`, `version: ""`),
			[]string{`version: empty`, `feature "Orders": name must be an identifier`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n  %v\nwant it to contain\n  %s", err, w)
				}
			}
		})
	}
}

func TestOneProblemOneMessage(t *testing.T) {
	// A missing default is reported once, not also as "no when" for the
	// persona meant to be the default.
	_, err := Parse([]byte(edit("default: browser\n", "")))
	if err == nil || err.Error() != "default: missing; name the persona that catches the visitors no rule holds for" {
		t.Fatalf("error %v", err)
	}
	_, err = Parse([]byte(edit("product_views >= 5 && orders == 0", "product_views >= x")))
	if err == nil || err.Error() != `persona "researcher": rule "product_views >= x": unknown name x; not a feature of this model nor a built-in (column 18)` {
		t.Fatalf("error %v", err)
	}
}

func TestDefaultAsOwnEntry(t *testing.T) {
	y := edit("  - name: browser\n    title: Browser\n", "", "default: browser",
		"default:\n  name: browser\n  title: Browser\n  description: everyone else")
	m, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if m.Default != 1 || m.Personas[1].Description != "everyone else" {
		t.Fatalf("%+v", m.Personas)
	}
}

func TestVMFallback(t *testing.T) {
	// Conditions outside the fast subset still work, on the expr VM.
	y := edit(`when: event == "Order Completed"`, `when: (properties.value ?? 0) > 100 || len(search) > 3`,
		"product_views >= 5 && orders == 0", `product_views % 2 == 1 || orders ** 2 > 3 || top_category matches "^elec"`)
	m, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if _, vmOnly := m.Fast(); vmOnly != 2 {
		t.Fatalf("vm conditions: %d", vmOnly)
	}
	e := m.NewEvaluator()
	var v Visitor
	ev := event("track", "Product Viewed", 0, withProps(map[string]any{"value": 120.0, "category": "electronics"}))
	e.Observe(&v, ev)
	if got := m.Personas[e.Classify(&v)].Name; got != "researcher" {
		t.Fatalf("got %s", got)
	}
	if env := m.Env(&v); env["orders"] != 1 || env["product_views"] != 1 {
		t.Fatalf("env %v", env)
	}
	e.Observe(&v, ev)
	if got := m.Personas[e.Classify(&v)].Name; got != "researcher" { // orders 2: 4 > 3
		t.Fatalf("got %s", got)
	}
	if e.Errors() != 0 {
		t.Fatalf("errors %d", e.Errors())
	}
}

// TestDocsExample parses the custom model shown in docs/personas.md.
func TestDocsExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/personas.md")
	if err != nil {
		t.Skip("docs/personas.md not found")
	}
	doc := string(b)
	i := strings.Index(doc, "```yaml\nversion: \"myshop")
	if i < 0 {
		t.Fatal("example not found")
	}
	y := doc[i+len("```yaml\n"):]
	y = y[:strings.Index(y, "```")]
	m, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	e := m.NewEvaluator()
	var v Visitor
	e.Observe(&v, event("track", "Order Completed", 0, withProps(map[string]any{"revenue": 250.0})))
	if got := m.Personas[e.Classify(&v)].Name; got != "big_spender" {
		t.Fatalf("got %s", got)
	}
	// The validation errors listed in the docs are the ones Parse gives.
	for _, line := range []string{
		`persona "researcher": rule "product_views >= x": unknown name x; not a feature of this model nor a built-in (column 18)`,
		`default: missing; name the persona that catches the visitors no rule holds for`,
	} {
		if !strings.Contains(doc, line) {
			t.Errorf("docs do not show %q", line)
		}
	}
}

package model

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// FeatureDef is one configured feature: a per-visitor counter that counts
// the events for which When holds.
type FeatureDef struct {
	Name string
	When string
}

// PersonaDef is one configured persona. When is empty for the default
// persona only.
type PersonaDef struct {
	Name        string
	Title       string
	Description string
	When        string
}

// Model is a validated, compiled persona model. It is immutable after
// Parse and safe to share between goroutines; evaluate it through one
// Evaluator per goroutine. The exported fields describe the model as
// configured and must be treated as read-only.
type Model struct {
	// Version names the model; it is carried into published events so a
	// reader knows which rules produced a persona.
	Version string
	// Features are the configured counters, in slot order.
	Features []FeatureDef
	// Personas are the personas in rule order; an index into this slice is
	// what Classify returns and what visitor state stores.
	Personas []PersonaDef
	// Default is the index of the default persona.
	Default int
	// Categories are the product categories tracked per visitor.
	Categories []string
	// Events is the event-name vocabulary, if the model lists one.
	Events []string
	// SessionGap is the inactivity gap in minutes that starts a session.
	SessionGap int
	// CategoryViewsWhen is the condition of the events counted as
	// category views (DefaultCategoryViewsWhen unless the model sets it).
	CategoryViewsWhen string

	features  []cond // per feature
	catView   cond   // category_views_when
	rules     []cond // per persona; zero for the default
	order     []int  // indexes of personas with a rule, in order
	featIndex map[string]int
	recMin    []int // per feature: its minutes_since_last slot, or -1
	recEvt    []int // per feature: its events_since_last slot, or -1
	minFeat   []int // per minutes_since_last slot: its feature
	evtFeat   []int // per events_since_last slot: its feature
	layout    uint16
	roster    uint16
	eager     bool // some event condition runs on the VM: fill the event env fully
	dispatch  dispatch
}

// cond is one compiled condition.
type cond struct {
	src   string
	prog  *vm.Program     // always set: the reference and the fallback
	fast  func(*ctx) bool // set when the rule is in the fast subset
	names []string        // env names the rule reads (for the VM env)
}

// Fast reports how many conditions (features, category views, persona
// rules) run on the closure fast path and how many on the expr VM, for
// the start-up log and for tests.
func (m *Model) Fast() (fast, vmOnly int) {
	count := func(c *cond) {
		if c.prog == nil {
			return
		}
		if c.fast != nil {
			fast++
		} else {
			vmOnly++
		}
	}
	for i := range m.features {
		count(&m.features[i])
	}
	count(&m.catView)
	for i := range m.rules {
		count(&m.rules[i])
	}
	return fast, vmOnly
}

// PersonaNames returns the persona names in index order (a copy).
func (m *Model) PersonaNames() []string {
	out := make([]string, len(m.Personas))
	for i, p := range m.Personas {
		out[i] = p.Name
	}
	return out
}

// PersonaIndex returns the index of the named persona.
func (m *Model) PersonaIndex(name string) (int, bool) {
	for i, p := range m.Personas {
		if p.Name == name {
			return i, true
		}
	}
	return -1, false
}

// Layout returns the fingerprint of the visitor-state layout (features,
// categories, recency slots, session gap): visitor state written under a
// different layout is started afresh.
func (m *Model) Layout() uint16 { return m.layout }

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the source of the default model, to print or to
// start a custom model from.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

var (
	defaultOnce  sync.Once
	defaultModel *Model
)

// Default returns the built-in web-shop model (default.yaml). It is parsed
// once and shared; it is immutable.
func Default() *Model {
	defaultOnce.Do(func() {
		m, err := Parse(defaultYAML)
		if err != nil {
			panic("model: the embedded default model is invalid: " + err.Error())
		}
		defaultModel = m
	})
	return defaultModel
}

// Load reads and parses a model file. Errors name the file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("persona model: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("persona model %s: %w", path, err)
	}
	return m, nil
}

// MaxModelBytes bounds the size of a model file.
const MaxModelBytes = 1 << 20

type rawFeature struct {
	Name string `yaml:"name"`
	When string `yaml:"when"`
}

type rawPersona struct {
	Name        string `yaml:"name"`
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	When        string `yaml:"when"`
}

type rawModel struct {
	Version           string       `yaml:"version"`
	Categories        []string     `yaml:"categories"`
	Events            []string     `yaml:"events"`
	SessionGapMinutes *int         `yaml:"session_gap_minutes"`
	CategoryViewsWhen string       `yaml:"category_views_when"`
	Features          []rawFeature `yaml:"features"`
	Personas          []rawPersona `yaml:"personas"`
	Default           yaml.Node    `yaml:"default"`
}

var (
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	yamlTypeRE = regexp.MustCompile(` (in|into) type (\[\])?model\.raw\w+`)
)

// reserved are names a feature may not take: expr keywords and literals,
// expr's built-in functions, and the built-in names of the visitor env.
var reserved = func() map[string]string {
	r := map[string]string{}
	for _, k := range []string{"in", "or", "and", "not", "matches", "contains", "startsWith",
		"endsWith", "let", "if", "else", "true", "false", "nil"} {
		r[k] = "an expr keyword"
	}
	for _, k := range builtin.Names {
		r[k] = "an expr built-in function"
	}
	for k := range builtinVisitorNames {
		r[k] = "a built-in visitor feature"
	}
	return r
}()

type problems struct{ errs []error }

func (p *problems) add(format string, args ...any) {
	if len(p.errs) < 50 {
		p.errs = append(p.errs, fmt.Errorf(format, args...))
	}
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// Parse validates and compiles a model from YAML. Every problem found is
// reported (errors.Join, one per line), each naming the feature or
// persona, the expression and the compiler's message, for example:
//
//	persona "researcher": rule "product_views >= x": unknown name x; not a feature of this model nor a built-in (column 18)
//
// Unknown keys are errors. Conditions are type-checked against their env
// (expr.Env, expr.AsBool); now() is not available, dates are UTC.
func Parse(src []byte) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil { // a parser bug must not take the process down
			m, err = nil, fmt.Errorf("persona model: internal error while parsing: %v", r)
		}
	}()
	if len(src) > MaxModelBytes {
		return nil, fmt.Errorf("persona model: %d bytes, more than %d", len(src), MaxModelBytes)
	}
	var raw rawModel
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("persona model: empty document")
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = yamlTypeRE.ReplaceAllString(msg, "")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		return nil, fmt.Errorf("persona model: %s", msg)
	}
	return build(&raw)
}

func build(raw *rawModel) (*Model, error) {
	var p problems
	m := &Model{
		Version:           strings.TrimSpace(raw.Version),
		SessionGap:        DefaultSessionGap,
		CategoryViewsWhen: strings.TrimSpace(raw.CategoryViewsWhen),
		featIndex:         map[string]int{},
	}
	switch {
	case m.Version == "":
		p.add(`version: empty; set a version such as "webshop-2026.11": it is carried into published events`)
	case len(m.Version) > 64:
		p.add("version: %d bytes, more than 64", len(m.Version))
	case strings.IndexFunc(m.Version, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 || !utf8.ValidString(m.Version):
		p.add("version %q: only printable characters", m.Version)
	}
	if raw.SessionGapMinutes != nil {
		m.SessionGap = *raw.SessionGapMinutes
		if m.SessionGap < 1 || m.SessionGap > 1440 {
			p.add("session_gap_minutes: %d, want 1 to 1440", m.SessionGap)
		}
	}
	m.Categories = vocabulary(&p, "categories", raw.Categories, MaxCategories)
	m.Events = vocabulary(&p, "events", raw.Events, 1024)

	// Features.
	if len(raw.Features) > MaxFeatures {
		p.add("features: %d, at most %d", len(raw.Features), MaxFeatures)
	}
	for i, f := range raw.Features {
		name := strings.TrimSpace(f.Name)
		what := fmt.Sprintf("features[%d]", i)
		switch {
		case name == "":
			p.add("%s: no name", what)
		case !nameRE.MatchString(name):
			p.add("feature %q: name must be an identifier: a lower-case letter, then lower-case letters, digits or _ (at most 64)", name)
		case reserved[name] != "":
			p.add("feature %q: name is reserved (%s)", name, reserved[name])
		case strings.HasPrefix(name, recencyPrefix) || strings.HasPrefix(name, eventsSincePrefix):
			p.add("feature %q: names starting with %s or %s are reserved for recency", name, recencyPrefix, eventsSincePrefix)
		default:
			if _, dup := m.featIndex[name]; dup {
				p.add("feature %q: defined twice", name)
			}
			m.featIndex[name] = len(m.Features)
		}
		if strings.TrimSpace(f.When) == "" {
			p.add("feature %q: no when (the condition on the event that the feature counts)", name)
		}
		m.Features = append(m.Features, FeatureDef{Name: name, When: strings.TrimSpace(f.When)})
	}

	// Personas and the default.
	defName, defEntry := defaultOf(&p, &raw.Default)
	seen := map[string]bool{}
	for i, r := range raw.Personas {
		pd := PersonaDef{Name: strings.TrimSpace(r.Name), Title: strings.TrimSpace(r.Title),
			Description: strings.TrimSpace(r.Description), When: strings.TrimSpace(r.When)}
		switch {
		case pd.Name == "":
			p.add("personas[%d]: no name", i)
		case !nameRE.MatchString(pd.Name):
			p.add("persona %q: name must match ^[a-z][a-z0-9_]{0,63}$", pd.Name)
		case seen[pd.Name]:
			p.add("persona %q: defined twice", pd.Name)
			continue
		}
		seen[pd.Name] = true
		if pd.When == "" && pd.Name != defName && pd.Name != "" && defName != "" {
			p.add("persona %q: no when; only the default persona (%q) may go without a rule", pd.Name, defName)
		}
		if pd.Name == defName && defName != "" {
			if defEntry != nil {
				p.add("persona %q: listed in personas and given as a default entry; use one of the two", pd.Name)
			}
			if pd.When != "" {
				p.add("persona %q: it is the default and must not have a when (it catches the visitors no rule holds for)", pd.Name)
			}
			m.Default = len(m.Personas)
		}
		if pd.Title == "" {
			pd.Title = pd.Name
		}
		m.Personas = append(m.Personas, pd)
	}
	switch {
	case defName == "":
		// reported by defaultOf
	case defEntry != nil:
		if !nameRE.MatchString(defEntry.Name) {
			p.add("default persona %q: name must match ^[a-z][a-z0-9_]{0,63}$", defEntry.Name)
		}
		if defEntry.When != "" {
			p.add("default persona %q: must not have a when", defEntry.Name)
		}
		if defEntry.Title == "" {
			defEntry.Title = defEntry.Name
		}
		m.Default = len(m.Personas)
		m.Personas = append(m.Personas, *defEntry)
	case !seen[defName]:
		p.add("default %q: no such persona; list it in personas without a when, or give default as {name, title, description}", defName)
	}
	if len(m.Personas) == 0 {
		p.add("personas: none; a model needs at least its default persona")
	}
	if len(m.Personas) > MaxPersonas {
		p.add("personas: %d, at most %d (the default included)", len(m.Personas), MaxPersonas)
	}
	if len(p.errs) > 0 {
		return nil, p.err() // names are wrong: compiling rules would only add noise
	}
	m.compile(&p)
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	return m, nil
}

// defaultOf reads the default key: a persona name, or a mapping with the
// default persona's own entry.
func defaultOf(p *problems, n *yaml.Node) (string, *PersonaDef) {
	switch n.Kind {
	case 0:
		p.add("default: missing; name the persona that catches the visitors no rule holds for")
		return "", nil
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil || strings.TrimSpace(s) == "" {
			p.add("default: want a persona name or {name, title, description}")
			return "", nil
		}
		return strings.TrimSpace(s), nil
	case yaml.MappingNode:
		var r rawPersona
		if err := strictDecode(n, &r); err != nil {
			p.add("default: %v", err)
			return "", nil
		}
		pd := &PersonaDef{Name: strings.TrimSpace(r.Name), Title: strings.TrimSpace(r.Title),
			Description: strings.TrimSpace(r.Description), When: strings.TrimSpace(r.When)}
		if pd.Name == "" {
			p.add("default: the entry has no name")
			return "", nil
		}
		return pd.Name, pd
	}
	p.add("default: want a persona name or {name, title, description}")
	return "", nil
}

// strictDecode decodes a mapping node rejecting unknown keys.
func strictDecode(n *yaml.Node, out *rawPersona) error {
	allowed := map[string]bool{"name": true, "title": true, "description": true, "when": true}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !allowed[k] {
			return fmt.Errorf("line %d: field %s not found (want name, title, description)", n.Content[i].Line, k)
		}
	}
	return n.Decode(out)
}

func vocabulary(p *problems, key string, in []string, max int) []string {
	if len(in) > max {
		p.add("%s: %d entries, at most %d", key, len(in), max)
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, s := range in {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			p.add("%s: an empty entry", key)
		case len(s) > 128:
			p.add("%s: entry %q is longer than 128 bytes", key, clip(s, 40))
		case seen[s]:
			p.add("%s: %q listed twice", key, s)
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// compileOptions are the expr options every rule gets: booleans only,
// deterministic (no now(), dates in UTC), bounded in size.
func compileOptions(env any) []expr.Option {
	return []expr.Option{
		expr.Env(env),
		expr.AsBool(),
		expr.DisableBuiltin("now"),
		expr.Timezone("UTC"),
		expr.MaxNodes(2000),
	}
}

func (m *Model) compile(p *problems) {
	// Event env: the features and the category-view condition.
	evOpts := compileOptions(&eventEnv{})
	m.features = make([]cond, len(m.Features))
	for i, f := range m.Features {
		m.features[i] = m.compileCond(p, fmt.Sprintf("feature %q: when", f.Name), f.When, evOpts, true)
	}
	if m.CategoryViewsWhen != "" {
		m.catView = m.compileCond(p, "category_views_when", m.CategoryViewsWhen, evOpts, true)
	} else {
		// The built-in default is not checked against the model's event
		// vocabulary: a model need not list the events it does not use.
		var quiet problems
		m.catView = (&Model{}).compileCond(&quiet, "category_views_when", DefaultCategoryViewsWhen, evOpts, true)
		m.CategoryViewsWhen = DefaultCategoryViewsWhen
	}

	// Visitor env: persona rules. Every feature gets a recency name during
	// checking; only those rules read get a slot.
	venv := map[string]any{}
	for k, v := range builtinVisitorNames {
		venv[k] = v
	}
	for _, f := range m.Features {
		venv[f.Name] = 0
		venv[recencyPrefix+f.Name] = 0
		venv[eventsSincePrefix+f.Name] = 0
	}
	vOpts := compileOptions(venv)
	m.rules = make([]cond, len(m.Personas))
	for i, pd := range m.Personas {
		if i == m.Default {
			continue
		}
		m.rules[i] = m.compileCond(p, fmt.Sprintf("persona %q: rule", pd.Name), pd.When, vOpts, false)
		m.order = append(m.order, i)
	}
	if len(p.errs) > 0 {
		return
	}
	m.recMin, m.minFeat = m.recencySlots(recencyPrefix)
	m.recEvt, m.evtFeat = m.recencySlots(eventsSincePrefix)

	// Fast paths.
	er := eventResolver{}
	for i := range m.features {
		m.features[i].fast, _ = compileFast(m.features[i].prog.Node(), er)
	}
	m.catView.fast, _ = compileFast(m.catView.prog.Node(), er)
	vr := visitorResolver{m: m}
	for _, i := range m.order {
		m.rules[i].fast, _ = compileFast(m.rules[i].prog.Node(), vr)
	}
	for i := range m.features {
		m.eager = m.eager || m.features[i].fast == nil
	}
	m.eager = m.eager || m.catView.fast == nil
	m.buildDispatch()

	m.layout = fingerprint(func(w func(string)) {
		w("v1")
		w(strconv.Itoa(m.SessionGap))
		for _, f := range m.Features {
			w(f.Name)
		}
		w("|")
		for _, c := range m.Categories {
			w(c)
		}
		w("|")
		for _, f := range m.minFeat {
			w(m.Features[f].Name)
		}
		w("|")
		for _, f := range m.evtFeat {
			w(m.Features[f].Name)
		}
	})
	m.roster = fingerprint(func(w func(string)) {
		for _, pd := range m.Personas {
			w(pd.Name)
		}
		w(strconv.Itoa(m.Default))
	})
}

// recencySlots numbers, in feature order, the features whose
// <prefix><feature> some persona rule reads: only those pay for a slot.
func (m *Model) recencySlots(prefix string) (slotOf, featOf []int) {
	used := make([]bool, len(m.Features))
	for _, r := range m.rules {
		for _, n := range r.names {
			if rest, ok := strings.CutPrefix(n, prefix); ok {
				if f, ok := m.featIndex[rest]; ok {
					used[f] = true
				}
			}
		}
	}
	slotOf = make([]int, len(m.Features))
	for f := range slotOf {
		slotOf[f] = -1
		if used[f] {
			slotOf[f] = len(featOf)
			featOf = append(featOf, f)
		}
	}
	return slotOf, featOf
}

func fingerprint(write func(func(string))) uint16 {
	h := fnv.New32a()
	write(func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	})
	x := h.Sum32()
	f := uint16(x ^ x>>16)
	if f == 0 {
		f = 1
	}
	return f
}

// compileCond compiles one rule with expr and checks its literals against
// the model's vocabularies.
func (m *Model) compileCond(p *problems, what, src string, opts []expr.Option, eventEnvRule bool) cond {
	prog, err := compileSafe(src, opts)
	if err != nil {
		p.add("%s %s: %s", what, quoteExpr(src), m.explain(err, eventEnvRule))
		return cond{}
	}
	c := cond{src: src, prog: prog}
	names := map[string]bool{}
	var bad []string
	ast.Find(prog.Node(), func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok {
			names[id.Value] = true
		}
		bad = append(bad, m.checkLiterals(n, eventEnvRule)...)
		return false
	})
	for _, b := range bad {
		p.add("%s %s: %s", what, quoteExpr(src), b)
	}
	for n := range names {
		c.names = append(c.names, n)
	}
	sort.Strings(c.names)
	return c
}

func compileSafe(src string, opts []expr.Option) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("the expression compiler failed: %v", r)
		}
	}()
	return expr.Compile(src, opts...)
}

// quoteExpr quotes an expression (at most 200 bytes of it) for a message:
// in double quotes, or in backquotes when it holds double quotes (string
// literals) and can be shown as it is.
func quoteExpr(s string) string {
	if len(s) > 200 {
		s = clip(s, 200) + "…"
	}
	if strings.Contains(s, `"`) && !strings.ContainsAny(s, "`\n\r\t") && utf8.ValidString(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

// explain turns an expr compile error into one line: the message, a hint
// for unknown names, and the position.
func (m *Model) explain(err error, eventEnvRule bool) string {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err.Error()
	}
	msg := fe.Message
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		msg += m.hint(name, eventEnvRule)
	}
	switch {
	case fe.Line > 1:
		msg += fmt.Sprintf(" (line %d, column %d)", fe.Line, fe.Column+1)
	case fe.Snippet != "":
		msg += fmt.Sprintf(" (column %d)", fe.Column+1)
	}
	return msg
}

func (m *Model) hint(name string, eventEnvRule bool) string {
	var candidates []string
	if eventEnvRule {
		for k := range eventNames {
			candidates = append(candidates, k)
		}
		if _, isFeature := m.featIndex[name]; isFeature {
			return "; features are counters of the visitor: use them in persona rules, not in feature conditions"
		}
	} else {
		for _, pre := range []string{recencyPrefix, eventsSincePrefix} {
			if rest, ok := strings.CutPrefix(name, pre); ok {
				return fmt.Sprintf("; %s<feature> needs a feature named %q", pre, rest)
			}
		}
		for k := range builtinVisitorNames {
			candidates = append(candidates, k)
		}
		for _, f := range m.Features {
			candidates = append(candidates, f.Name)
		}
		if _, ok := eventNames[name]; ok {
			return "; persona rules see the visitor's features, not the event: count it with a feature"
		}
	}
	sort.Strings(candidates)
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(name, c, bestD); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %s?", best)
	}
	if !eventEnvRule {
		return "; not a feature of this model nor a built-in"
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b, or limit if it is
// at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

// checkLiterals reports string literals compared with a closed vocabulary
// (event names, categories, device classes, event types) that are not in
// it: a typo there would silently never match.
func (m *Model) checkLiterals(n ast.Node, eventEnvRule bool) []string {
	vocab := func(name string) (string, []string) {
		switch {
		case eventEnvRule && name == "event" && len(m.Events) > 0:
			return "event name", m.Events
		case eventEnvRule && name == "type":
			return "event type", EventTypes
		case name == "device":
			return "device class", DeviceClasses
		case (eventEnvRule && name == "category" || !eventEnvRule && name == vTopCategory) && len(m.Categories) > 0:
			return "category", m.Categories
		}
		return "", nil
	}
	check := func(what string, list []string, lits []string) []string {
		var out []string
		for _, l := range lits {
			if l != "" && !slices.Contains(list, l) {
				out = append(out, fmt.Sprintf("unknown %s %q (the model knows %s)", what, l, listing(list)))
			}
		}
		return out
	}
	switch x := n.(type) {
	case *ast.BinaryNode:
		id, other := x.Left, x.Right
		if _, ok := id.(*ast.IdentifierNode); !ok && x.Operator != "in" {
			id, other = other, id
		}
		ident, ok := id.(*ast.IdentifierNode)
		if !ok {
			return nil
		}
		what, list := vocab(ident.Value)
		if list == nil {
			return nil
		}
		switch x.Operator {
		case "==", "!=", "in":
			return check(what, list, stringLiterals(other))
		}
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok && !eventEnvRule && (id.Value == vShare || id.Value == vViews) && len(x.Arguments) == 1 {
			return m.checkCategory(stringLiterals(x.Arguments[0]))
		}
	case *ast.MemberNode:
		if id, ok := x.Node.(*ast.IdentifierNode); ok && !eventEnvRule && id.Value == vCategoryViews {
			return m.checkCategory(stringLiterals(x.Property))
		}
	}
	return nil
}

func (m *Model) checkCategory(lits []string) []string {
	var out []string
	for _, l := range lits {
		if !slices.Contains(m.Categories, l) {
			if len(m.Categories) == 0 {
				out = append(out, fmt.Sprintf("unknown category %q (the model lists no categories)", l))
			} else {
				out = append(out, fmt.Sprintf("unknown category %q (the model knows %s)", l, listing(m.Categories)))
			}
		}
	}
	return out
}

func stringLiterals(n ast.Node) []string {
	switch x := n.(type) {
	case *ast.StringNode:
		return []string{x.Value}
	case *ast.ConstantNode:
		switch v := x.Value.(type) {
		case string:
			return []string{v}
		case map[string]struct{}:
			out := make([]string, 0, len(v))
			for k := range v {
				out = append(out, k)
			}
			sort.Strings(out)
			return out
		}
	case *ast.ArrayNode:
		var out []string
		for _, e := range x.Nodes {
			if s, ok := e.(*ast.StringNode); ok {
				out = append(out, s.Value)
			}
		}
		return out
	}
	return nil
}

func listing(list []string) string {
	if len(list) > 12 {
		return strings.Join(list[:12], ", ") + ", …"
	}
	return strings.Join(list, ", ")
}

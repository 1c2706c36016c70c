package model

import (
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/personas-dev/personas/schemas"
)

// Evaluator applies a Model to visitors. It holds the scratch space of
// evaluation (the flattened event, the expr VM, the env of rules that run
// on the VM), so it is NOT safe for concurrent use: make one per goroutine
// with Model.NewEvaluator (they are cheap). With the default model it does
// not allocate in steady state.
type Evaluator struct {
	m    *Model
	c    ctx
	ev   eventEnv
	vm   vm.VM
	venv map[string]any // env of persona rules on the VM, made on first use
	errs uint64
}

// NewEvaluator returns an evaluator of m for one goroutine.
func (m *Model) NewEvaluator() *Evaluator {
	e := &Evaluator{m: m}
	e.c.ev = &e.ev
	return e
}

// Model returns the model e evaluates.
func (e *Evaluator) Model() *Model { return e.m }

// Errors returns how many rule evaluations failed at run time so far (only
// rules on the expr VM can fail, for example an integer division by zero).
// A failed rule counts as false; the count is for a metric.
func (e *Evaluator) Errors() uint64 { return e.errs }

// ensure gives v the model's layout: a visitor of another layout (or the
// zero visitor) starts afresh, and a persona index from another persona
// list is forgotten.
func (e *Evaluator) ensure(v *Visitor) {
	m := e.m
	nf, nc, nm, ne := len(m.Features), len(m.Categories), len(m.minFeat), len(m.evtFeat)
	if v.layout != m.layout || int(v.nFeat) != nf || int(v.nCat) != nc || int(v.nMin) != nm || int(v.nEvt) != ne {
		v.Reset()
		v.layout, v.roster = m.layout, m.roster
		v.nFeat, v.nCat, v.nMin, v.nEvt = uint8(nf), uint8(nc), uint8(nm), uint8(ne)
		n := nf + nc + nm + ne
		if cap(v.slots) < n {
			v.slots = make([]uint32, n)
		} else {
			v.slots = v.slots[:n]
			clear(v.slots)
		}
	}
	if v.roster != m.roster || int(v.persona) > len(m.Personas) {
		v.roster, v.persona = m.roster, 0
	}
}

// Observe updates v's features with one event of its pseudonym. Events
// must come in the order of the pseudonym's partition; only the event's
// own time is used (never the clock), so replaying the same events gives
// the same state. A time that cannot be parsed counts as the visitor's
// last minute. ev must not be nil; bots should be filtered out before.
func (e *Evaluator) Observe(v *Visitor, ev *schemas.Event) {
	m := e.m
	e.ensure(v)
	t, ok := minuteOf(ev.Time)
	if !ok {
		t = v.lastSeen
	}
	switch {
	case v.events == 0:
		v.sessions = 1
		v.firstSeen, v.lastSeen = t, t
	case t == 0:
	case v.lastSeen == 0:
		v.firstSeen, v.lastSeen = t, t
	case t > v.lastSeen:
		if t-v.lastSeen >= uint32(m.SessionGap) {
			v.sessions = satInc(v.sessions)
		}
		v.lastSeen = t
	case t < v.firstSeen:
		v.firstSeen = t
	}
	v.events = satInc(v.events)
	if d := ev.Device; d != nil && d.Class != "" {
		v.device = deviceCode(d.Class)
		v.deviced = satInc(v.deviced)
		if v.device == 2 {
			v.mobile = satInc(v.mobile)
		}
	}
	if c := ev.Campaign; c != nil && v.campaignSource == "" && v.campaignMedium == "" && (c.Source != "" || c.Medium != "") {
		v.campaignSource = cleanCampaign(c.Source)
		v.campaignMedium = cleanCampaign(c.Medium)
	}

	e.ev.fill(ev, int64(t), m.eager)
	d := &m.dispatch
	id := d.table.lookup(ev.Event)
	if d.catView[id] && (d.catPure || e.evalEvent(&m.catView)) {
		v.catalog = satInc(v.catalog)
		if ci := m.categoryIndex(e.ev.category()); ci >= 0 {
			s := &v.slots[len(m.Features)+ci]
			*s = satInc(*s)
		}
	}
	minBase := len(m.Features) + len(m.Categories)
	evtBase := minBase + len(m.minFeat)
	for _, i := range d.features[id] {
		if !d.pure[i] && !e.evalEvent(&m.features[i]) {
			continue
		}
		v.slots[i] = satInc(v.slots[i])
		if r := m.recMin[i]; r >= 0 && t > v.slots[minBase+r] {
			v.slots[minBase+r] = t
		}
		if r := m.recEvt[i]; r >= 0 {
			v.slots[evtBase+r] = v.events
		}
	}
}

func cleanCampaign(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return clip(s, MaxCampaignLen)
}

func (m *Model) categoryIndex(c string) int {
	if c == "" {
		return -1
	}
	for i, k := range m.Categories {
		if k == c {
			return i
		}
	}
	return -1
}

func (e *Evaluator) evalEvent(c *cond) bool {
	if c.fast != nil {
		return c.fast(&e.c)
	}
	return e.evalEventVM(c)
}

// evalEventVM evaluates an event condition on the expr VM: the fallback,
// and the reference the fast path is tested against.
func (e *Evaluator) evalEventVM(c *cond) bool {
	out, err := e.vm.Run(c.prog, &e.ev)
	if err != nil {
		e.errs++
		return false
	}
	b, _ := out.(bool)
	return b
}

// Classify returns the index of v's persona after the events observed so
// far: the first persona, in model order, whose rule holds, else the
// default. It stores the index in v (Visitor.Persona), so that the next
// call can tell a flow from one persona to another.
func (e *Evaluator) Classify(v *Visitor) int {
	m := e.m
	e.ensure(v)
	p := m.Default
	for _, i := range m.order {
		if e.evalVisitor(&m.rules[i], v) {
			p = i
			break
		}
	}
	v.persona = uint8(p + 1)
	return p
}

// Apply observes ev and classifies v: the whole per-event step of the
// aggregate stage. from is v's persona before the event (-1 for a new
// visitor, or one classified under another persona list), to the persona
// after it; from >= 0 && from != to is a flow.
func (e *Evaluator) Apply(v *Visitor, ev *schemas.Event) (from, to int) {
	from = -1
	if m := e.m; v.layout == m.layout && v.roster == m.roster && int(v.persona) <= len(m.Personas) {
		from = v.Persona()
	}
	e.Observe(v, ev)
	return from, e.Classify(v)
}

func (e *Evaluator) evalVisitor(c *cond, v *Visitor) bool {
	if c.fast != nil {
		e.c.v = v
		return c.fast(&e.c)
	}
	return e.evalVisitorVM(c, v)
}

// evalVisitorVM evaluates a persona rule on the expr VM: the fallback, and
// the reference the fast path is tested against.
func (e *Evaluator) evalVisitorVM(c *cond, v *Visitor) bool {
	if e.venv == nil {
		e.venv = map[string]any{
			vShare: func(cat string) float64 { return e.m.share(e.c.v, e.m.categoryIndex(cat)) },
			vViews: func(cat string) int { return e.m.views(e.c.v, e.m.categoryIndex(cat)) },
		}
	}
	e.c.v = v
	for _, n := range c.names {
		if n == vShare || n == vViews {
			continue
		}
		if x, ok := e.m.value(v, n); ok {
			e.venv[n] = x
		}
	}
	out, err := e.vm.Run(c.prog, e.venv)
	if err != nil {
		e.errs++
		return false
	}
	b, _ := out.(bool)
	return b
}

// Env returns the visitor env as persona rules see it: every built-in and
// feature, minutes_since_last_<feature> for the features rules use it for,
// and category_views. For debugging, explanations and tests; not for the
// hot path (it allocates).
func (m *Model) Env(v *Visitor) map[string]any {
	out := map[string]any{}
	if !m.fits(v) {
		v = m.blank()
	}
	for k := range builtinVisitorNames {
		if k == vShare || k == vViews {
			continue
		}
		out[k], _ = m.value(v, k)
	}
	for _, f := range m.Features {
		out[f.Name], _ = m.value(v, f.Name)
	}
	for _, f := range m.minFeat {
		n := recencyPrefix + m.Features[f].Name
		out[n], _ = m.value(v, n)
	}
	for _, f := range m.evtFeat {
		n := eventsSincePrefix + m.Features[f].Name
		out[n], _ = m.value(v, n)
	}
	return out
}

func (m *Model) fits(v *Visitor) bool {
	return v.layout == m.layout && len(v.slots) == len(m.Features)+len(m.Categories)+len(m.minFeat)+len(m.evtFeat)
}

func (m *Model) blank() *Visitor {
	v := &Visitor{}
	m.NewEvaluator().ensure(v)
	return v
}

func (m *Model) share(v *Visitor, ci int) float64 {
	if ci < 0 || v.catalog == 0 {
		return 0
	}
	return float64(v.slots[len(m.Features)+ci]) / float64(v.catalog)
}

func (m *Model) views(v *Visitor, ci int) int {
	if ci < 0 {
		return 0
	}
	return int(v.slots[len(m.Features)+ci])
}

func (m *Model) topCategory(v *Visitor) string {
	best, bi := uint32(0), -1
	for i := range m.Categories {
		if s := v.slots[len(m.Features)+i]; s > best {
			best, bi = s, i
		}
	}
	if bi < 0 {
		return ""
	}
	return m.Categories[bi]
}

func (m *Model) distinctCategories(v *Visitor) int {
	n := 0
	for i := range m.Categories {
		if v.slots[len(m.Features)+i] != 0 {
			n++
		}
	}
	return n
}

func mobileShare(v *Visitor) float64 {
	if v.deviced == 0 {
		return 0
	}
	return float64(v.mobile) / float64(v.deviced)
}

// minutesSince is minutes_since_last_<feature> for slot r.
func (m *Model) minutesSince(v *Visitor, r int) int {
	t := v.slots[len(m.Features)+len(m.Categories)+r]
	if t == 0 {
		return Never
	}
	return int(v.lastSeen) - int(t)
}

// eventsSince is events_since_last_<feature> for slot r.
func (m *Model) eventsSince(v *Visitor, r int) int {
	n := v.slots[len(m.Features)+len(m.Categories)+len(m.minFeat)+r]
	if n == 0 {
		return Never
	}
	return int(v.events) - int(n)
}

// value returns a visitor-env value boxed, for the VM and Env.
func (m *Model) value(v *Visitor, name string) (any, bool) {
	switch name {
	case vEvents:
		return int(v.events), true
	case vSessions:
		return int(v.sessions), true
	case vFirstSeen:
		return int(v.firstSeen), true
	case vLastSeen:
		return int(v.lastSeen), true
	case vMinutesActive:
		return int(v.lastSeen) - int(v.firstSeen), true
	case vHour:
		return int(v.lastSeen / 60 % 24), true
	case vWeekday:
		return weekday(int64(v.lastSeen)), true
	case vDevice:
		return deviceName(v.device), true
	case vMobileShare:
		return mobileShare(v), true
	case vCampaignSource:
		return v.campaignSource, true
	case vCampaignMedium:
		return v.campaignMedium, true
	case vCatalogViews:
		return int(v.catalog), true
	case vTopCategory:
		return m.topCategory(v), true
	case vDistinctCategories:
		return m.distinctCategories(v), true
	case vCategoryViews:
		cv := make(map[string]int, len(m.Categories))
		for i, c := range m.Categories {
			cv[c] = m.views(v, i)
		}
		return cv, true
	}
	if i, ok := m.featIndex[name]; ok {
		return int(v.slots[i]), true
	}
	if f, ok := strings.CutPrefix(name, recencyPrefix); ok {
		if i, ok := m.featIndex[f]; ok && m.recMin[i] >= 0 {
			return m.minutesSince(v, m.recMin[i]), true
		}
	}
	if f, ok := strings.CutPrefix(name, eventsSincePrefix); ok {
		if i, ok := m.featIndex[f]; ok && m.recEvt[i] >= 0 {
			return m.eventsSince(v, m.recEvt[i]), true
		}
	}
	return nil, false
}

// visitorResolver compiles visitor-env names for the fast path.
type visitorResolver struct{ m *Model }

func intExpr(f func(*ctx) int) (fexpr, bool)       { return fexpr{k: kInt, i: f}, true }
func floatExpr(f func(*ctx) float64) (fexpr, bool) { return fexpr{k: kFloat, f: f}, true }
func stringExpr(f func(*ctx) string) (fexpr, bool) { return fexpr{k: kString, s: f}, true }
func boolExpr(f func(*ctx) bool) (fexpr, bool)     { return fexpr{k: kBool, b: f}, true }
func (r visitorResolver) member(n, key string) (fexpr, bool) {
	if n != vCategoryViews {
		return fexpr{}, false
	}
	return r.viewsOf(r.m.categoryIndex(key))
}

func (r visitorResolver) viewsOf(ci int) (fexpr, bool) {
	if ci < 0 {
		return constInt(0), true
	}
	slot := len(r.m.Features) + ci
	return intExpr(func(c *ctx) int { return int(c.v.slots[slot]) })
}

func (r visitorResolver) call(n string, args []ast.Node) (fexpr, bool) {
	if (n != vShare && n != vViews) || len(args) != 1 {
		return fexpr{}, false
	}
	m := r.m
	if lit, ok := args[0].(*ast.StringNode); ok {
		ci := m.categoryIndex(lit.Value)
		if n == vViews {
			return r.viewsOf(ci)
		}
		if ci < 0 {
			return constFloat(0), true
		}
		slot := len(m.Features) + ci
		return floatExpr(func(c *ctx) float64 {
			if c.v.catalog == 0 {
				return 0
			}
			return float64(c.v.slots[slot]) / float64(c.v.catalog)
		})
	}
	arg, ok := fast(args[0], r)
	if !ok || arg.k != kString {
		return fexpr{}, false
	}
	s := arg.s
	if n == vViews {
		return intExpr(func(c *ctx) int { return m.views(c.v, m.categoryIndex(s(c))) })
	}
	return floatExpr(func(c *ctx) float64 { return m.share(c.v, m.categoryIndex(s(c))) })
}

func (r visitorResolver) name(n string) (fexpr, bool) {
	m := r.m
	switch n {
	case vEvents:
		return intExpr(func(c *ctx) int { return int(c.v.events) })
	case vSessions:
		return intExpr(func(c *ctx) int { return int(c.v.sessions) })
	case vFirstSeen:
		return intExpr(func(c *ctx) int { return int(c.v.firstSeen) })
	case vLastSeen:
		return intExpr(func(c *ctx) int { return int(c.v.lastSeen) })
	case vMinutesActive:
		return intExpr(func(c *ctx) int { return int(c.v.lastSeen) - int(c.v.firstSeen) })
	case vHour:
		return intExpr(func(c *ctx) int { return int(c.v.lastSeen / 60 % 24) })
	case vWeekday:
		return intExpr(func(c *ctx) int { return weekday(int64(c.v.lastSeen)) })
	case vDevice:
		return stringExpr(func(c *ctx) string { return deviceName(c.v.device) })
	case vMobileShare:
		return floatExpr(func(c *ctx) float64 { return mobileShare(c.v) })
	case vCampaignSource:
		return stringExpr(func(c *ctx) string { return c.v.campaignSource })
	case vCampaignMedium:
		return stringExpr(func(c *ctx) string { return c.v.campaignMedium })
	case vCatalogViews:
		return intExpr(func(c *ctx) int { return int(c.v.catalog) })
	case vTopCategory:
		return stringExpr(func(c *ctx) string { return m.topCategory(c.v) })
	case vDistinctCategories:
		return intExpr(func(c *ctx) int { return m.distinctCategories(c.v) })
	}
	if i, ok := m.featIndex[n]; ok {
		return fexpr{k: kInt, i: func(c *ctx) int { return int(c.v.slots[i]) }, slot: i + 1}, true
	}
	if f, ok := strings.CutPrefix(n, recencyPrefix); ok {
		if i, ok := m.featIndex[f]; ok && m.recMin[i] >= 0 {
			slot := len(m.Features) + len(m.Categories) + m.recMin[i]
			return intExpr(func(c *ctx) int {
				t := c.v.slots[slot]
				if t == 0 {
					return Never
				}
				return int(c.v.lastSeen) - int(t)
			})
		}
	}
	if f, ok := strings.CutPrefix(n, eventsSincePrefix); ok {
		if i, ok := m.featIndex[f]; ok && m.recEvt[i] >= 0 {
			slot := len(m.Features) + len(m.Categories) + len(m.minFeat) + m.recEvt[i]
			return intExpr(func(c *ctx) int {
				x := c.v.slots[slot]
				if x == 0 {
					return Never
				}
				return int(c.v.events) - int(x)
			})
		}
	}
	return fexpr{}, false
}

// eventResolver compiles event-env names for the fast path.
type eventResolver struct{}

func (eventResolver) call(string, []ast.Node) (fexpr, bool) { return fexpr{}, false }
func (eventResolver) member(string, string) (fexpr, bool)   { return fexpr{}, false }

func (eventResolver) name(n string) (fexpr, bool) {
	switch n {
	case "type":
		return stringExpr(func(c *ctx) string { return c.ev.Type })
	case "event":
		return stringExpr(func(c *ctx) string { return c.ev.Event })
	case "category":
		return stringExpr(func(c *ctx) string { return c.ev.category() })
	case "path":
		return stringExpr(func(c *ctx) string { return c.ev.Path })
	case "device":
		return stringExpr(func(c *ctx) string { return c.ev.Device })
	case "browser":
		return stringExpr(func(c *ctx) string { return c.ev.Browser })
	case "os":
		return stringExpr(func(c *ctx) string { return c.ev.OS })
	case "language":
		return stringExpr(func(c *ctx) string { return c.ev.Language })
	case "campaign_source":
		return stringExpr(func(c *ctx) string { return c.ev.CampaignSource })
	case "campaign_medium":
		return stringExpr(func(c *ctx) string { return c.ev.CampaignMedium })
	case "campaign_name":
		return stringExpr(func(c *ctx) string { return c.ev.CampaignName })
	case "referrer_domain":
		return stringExpr(func(c *ctx) string { return c.ev.ReferrerDomain })
	case "search":
		return stringExpr(func(c *ctx) string { return c.ev.search() })
	case "utm_source":
		return stringExpr(func(c *ctx) string { return c.ev.utm().UTMSource })
	case "utm_medium":
		return stringExpr(func(c *ctx) string { return c.ev.utm().UTMMedium })
	case "utm_campaign":
		return stringExpr(func(c *ctx) string { return c.ev.utm().UTMCampaign })
	case "utm_term":
		return stringExpr(func(c *ctx) string { return c.ev.utm().UTMTerm })
	case "utm_content":
		return stringExpr(func(c *ctx) string { return c.ev.utm().UTMContent })
	case "price":
		return floatExpr(func(c *ctx) float64 { return c.ev.price() })
	case "value":
		return floatExpr(func(c *ctx) float64 { return c.ev.value() })
	case "hour":
		return intExpr(func(c *ctx) int { return c.ev.Hour })
	case "weekday":
		return intExpr(func(c *ctx) int { return c.ev.Weekday })
	case "bot":
		return boolExpr(func(c *ctx) bool { return c.ev.Bot })
	}
	return fexpr{}, false
}

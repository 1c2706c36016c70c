package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Event is one generated Kafka record plus its ground truth. Next fills it in place,
// reusing Key and Value buffers: copy them if you keep them past the next call.
type Event struct {
	// Key is what a real tracker would use as the record key: the anonymousId for
	// humans, nil for bots (they keep no cookies, so their anonymousId is new on every
	// event).
	Key []byte
	// Value is the raw JSON payload (or, for bad events, whatever is wrong with it).
	Value []byte
	// Time is the event time (the `timestamp` field, millisecond precision, UTC), also
	// for bad events whose payload carries a wrong timestamp. Producers should use it as
	// the Kafka record timestamp.
	Time time.Time

	// Ground truth for tests; none of it is in the payload in this form.
	Archetype Archetype // Bot for crawler events
	VisitorID string    // stable raw id of the visitor: its anonymousId; "bot-<kind>-<n>" for bots
	Bot       bool
	Bad       BadKind     // Valid (0) for well-formed events
	Type      EventType   // call type of the underlying event
	Name      string      // track event name or page/screen name; "" for identify
	Category  string      // product category the event is about, "" if none
	Campaign  bool        // the session came in through a utm campaign (context.campaign set)
	SignedIn  bool        // userId present
	Session   uint64      // ground-truth session number (unique within the generator)
	Device    DeviceClass // the visitor's device class (Desktop for bots)
	App       bool        // sent by the native app (screen events, context.device)

	keyBuf []byte
}

// Generator produces a synthetic clickstream. It is not safe for concurrent use; run
// one generator per goroutine (with different seeds).
type Generator struct {
	cfg   Config
	r     *rand.Rand
	scale float64 // DayLength / 24h

	startNs      int64
	dayNs        float64
	startPhase   float64
	curveMax     float64
	humanRateMax float64 // arrivals per ns at the curve's maximum
	botRate      float64 // bot arrivals per ns
	nextHuman    int64
	nextBot      int64

	heap    []heapEnt
	free    []*session
	seq     uint64
	visits  []*visitor
	slots   [numArchetypes][]int32 // visitor slots per archetype
	bots    []*visitor
	mixCum  []float64
	mixArch []Archetype
	badCum  []float64
	badKind []BadKind

	can *canaryFactory

	off     struct{ typeEnd, nameStart, idStart, idEnd, tsStart, lastStart int }
	tmp     []byte
	tsCache minuteCache
}

// New returns a generator for cfg (zero fields take defaults, see Config). Invalid
// values are clamped; call cfg.Validate first to report them.
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg}
	g.r = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	g.scale = float64(cfg.DayLength) / float64(24*time.Hour)
	g.startNs = cfg.Start.UnixNano()
	g.dayNs = float64(cfg.DayLength)
	local := cfg.Start.Add(cfg.UTCOffset)
	sod := local.Sub(time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC))
	g.startPhase = sod.Hours() / 24
	g.curveMax = 1 + cfg.Diurnal*(diurnalMax-1)

	var archs []Archetype
	var ws []float64
	for _, a := range HumanArchetypes() {
		if w := cfg.Mix[a]; w > 0 {
			archs = append(archs, a)
			ws = append(ws, w)
		}
	}
	if len(archs) == 0 {
		archs, ws = []Archetype{CasualBrowser}, []float64{1}
	}
	g.mixArch, g.mixCum = archs, cumulative(ws)
	for _, k := range BadKinds() {
		w := 1.0
		if cfg.BadMix != nil {
			w = cfg.BadMix[k]
		}
		if w > 0 {
			g.badKind = append(g.badKind, k)
			g.badCum = append(g.badCum, w)
		}
	}
	g.badCum = cumulative(g.badCum)
	if len(g.badKind) == 0 {
		g.badKind, g.badCum = []BadKind{BadTruncated}, []float64{1}
	}
	if cfg.Canaries {
		g.can = newCanaryFactory(cfg.Seed)
	}

	// Rates: events per session come from a one-off calibration of the planner.
	cal := calibration()
	var meanH, totW float64
	for i, a := range g.mixArch {
		w := g.mixCum[i]
		if i > 0 {
			w -= g.mixCum[i-1]
		}
		meanH += w * cal.events[a]
		totW += w
	}
	meanH /= totW
	eps := cfg.EventsPerSecond / 1e9
	g.humanRateMax = (1 - cfg.BotShare) * eps * g.curveMax / meanH
	if cfg.BotShare > 0 {
		g.botRate = cfg.BotShare * eps / cal.events[Bot]
	}
	g.visits = make([]*visitor, cfg.Visitors)
	// Each visitor slot gets its archetype up front, so sessions can pick the archetype
	// by weight first: session starts follow Mix however many visitors are busy.
	for i := 0; i < cfg.Visitors; i++ {
		a := g.mixArch[pickCum(g.r, g.mixCum)]
		g.slots[a] = append(g.slots[a], int32(i))
	}
	for i, a := range g.mixArch { // every weighted archetype has at least one visitor
		if len(g.slots[a]) == 0 {
			g.slots[a] = append(g.slots[a], int32(i%cfg.Visitors))
		}
	}
	g.bots = make([]*visitor, cfg.Bots)

	// Arrivals start at Start; a warm start puts the sessions that would be in progress
	// at Start into the heap so the rate is steady from the first second.
	g.nextHuman = g.drawHuman(g.startNs - 1)
	g.nextBot = math.MaxInt64
	if g.botRate > 0 {
		g.nextBot = g.startNs + int64(g.r.ExpFloat64()/g.botRate)
	}
	g.warmStart(cal, meanH, totW)
	return g
}

func cumulative(ws []float64) []float64 {
	out := make([]float64, len(ws))
	s := 0.0
	for i, w := range ws {
		s += w
		out[i] = s
	}
	return out
}

func pickCum(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

// Diurnal curve: relative traffic per local hour of a web shop (night trough, lunch
// bump, evening peak), linearly interpolated and normalised to a mean of 1.
var diurnalHours = [24]float64{0.45, 0.28, 0.18, 0.13, 0.12, 0.16, 0.30, 0.55, 0.80, 0.95, 1.05, 1.10,
	1.25, 1.20, 1.05, 1.00, 1.05, 1.10, 1.15, 1.40, 1.75, 1.85, 1.45, 0.90}

var diurnalMean, diurnalMax = func() (float64, float64) {
	s, m := 0.0, 0.0
	for _, v := range diurnalHours {
		s += v
		m = max(m, v)
	}
	return s / 24, m / (s / 24)
}()

// Diurnal returns the relative traffic (mean 1) at a fraction of the local day.
func Diurnal(dayFraction float64) float64 {
	h := (dayFraction - math.Floor(dayFraction)) * 24
	i := int(h)
	f := h - float64(i)
	return (diurnalHours[i%24]*(1-f) + diurnalHours[(i+1)%24]*f) / diurnalMean
}

func (g *Generator) curve(ns int64) float64 {
	if g.cfg.Diurnal == 0 {
		return 1
	}
	ph := g.startPhase + float64(ns-g.startNs)/g.dayNs
	return 1 + g.cfg.Diurnal*(Diurnal(ph)-1)
}

// drawHuman returns the next human arrival after t (thinning a Poisson process).
func (g *Generator) drawHuman(t int64) int64 {
	for {
		t += int64(g.r.ExpFloat64()/g.humanRateMax) + 1
		if g.r.Float64()*g.curveMax <= g.curve(t) {
			return t
		}
	}
}

// Config returns the effective configuration (defaults applied).
func (g *Generator) Config() Config { return g.cfg }

// Next generates the next event in event-time order and stores it in ev, reusing
// ev's buffers.
func (g *Generator) Next(ev *Event) {
	for {
		s := g.due()
		t := s.next
		p := &s.pend[s.ip]
		if p.typ == TypeIdentify && !s.v.signedIn && !s.bot {
			g.signIn(s.v)
		}
		emit := t >= g.startNs
		if emit {
			g.emit(ev, s, p, t-t%1e6)
		}
		s.ip++
		if s.ip < s.np {
			s.next = t + s.pend[s.ip].dt
			g.push(s)
		} else if g.planStep(s) {
			s.next = t + s.pend[0].dt
			g.push(s)
		} else {
			g.endSession(s)
		}
		if emit {
			return
		}
	}
}

// due returns the session whose pending event comes next, handling arrivals.
func (g *Generator) due() *session {
	for {
		t, human := g.nextHuman, true
		if g.nextBot < t {
			t, human = g.nextBot, false
		}
		if len(g.heap) > 0 && g.heap[0].next <= t {
			return g.pop()
		}
		if human {
			g.arriveHuman(t)
			g.nextHuman = g.drawHuman(t)
		} else {
			g.arriveBot(t)
			g.nextBot = t + int64(g.r.ExpFloat64()/g.botRate) + 1
		}
	}
}

func (g *Generator) arriveHuman(t int64) {
	v := g.pickVisitor()
	if v == nil {
		return
	}
	s := g.newSession(v, t)
	if !g.planStep(s) {
		g.endSession(s)
		return
	}
	s.next = t
	g.push(s)
}

func (g *Generator) arriveBot(t int64) {
	if len(g.bots) == 0 {
		return
	}
	// Crawlers fetch in parallel: one bot identity may run several sessions at once.
	i := g.r.IntN(len(g.bots))
	if g.bots[i] == nil {
		g.bots[i] = g.newBot(i, len(g.bots))
	}
	s := g.newSession(g.bots[i], t)
	if !g.planStep(s) {
		g.endSession(s)
		return
	}
	s.next = t
	g.push(s)
}

// pickVisitor picks an idle visitor: the archetype by Mix weight, then a visitor of it.
func (g *Generator) pickVisitor() *visitor {
	return g.pickVisitorOf(g.mixArch[pickCum(g.r, g.mixCum)])
}

func (g *Generator) visitorAt(i int32, a Archetype) *visitor {
	v := g.visits[i]
	if v == nil {
		v = g.newHuman(int(i), a)
		g.visits[i] = v
	}
	return v
}

func (g *Generator) pickVisitorOf(a Archetype) *visitor {
	list := g.slots[a]
	n := len(list)
	if n == 0 {
		return nil
	}
	for try := 0; try < 8; try++ {
		if v := g.visitorAt(list[g.r.IntN(n)], a); v.active == 0 {
			return v
		}
	}
	// Crowded: scan for an idle visitor of this archetype, else open a second tab.
	i0 := g.r.IntN(n)
	for k := 0; k < n; k++ {
		if v := g.visitorAt(list[(i0+k)%n], a); v.active == 0 {
			return v
		}
	}
	return g.visitorAt(list[i0], a)
}

// heap of sessions ordered by next event time (ties by session id). Entries carry the
// keys inline so sifting does not chase session pointers.

type heapEnt struct {
	next int64
	id   uint64
	s    *session
}

func (e *heapEnt) less(o *heapEnt) bool {
	return e.next < o.next || e.next == o.next && e.id < o.id
}

func (g *Generator) push(s *session) {
	h := append(g.heap, heapEnt{s.next, s.id, s})
	i := len(h) - 1
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !e.less(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
	g.heap = h
}

func (g *Generator) pop() *session {
	h := g.heap
	top := h[0].s
	n := len(h) - 1
	e := h[n]
	h[n] = heapEnt{}
	h = h[:n]
	if n > 0 {
		i := 0
		for {
			l := 2*i + 1
			if l >= n {
				break
			}
			m := l
			if r := l + 1; r < n && h[r].less(&h[l]) {
				m = r
			}
			if !h[m].less(&e) {
				break
			}
			h[i] = h[m]
			i = m
		}
		h[i] = e
	}
	g.heap = h
	return top
}

// think returns a think time in ns: log-normal around the median (seconds), scaled by
// the day compression.
func (g *Generator) think(median, sigma float64) int64 {
	sec := median * math.Exp(sigma*g.r.NormFloat64())
	sec = min(max(sec, median/20, 0.2), 1800)
	return int64(sec * g.scale * 1e9)
}

// Calibration: mean events and steps per session per archetype, measured once by
// running the planner (fixed seed, no JSON) so arrival rates hit EventsPerSecond.
type calib struct {
	events [numArchetypes]float64
	steps  [numArchetypes]float64
	dur    [numArchetypes]float64 // mean session duration in seconds (uncompressed day)
}

var calibOnce = sync.OnceValue(func() *calib {
	c := &calib{}
	cfg := DefaultConfig()
	cfg.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg.Seed = 12345
	g := &Generator{cfg: cfg.withDefaults(), scale: 1}
	g.r = rand.New(rand.NewPCG(1, 2))
	const visitors, perVisitor = 300, 5 // returning visitors have history
	const n = visitors * perVisitor
	for a := MobileBargainHunter; a < numArchetypes; a++ {
		var ev, st int
		var dur int64
		for i := 0; i < visitors; i++ {
			var v *visitor
			if a == Bot {
				v = g.newBot(i, visitors)
			} else {
				v = g.newHuman(i, a)
			}
			for j := 0; j < perVisitor; j++ {
				s := g.newSession(v, 0)
				for g.planStep(s) {
					for k := 0; k < s.np; k++ {
						if s.pend[k].typ == TypeIdentify && !v.signedIn {
							g.signIn(v)
						}
						dur += s.pend[k].dt
					}
					ev += s.np
					st++
				}
				g.endSession(s)
			}
		}
		c.events[a] = float64(ev) / n
		c.steps[a] = float64(st) / n
		c.dur[a] = float64(dur) / n / 1e9
	}
	return c
})

func calibration() *calib { return calibOnce() }

// warmStart creates the sessions that are in progress at Start in steady state
// (Little's law: arrival rate x mean duration per archetype). Each is sampled with
// length bias (long sessions are more likely to be in progress), has a uniformly
// random part of its steps still ahead, and waits a residual think time for its next
// page. Their earlier pages are not generated; the first one's referrer is the home
// page.
func (g *Generator) warmStart(cal *calib, meanH, totW float64) {
	r := g.r
	lamH := (1 - g.cfg.BotShare) * g.cfg.EventsPerSecond * g.curve(g.startNs) / meanH // sessions/s
	for i, a := range g.mixArch {
		w := g.mixCum[i]
		if i > 0 {
			w -= g.mixCum[i-1]
		}
		x := lamH * w / totW * cal.dur[a] * g.scale
		n := int(x + r.Float64())
		pr := profiles[a]
		for k := 0; k < n; k++ {
			v := g.pickVisitorOf(a)
			if v == nil {
				break
			}
			g.warmSession(v, pr.minSteps, pr.meanSteps, pr.maxSteps, pr.think, 0.9)
		}
	}
	if g.botRate > 0 && len(g.bots) > 0 {
		x := g.botRate * 1e9 * cal.dur[Bot] * g.scale
		n := int(x + r.Float64())
		for k := 0; k < n; k++ {
			i := r.IntN(len(g.bots))
			if g.bots[i] == nil {
				g.bots[i] = g.newBot(i, len(g.bots))
			}
			b := g.bots[i].bot
			g.warmSession(g.bots[i], b.minPgs, b.meanPgs, 20*b.meanPgs, b.think, 0.5)
		}
	}
}

func (g *Generator) warmSession(v *visitor, minSteps, meanSteps, maxSteps int, think, sigma float64) {
	r := g.r
	s := g.newSession(v, g.startNs)
	// Length-biased total steps K = m + X, X ~ Exp(θ) w.p. m/(m+θ), else Gamma(2, θ).
	m, th := float64(minSteps), float64(meanSteps-minSteps)
	k := m
	if th > 0 {
		x := r.ExpFloat64() * th
		if r.Float64() >= m/(m+th) {
			x += r.ExpFloat64() * th
		}
		k += x
	}
	k = min(k, float64(maxSteps))
	s.stepsLeft = 1 + int(r.Float64()*k)
	// The landing page lies in the past: set it up as the current page (its events are
	// not emitted) so the first emitted page has it as referrer.
	g.doHome(s)
	s.steps = 1
	if !g.planStep(s) {
		g.endSession(s)
		return
	}
	// Residual think time: uniform part of a length-biased log-normal think time.
	res := int64(r.Float64() * float64(g.think(think*math.Exp(sigma*sigma), sigma)))
	s.pend[0].dt = res
	s.next = g.startNs + res
	g.push(s)
}

// CalibratedEventsPerSession returns the mean number of events a session of the
// archetype produces (measured once per process); useful for sizing tests.
func CalibratedEventsPerSession(a Archetype) float64 {
	if a == ArchetypeNone || a >= numArchetypes {
		return 0
	}
	return calibration().events[a]
}

func itoa(n int) string { return strconv.Itoa(n) }

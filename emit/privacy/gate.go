package privacy

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/schemas"
)

// MinK is the smallest k there is: a figure about one visitor describes a
// person.
const MinK = 2

// HLLStdErr is the standard error of a Redis HyperLogLog estimate
// (1.04/√16384).
const HLLStdErr = 0.0081

// marginPer10k is 3·HLLStdErr in units of 1/10000, so the visitor threshold is
// computed in exact integer arithmetic.
const marginPer10k = 243

// ValidateK reports whether k is usable: at least MinK.
func ValidateK(k int) error {
	if k < MinK {
		return fmt.Errorf("k is %d; it must be at least %d (a figure about one visitor describes a person)", k, MinK)
	}
	return nil
}

// effK is the k the gate enforces: a k below MinK (which ValidateK rejects at
// start) is raised to MinK instead of weakening the gate.
func effK(k int) int64 {
	if k < MinK {
		return MinK
	}
	return int64(k)
}

// VisitorThreshold is the smallest visitor estimate that is published for k:
// ⌈k·(1 + 3·0.0081)⌉, always at least k+1. See the package documentation for
// why.
func VisitorThreshold(k int) int64 {
	kk := effK(k)
	if kk > math.MaxInt64/(2*marginPer10k) {
		return math.MaxInt64
	}
	return kk + (kk*marginPer10k+9999)/10000
}

// VisitorsPublishable reports whether a distinct-visitor estimate may be
// published under k.
func VisitorsPublishable(estimate int64, k int) bool {
	return estimate >= VisitorThreshold(k)
}

// Gate returns one persona's figures as they may be published under k, with
// noise (nil means None) on every published count. A persona whose visitor
// estimate is below VisitorThreshold(k) comes out as {persona, suppressed}
// with no counts. Otherwise visitors and events are published; each by_type
// and by_category bucket only when it holds at least k events (with
// complementary suppression, see the package documentation); entered and
// left only when they reach VisitorThreshold(k).
//
// Gate sees one persona only. GateWindow also withholds entered/left counts
// that the published flows would let a reader take apart; use it for
// anything published together with flows.
func Gate(f aggregate.PersonaFigures, k int, noise Noiser) schemas.Figures {
	d := decide(&f, k, nil)
	return d.publish(k, noise)
}

// Window is one window's figures as they may be published: the output of
// GateWindow, shared by the segment-change events and the snapshot of one
// evaluation, so that each published count is drawn (and noised) once per
// evaluation.
type Window struct {
	Length     time.Duration
	Start, End time.Time
	// Personas maps persona name to gated figures, suppressed ones included.
	Personas map[string]schemas.Figures
	// Flows are the flows of at least VisitorThreshold(k) visitors, sorted.
	Flows []schemas.Flow
	// Bots is the bot event count, nil when below k.
	Bots *int64
}

// Figures returns the gated figures of a persona; a persona the window does
// not know is suppressed (no data is not a publishable crowd).
func (w *Window) Figures(persona string) schemas.Figures {
	if w != nil {
		if f, ok := w.Personas[persona]; ok {
			return f
		}
	}
	return schemas.Figures{Persona: persona, Suppressed: true}
}

// GateWindow gates every persona, the flows and the bot count of a window
// under k, then adds noise to what is published. All decisions are taken on
// the true figures before any noise, so GateWindow(w, k, None) shows exactly
// which values a noisy call publishes, without the noise.
func GateWindow(w *aggregate.WindowFigures, k int, noise Noiser) Window {
	out := Window{Personas: map[string]schemas.Figures{}}
	if w == nil {
		return out
	}
	out.Length, out.Start, out.End = w.Window, w.Start, w.End
	thr := VisitorThreshold(k)
	// Flows withheld into and out of each persona, summed: a published
	// entered/left minus the published flows must not reveal them.
	withheldIn := map[string]int64{}
	withheldOut := map[string]int64{}
	for fk, n := range w.Flows {
		if n > 0 && n < thr && fk.From != fk.To {
			withheldIn[fk.To] += n
			withheldOut[fk.From] += n
		}
	}
	for name, f := range w.Personas {
		if f == nil {
			out.Personas[name] = schemas.Figures{Persona: name, Suppressed: true}
			continue
		}
		pf := *f
		pf.Persona = name
		d := decide(&pf, k, &flowLeak{in: withheldIn[name], out: withheldOut[name], thr: thr})
		out.Personas[name] = d.publish(k, noise)
	}
	out.Flows = GateFlows(w.Flows, k, noise)
	if w.Bots >= effK(k) {
		b := perturb(w.Bots, k, noise)
		out.Bots = &b
	}
	return out
}

// GateFlows returns the flows of at least VisitorThreshold(k) distinct
// visitors, with noise (nil means None), sorted by from then to. Flows from a
// persona to itself are not flows and are left out.
func GateFlows(flows map[aggregate.FlowKey]int64, k int, noise Noiser) []schemas.Flow {
	thr := VisitorThreshold(k)
	var out []schemas.Flow
	for fk, n := range flows {
		if n < thr || fk.From == fk.To {
			continue
		}
		out = append(out, schemas.Flow{From: fk.From, To: fk.To, Visitors: perturb(n, k, noise)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

// flowLeak carries the withheld flow sums of one persona into decide.
type flowLeak struct{ in, out, thr int64 }

// decision is what may be published about one persona, with true values.
type decision struct {
	persona          string
	ok               bool
	visitors, events int64
	byType, byCat    map[string]int64
	entered, left    *int64
}

// decide takes every publish/suppress decision on the true figures.
func decide(f *aggregate.PersonaFigures, k int, leak *flowLeak) decision {
	d := decision{persona: f.Persona}
	thr := VisitorThreshold(k)
	if f.Visitors < thr {
		return d
	}
	d.ok = true
	d.visitors = f.Visitors
	d.events = max(f.Events, 0)
	d.byType = gateBuckets(f.ByType, effK(k))
	d.byCat = gateBuckets(f.ByCategory, effK(k))
	if f.Entered >= thr && (leak == nil || leak.in == 0 || leak.in >= leak.thr) {
		v := f.Entered
		d.entered = &v
	}
	if f.Left >= thr && (leak == nil || leak.out == 0 || leak.out >= leak.thr) {
		v := f.Left
		d.left = &v
	}
	return d
}

// gateBuckets keeps the buckets of at least k events. When the dropped
// buckets add up to between 1 and k-1 events, the smallest kept buckets are
// dropped as well until they add up to k or more, so that no small bucket can
// be recovered by subtracting the kept ones from a total. Nil when nothing is
// kept.
func gateBuckets(m map[string]int64, k int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	type bucket struct {
		name string
		n    int64
	}
	var kept []bucket
	var dropped int64
	for name, n := range m {
		if n >= k {
			kept = append(kept, bucket{name, n})
		} else if n > 0 {
			dropped += n
		}
	}
	if dropped > 0 && dropped < k {
		// Smallest first, ties by name, so the choice is deterministic.
		sort.Slice(kept, func(i, j int) bool {
			if kept[i].n != kept[j].n {
				return kept[i].n < kept[j].n
			}
			return kept[i].name < kept[j].name
		})
		for len(kept) > 0 && dropped < k {
			dropped += kept[0].n
			kept = kept[1:]
		}
	}
	if len(kept) == 0 {
		return nil
	}
	out := make(map[string]int64, len(kept))
	for _, b := range kept {
		out[b.name] = b.n
	}
	return out
}

// publish turns a decision into published figures, adding noise.
func (d decision) publish(k int, noise Noiser) schemas.Figures {
	f := schemas.Figures{Persona: d.persona}
	if !d.ok {
		f.Suppressed = true
		return f
	}
	v := perturb(d.visitors, k, noise)
	e := perturb(d.events, k, noise)
	f.Visitors, f.Events = &v, &e
	f.ByType = perturbMap(d.byType, k, noise)
	f.ByCategory = perturbMap(d.byCat, k, noise)
	if d.entered != nil {
		x := perturb(*d.entered, k, noise)
		f.Entered = &x
	}
	if d.left != nil {
		x := perturb(*d.left, k, noise)
		f.Left = &x
	}
	if noise != nil {
		f.Noise = noise.Label()
	}
	return f
}

func perturbMap(m map[string]int64, k int, noise Noiser) map[string]int64 {
	if m == nil {
		return nil
	}
	// Noise in sorted key order, so a deterministic source gives
	// deterministic output.
	keys := make([]string, 0, len(m))
	for name := range m {
		keys = append(keys, name)
	}
	sort.Strings(keys)
	out := make(map[string]int64, len(m))
	for _, name := range keys {
		out[name] = perturb(m[name], k, noise)
	}
	return out
}

// perturb adds noise to a count that passed the gate and clamps the result
// at k: a published number is never below k.
func perturb(v int64, k int, noise Noiser) int64 {
	if noise != nil {
		v = noise.Perturb(v)
	}
	return max(v, effK(k))
}

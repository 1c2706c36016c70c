package segment

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/schemas"
)

// Key names one (segment, persona) pair.
type Key struct{ Segment, Persona string }

// String is "segment/persona": a stable form for state stores (both names
// match ^[a-z][a-z0-9_]*$, so "/" cannot occur in either).
func (k Key) String() string { return k.Segment + "/" + k.Persona }

// ParseKey reverses Key.String.
func ParseKey(s string) (Key, error) {
	seg, p, ok := strings.Cut(s, "/")
	if !ok || !ValidName(seg) || !ValidName(p) {
		return Key{}, errors.New("segment: malformed state key; want segment/persona")
	}
	return Key{Segment: seg, Persona: p}, nil
}

// State is where one persona stands in one segment: small and serialisable,
// so a new leader continues where the last one stopped. The zero State is
// "never in the segment".
type State struct {
	// In is true while the persona is in the segment.
	In bool `json:"in"`
	// Since is when the last change happened (zero: never).
	Since time.Time `json:"since"`
	// Seq counts the changes so far; the next change gets Seq+1, which is
	// the sequence of its event and part of its event id.
	Seq int64 `json:"seq"`
}

// Reasons for a change. They are not on the wire (the schema has no field
// for them) but go to logs and metrics; an exit for ReasonBelowK is visible
// to consumers as figures.suppressed = true.
const (
	// ReasonEnter: the enter condition held.
	ReasonEnter = "enter"
	// ReasonExit: the exit condition held.
	ReasonExit = "exit"
	// ReasonBelowK: the persona fell below k in the segment's window. It
	// leaves at once, min_dwell notwithstanding.
	ReasonBelowK = "below_k"
	// ReasonNotTargeted: the segment's persona list no longer names the
	// persona (the definitions changed). It leaves at once.
	ReasonNotTargeted = "not_targeted"
)

// Change is one segment change decided by Evaluate.
type Change struct {
	Segment, Persona string
	Window           time.Duration
	// Type is schemas.SegmentEntered or schemas.SegmentExited.
	Type string
	// Seq is the change's sequence for (segment, persona): 1 for the first
	// entry.
	Seq    int64
	Reason string
	// At is the evaluation time, UTC.
	At time.Time
}

// Key returns the change's (segment, persona).
func (c Change) Key() Key { return Key{Segment: c.Segment, Persona: c.Persona} }

// EventID is the change's deterministic event id.
func (c Change) EventID() string { return EventID(c.Segment, c.Persona, c.Seq, c.Type) }

// EvalError is a condition that failed at run time, for one persona. The
// state of that (segment, persona) is held.
type EvalError struct {
	Segment, Persona string
	// Side is "enter" or "exit" ("" for input problems).
	Side string
	Err  error
}

func (e *EvalError) Error() string {
	side := ""
	if e.Side != "" {
		side = " " + e.Side
	}
	return fmt.Sprintf("segment %s%s for persona %s: %v", e.Segment, side, e.Persona, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

// Input is everything one evaluation reads.
type Input struct {
	// Now is the evaluation time.
	Now time.Time
	// K is the k in force (at least 2).
	K int
	// Current holds each window's figures ending now; Previous the figures
	// of the window of the same length before it. A segment whose window is
	// missing from Current is not evaluated (no data is not zero): its
	// states are held. A missing Previous reads as suppressed.
	Current, Previous map[time.Duration]*aggregate.WindowFigures
	// Personas are the persona model's names. Segments without a persona
	// list are evaluated for these and for every persona in the figures.
	Personas []string
}

// Result is the outcome of one evaluation.
type Result struct {
	// States are the states after the evaluation: the input states with
	// the changed ones replaced. Store them before or together with
	// publishing Changes.
	States map[Key]State
	// Changes in definition order of the segments, then by persona.
	Changes []Change
	// Errors are conditions that failed at run time; those states are held.
	Errors []*EvalError
}

// Step decides one (segment, persona) for one evaluation. env is the
// persona's condition environment, nil when the persona is below k (or has
// no figures) in the segment's window. It returns the next state and the
// reason of the change, "" when nothing changes.
//
//   - Out of the segment, a persona below k is never entered; otherwise it
//     enters when enter holds.
//   - In the segment, a persona below k leaves at once (ReasonBelowK): its
//     figures can no longer be published, and a campaign aimed at a crowd
//     below k aims at a few identifiable people. Otherwise it leaves when
//     exit holds.
//   - Hysteresis: only enter can bring a persona in and only exit can take
//     it out; between the two thresholds the state holds.
//   - Dwell: no change (except ReasonBelowK) before MinDwell has passed
//     since the last change.
//
// A condition that fails at run time holds the state and is returned as an
// error.
func Step(s *Segment, st State, env *Env, now time.Time) (State, string, error) {
	now = now.UTC()
	if env == nil {
		if st.In {
			return flip(st, now), ReasonBelowK, nil
		}
		return st, "", nil
	}
	if !st.Since.IsZero() && now.Before(st.Since.Add(s.MinDwell)) {
		return st, "", nil
	}
	prog, side, reason := s.enter, "enter", ReasonEnter
	if st.In {
		prog, side, reason = s.exit, "exit", ReasonExit
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		return st, "", &EvalError{Segment: s.Name, Persona: env.Persona, Side: side, Err: err}
	}
	if hold, _ := out.(bool); !hold {
		return st, "", nil
	}
	return flip(st, now), reason, nil
}

func flip(st State, now time.Time) State {
	return State{In: !st.In, Since: now.UTC(), Seq: st.Seq + 1}
}

// Evaluate runs every segment over the figures for every persona it
// targets, from the stored states. It is pure: the input states are not
// modified, and the same input gives the same result. Conditions read the
// figures through the k gate without noise (see Env). It fails only on
// unusable input (no configuration, k below 2).
func Evaluate(cfg *Config, states map[Key]State, in Input) (Result, error) {
	if cfg == nil {
		return Result{}, errors.New("segment: no configuration")
	}
	if err := privacy.ValidateK(in.K); err != nil {
		return Result{}, fmt.Errorf("segment: %w", err)
	}
	now := in.Now.UTC()
	res := Result{States: maps.Clone(states)}
	if res.States == nil {
		res.States = map[Key]State{}
	}

	gate := func(src map[time.Duration]*aggregate.WindowFigures, cache map[time.Duration]*windowView, w time.Duration) *windowView {
		if v, ok := cache[w]; ok {
			return v
		}
		var v *windowView
		if f := src[w]; f != nil {
			g := privacy.GateWindow(f, in.K, privacy.None)
			g.Length = w
			v = newView(&g)
		}
		cache[w] = v
		return v
	}
	curViews := map[time.Duration]*windowView{}
	prevViews := map[time.Duration]*windowView{}
	type envKey struct {
		w       time.Duration
		persona string
	}
	envs := map[envKey]*Env{}

	inBySegment := map[string][]string{}
	for k, st := range states {
		if st.In {
			inBySegment[k.Segment] = append(inBySegment[k.Segment], k.Persona)
		}
	}

	for _, s := range cfg.Segments {
		cur := gate(in.Current, curViews, s.Window)
		if cur == nil {
			continue
		}
		prev := gate(in.Previous, prevViews, s.Window)

		cands := map[string]bool{}
		if len(s.Personas) > 0 {
			for _, p := range s.Personas {
				cands[p] = true
			}
		} else {
			for _, p := range in.Personas {
				cands[p] = true
			}
			for p := range cur.w.Personas {
				cands[p] = true
			}
		}
		for _, p := range inBySegment[s.Name] {
			cands[p] = true
		}
		names := make([]string, 0, len(cands))
		for p := range cands {
			names = append(names, p)
		}
		sort.Strings(names)

		for _, p := range names {
			if !ValidName(p) {
				res.Errors = append(res.Errors, &EvalError{Segment: s.Name, Persona: "?", Err: errors.New("persona name does not match ^[a-z][a-z0-9_]{0,63}$; skipped")})
				continue
			}
			key := Key{Segment: s.Name, Persona: p}
			st := res.States[key]
			var next State
			var reason string
			if !s.Targets(p) {
				if !st.In {
					continue
				}
				next, reason = flip(st, now), ReasonNotTargeted
			} else {
				ek := envKey{s.Window, p}
				env, ok := envs[ek]
				if !ok {
					env = newEnv(p, cur, prev, in.K, now)
					envs[ek] = env
				}
				var err error
				next, reason, err = Step(s, st, env, now)
				if err != nil {
					var ee *EvalError
					if errors.As(err, &ee) {
						res.Errors = append(res.Errors, ee)
					}
					continue
				}
			}
			if reason == "" {
				continue
			}
			res.States[key] = next
			typ := schemas.SegmentExited
			if next.In {
				typ = schemas.SegmentEntered
			}
			res.Changes = append(res.Changes, Change{
				Segment: s.Name, Persona: p, Window: s.Window,
				Type: typ, Seq: next.Seq, Reason: reason, At: now,
			})
		}
	}
	return res, nil
}

// Orphans lists the stored states that are in a segment the configuration
// no longer defines. Evaluate keeps them untouched (their sequence goes on
// if the segment comes back); the caller should log them, because consumers
// still believe those personas are in.
func Orphans(cfg *Config, states map[Key]State) []Key {
	defined := map[string]bool{}
	if cfg != nil {
		for _, s := range cfg.Segments {
			defined[s.Name] = true
		}
	}
	var out []Key
	for k, st := range states {
		if st.In && !defined[k.Segment] {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

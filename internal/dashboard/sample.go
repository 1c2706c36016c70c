package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// The raw/anonymized panel never shows real input, not even in production:
// its raw event is made up by the synthetic generator inside this process
// and pseudonymized under a key that exists for one request only.

// Sample is one synthetic raw event beside its anonymized form, each
// pretty-printed as lines marked with what the transform did to them.
type Sample struct {
	Synthetic  bool   `json:"synthetic"`
	Raw        []Line `json:"raw"`
	Anonymized []Line `json:"anonymized"`
	// Removed, Changed and Kept count the raw leaf values by fate; Added
	// counts the values the pipeline added (ids, schema, epoch).
	Removed int `json:"removed"`
	Changed int `json:"changed"`
	Kept    int `json:"kept"`
	Added   int `json:"added"`
	// Scrubbed names the identifier kinds the scrubber replaced.
	Scrubbed string `json:"scrubbed"`
}

// Line is one line of a pretty-printed JSON document.
type Line struct {
	Indent int `json:"indent"`
	// Key is the object key ("" inside arrays and for closing brackets).
	Key string `json:"key,omitempty"`
	// Text is the JSON text after the key: a literal, "{", "}", "[" or "]".
	Text  string `json:"text"`
	Comma bool   `json:"comma,omitempty"`
	// Mark is removed, changed, kept or added ("" for brackets of mixed
	// content).
	Mark string `json:"mark,omitempty"`
	// Note explains a change, like "pseudonym (keyed hash)".
	Note string `json:"note,omitempty"`
}

// Marks of a line.
const (
	markRemoved = "removed"
	markChanged = "changed"
	markKept    = "kept"
	markAdded   = "added"
)

// NewSample generates synthetic traffic, runs it through the real
// transform (opt: the process's ingest options) under an ephemeral key, and
// returns the most telling pair among the first few thousand events: one
// with a signed-in user, personal data in traits or URLs, a referrer.
func NewSample(ctx context.Context, opt ingest.Options, seed uint64) (*Sample, error) {
	opt.Policy = nil // rare-value state belongs to the pipeline, not to a demo event
	tr, err := ingest.NewTransformer(opt, ingest.NewEphemeralKeys())
	if err != nil {
		return nil, err
	}
	sc := synth.DefaultConfig()
	sc.Seed = seed
	sc.Visitors = 500
	sc.BadShare = 0
	sc.BotShare = 0
	sc.Start = time.Now().Add(-10 * time.Minute)
	gen := synth.New(sc)
	var (
		ev        synth.Event
		best      []byte
		bestOut   ingest.Output
		bestScore = -1
	)
	for i := 0; i < 4000 && bestScore < 9; i++ {
		if ctx.Err() != nil {
			break
		}
		gen.Next(&ev)
		if ev.Bad != synth.Valid || ev.Bot {
			continue
		}
		in := ingest.Input{Value: ev.Value, Time: ev.Time, Source: schemas.Source{Topic: "synthetic-sample"}}
		out, rej, err := tr.Transform(ctx, &in, time.Now())
		if err != nil || rej != nil {
			continue
		}
		if s := score(ev.Value, out); s > bestScore {
			bestScore = s
			best = bytes.Clone(ev.Value)
			bestOut = out
			bestOut.JSON = bytes.Clone(out.JSON)
		}
	}
	if best == nil {
		return nil, errors.New("the generator produced no usable event")
	}
	return annotate(best, bestOut.JSON, bestOut.Scrubbed.String())
}

// RandomSeed is a seed for NewSample: every call shows another event.
func RandomSeed() uint64 { return rand.Uint64() }

// score prefers events that show much of what the transform does.
func score(raw []byte, out ingest.Output) int {
	s := 0
	for _, c := range []struct {
		sub string
		w   int
	}{{`"userId"`, 2}, {`"traits"`, 2}, {`"email"`, 1}, {`"referrer"`, 1}, {`"ip"`, 1}, {`"campaign"`, 1}, {`?`, 1}, {`"properties"`, 1}} {
		if bytes.Contains(raw, []byte(c.sub)) {
			s += c.w
		}
	}
	if out.Scrubbed != 0 {
		s += 3
	}
	if len(raw) > 1400 {
		s -= 3 // keep the panel readable
	}
	return s
}

// mapping says where the transform puts (a generalised form of) a raw field.
var mapping = []struct {
	raw  string // dotted raw path; a trailing ".*" matches the subtree
	anon []string
	note string
}{
	{"anonymousId", []string{"pseudonym"}, "→ pseudonym: keyed hash under the epoch key"},
	{"userId", []string{"pseudonym"}, "→ pseudonym: keyed hash under the epoch key"},
	{"context.device.id", []string{"pseudonym"}, "→ pseudonym"},
	{"timestamp", []string{"time"}, "→ time, cut to the minute"},
	{"type", []string{"type"}, ""},
	{"event", []string{"event"}, ""},
	{"name", []string{"event"}, "→ event"},
	{"context.page.path", []string{"path"}, "→ path, ids masked"},
	{"context.page.url", []string{"path", "query"}, "→ path and allowlisted query"},
	{"context.page.search", []string{"query"}, "→ allowlisted query parameters"},
	{"context.page.referrer", []string{"referrer_domain"}, "→ referrer domain"},
	{"context.userAgent", []string{"device"}, "→ device class, browser and OS family"},
	{"context.device.type", []string{"device.class"}, "→ device class"},
	{"context.os.name", []string{"device.os"}, "→ OS family"},
	{"context.locale", []string{"language"}, "→ language"},
	{"context.campaign.*", []string{"campaign.*"}, ""},
	{"properties.query", []string{"search", "properties.query"}, ""},
	{"properties.*", []string{"properties.*"}, ""},
}

// targets returns the anonymized paths a raw path maps to, and the note.
func targets(path string) ([]string, string) {
	for _, m := range mapping {
		if prefix, ok := strings.CutSuffix(m.raw, ".*"); ok {
			if rest, ok := strings.CutPrefix(path, prefix+"."); ok {
				out := make([]string, len(m.anon))
				for i, a := range m.anon {
					out[i] = strings.TrimSuffix(a, "*") + rest
				}
				return out, m.note
			}
			continue
		}
		if m.raw == path {
			return m.anon, m.note
		}
	}
	return nil, ""
}

// annotate pretty-prints both documents and marks every line.
func annotate(raw, anon []byte, scrubbed string) (*Sample, error) {
	rt, err := parseOrdered(raw)
	if err != nil {
		return nil, fmt.Errorf("raw sample: %w", err)
	}
	at, err := parseOrdered(anon)
	if err != nil {
		return nil, fmt.Errorf("anonymized sample: %w", err)
	}
	anonLeaves := map[string]string{} // path -> value
	anonAny := map[string]bool{}      // every path, containers too
	at.walk("", func(p string, n *jnode) {
		anonAny[p] = true
		if n.leaf() {
			anonLeaves[p] = n.val
		}
	})
	s := &Sample{Synthetic: true, Scrubbed: scrubbed}
	// Raw leaves: kept when a target holds the same value, changed when a
	// target exists, removed otherwise.
	targeted := map[string]string{} // anonymized path -> mark from its sources
	rt.walk("", func(p string, n *jnode) {
		if !n.leaf() {
			return
		}
		ts, note := targets(p)
		mark := markRemoved
		for _, t := range ts {
			if v, ok := anonLeaves[t]; ok && v == n.val {
				mark = markKept
				break
			}
		}
		if mark == markRemoved {
			for _, t := range ts {
				if anonAny[t] || hasPrefix(anonAny, t) {
					mark = markChanged
					break
				}
			}
		}
		for _, t := range ts {
			if mark == markChanged || targeted[t] == "" {
				targeted[t] = mark
			}
		}
		n.mark = mark
		switch mark {
		case markChanged:
			n.note = note
			s.Changed++
		case markKept:
			s.Kept++
		default:
			s.Removed++
		}
	})
	at.walk("", func(p string, n *jnode) {
		if !n.leaf() {
			return
		}
		m := targeted[p]
		if m == "" {
			// A value inside a mapped container (device.browser from the
			// user agent) inherits the container's mark.
			for q := parent(p); q != ""; q = parent(q) {
				if tm := targeted[q]; tm != "" {
					m = tm
					break
				}
			}
		}
		if m == "" || m == markRemoved {
			m = markAdded
		}
		n.mark = m
		if m == markAdded {
			s.Added++
		}
	})
	s.Raw = rt.lines()
	s.Anonymized = at.lines()
	return s, nil
}

func hasPrefix(set map[string]bool, prefix string) bool {
	for p := range set {
		if strings.HasPrefix(p, prefix+".") {
			return true
		}
	}
	return false
}

func parent(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// jnode is a JSON value that keeps the key order of its objects.
type jnode struct {
	kind byte // '{', '[' or 'v' (scalar)
	keys []string
	kids []*jnode
	lit  string // JSON text of a scalar
	val  string // a scalar's value, for comparing
	mark string
	note string
}

func (n *jnode) leaf() bool { return n.kind == 'v' || len(n.kids) == 0 }

func parseOrdered(b []byte) (*jnode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jnode{kind: byte(t)}
		for dec.More() {
			if n.kind == '{' {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				n.keys = append(n.keys, k)
			}
			kid, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, kid)
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &jnode{kind: 'v', lit: quote(t), val: t}, nil
	case json.Number:
		return &jnode{kind: 'v', lit: t.String(), val: t.String()}, nil
	case bool:
		return &jnode{kind: 'v', lit: fmt.Sprint(t), val: fmt.Sprint(t)}, nil
	default:
		return &jnode{kind: 'v', lit: "null", val: "null"}, nil
	}
}

// quote writes s as a JSON string, leaving <, > and & as they are (the page
// shows text, not HTML).
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// walk calls f for every value with its dotted path (array elements are
// numbered), parents before children.
func (n *jnode) walk(path string, f func(string, *jnode)) {
	if path != "" {
		f(path, n)
	}
	for i, kid := range n.kids {
		var k string
		if n.kind == '{' {
			k = n.keys[i]
		} else {
			k = fmt.Sprint(i)
		}
		if path != "" {
			k = path + "." + k
		}
		kid.walk(k, f)
	}
}

// summary sets a container's mark when all its leaves share one.
func (n *jnode) summary() string {
	if n.leaf() {
		return n.mark
	}
	m := ""
	for i, kid := range n.kids {
		km := kid.summary()
		if i == 0 {
			m = km
		} else if km != m {
			m = ""
		}
	}
	n.mark = m
	return m
}

// lines pretty-prints the document, two spaces per level.
func (n *jnode) lines() []Line {
	n.summary()
	var out []Line
	var emit func(n *jnode, key string, indent int, comma bool)
	emit = func(n *jnode, key string, indent int, comma bool) {
		if n.leaf() {
			text := n.lit
			switch {
			case n.kind == '{':
				text = "{}"
			case n.kind == '[':
				text = "[]"
			}
			out = append(out, Line{Indent: indent, Key: key, Text: text, Comma: comma, Mark: n.mark, Note: n.note})
			return
		}
		open, closing := "{", "}"
		if n.kind == '[' {
			open, closing = "[", "]"
		}
		out = append(out, Line{Indent: indent, Key: key, Text: open, Mark: n.mark})
		for i, kid := range n.kids {
			k := ""
			if n.kind == '{' {
				k = n.keys[i]
			}
			emit(kid, k, indent+1, i < len(n.kids)-1)
		}
		out = append(out, Line{Indent: indent, Text: closing, Comma: comma, Mark: n.mark})
	}
	emit(n, "", 0, false)
	return out
}

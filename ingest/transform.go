package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"

	"github.com/personas-dev/personas/ingest/scrub"
	"github.com/personas-dev/personas/schemas"
)

// Keys gives the random key of an epoch, creating it if no instance has
// yet. Implementations: the Redis key store (shared by all instances) and
// EphemeralKeys (one process, for strip and tests). Keys never leave memory
// and the key store.
type Keys interface {
	// Key returns epoch's key. expireAt is when the key must be gone (end
	// of the epoch plus grace); the first creator sets it.
	Key(ctx context.Context, epoch int64, expireAt time.Time) ([]byte, error)
}

// Input is one raw message.
type Input struct {
	Value []byte
	// Null is true for a Kafka tombstone (null value).
	Null bool
	// Time is the Kafka message timestamp: the event time when the event
	// carries none.
	Time   time.Time
	Source schemas.Source
}

// Output is the anonymized event: its JSON, its Kafka key (the pseudonym)
// and a few decoded fields for metrics.
type Output struct {
	JSON []byte
	Key  []byte
	Bot  bool
	// Scrubbed is the set of identifier kinds the scrubber replaced.
	Scrubbed scrub.Kind
}

// EventIDNamespace is the UUIDv5 namespace of event ids.
var EventIDNamespace = uuid.MustParse("6f1c8f0e-3a51-5c0e-9d6b-5e7a1f0c2b44")

// Transformer is the privacy transform of one goroutine: it reuses its
// parser, hasher, buffers and UA cache, so it must not be shared.
type Transformer struct {
	opt    Options
	keys   Keys
	scrub  *scrub.Scrubber
	parser fastjson.Parser
	ua     *uaCache
	refs   map[string]string // referrer scheme and authority -> registrable domain
	bots   [][]byte
	props  map[string]bool
	policy ValuePolicy

	// Where each raw-shape field (by index in rawChecks) is read: mapped
	// fields from their source, the others under their parent's value.
	mapped []bool
	srcs   []fieldSource
	// vals holds the fields of the event being transformed, resolved once
	// per event by resolve (checkSchema) and read by the projection.
	vals     []*fastjson.Value
	idFields []int
	// propSrcs are properties read from other input fields (mapping
	// targets properties.<name>), sorted by name.
	propSrcs []propSource

	macEpoch int64
	mac      hash.Hash
	sum      []byte
	out      []byte
	key      [32]byte
	idBuf    []byte
	lower    []byte
	params   []scrub.Param
	sha1     hash.Hash
	idName   []byte
}

// NewTransformer returns a transformer. It fails on invalid options.
func NewTransformer(opt Options, keys Keys) (*Transformer, error) {
	opt.fill()
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	sc, err := scrub.New(scrub.Options{Patterns: opt.ScrubPatterns, QueryAllow: opt.QueryAllowlist})
	if err != nil {
		return nil, err
	}
	t := &Transformer{
		opt:      opt,
		keys:     keys,
		scrub:    sc,
		ua:       newUACache(8192),
		refs:     map[string]string{},
		props:    map[string]bool{},
		policy:   opt.Policy,
		macEpoch: -1,
		mapped:   make([]bool, len(rawChecks)),
		srcs:     make([]fieldSource, len(rawChecks)),
		vals:     make([]*fastjson.Value, len(rawChecks)),
	}
	if t.policy == nil {
		t.policy = ScrubOnly{}
	}
	for _, p := range opt.BotPatterns {
		t.bots = append(t.bots, bytes.ToLower([]byte(p)))
	}
	for _, p := range opt.PropertyAllowlist {
		t.props[p] = true
	}
	for raw, spec := range opt.Mapping {
		src, _ := parseSource(spec) // Validate checked it
		if name, ok := mappedProperty(raw); ok {
			t.propSrcs = append(t.propSrcs, propSource{name, src})
			continue
		}
		i := fieldIndex(raw)
		t.mapped[i], t.srcs[i] = true, src
	}
	slices.SortFunc(t.propSrcs, func(a, b propSource) int { return strings.Compare(a.name, b.name) })
	for _, f := range opt.IdentifierFields {
		t.idFields = append(t.idFields, fieldIndex(f))
	}
	return t, nil
}

type propSource struct {
	name string
	src  fieldSource
}

// EpochOf returns the epoch number of a time.
func (t *Transformer) EpochOf(ts time.Time) int64 { return ts.Unix() / int64(t.opt.Epoch/time.Second) }

// get returns the input value of a raw-shape field (nil when absent),
// looked up afresh.
func (t *Transformer) get(root *fastjson.Value, dotted string) *fastjson.Value {
	return t.lookup(root, fieldIndex(dotted))
}

func (t *Transformer) lookup(root *fastjson.Value, i int) *fastjson.Value {
	switch c := &rawChecks[i]; {
	case t.mapped[i]:
		return t.srcs[i].read(root)
	case c.parent < 0:
		return root.Get(c.name)
	default:
		return t.lookup(root, c.parent).Get(c.name)
	}
}

// resolve looks up every raw-shape field of an event once, parents before
// children, so a field costs one lookup in its parent object, not a walk
// from the root and a map access per use.
func (t *Transformer) resolve(root *fastjson.Value) {
	for i := range rawChecks {
		switch c := &rawChecks[i]; {
		case t.mapped[i]:
			t.vals[i] = t.srcs[i].read(root)
		case c.parent < 0:
			t.vals[i] = root.Get(c.name)
		default:
			t.vals[i] = t.vals[c.parent].Get(c.name) // nil-safe
		}
	}
}

// str returns a resolved field's string value, or nil.
func (t *Transformer) str(i int) []byte {
	v := t.vals[i]
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	return v.GetStringBytes()
}

// Transform turns one raw message into an anonymized event, or rejects it.
// err is only set when a dependency (the key store) failed: the caller
// retries the batch. A rejection is returned as *Rejection in rej.
func (t *Transformer) Transform(ctx context.Context, in *Input, now time.Time) (out Output, rej *Rejection, err error) {
	// The parser is lenient (it reads NaN, 1.2.3, unknown escapes and raw
	// control characters in strings): precheck lets only strictly valid
	// JSON through.
	if r := t.precheck(in); r != nil {
		return out, r, nil
	}
	root, perr := t.parser.ParseBytes(in.Value)
	if perr != nil {
		return out, &Rejection{Reason: ReasonBadJSON, Rule: "syntax"}, nil
	}
	if root.Type() != fastjson.TypeObject {
		return out, &Rejection{Reason: ReasonNotObject}, nil
	}
	if r := t.checkDuplicates(root); r != nil {
		return out, r, nil
	}
	if r := t.checkSchema(root, in.Value); r != nil {
		return out, r, nil
	}

	// Visitor identifier: the first configured field that is set.
	var id []byte
	for _, f := range t.idFields {
		v := t.vals[f]
		if v == nil {
			continue
		}
		switch v.Type() {
		case fastjson.TypeString:
			id = v.GetStringBytes()
		case fastjson.TypeNumber:
			id = v.MarshalTo(t.idBuf[:0]) // the number's JSON text
			t.idBuf = id
		}
		if len(id) > 0 {
			break
		}
	}
	if len(id) == 0 {
		return out, &Rejection{Reason: ReasonNoIdentifier, Rule: strings.Join(t.opt.IdentifierFields, ",")}, nil
	}

	// Event time: the event's own, else the Kafka timestamp.
	ts, r := t.eventTime(in.Time)
	if r != nil {
		return out, r, nil
	}
	epochLen := t.opt.Epoch
	epoch := t.EpochOf(ts)
	expireAt := time.Unix((epoch+1)*int64(epochLen/time.Second), 0).Add(t.opt.Grace)
	if !now.Before(expireAt) {
		return out, &Rejection{Reason: ReasonEpochExpired, Rule: "epoch+grace"}, nil
	}
	if ts.After(now.Add(t.opt.MaxFuture)) {
		return out, &Rejection{Reason: ReasonFuture, Rule: "max_future"}, nil
	}

	// Pseudonym: HMAC-SHA256 under the epoch key, first 16 bytes.
	if epoch != t.macEpoch {
		k, err := t.keys.Key(ctx, epoch, expireAt)
		if err != nil {
			return out, nil, err
		}
		if len(k) < 32 {
			return out, nil, errors.New("ingest: epoch key shorter than 32 bytes")
		}
		t.mac = hmac.New(sha256.New, k)
		t.macEpoch = epoch
	}
	var pseudo [32]byte
	t.sum = pseudonymOf(t.mac, id, t.sum, &pseudo)

	out.Key = pseudo[:]
	out, err = t.project(root, in, ts, epoch, pseudo, out)
	return out, nil, err
}

// precheck applies the byte-level limits before any parsing, and lets only
// strictly valid JSON (RFC 8259) through.
func (t *Transformer) precheck(in *Input) *Rejection {
	switch {
	case in.Null:
		return &Rejection{Reason: ReasonTombstone}
	case len(in.Value) == 0:
		return &Rejection{Reason: ReasonEmpty}
	case len(in.Value) > t.opt.MaxBytes:
		return &Rejection{Reason: ReasonTooLarge, Rule: "max_bytes=" + strconv.Itoa(t.opt.MaxBytes)}
	case !utf8.Valid(in.Value):
		return &Rejection{Reason: ReasonInvalidUTF8}
	case bytes.IndexByte(in.Value, 0) >= 0:
		return &Rejection{Reason: ReasonNULByte}
	}
	// One pass validates and measures valid input (nearly all of it).
	depth, values, escNUL, valid := scanJSON(in.Value, t.opt.MaxDepth)
	if !valid || escNUL {
		// Not JSON, too deep, or a NUL escape: the separate checks, in
		// their order of precedence, name the reason.
		if escapedNUL(in.Value) {
			return &Rejection{Reason: ReasonNULByte, Rule: "escaped"}
		}
		depth, values = scanShape(in.Value, t.opt.MaxDepth)
	}
	if depth > t.opt.MaxDepth {
		return &Rejection{Reason: ReasonTooDeep, Rule: "max_depth=" + strconv.Itoa(t.opt.MaxDepth)}
	}
	if values > t.opt.MaxFields {
		return &Rejection{Reason: ReasonTooManyFields, Rule: "max_fields=" + strconv.Itoa(t.opt.MaxFields)}
	}
	if !valid {
		return &Rejection{Reason: ReasonBadJSON, Rule: "syntax"}
	}
	return nil
}

// escapedNUL reports whether JSON text holds a \u0000 escape ("u0000"
// after an odd run of backslashes). It is valid JSON, but a NUL in a value
// breaks consumers of the output (C strings, PostgreSQL text) and has no
// business in a click, so it is rejected like a raw NUL.
func escapedNUL(b []byte) bool {
	for {
		i := bytes.Index(b, []byte("u0000"))
		if i < 0 {
			return false
		}
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		b = b[i+5:]
	}
}

// scanShape returns the nesting depth of JSON text (stopping early once it
// exceeds limit) and an upper bound of its number of values (separators
// outside strings). It does not validate; the parser does.
func scanShape(b []byte, limit int) (depth, values int) {
	d := 0
	values = 1
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string: jump from quote to quote with IndexByte
			// (vectorised), stepping over escaped characters.
			for {
				j := bytes.IndexByte(b[i+1:], '"')
				if j < 0 {
					return depth, values // unterminated: the parser rejects it
				}
				i += j + 1
				bs := 0
				for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
					bs++
				}
				if bs%2 == 0 {
					break
				}
			}
		case '{', '[':
			d++
			if d > depth {
				depth = d
				if depth > limit {
					return depth, values
				}
			}
		case '}', ']':
			d--
		case ',', ':':
			values++
		}
	}
	return depth, values
}

// checkDuplicates rejects repeated keys in the objects the transform reads:
// a validator and a projector that pick different copies of a key would be
// an easy way around the checks.
func (t *Transformer) checkDuplicates(root *fastjson.Value) *Rejection {
	for _, path := range dupCheckedObjects {
		v := root.Get(path...)
		if v == nil || v.Type() != fastjson.TypeObject {
			continue
		}
		o, _ := v.Object()
		if hasDuplicateKey(o) {
			return &Rejection{Reason: ReasonDuplicateKey, Rule: "/" + strings.Join(path, "/")}
		}
	}
	return nil
}

var dupCheckedObjects = [][]string{
	{}, {"context"}, {"context", "page"}, {"context", "device"}, {"context", "campaign"}, {"properties"},
}

func hasDuplicateKey(o *fastjson.Object) bool {
	if o.Len() > 32 {
		seen := make(map[string]struct{}, o.Len())
		dup := false
		o.Visit(func(k []byte, _ *fastjson.Value) {
			if _, ok := seen[string(k)]; ok {
				dup = true
			}
			seen[string(k)] = struct{}{}
		})
		return dup
	}
	// Small objects (nearly all): no allocation. A key is compared with
	// the earlier ones only when its signature (length, first and last
	// byte) was seen before: a bit in a 64-bit set, so most keys cost no
	// comparison at all.
	var keys [32][]byte
	var sigs [32]uint8
	var seen uint64
	n := 0
	dup := false
	o.Visit(func(k []byte, _ *fastjson.Value) {
		sig := uint8(len(k))
		if len(k) > 0 {
			sig = uint8(len(k)*31+int(k[0])*7+int(k[len(k)-1])) & 63
		}
		if seen&(1<<sig) != 0 {
			for i := 0; i < n && !dup; i++ {
				dup = sigs[i] == sig && bytes.Equal(keys[i], k)
			}
		}
		seen |= 1 << sig
		keys[n], sigs[n] = k, sig
		n++
	})
	return dup
}

// checkSchema runs the typed fast path of the raw-event schema; when it
// fails (or StrictSchema is set), the JSON Schema validator runs on the
// event to name the violation precisely.
func (t *Transformer) checkSchema(root *fastjson.Value, raw []byte) *Rejection {
	t.resolve(root)
	failed := ""
	var at *fieldCheck
	for i := range rawChecks {
		c := &rawChecks[i]
		if kw := c.check(t.vals[i]); kw != "" {
			failed, at = kw, c
			break
		}
	}
	if failed == "" && !t.opt.StrictSchema {
		return nil
	}
	doc, err := t.rawDocument(raw)
	if err != nil {
		return &Rejection{Reason: ReasonBadJSON, Rule: "syntax"}
	}
	if verr := schemas.Validate(schemas.RawEventSchema, doc); verr != nil {
		var v *schemas.Violation
		if errors.As(verr, &v) {
			return &Rejection{Reason: ReasonSchema, Rule: v.Rule()}
		}
		return &Rejection{Reason: ReasonSchema}
	}
	if failed != "" {
		// The validator accepts what the fast path refused: only possible
		// for date-times Go cannot represent (a leap second) and ones the
		// validator reads leniently ("+1:08:01": it parses fields with
		// Atoi). Refuse with the fast path's reason; the pipeline needs a
		// usable time (FuzzSchemaFastPath checks that nothing else differs).
		return &Rejection{Reason: ReasonBadTimestamp, Rule: failed + " at /" + strings.ReplaceAll(at.dotted, ".", "/")}
	}
	return nil
}

// eventTime picks the event's time: timestamp, then originalTimestamp,
// sentAt, receivedAt, then the Kafka timestamp.
func (t *Transformer) eventTime(kafkaTime time.Time) (time.Time, *Rejection) {
	for _, f := range timeFields {
		if s := t.str(f); s != nil {
			ts, ok := parseDateTime(s)
			if !ok {
				return ts, &Rejection{Reason: ReasonBadTimestamp, Rule: "format at /" + rawChecks[f].dotted}
			}
			if ts.Year() < 2000 || ts.Year() > 9999 {
				return ts, &Rejection{Reason: ReasonEpochExpired, Rule: "year at /" + rawChecks[f].dotted}
			}
			return ts.UTC(), nil
		}
	}
	if kafkaTime.IsZero() {
		return kafkaTime, &Rejection{Reason: ReasonBadTimestamp, Rule: "no time"}
	}
	return kafkaTime.UTC(), nil
}

// rawDocument decodes raw into the generic form the JSON Schema validator
// takes, with the configured mapping applied (slow path only).
func (t *Transformer) rawDocument(raw []byte) (any, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if len(t.opt.Mapping) == 0 {
		return doc, nil
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return doc, nil
	}
	// Read every source first, then write parents before children, as the
	// fast path reads a child inside its (mapped) parent.
	type set struct {
		path []string
		v    any
	}
	var sets []set
	for rawPath, spec := range t.opt.Mapping {
		src, _ := parseSource(spec)
		var v any
		if src.konst == nil {
			v, ok = lookupPath(obj, src.path)
		}
		if v, ok = src.translate(v, ok); ok {
			sets = append(sets, set{strings.Split(rawPath, "."), v})
		}
	}
	slices.SortFunc(sets, func(a, b set) int { return len(a.path) - len(b.path) })
	for _, s := range sets {
		setPath(obj, s.path, s.v)
	}
	return obj, nil
}

func lookupPath(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, p := range path {
		o, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = o[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// setPath sets a value in a decoded document, creating absent objects on
// the way. Under a value that is not an object there is nothing to set:
// the fast path reads nothing there either, and the validator judges the
// value in the way.
func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		x, present := m[p]
		next, ok := x.(map[string]any)
		if !ok {
			if present {
				return
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// Pseudonym returns the pseudonym of a visitor identifier under an epoch
// key: the first 16 bytes of HMAC-SHA256(key, id), hex-encoded.
func Pseudonym(key, id []byte) string {
	var out [32]byte
	pseudonymOf(hmac.New(sha256.New, key), id, nil, &out)
	return string(out[:])
}

// pseudonymOf computes the pseudonym with a reusable HMAC (no allocation
// per event); it returns the sum buffer for reuse.
func pseudonymOf(mac hash.Hash, id, sum []byte, out *[32]byte) []byte {
	mac.Reset()
	mac.Write(id)
	sum = mac.Sum(sum[:0])
	hex.Encode(out[:], sum[:16])
	return sum
}

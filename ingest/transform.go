package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
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
	bots   [][]byte
	props  map[string]bool
	paths  map[string][]string // raw dotted path -> input path
	policy ValuePolicy

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
		props:    map[string]bool{},
		paths:    map[string][]string{},
		policy:   opt.Policy,
		macEpoch: -1,
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
	for _, c := range rawChecks {
		t.paths[c.dotted] = c.path
	}
	for raw, in := range opt.Mapping {
		t.paths[raw] = strings.Split(in, ".")
	}
	return t, nil
}

// EpochOf returns the epoch number of a time.
func (t *Transformer) EpochOf(ts time.Time) int64 { return ts.Unix() / int64(t.opt.Epoch/time.Second) }

// get returns the input value of a raw-shape field (nil when absent).
func (t *Transformer) get(root *fastjson.Value, dotted string) *fastjson.Value {
	return root.Get(t.paths[dotted]...)
}

func (t *Transformer) str(root *fastjson.Value, dotted string) []byte {
	v := t.get(root, dotted)
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	return v.GetStringBytes()
}

// Transform turns one raw message into an anonymized event, or rejects it.
// err is only set when a dependency (the key store) failed: the caller
// retries the batch. A rejection is returned as *Rejection in rej.
func (t *Transformer) Transform(ctx context.Context, in *Input, now time.Time) (out Output, rej *Rejection, err error) {
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
	for _, f := range t.opt.IdentifierFields {
		v := t.get(root, f)
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
	ts, r := t.eventTime(root, in.Time)
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

// precheck applies the cheap byte-level limits before any parsing.
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
	depth, values := scanShape(in.Value, t.opt.MaxDepth)
	if depth > t.opt.MaxDepth {
		return &Rejection{Reason: ReasonTooDeep, Rule: "max_depth=" + strconv.Itoa(t.opt.MaxDepth)}
	}
	if values > t.opt.MaxFields {
		return &Rejection{Reason: ReasonTooManyFields, Rule: "max_fields=" + strconv.Itoa(t.opt.MaxFields)}
	}
	return nil
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
	// Small objects (nearly all): compare keys pairwise, no allocation.
	var keys [32][]byte
	n := 0
	dup := false
	o.Visit(func(k []byte, _ *fastjson.Value) {
		for i := 0; i < n && !dup; i++ {
			dup = bytes.Equal(keys[i], k)
		}
		keys[n] = k
		n++
	})
	return dup
}

// checkSchema runs the typed fast path of the raw-event schema; when it
// fails (or StrictSchema is set), the JSON Schema validator runs on the
// event to name the violation precisely.
func (t *Transformer) checkSchema(root *fastjson.Value, raw []byte) *Rejection {
	failed := ""
	var at *fieldCheck
	for i := range rawChecks {
		c := &rawChecks[i]
		if kw := c.check(t.get(root, c.dotted)); kw != "" {
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
		// for date-times Go cannot represent (a leap second). Refuse with
		// the fast path's reason; the pipeline needs a usable time.
		return &Rejection{Reason: ReasonBadTimestamp, Rule: failed + " at /" + strings.ReplaceAll(at.dotted, ".", "/")}
	}
	return nil
}

// eventTime picks the event's time: timestamp, then originalTimestamp,
// sentAt, receivedAt, then the Kafka timestamp.
func (t *Transformer) eventTime(root *fastjson.Value, kafkaTime time.Time) (time.Time, *Rejection) {
	for _, f := range [...]string{"timestamp", "originalTimestamp", "sentAt", "receivedAt"} {
		if s := t.str(root, f); s != nil {
			ts, ok := parseDateTime(s)
			if !ok {
				return ts, &Rejection{Reason: ReasonBadTimestamp, Rule: "format at /" + f}
			}
			if ts.Year() < 2000 || ts.Year() > 9999 {
				return ts, &Rejection{Reason: ReasonEpochExpired, Rule: "year at /" + f}
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
	for rawPath, inPath := range t.opt.Mapping {
		v, ok := lookupPath(obj, strings.Split(inPath, "."))
		if !ok {
			continue
		}
		setPath(obj, strings.Split(rawPath, "."), v)
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

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
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

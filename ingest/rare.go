package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Policy is what happens to the open-ended values of a field.
type Policy uint8

// Policies, from most to least private.
const (
	// PolicyDrop removes the field.
	PolicyDrop Policy = iota + 1
	// PolicyScrub keeps the value once the pattern scrubber passed it.
	PolicyScrub
	// PolicyRare scrubs, masks machine-made tokens, then publishes a value
	// only once enough distinct visitors sent it (placeholder [rare], or
	// :seg in a path, until then). Vocabulary values are published at once.
	PolicyRare
	// PolicyVocabulary publishes only vocabulary values; the rest become
	// [other].
	PolicyVocabulary
)

// ParsePolicy reads drop, scrub, rare or vocabulary.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "drop":
		return PolicyDrop, nil
	case "scrub":
		return PolicyScrub, nil
	case "rare":
		return PolicyRare, nil
	case "vocabulary":
		return PolicyVocabulary, nil
	}
	return 0, fmt.Errorf("%q is not drop, scrub, rare or vocabulary", s)
}

// Placeholders of suppressed values.
const (
	PlaceholderRare    = "[rare]"
	PlaceholderOther   = "[other]"
	PlaceholderToken   = "[token]"
	PlaceholderSegment = ":seg"
)

// RareOptions configure rare-value suppression.
type RareOptions struct {
	// K is how many distinct pseudonyms must send a value before it is
	// published. Default: 10.
	K int
	// KPerField overrides K per field key (see Policies). Default: none.
	KPerField map[string]int
	// Window is the counting period: sightings count within one period,
	// and a value released in a period stays released through the next.
	// Default: 168h.
	Window time.Duration
	// Policies per field key: event, path, query, query.<param>, search,
	// referrer, campaign, properties, properties.<name>. A specific key
	// (properties.category) wins over its group (properties). Defaults:
	// DefaultPolicies.
	Policies map[string]Policy
	// Vocabulary per field key: values published at once. A field with a
	// configured vocabulary and no explicit policy uses PolicyVocabulary.
	// Default: DefaultVocabulary (the web-shop taxonomy of the default
	// persona model) with PolicyRare.
	Vocabulary map[string][]string
	// TokenPatterns are extra regular expressions: matching path segments
	// and parameter or property values are masked as tokens before any
	// counting. Default: none.
	TokenPatterns []string
}

// DefaultPolicies: titles and free-text properties are dropped (the
// projection never keeps titles, and only allowlisted properties are kept);
// everything open-ended that is kept is rarity-gated.
var DefaultPolicies = map[string]Policy{
	"event": PolicyRare, "path": PolicyRare, "query": PolicyRare, "search": PolicyRare,
	"referrer": PolicyRare, "campaign": PolicyRare, "properties": PolicyRare,
}

// DefaultVocabulary is published at once: the taxonomy of the default
// web-shop model (event names, page names, categories, campaign terms).
var DefaultVocabulary = map[string][]string{
	"event": {"Products Searched", "Product List Viewed", "Product Viewed", "Product Added", "Product Removed",
		"Cart Viewed", "Checkout Started", "Order Completed", "Signed In", "Signed Up", "Newsletter Subscribed",
		"Promotion Clicked", "Home", "Category", "Product", "Search", "Cart", "Checkout", "Account", "Deals", "Blog", "Help"},
	"properties.category": {"electronics", "fashion", "home", "garden", "toys", "books", "sports", "beauty", "grocery"},
	"properties.currency": {"EUR", "USD", "GBP"},
	"path":                {"c", "p", "search", "cart", "checkout", "account", "orders", "deals", "blog", "help", "electronics", "fashion", "home", "garden", "toys", "books", "sports", "beauty", "grocery"},
	"campaign":            {"newsletter", "google", "facebook", "instagram", "tiktok", "email", "cpc", "social", "affiliate"},
	"query":               {"newsletter", "google", "facebook", "instagram", "tiktok", "email", "cpc", "social", "affiliate"},
}

// Sighting is one (value, sender) pair to count: keyed hashes only.
type Sighting struct {
	Value uint64 // keyed hash of field and value, under the period's key
	// Next is the hash of the same field and value under the next
	// period's key. The key, and so every hash, changes with the period:
	// a store that releases a value marks it released in the next period
	// by this hash, so that it stays released through that period.
	Next   uint64
	Sender uint32 // keyed hash of the pseudonym
	K      int
}

// RareStore counts distinct senders per value, shared by all instances.
type RareStore interface {
	// Observe records sightings of a period and returns the values (of
	// those sighted) that are released: sent by at least K distinct
	// senders in this period, or released in the previous one. It marks
	// every value it returns as released in the next period too (by
	// Sighting.Next). The period's state is kept until expireAt, the next
	// period's until nextExpireAt.
	Observe(ctx context.Context, period int64, expireAt, nextExpireAt time.Time, s []Sighting) (released []uint64, err error)
}

// Rare is the process-wide part of rare-value suppression: settings,
// vocabularies and the cache of released values. Each transformer gets
// its own RareBatch from Batch.
type Rare struct {
	opt      RareOptions
	keys     Keys
	store    RareStore
	policies map[string]Policy
	vocab    map[string]map[string]bool
	tokens   []*regexp.Regexp

	mu       sync.Mutex
	period   int64
	released map[uint64]struct{}
}

const maxReleasedCache = 1 << 20

// NewRare returns the rare-value policy of a process. keys gives the
// value-hashing key of each period (a separate name space from the
// epoch keys), store counts senders.
func NewRare(opt RareOptions, keys Keys, store RareStore) (*Rare, error) {
	if opt.K == 0 {
		opt.K = 10
	}
	if opt.K < 1 {
		return nil, fmt.Errorf("rare: k_values %d must be at least 1", opt.K)
	}
	if opt.Window == 0 {
		opt.Window = 7 * 24 * time.Hour
	}
	r := &Rare{opt: opt, keys: keys, store: store, policies: map[string]Policy{}, vocab: map[string]map[string]bool{}, period: -1}
	vocab := opt.Vocabulary
	if vocab == nil {
		vocab = DefaultVocabulary
	}
	for f, vs := range vocab {
		set := map[string]bool{}
		for _, v := range vs {
			set[v] = true
		}
		r.vocab[f] = set
		if opt.Vocabulary != nil {
			r.policies[f] = PolicyVocabulary
		}
	}
	for f, p := range DefaultPolicies {
		if _, ok := r.policies[f]; !ok {
			r.policies[f] = p
		}
	}
	for f, p := range opt.Policies {
		r.policies[f] = p
	}
	for i, p := range opt.TokenPatterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("rare: token pattern %d: %w", i, err)
		}
		r.tokens = append(r.tokens, re)
	}
	return r, nil
}

// Batch returns a per-goroutine policy for one transformer.
func (r *Rare) Batch() *RareBatch { return &RareBatch{r: r, seen: map[[2]uint64]bool{}} }

// lookup finds the setting of a field key, falling back to its group.
func lookup[T any](m map[string]T, key string) (T, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	if i := strings.IndexByte(key, '.'); i > 0 {
		v, ok := m[key[:i]]
		return v, ok
	}
	var zero T
	return zero, false
}

// RareBatch is the ValuePolicy of one transformer: Begin a batch, let
// Transform consult Keep, then Flush the sightings to the store. Values
// not yet known to be released are suppressed in this batch; once the
// store says a value is released, later events keep it without any Redis
// call (the released set is cached per process and period).
type RareBatch struct {
	r         *Rare
	period    int64
	expireAt  time.Time
	mac       hash.Hash
	nextMac   hash.Hash // the next period's key (see Sighting.Next)
	sum       []byte
	sightings []Sighting
	seen      map[[2]uint64]bool
	fieldOf   map[uint64]string
	// fields caches the settings of each (field, name) Keep is asked
	// about, with the memo of its value hashes (this period's and the next
	// one's: HMAC is the costly part of a lookup); cleared when the
	// period's key changes or it grows.
	fields     map[fieldName]*fieldState
	nHashes    int
	lastSender [32]byte
	lastTag    uint64
	// Suppressed counts values replaced by [rare] per field in the batch;
	// Released counts values newly released by it (metrics).
	Suppressed map[string]int
	Released   map[string]int
}

// Begin starts a batch at time now: it makes sure the period's key is
// known (one key-store call per period and process).
func (b *RareBatch) Begin(ctx context.Context, now time.Time) error {
	w := int64(b.r.opt.Window / time.Second)
	p := now.Unix() / w
	if p != b.period || b.mac == nil {
		expire := time.Unix((p+2)*w, 0) // the next period still reads this one
		k, err := b.r.keys.Key(ctx, p, expire)
		if err != nil {
			return err
		}
		// The next period's key, created ahead, hashes values as the next
		// period's store will hold them (see Sighting.Next).
		k1, err := b.r.keys.Key(ctx, p+1, time.Unix((p+3)*w, 0))
		if err != nil {
			return err
		}
		b.mac, b.nextMac = hmac.New(sha256.New, k), hmac.New(sha256.New, k1)
		b.period, b.expireAt = p, expire
		b.fields, b.nHashes = map[fieldName]*fieldState{}, 0
		b.lastSender = [32]byte{}
	}
	b.r.mu.Lock()
	if b.r.period != p {
		b.r.period = p
		b.r.released = map[uint64]struct{}{}
	}
	b.r.mu.Unlock()
	b.sightings = b.sightings[:0]
	clear(b.seen)
	if b.Suppressed == nil {
		b.Suppressed, b.Released, b.fieldOf = map[string]int{}, map[string]int{}, map[uint64]string{}
	}
	clear(b.Suppressed)
	clear(b.Released)
	clear(b.fieldOf)
	return nil
}

// Flush sends the batch's sightings to the store (one call) and caches
// what it released.
func (b *RareBatch) Flush(ctx context.Context) error {
	if len(b.sightings) == 0 {
		return nil
	}
	w := int64(b.r.opt.Window / time.Second)
	rel, err := b.r.store.Observe(ctx, b.period, b.expireAt, time.Unix((b.period+3)*w, 0), b.sightings)
	if err != nil {
		return err
	}
	b.r.mu.Lock()
	if b.r.period == b.period {
		if len(b.r.released)+len(rel) > maxReleasedCache {
			b.r.released = map[uint64]struct{}{}
		}
		for _, h := range rel {
			if _, ok := b.r.released[h]; !ok {
				b.Released[b.fieldOf[h]]++
			}
			b.r.released[h] = struct{}{}
		}
	}
	b.r.mu.Unlock()
	return nil
}

func (b *RareBatch) hash(mac hash.Hash, parts ...string) uint64 {
	mac.Reset()
	for _, p := range parts {
		mac.Write([]byte(p))
		mac.Write([]byte{0})
	}
	b.sum = mac.Sum(b.sum[:0])
	return binary.BigEndian.Uint64(b.sum)
}

type fieldName struct {
	f    Field
	name string
}

// fieldState is what Keep needs about one (field, name): resolved once,
// not per value.
type fieldState struct {
	key    string // "properties.category"
	pol    Policy
	vocab  map[string]bool
	k      int
	hashes map[string][2]uint64
}

// field returns the settings of a field key, resolving them on first use.
func (b *RareBatch) field(f Field, name string) *fieldState {
	if fs, ok := b.fields[fieldName{f, name}]; ok {
		return fs
	}
	key := f.String()
	if name != "" {
		key += "." + name
	}
	fs := &fieldState{key: key, pol: PolicyRare, k: b.r.opt.K, hashes: map[string][2]uint64{}}
	if pol, ok := lookup(b.r.policies, key); ok {
		fs.pol = pol
	}
	fs.vocab, _ = lookup(b.r.vocab, key)
	if k, ok := lookup(b.r.opt.KPerField, key); ok {
		fs.k = k
	}
	if len(b.fields) >= 4096 { // names are open-ended (utm_* parameters)
		clear(b.fields)
	}
	b.fields[fieldName{f, name}] = fs
	return fs
}

// Keep implements ValuePolicy.
func (b *RareBatch) Keep(f Field, name, v string, pseudonym []byte) string {
	if b.fields == nil {
		b.fields = map[fieldName]*fieldState{}
	}
	fs := b.field(f, name)
	switch fs.pol {
	case PolicyDrop:
		return ""
	case PolicyScrub:
		return v
	}
	if isPlaceholder(v) || fs.vocab[v] {
		return v
	}
	if fs.pol == PolicyVocabulary {
		return PlaceholderOther
	}
	if (f == FieldQuery || f == FieldProperty || f == FieldPathSegment || f == FieldCampaign) && b.machineMade(v) {
		return PlaceholderToken
	}
	if b.mac == nil {
		return PlaceholderRare // Begin was not called: never publish blind
	}
	hs := b.valueHash(fs, v)
	h := hs[0]
	b.r.mu.Lock()
	_, released := b.r.released[h]
	b.r.mu.Unlock()
	if released {
		return v
	}
	s := b.senderTag(pseudonym)
	if !b.seen[[2]uint64{h, s}] {
		b.seen[[2]uint64{h, s}] = true
		b.sightings = append(b.sightings, Sighting{Value: h, Next: hs[1], Sender: uint32(s), K: fs.k})
		b.fieldOf[h] = fs.key
	}
	b.Suppressed[fs.key]++
	return PlaceholderRare
}

// valueHash returns the hashes of a field's value under this period's key
// and the next period's.
func (b *RareBatch) valueHash(fs *fieldState, v string) [2]uint64 {
	if h, ok := fs.hashes[v]; ok {
		return h
	}
	h := [2]uint64{b.hash(b.mac, fs.key, v), b.hash(b.nextMac, fs.key, v)}
	if b.nHashes >= 1<<17 {
		for _, x := range b.fields {
			clear(x.hashes)
		}
		b.nHashes = 0
	}
	fs.hashes[v] = h
	b.nHashes++
	return h
}

// senderTag hashes a pseudonym once per run of values from one event.
func (b *RareBatch) senderTag(pseudonym []byte) uint64 {
	if len(pseudonym) == 32 && [32]byte(pseudonym) == b.lastSender && b.lastTag != 0 {
		return b.lastTag
	}
	b.lastTag = b.hash(b.mac, "sender", string(pseudonym))
	if len(pseudonym) == 32 {
		b.lastSender = [32]byte(pseudonym)
	}
	return b.lastTag
}

func isPlaceholder(v string) bool {
	return len(v) > 1 && (v[0] == '[' && v[len(v)-1] == ']' || v[0] == ':')
}

// machineMade reports values that look generated rather than chosen by
// people: referral codes, ids, session tokens. They are masked before
// counting, so a code shared by ten visitors is still not published.
func (b *RareBatch) machineMade(v string) bool {
	for _, re := range b.r.tokens {
		if re.MatchString(v) {
			return true
		}
	}
	return looksGenerated(v)
}

// looksGenerated: a word of 6+ characters mixing letters and digits, a
// base64/base64url run of 12+ characters, or a hex run of 16+.
func looksGenerated(v string) bool {
	start := 0
	for i := 0; i <= len(v); i++ {
		if i < len(v) && isWordByte(v[i]) {
			continue
		}
		if w := v[start:i]; len(w) >= 6 {
			var letters, digits, hexOnly, other int
			for j := 0; j < len(w); j++ {
				c := w[j]
				switch {
				case c >= '0' && c <= '9':
					digits++
					hexOnly++
				case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
					letters++
					hexOnly++
				case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
					letters++
				default:
					other++
				}
			}
			switch {
			case letters > 0 && digits > 0 && other == 0:
				return true
			case len(w) >= 16 && hexOnly == len(w):
				return true
			case len(w) >= 12 && other > 0 && letters > 0:
				return true // base64 with + / _ - mixed in
			}
		}
		start = i + 1
	}
	return false
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '_' || c == '='
}

// MemRareStore is an in-process RareStore (strip, demo, tests).
type MemRareStore struct {
	mu      sync.Mutex
	periods map[int64]map[uint64]*memRare
}

type memRare struct {
	released bool
	senders  map[uint32]struct{}
}

// NewMemRareStore returns an empty in-process store.
func NewMemRareStore() *MemRareStore { return &MemRareStore{periods: map[int64]map[uint64]*memRare{}} }

// Observe implements RareStore.
func (m *MemRareStore) Observe(_ context.Context, period int64, _, _ time.Time, ss []Sighting) ([]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.periods {
		if p < period {
			delete(m.periods, p) // expired (the Redis store lets keys expire)
		}
	}
	table := func(p int64) map[uint64]*memRare {
		t := m.periods[p]
		if t == nil {
			t = map[uint64]*memRare{}
			m.periods[p] = t
		}
		return t
	}
	cur, next := table(period), table(period+1)
	var out []uint64
	for _, s := range ss {
		e := cur[s.Value]
		if e == nil {
			e = &memRare{senders: map[uint32]struct{}{}}
			cur[s.Value] = e
		}
		if !e.released {
			e.senders[s.Sender] = struct{}{}
			if len(e.senders) >= s.K {
				e.released, e.senders = true, nil
			}
		}
		if e.released {
			out = append(out, s.Value)
			next[s.Next] = &memRare{released: true}
		}
	}
	return out, nil
}

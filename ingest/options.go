package ingest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Options configures a Transformer. Zero fields take the defaults named in
// their comments; Validate reports what cannot work.
type Options struct {
	// Epoch is the pseudonym epoch length. Default: 24h.
	Epoch time.Duration
	// Grace is how long an epoch's key outlives the epoch, so late events
	// still get the epoch's pseudonym. Default: 1h.
	Grace time.Duration
	// MaxFuture is how far in the future an event time may lie (clock skew
	// of senders). Default: 5m.
	MaxFuture time.Duration
	// IdentifierFields are raw-shape fields tried in order for the visitor
	// identifier. Default: userId, anonymousId, context.device.id.
	IdentifierFields []string
	// MaxBytes, MaxDepth and MaxFields bound the input. Defaults: 65536, 16, 1000.
	MaxBytes, MaxDepth, MaxFields int
	// QueryAllowlist names the query parameters kept; a trailing * makes a
	// prefix. Default: utm_*, ref, source.
	QueryAllowlist []string
	// PropertyAllowlist names the properties kept. Default: category,
	// list_id, currency, price, quantity, value, revenue, total, brand.
	PropertyAllowlist []string
	// MaxValueLength cuts kept strings (in runes). Default: 100.
	MaxValueLength int
	// BotPatterns are extra case-insensitive User-Agent substrings that mark
	// a bot. Default: none.
	BotPatterns []string
	// ScrubPatterns are extra regular expressions scrubbed as [custom].
	// Default: none.
	ScrubPatterns []string
	// Mapping maps raw-shape field paths to input paths (dot-separated), so
	// other shapes can be read without code, for example
	// {"anonymousId": "domain_userid", "context.page.url": "page_url"}.
	// A field under a mapped object is read inside the mapped input object.
	// Targets are raw-shape fields or properties.<name> (one input field
	// read as a property). A value may also be a literal ("=track") or a
	// path with a value table ("event[page_view=page,*=track]"); see
	// fieldSource. Default: none (the input is Segment-shaped).
	Mapping map[string]string
	// StrictSchema validates every event with the JSON Schema validator,
	// not only rejected ones. The typed fast path accepts exactly what the
	// schema accepts (checked by a differential fuzz test), so this only
	// costs time. Default: false.
	StrictSchema bool
	// Policy decides which open-ended values are published (rare-value
	// suppression, vocabularies). Default: scrub only.
	Policy ValuePolicy
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	var o Options
	o.fill()
	return o
}

func (o *Options) fill() {
	if o.Epoch == 0 {
		o.Epoch = 24 * time.Hour
	}
	if o.Grace == 0 {
		o.Grace = time.Hour
	}
	if o.MaxFuture == 0 {
		o.MaxFuture = 5 * time.Minute
	}
	if o.IdentifierFields == nil {
		o.IdentifierFields = []string{"userId", "anonymousId", "context.device.id"}
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 10
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = 16
	}
	if o.MaxFields == 0 {
		o.MaxFields = 1000
	}
	if o.QueryAllowlist == nil {
		o.QueryAllowlist = []string{"utm_*", "ref", "source"}
	}
	if o.PropertyAllowlist == nil {
		o.PropertyAllowlist = []string{"category", "list_id", "currency", "price", "quantity", "value", "revenue", "total", "brand"}
	}
	if o.MaxValueLength == 0 {
		o.MaxValueLength = 100
	}
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	var errs []error
	if o.Epoch < time.Minute {
		errs = append(errs, fmt.Errorf("epoch %s is shorter than a minute", o.Epoch))
	}
	if o.Grace < 0 || o.Grace > o.Epoch {
		errs = append(errs, fmt.Errorf("grace %s must be between 0 and the epoch", o.Grace))
	}
	for _, f := range o.IdentifierFields {
		if _, ok := rawFields[f]; !ok {
			errs = append(errs, fmt.Errorf("identifier field %q is not a raw-shape field; use one of userId, anonymousId, context.device.id, context.device.advertisingId", f))
		}
	}
	for _, raw := range slices.Sorted(maps.Keys(o.Mapping)) {
		if _, ok := rawFields[raw]; !ok {
			if _, prop := mappedProperty(raw); !prop {
				errs = append(errs, fmt.Errorf("mapping target %q is not a raw-shape field (%s) or properties.<name>", raw, strings.Join(RawFieldNames(), ", ")))
			}
		}
		if _, err := parseSource(o.Mapping[raw]); err != nil {
			errs = append(errs, fmt.Errorf("mapping of %s: %w", raw, err))
		}
	}
	if o.MaxValueLength < 8 {
		errs = append(errs, errors.New("max value length below 8"))
	}
	return errors.Join(errs...)
}

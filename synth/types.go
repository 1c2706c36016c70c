package synth

import "fmt"

// Archetype is the behavioural ground truth of a synthetic visitor. A visitor keeps
// its archetype for its whole life; see the package documentation for how each one
// behaves and which per-visitor counters tell them apart.
type Archetype uint8

// The archetypes. ArchetypeNone is the zero value and is never assigned to a
// generated visitor. Bot is used for crawler traffic (controlled by
// Config.BotShare, not by Config.Mix).
const (
	ArchetypeNone Archetype = iota
	MobileBargainHunter
	Researcher
	LoyalBuyer
	CartAbandoner
	CampaignClicker
	CasualBrowser
	TechEnthusiast
	FashionFollower
	HomeImprover
	GiftShopper
	Bot
	numArchetypes
)

var archetypeNames = [...]string{
	ArchetypeNone:       "none",
	MobileBargainHunter: "mobile_bargain_hunter",
	Researcher:          "researcher",
	LoyalBuyer:          "loyal_buyer",
	CartAbandoner:       "cart_abandoner",
	CampaignClicker:     "campaign_clicker",
	CasualBrowser:       "casual_browser",
	TechEnthusiast:      "tech_enthusiast",
	FashionFollower:     "fashion_follower",
	HomeImprover:        "home_improver",
	GiftShopper:         "gift_shopper",
	Bot:                 "bot",
}

// String returns the snake_case name, e.g. "mobile_bargain_hunter".
func (a Archetype) String() string {
	if int(a) < len(archetypeNames) {
		return archetypeNames[a]
	}
	return fmt.Sprintf("archetype(%d)", uint8(a))
}

// MarshalText implements encoding.TextMarshaler (for JSON/YAML configuration maps).
func (a Archetype) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Archetype) UnmarshalText(b []byte) error {
	v, err := ParseArchetype(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseArchetype maps a snake_case name (as returned by String) to an Archetype.
func ParseArchetype(s string) (Archetype, error) {
	for i, n := range archetypeNames {
		if n == s && Archetype(i) != ArchetypeNone {
			return Archetype(i), nil
		}
	}
	return ArchetypeNone, fmt.Errorf("synth: unknown archetype %q", s)
}

// HumanArchetypes lists the archetypes that Config.Mix weighs, in a fixed order.
func HumanArchetypes() []Archetype {
	return []Archetype{MobileBargainHunter, Researcher, LoyalBuyer, CartAbandoner, CampaignClicker,
		CasualBrowser, TechEnthusiast, FashionFollower, HomeImprover, GiftShopper}
}

// DefaultMix is the default share of each human archetype among visitors.
func DefaultMix() map[Archetype]float64 {
	return map[Archetype]float64{
		MobileBargainHunter: 0.14,
		Researcher:          0.10,
		LoyalBuyer:          0.08,
		CartAbandoner:       0.10,
		CampaignClicker:     0.12,
		CasualBrowser:       0.20,
		TechEnthusiast:      0.07,
		FashionFollower:     0.08,
		HomeImprover:        0.06,
		GiftShopper:         0.05,
	}
}

// BadKind labels what is wrong with a bad event. The zero value Valid means the
// event is well formed.
type BadKind uint8

// Bad event kinds. Each is exactly one defect on top of an otherwise realistic event.
const (
	Valid BadKind = iota
	// BadTruncated: a strict prefix of a valid JSON object (never valid JSON).
	BadTruncated
	// BadNotJSON: bytes that are not JSON at all (query strings, XML, "[object Object]", binary).
	BadNotJSON
	// BadEmpty: a zero-length payload.
	BadEmpty
	// BadWrongType: valid JSON, but `timestamp` is a number (epoch ms) or
	// `properties` / `traits` is a string (double-encoded JSON).
	BadWrongType
	// BadMissingType: valid JSON without the `type` field.
	BadMissingType
	// BadMissingID: valid JSON with none of `anonymousId`, `userId` and
	// `context.device.id`.
	BadMissingID
	// BadInvalidUTF8: valid JSON syntax, but a string value holds bytes that are not UTF-8
	// (Latin-1 text, stray 0xFF/0xFE bytes).
	BadInvalidUTF8
	// BadOversized: valid JSON larger than 64 KiB (OversizeLimit); 80-200 KiB.
	BadOversized
	// BadDeepNesting: valid JSON (and under 64 KiB) whose properties/traits nest objects
	// DeepNestingMin to DeepNestingMax levels deep.
	BadDeepNesting
	// BadTimestampPast: valid JSON whose `timestamp` lies at least SkewPastMin before the
	// event time (up to 1970). `sentAt` stays correct.
	BadTimestampPast
	// BadTimestampFuture: valid JSON whose `timestamp` lies at least SkewFutureMin after
	// the event time. `sentAt` stays correct.
	BadTimestampFuture
	numBadKinds
)

// Limits behind the bad kinds, so tests and the ingest configuration can agree.
const (
	OversizeLimit  = 64 << 10 // every BadOversized payload is larger than this
	DeepNestingMin = 600      // BadDeepNesting depth lower bound (below encoding/json's 10000)
	DeepNestingMax = 1000
	SkewPastMin    = 60 * 24 * 3600 // seconds: BadTimestampPast is at least 60 days early
	SkewFutureMin  = 2 * 24 * 3600  // seconds: BadTimestampFuture is at least 2 days late
)

var badNames = [...]string{
	Valid:              "valid",
	BadTruncated:       "truncated",
	BadNotJSON:         "not_json",
	BadEmpty:           "empty",
	BadWrongType:       "wrong_type",
	BadMissingType:     "missing_type",
	BadMissingID:       "missing_id",
	BadInvalidUTF8:     "invalid_utf8",
	BadOversized:       "oversized",
	BadDeepNesting:     "deep_nesting",
	BadTimestampPast:   "timestamp_past",
	BadTimestampFuture: "timestamp_future",
}

// String returns the snake_case label, e.g. "invalid_utf8".
func (k BadKind) String() string {
	if int(k) < len(badNames) {
		return badNames[k]
	}
	return fmt.Sprintf("bad(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k BadKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *BadKind) UnmarshalText(b []byte) error {
	v, err := ParseBadKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseBadKind maps a label (as returned by String) to a BadKind.
func ParseBadKind(s string) (BadKind, error) {
	for i, n := range badNames {
		if n == s {
			return BadKind(i), nil
		}
	}
	return Valid, fmt.Errorf("synth: unknown bad kind %q", s)
}

// BadKinds lists every defect kind (without Valid), in a fixed order.
func BadKinds() []BadKind {
	out := make([]BadKind, 0, numBadKinds-1)
	for k := BadTruncated; k < numBadKinds; k++ {
		out = append(out, k)
	}
	return out
}

// EventType is the Segment call type.
type EventType uint8

// Segment call types.
const (
	TypePage EventType = iota + 1
	TypeTrack
	TypeIdentify
	TypeScreen
)

// String returns "page", "track", "identify" or "screen".
func (t EventType) String() string {
	switch t {
	case TypePage:
		return "page"
	case TypeTrack:
		return "track"
	case TypeIdentify:
		return "identify"
	case TypeScreen:
		return "screen"
	}
	return "unknown"
}

// Vocabulary shared with the persona model. Keep these exact strings.
const (
	EventProductsSearched     = "Products Searched"
	EventProductListViewed    = "Product List Viewed"
	EventProductViewed        = "Product Viewed"
	EventProductAdded         = "Product Added"
	EventProductRemoved       = "Product Removed"
	EventCartViewed           = "Cart Viewed"
	EventCheckoutStarted      = "Checkout Started"
	EventOrderCompleted       = "Order Completed"
	EventSignedIn             = "Signed In"
	EventSignedUp             = "Signed Up"
	EventNewsletterSubscribed = "Newsletter Subscribed"
	EventPromotionClicked     = "Promotion Clicked"
)

// Page (and app screen) names.
const (
	PageHome     = "Home"
	PageCategory = "Category"
	PageProduct  = "Product"
	PageSearch   = "Search"
	PageCart     = "Cart"
	PageCheckout = "Checkout"
	PageAccount  = "Account"
	PageDeals    = "Deals"
	PageBlog     = "Blog"
	PageHelp     = "Help"
)

// Categories are the product categories (property `category`), lower-case.
func Categories() []string {
	return []string{"electronics", "fashion", "home", "garden", "toys", "books", "sports", "beauty", "grocery"}
}

// TrackEvents lists the track event names the generator uses for humans.
func TrackEvents() []string {
	return []string{EventProductsSearched, EventProductListViewed, EventProductViewed, EventProductAdded,
		EventProductRemoved, EventCartViewed, EventCheckoutStarted, EventOrderCompleted, EventSignedIn,
		EventSignedUp, EventNewsletterSubscribed, EventPromotionClicked}
}

// PageNames lists the page/screen names.
func PageNames() []string {
	return []string{PageHome, PageCategory, PageProduct, PageSearch, PageCart, PageCheckout, PageAccount,
		PageDeals, PageBlog, PageHelp}
}

// CampaignSources, CampaignMediums and CampaignNames are the utm vocabularies.
func CampaignSources() []string {
	return []string{"newsletter", "google", "bing", "facebook", "instagram", "tiktok", "partner-x"}
}

// CampaignMediums lists utm_medium values.
func CampaignMediums() []string { return []string{"email", "cpc", "social", "affiliate"} }

// CampaignNames lists utm_campaign values.
func CampaignNames() []string {
	return []string{"spring-sale", "summer-sale", "black-friday", "cyber-monday", "winter-clearance",
		"back-to-school", "new-arrivals", "christmas-gifts", "valentines-day"}
}

// DeviceClass is the visitor's device class.
type DeviceClass uint8

// Device classes.
const (
	Desktop DeviceClass = iota
	Mobile
	Tablet
)

// String returns "desktop", "mobile" or "tablet".
func (d DeviceClass) String() string {
	switch d {
	case Mobile:
		return "mobile"
	case Tablet:
		return "tablet"
	}
	return "desktop"
}
